// Package e2e holds Meridian's whole-process tests: they start real
// `meridian` binaries, each agent on its own loopback address 127.0.0.x
// with the default ports (8300 server RPC, 8301 LAN gossip, 8302 WAN
// gossip, 8500 HTTP), and drive them through the official Consul Go API
// client and through the CLI, as an operator would.
//
// The binary is $MERIDIAN_BIN when set (the GNUmakefile's e2e target sets
// it), otherwise TestMain builds it once into a temporary directory.
//
// Each test file owns a range of loopback hosts so that its clusters never
// share an address with another file's; the ranges in use are:
//
//	2-9     acl_replication_test.go ACL replication dc1 -> dc2: tokens in both datacenters, delay, dc1 killed, restarts
//	10-19   cli_test.go          bad input, version, keygen
//	20-49   federation_test.go   two datacenters, LAN and WAN pools, signals
//	50-59   encrypt_test.go      gossip encryption
//	60-79   raft_test.go         leader failover, restarts, bootstrap-expect
//	80-99   catalog_test.go      catalog, health and status through the API client
//	100-139 multidc_test.go      three datacenters behind delaying relays (relays on 127.1.n.x)
//	140-149 kv_test.go           KV, sessions and locks: SIGKILL of a lock holder, restarts
//	150-159 services_test.go     services and checks on clients, anti-entropy
//	160-167 hostile_rpc_test.go  malformed RPCs, garbage on the server and gossip ports
//	168-175 hostile_http_test.go 64 MiB bodies, abandoned blocking queries, slowloris, connections per client
//	176-191 acl_test.go          ACL management over two datacenters and a client
//	192-199 entry_limits_test.go a 64 MiB Catalog.Register over RPC, the largest KV value, restart after SIGKILL
//	200-219 measure_test.go      figures, run with MERIDIAN_MEASURE=1
//	220-239 tls_test.go          TLS on every hop: two datacenters, clients, a client certificate posing as a server, SIGHUP reload
//	240-254 keyring_test.go      gossip key rotation over two datacenters and a client
//	127.2.n.x lab_test.go    meridian lab: its own subnet 127.2.n.0/24 (agents and relays)
//
// Host numbers from 256 on are in further networks (see host): 258-510 are
// 127.3.n.2-254, 514-766 are 127.4.n.2-254, and so on:
//
//	258-299 query_test.go        prepared queries and failover over three datacenters (relays on 127.1.n.58-99)
//	300-319 snapshot_test.go     snapshot save, restore, corrupt archives
//	320-359 autopilot_test.go    autopilot, redundancy zones, leadership transfer
//	360-389 event_test.go        user events and metrics
//	390-409 filter_test.go       ?filter= expressions
//	410-429 txn_catalog_test.go  transactions with catalog verbs, opaque service fields
//	430-449 cache_test.go        the agent cache, HTTP on a unix socket
//	514-540 acl_rpc_test.go      ACLs enforced on the server port, agent tokens
//	560-640 gossip_tuning_test.go performance: a 30-node pool under CPU stress
//
// Two runs of the suite on one machine do not collide: each holds a lock
// on 127.0.n.1:8499 and takes the first network 127.0.n.x free (n is 0
// unless another run holds it). MERIDIAN_E2E_NET=n chooses n. MERIDIAN_E2E_LOG_LEVEL sets the
// agents' log level (default info); the tail of every agent's log is shown
// when a test fails.
package e2e
