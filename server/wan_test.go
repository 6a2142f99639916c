package server

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/hashicorp/serf/serf"

	"github.com/meridian-sd/meridian/gossip"
	"github.com/meridian-sd/meridian/structs"
)

func joinWAN(t *testing.T, from *Server, to ...*Server) {
	t.Helper()
	for _, s := range to {
		if _, err := from.JoinWAN([]string{wanAddr(s)}); err != nil {
			t.Fatalf("join wan: %v", err)
		}
	}
}

func waitWANMembers(t *testing.T, s *Server, n int) {
	t.Helper()
	waitFor(t, fmt.Sprintf("%d alive wan members", n), 15*time.Second, func() error {
		alive := 0
		for _, m := range s.WANMembers() {
			if m.Status == serf.StatusAlive {
				alive++
			}
		}
		if alive != n {
			return fmt.Errorf("%d alive", alive)
		}
		return nil
	})
}

func TestMultiDCForwardingAndFailure(t *testing.T) {
	dc1 := startCluster(t, "dc1", 1)[0]
	dc2 := startCluster(t, "dc2", 1)[0]
	dc3 := startCluster(t, "dc3", 1)[0]
	joinWAN(t, dc1, dc2, dc3)
	waitWANMembers(t, dc1, 3)

	waitFor(t, "three datacenters, dc1 first", 10*time.Second, func() error {
		var dcs []string
		if err := dc1.RPC("Catalog.ListDatacenters", &struct{}{}, &dcs); err != nil {
			return err
		}
		if len(dcs) != 3 || dcs[0] != "dc1" {
			return fmt.Errorf("datacenters = %v", dcs)
		}
		return nil
	})

	// Writes and reads for dc3 made through dc1.
	reg := &structs.RegisterRequest{Datacenter: "dc3", Node: "db3", Address: "10.3.0.3",
		Service: &structs.NodeService{Service: "db", Port: 5432}}
	if err := dc1.RPC("Catalog.Register", reg, &struct{}{}); err != nil {
		t.Fatalf("register in dc3 via dc1: %v", err)
	}
	var svc structs.IndexedServiceNodes
	if err := dc1.RPC("Catalog.ServiceNodes", &structs.ServiceSpecificRequest{Datacenter: "dc3", ServiceName: "db"}, &svc); err != nil {
		t.Fatal(err)
	}
	if len(svc.ServiceNodes) != 1 || svc.ServiceNodes[0].Datacenter != "dc3" {
		t.Fatalf("dc3 service read via dc1 = %+v", svc.ServiceNodes)
	}

	// A blocking query on dc2, asked through dc1, wakes on a write in dc2.
	var first structs.IndexedNodes
	if err := dc1.RPC("Catalog.ListNodes", &structs.DCSpecificRequest{Datacenter: "dc2"}, &first); err != nil {
		t.Fatal(err)
	}
	woke := make(chan error, 1)
	go func() {
		var out structs.IndexedNodes
		args := &structs.DCSpecificRequest{Datacenter: "dc2", QueryOptions: structs.QueryOptions{MinQueryIndex: first.Index, MaxQueryTime: 20 * time.Second}}
		err := dc1.RPC("Catalog.ListNodes", args, &out)
		if err == nil && out.Index <= first.Index {
			err = fmt.Errorf("returned without a change: index %d", out.Index)
		}
		woke <- err
	}()
	time.Sleep(100 * time.Millisecond) // let the query start blocking; the assertion is the wake-up below
	if err := dc2.RPC("Catalog.Register", &structs.RegisterRequest{Datacenter: "dc2", Node: "web2", Address: "10.2.0.2"}, &struct{}{}); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-woke:
		if err != nil {
			t.Fatalf("remote blocking query: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("remote blocking query did not wake on the dc2 write")
	}

	// dc3's only server dies: requests for dc3 fail fast with Consul's
	// text, dc2 keeps answering.
	cfg3 := restartConfig(t, identityOf(dc3))
	dc3.Shutdown()
	start := time.Now()
	var out structs.IndexedNodes
	err := dc1.RPC("Catalog.ListNodes", &structs.DCSpecificRequest{Datacenter: "dc3"}, &out)
	if !structs.IsErr(err, structs.ErrDCNoServers) {
		t.Fatalf("dc3 down: err = %v, want %v", err, structs.ErrDCNoServers)
	}
	t.Logf("?dc=dc3 failed after %s with its last server dead", time.Since(start))
	if err := dc1.RPC("Catalog.ListNodes", &structs.DCSpecificRequest{Datacenter: "dc2"}, &out); err != nil {
		t.Fatalf("dc2 while dc3 is down: %v", err)
	}
	var fed []structs.FederationDC
	if err := dc1.RPC("Operator.FederationStatus", &structs.DCSpecificRequest{}, &fed); err != nil {
		t.Fatal(err)
	}
	for _, fd := range fed {
		if fd.Datacenter == "dc3" && (fd.Reachable || fd.LastError == "") {
			t.Fatalf("federation view of dead dc3 = %+v", fd)
		}
		if fd.Datacenter == "dc2" && !fd.Reachable {
			t.Fatalf("federation view of dc2 = %+v", fd)
		}
	}

	// dc3 comes back on the same address: it answers again, no operator
	// action needed.
	dc3 = startServer(t, cfg3)
	waitFor(t, "dc3 answering again", 20*time.Second, func() error {
		var out structs.IndexedServiceNodes
		if err := dc1.RPC("Catalog.ServiceNodes", &structs.ServiceSpecificRequest{Datacenter: "dc3", ServiceName: "db"}, &out); err != nil {
			return err
		}
		if len(out.ServiceNodes) != 1 {
			return fmt.Errorf("dc3 lost its data: %+v", out.ServiceNodes)
		}
		return nil
	})
}

func TestRemoteDCWithoutLeader(t *testing.T) {
	dc1 := startCluster(t, "dc1", 1)[0]
	dc2 := startCluster(t, "dc2", 3)
	joinWAN(t, dc1, dc2[0])
	waitWANMembers(t, dc1, 4)
	// The server that survives must hold the catalog's nodes before the
	// others die: the leader registers them a moment after its election.
	waitFor(t, "dc2's nodes in the survivor's state", 15*time.Second, func() error {
		var out structs.IndexedNodes
		req := &structs.DCSpecificRequest{Datacenter: "dc2", QueryOptions: structs.QueryOptions{AllowStale: true}}
		if err := dc2[0].RPC("Catalog.ListNodes", req, &out); err != nil {
			return err
		}
		if len(out.Nodes) < 3 {
			return fmt.Errorf("%d nodes", len(out.Nodes))
		}
		return nil
	})

	// Two of dc2's three servers die: dc2 has no quorum.
	dc2[1].Shutdown()
	dc2[2].Shutdown()
	waitFor(t, "dc2 without leader", 15*time.Second, func() error {
		if dc2[0].IsLeader() || dc2[0].raft.Leader() != "" {
			return fmt.Errorf("dc2 still has a leader")
		}
		return nil
	})
	var out structs.IndexedNodes
	err := dc1.RPC("Catalog.ListNodes", &structs.DCSpecificRequest{Datacenter: "dc2"}, &out)
	if !structs.IsErr(err, structs.ErrNoLeader) {
		t.Fatalf("default read of leaderless dc2: err = %v, want %v", err, structs.ErrNoLeader)
	}
	// A stale read is still served by the surviving server.
	err = dc1.RPC("Catalog.ListNodes", &structs.DCSpecificRequest{Datacenter: "dc2", QueryOptions: structs.QueryOptions{AllowStale: true}}, &out)
	if err != nil || len(out.Nodes) == 0 || out.KnownLeader {
		t.Fatalf("stale read of leaderless dc2: err=%v nodes=%d knownLeader=%v", err, len(out.Nodes), out.KnownLeader)
	}
}

func TestLocalQuorumLossKeepsRemoteReads(t *testing.T) {
	dc1 := startCluster(t, "dc1", 3)
	dc2 := startCluster(t, "dc2", 1)[0]
	joinWAN(t, dc2, dc1[0])
	waitWANMembers(t, dc2, 4)
	waitWANMembers(t, dc1[2], 4)

	dc1[0].Shutdown()
	dc1[1].Shutdown()
	survivor := dc1[2]
	waitFor(t, "dc1 without leader", 15*time.Second, func() error {
		if survivor.raft.Leader() != "" {
			return fmt.Errorf("dc1 still has a leader")
		}
		return nil
	})
	var out structs.IndexedNodes
	args := &structs.DCSpecificRequest{Datacenter: "dc2", QueryOptions: structs.QueryOptions{AllowStale: true}}
	if err := survivor.RPC("Catalog.ListNodes", args, &out); err != nil {
		t.Fatalf("stale read of dc2 from a dc1 without quorum: %v", err)
	}
	args.AllowStale = false
	if err := survivor.RPC("Catalog.ListNodes", args, &out); err != nil {
		t.Fatalf("default read of healthy dc2 from a dc1 without quorum: %v", err)
	}
	// Local reads without a leader fail with Consul's text after the hold.
	err := survivor.RPC("Catalog.ListNodes", &structs.DCSpecificRequest{Datacenter: "dc1"}, &out)
	if !structs.IsErr(err, structs.ErrNoLeader) {
		t.Fatalf("local read without quorum: err = %v", err)
	}
}

func TestWANLeaveAndPrune(t *testing.T) {
	dc1 := startCluster(t, "dc1", 1)[0]
	dc2 := startCluster(t, "dc2", 1)[0]
	dc3 := startCluster(t, "dc3", 1)[0]
	joinWAN(t, dc1, dc2, dc3)
	waitWANMembers(t, dc1, 3)

	// leave -wan: dc2 disappears from dc1's router at once, and dc2 keeps
	// serving itself.
	if err := dc2.LeaveWAN(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "dc2 gone from dc1's router", 10*time.Second, func() error {
		if dc1.router.HasDatacenter("dc2") {
			return fmt.Errorf("still known: %v", dc1.router.Datacenters())
		}
		return nil
	})
	var out structs.IndexedNodes
	if err := dc2.RPC("Catalog.ListNodes", &structs.DCSpecificRequest{}, &out); err != nil {
		t.Fatalf("dc2 after leaving the wan: %v", err)
	}
	if err := dc2.RPC("Catalog.ListNodes", &structs.DCSpecificRequest{Datacenter: "dc1"}, &out); !structs.IsErr(err, structs.ErrNoDCPath) {
		t.Fatalf("dc2 out of the wan reaching dc1: %v, want %v", err, structs.ErrNoDCPath)
	}
	// A later join -wan brings it back.
	if _, err := dc2.JoinWAN([]string{wanAddr(dc1)}); err != nil {
		t.Fatalf("rejoin the wan after leaving it: %v", err)
	}
	waitFor(t, "dc2 back in dc1's router", 10*time.Second, func() error {
		if !dc1.router.HasDatacenter("dc2") {
			return fmt.Errorf("dc2 not back: %v", dc1.router.Datacenters())
		}
		return dc1.RPC("Catalog.ListNodes", &structs.DCSpecificRequest{Datacenter: "dc2"}, &out)
	})

	// A decommissioned dc3: its server is dead, force-leave -wan -prune
	// purges it from every router.
	dc3.Shutdown()
	waitFor(t, "dc3 failed in the wan pool", 15*time.Second, func() error {
		for _, m := range dc1.WANMembers() {
			if m.Name == gossip.WANName(dc3.NodeName(), "dc3") && m.Status == serf.StatusFailed {
				return nil
			}
		}
		return fmt.Errorf("not failed yet")
	})
	if !dc1.router.HasDatacenter("dc3") {
		t.Fatal("a failed server was dropped from the router (it should soft-fail)")
	}
	if err := dc1.RemoveFailedNode(gossip.WANName(dc3.NodeName(), "dc3"), true, true); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "dc3 purged", 10*time.Second, func() error {
		if dc1.router.HasDatacenter("dc3") {
			return fmt.Errorf("dc3 still routable")
		}
		return nil
	})
	err := dc1.RPC("Catalog.ListNodes", &structs.DCSpecificRequest{Datacenter: "dc3"}, &out)
	if !structs.IsErr(err, structs.ErrNoDCPath) {
		t.Fatalf("pruned dc3: err = %v, want %v", err, structs.ErrNoDCPath)
	}
}

