package server

import (
	"fmt"
	"testing"
	"time"

	"github.com/meridian-sd/meridian/structs"
	"github.com/meridian-sd/meridian/tlsutil"
	"github.com/meridian-sd/meridian/tlsutil/tlstest"
)

// tlsServerConfig is testConfig with TLS everywhere: verify_incoming,
// verify_outgoing and verify_server_hostname, with the given certificate.
func tlsServerConfig(t testing.TB, dc string, ca *tlstest.CA, cert, key string) *Config {
	t.Helper()
	cfg := testConfig(t, dc)
	// TLS handshakes are slow under -race on a loaded machine: raft gets
	// timings that do not flap there.
	cfg.RaftConfig.HeartbeatTimeout = time.Second
	cfg.RaftConfig.ElectionTimeout = time.Second
	cfg.RaftConfig.LeaderLeaseTimeout = 500 * time.Millisecond
	c, err := tlsutil.NewConfigurator(tlsutil.Config{
		Datacenter: dc,
		Domain:     "consul",
		InternalRPC: tlsutil.ProtocolConfig{
			CAFile: ca.CAFile, CertFile: cert, KeyFile: key,
			VerifyIncoming: true, VerifyOutgoing: true, VerifyServerHostname: true,
		},
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	cfg.TLS = c
	return cfg
}

// TestTLSClusterAndFederation runs Raft, RPC and cross-DC forwarding over
// TLS with every check on, and shows that a node holding only a client
// certificate, started as a server, never joins Raft.
func TestTLSClusterAndFederation(t *testing.T) {
	ca := tlstest.NewCA(t, "consul")
	var dc1 []*Server
	for i := 0; i < 3; i++ {
		cert, key := ca.Server("dc1")
		cfg := tlsServerConfig(t, "dc1", ca, cert, key)
		cfg.BootstrapExpect = 3
		dc1 = append(dc1, startServer(t, cfg))
	}
	for _, s := range dc1[1:] {
		if _, err := s.JoinLAN([]string{lanAddr(dc1[0])}); err != nil {
			t.Fatal(err)
		}
	}
	leader := tlsWaitLeader(t, dc1)

	cert, key := ca.Server("dc2")
	dc2cfg := tlsServerConfig(t, "dc2", ca, cert, key)
	dc2cfg.Bootstrap = true
	dc2 := startServer(t, dc2cfg)
	tlsWaitLeader(t, []*Server{dc2})
	joinWAN(t, dc2, dc1...)
	waitWANMembers(t, dc1[0], 4)

	// A write forwarded from a dc1 follower to dc2, over TLS checked as
	// server.dc2.consul, and a read of it back from dc1.
	var follower *Server
	for _, s := range dc1 {
		if s != leader {
			follower = s
		}
	}
	reg := &structs.RegisterRequest{Datacenter: "dc2", Node: "remote", Address: "10.3.0.1"}
	waitFor(t, "a write forwarded to dc2", 30*time.Second, func() error {
		return follower.RPC("Catalog.Register", reg, &struct{}{})
	})
	var nodes structs.IndexedNodes
	if err := follower.RPC("Catalog.ListNodes", &structs.DCSpecificRequest{Datacenter: "dc2"}, &nodes); err != nil {
		t.Fatalf("read dc2 through dc1: %v", err)
	}
	found := false
	for _, n := range nodes.Nodes {
		found = found || n.Node == "remote"
	}
	if !found {
		t.Fatalf("dc2 nodes read through dc1 lack the forwarded write: %+v", nodes.Nodes)
	}

	// A "server" of dc1 that holds only a client certificate.
	fakeCert, fakeKey := ca.Client("dc1")
	fake := startServer(t, tlsServerConfig(t, "dc1", ca, fakeCert, fakeKey))
	if _, err := fake.JoinLAN([]string{lanAddr(dc1[0])}); err != nil {
		t.Fatal(err)
	}
	// Once the leader has reconciled it into the catalog, it has decided
	// about its Raft membership too.
	waitFor(t, "the fake server in the catalog", 30*time.Second, func() error {
		var out structs.IndexedNodes
		if err := leader.RPC("Catalog.ListNodes", &structs.DCSpecificRequest{}, &out); err != nil {
			return err
		}
		for _, n := range out.Nodes {
			if n.Node == fake.NodeName() {
				return nil
			}
		}
		return fmt.Errorf("%d nodes, not the fake server", len(out.Nodes))
	})
	for _, s := range dc1 {
		if n, err := s.numPeers(); err != nil || n != 3 {
			t.Errorf("%s has %d raft peers (%v), want 3", s.NodeName(), n, err)
		}
	}
	if n, _ := fake.numPeers(); n != 0 {
		t.Errorf("the fake server has %d raft peers, want 0", n)
	}
	// The cluster still works: a write through any real server commits
	// (retried within a deadline: on a loaded machine under -race a
	// leader election may be under way).
	waitFor(t, "a write after the fake server came", 60*time.Second, func() error {
		return dc1[0].RPC("Catalog.Register", &structs.RegisterRequest{Datacenter: "dc1", Node: "after", Address: "10.1.0.9"}, &struct{}{})
	})
}

// tlsWaitLeader is waitForLeader with room for slow handshakes: under
// -race on a loaded machine a TLS election takes longer.
func tlsWaitLeader(t testing.TB, servers []*Server) *Server {
	t.Helper()
	var leader *Server
	waitFor(t, "one leader known to all", 60*time.Second, func() error {
		leader = nil
		for _, s := range servers {
			if s.IsLeader() {
				leader = s
			}
		}
		if leader == nil {
			return fmt.Errorf("no leader")
		}
		for _, s := range servers {
			if string(s.raft.Leader()) != leader.RPCAddr().String() {
				return fmt.Errorf("%s does not know the leader yet", s.NodeName())
			}
			if n, err := s.numPeers(); err != nil || n != len(servers) {
				return fmt.Errorf("%s has %d peers", s.NodeName(), n)
			}
		}
		return nil
	})
	return leader
}
