// Package lab runs a local federation of Meridian datacenters on one
// machine, for learning multi-datacenter operation and for testing an
// application against WAN latency and a datacenter cut off: `meridian lab`.
//
// # Layout
//
// Every agent is a real `meridian agent` process (the running binary) on a
// loopback address of its own in the lab's subnet, with the default ports,
// so several datacenters of several servers fit on one machine the way the
// whole-process tests run them. Addresses are handed out in order: for each
// datacenter its clients and then its servers (the first agent of a
// datacenter is its entry point, the HTTP address the lab prints), and after
// every agent one relay address per server.
//
// # WAN latency and partitions: relays
//
// A server advertises its WAN address as its relay address. The relay, run
// inside the lab process, forwards the WAN gossip port (UDP and TCP) and the
// server RPC port (TCP) to the server's real address. Everything another
// server sends on the WAN to this one therefore passes the relay, and the
// relay knows both ends: the destination is its server, and the source is
// the datacenter of the sending agent. A UDP datagram's source address is
// the sender's bind address (memberlist sends from its bound socket); a TCP
// connection comes from 127.0.0.1 with an ephemeral port, so on Linux the
// relay finds the agent process holding the other end of the connection in
// /proc (net/tcp gives the socket's inode, the agents' fd tables give its
// owner). Knowing the pair, the relay applies that pair's latency: half the
// round trip on each direction (a datagram and its answer pass two relays,
// one each way; a TCP connection is delayed half the round trip both ways).
// So any set of pairwise round-trip times can be injected; a pair that is
// not given gets none. Traffic between two servers of one datacenter (they
// are in the WAN pool too) passes their relays without delay.
//
// A partitioned datacenter's WAN links are cut at the relays: datagrams
// between it and any other datacenter are dropped, relayed connections
// between them are closed, and new ones are closed as soon as they are
// accepted (a link that rejects rather than one that swallows: callers fail
// fast). Its LAN traffic never passes a relay and keeps working. A
// connection whose source cannot be identified counts as coming from
// outside every datacenter: it gets no latency and is cut when its
// destination is partitioned.
//
// # Control
//
// The running lab writes lab.json (the plan and the agents' process IDs)
// into its directory and answers on the unix socket lab.sock there; `lab
// partition`, `lab heal` and `lab status` talk to it, and `lab down` stops
// it. The lab holds a lock on lab.lock while it runs, so a second lab in the
// same directory is refused and a lab killed with SIGKILL leaves no stale
// claim. Agents are started with the parent-death signal set, so they die
// with the lab even when it is killed.
package lab