func TestFederationViewFollowsProbes(t *testing.T) {
	dc1 := startCluster(t, "dc1", 1)[0]
	dc2 := startCluster(t, "dc2", 1)[0]
	joinWAN(t, dc1, dc2)
	view := func() (structs.FederationDC, error) {
		var fed []structs.FederationDC
		if err := dc1.RPC("Operator.FederationStatus", &structs.DCSpecificRequest{}, &fed); err != nil {
			return structs.FederationDC{}, err
		}
		for _, fd := range fed {
			if fd.Datacenter == "dc2" {
				return fd, nil
			}
		}
		return structs.FederationDC{}, fmt.Errorf("dc2 not in the view")
	}
	// Without any request to dc2, the probes find it and its leader.
	waitFor(t, "dc2 reachable with a leader", 10*time.Second, func() error {
		fd, err := view()
		if err != nil {
			return err
		}
		if !fd.Reachable || !fd.LeaderKnown || fd.LastContact == nil || fd.LastError != "" {
			return fmt.Errorf("view %+v", fd)
		}
		return nil
	})
	cfg2 := restartConfig(t, identityOf(dc2))
	dc2.Shutdown()
	waitFor(t, "dead dc2 unreachable", 10*time.Second, func() error {
		fd, err := view()
		if err != nil {
			return err
		}
		if fd.Reachable || fd.LeaderKnown || fd.LastError == "" {
			return fmt.Errorf("view %+v", fd)
		}
		return nil
	})
	startServer(t, cfg2)
	waitFor(t, "dc2 reachable again", 20*time.Second, func() error {
		fd, err := view()
		if err != nil {
			return err
		}
		if !fd.Reachable || !fd.LeaderKnown || fd.LastError != "" {
			return fmt.Errorf("view %+v", fd)
		}
		return nil
	})
}

// TestRemoteServerWithoutLeaderIsSkipped: a dc2 server that knows no
// leader (here one that never joined dc2's LAN pool, like a server cut off
// from its datacenter) answers "No cluster leader"; a read forwarded from
// dc1 goes on to the next dc2 server, and the leaderless one is tried
// after the others from then on.
func TestRemoteServerWithoutLeaderIsSkipped(t *testing.T) {
	dc1 := startCluster(t, "dc1", 1)[0]
	dc2 := startCluster(t, "dc2", 1)[0]
	cfg := testConfig(t, "dc2")
	cfg.BootstrapExpect = 3 // never reached: it has no leader
	cfg.RPCHoldTimeout = 200 * time.Millisecond
	lone := startServer(t, cfg)
	joinWAN(t, dc1, dc2, lone)
	waitWANMembers(t, dc1, 3)

	var good, bad *gossip.ServerMeta
	waitFor(t, "both dc2 servers in dc1's router", 10*time.Second, func() error {
		servers, _ := dc1.router.Route("dc2", true, nil, nil)
		good, bad = nil, nil
		for _, m := range servers {
			switch m.Name {
			case lone.NodeName():
				bad = m
			case dc2.NodeName():
				good = m
			}
		}
		if good == nil || bad == nil {
			return fmt.Errorf("router has %d dc2 servers", len(servers))
		}
		return nil
	})
	// The server with the leader failed a call a moment ago (as far as
	// the router knows): the leaderless one is asked first.
	dc1.router.NoteResult("dc2", good, false, false, errors.New("test: unreachable a moment ago"))
	if first, _ := dc1.router.Route("dc2", true, nil, nil); first[0] != bad {
		t.Fatalf("the router tries %s first; the test needs %s", first[0].Name, bad.Name)
	}
	var out structs.IndexedNodes
	if err := dc1.RPC("Catalog.ListNodes", &structs.DCSpecificRequest{Datacenter: "dc2"}, &out); err != nil || !out.KnownLeader {
		t.Fatalf("read of dc2 with its leaderless server asked first: err=%v knownLeader=%v", err, out.KnownLeader)
	}
	if after, _ := dc1.router.Route("dc2", true, nil, nil); after[0] != good {
		t.Fatalf("after its 'No cluster leader', the router still tries %s first", after[0].Name)
	}
}

// TestRemoteDCWithoutAnyLeader: when no server of a datacenter knows a
// leader, the read asked again of a second server there after the first
// one's hold time is cut short by the cross-DC deadline; the answer stays
// "No cluster leader", and the second server, which answered nothing only
// for want of time, is not counted unreachable.
func TestRemoteDCWithoutAnyLeader(t *testing.T) {
	cfg1 := testConfig(t, "dc1")
	cfg1.Bootstrap = true
	cfg1.CrossDCTimeout = 1500 * time.Millisecond
	dc1 := startServer(t, cfg1)
	waitForLeader(t, []*Server{dc1})
	var lone []*Server
	for i := 0; i < 2; i++ {
		cfg := testConfig(t, "dc3")
		cfg.BootstrapExpect = 3 // never reached: no leader
		cfg.RPCHoldTimeout = time.Second
		lone = append(lone, startServer(t, cfg))
	}
	joinWAN(t, dc1, lone...)
	waitFor(t, "both dc3 servers in dc1's router", 10*time.Second, func() error {
		if servers, _ := dc1.router.Route("dc3", true, nil, nil); len(servers) != 2 {
			return fmt.Errorf("router has %d dc3 servers", len(servers))
		}
		return nil
	})

	var out structs.IndexedNodes
	start := time.Now()
	err := dc1.RPC("Catalog.ListNodes", &structs.DCSpecificRequest{Datacenter: "dc3"}, &out)
	took := time.Since(start)
	if err == nil || err.Error() != structs.ErrNoLeader.Error() {
		t.Fatalf("read of a datacenter without a leader: err=%v, want %q", err, structs.ErrNoLeader)
	}
	if took < cfg1.CrossDCTimeout {
		t.Fatalf("answered after %s: the second dc3 server was not asked until the deadline", took)
	}
	dc1.router.mu.RLock()
	defer dc1.router.mu.RUnlock()
	route := dc1.router.dcs["dc3"]
	if route == nil {
		t.Fatal("dc3 not in the router")
	}
	noLeader := 0
	for name, rs := range route.servers {
		if !rs.rpcFailedAt.IsZero() {
			t.Errorf("%s counted unreachable after the deadline cut its turn short", name)
		}
		if !rs.noLeaderAt.IsZero() {
			noLeader++
		}
	}
	if noLeader != 1 {
		t.Errorf("%d dc3 servers noted as knowing no leader, want the one that answered", noLeader)
	}
	// The federation probe's answers (Status.Leader, "" without a leader)
	// may have cleared it since; a timeout must not have replaced it.
	if route.lastError != "" && route.lastError != structs.ErrNoLeader.Error() {
		t.Errorf("the federation view's last error is %q, want %q", route.lastError, structs.ErrNoLeader)
	}
}
