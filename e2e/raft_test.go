package e2e

// Issue 3's fault tolerance with real processes (hosts 60-79): three
// servers with -bootstrap-expect 3 and a client. The subtests run in order
// on one cluster, each leaving it healthy for the next: leader agreement,
// replication to every server, SIGKILL of the leader under a stream of
// writes, restart of every server from its data dir, and a server whose
// data dir was wiped.

import (
	"fmt"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hashicorp/consul/api"
)

// register writes a catalog node through a.
func register(a *agentProc, node string) error {
	_, err := a.API.Catalog().Register(&api.CatalogRegistration{
		Node:    node,
		Address: "192.0.2.1",
		Service: &api.AgentService{ID: "svc", Service: "written", Port: 1},
	}, nil)
	return err
}

// nodesWithPrefix lists the catalog nodes a sees whose names start with
// prefix.
func nodesWithPrefix(a *agentProc, prefix string, q *api.QueryOptions) (map[string]bool, error) {
	nodes, _, err := a.API.Catalog().Nodes(q)
	if err != nil {
		return nil, fmt.Errorf("nodes from %s: %w", a.Name, err)
	}
	out := map[string]bool{}
	for _, n := range nodes {
		if strings.HasPrefix(n.Node, prefix) {
			out[n.Node] = true
		}
	}
	return out, nil
}

// hasAll reports the first of want missing from got.
func hasAll(got map[string]bool, want []string) error {
	for _, w := range want {
		if !got[w] {
			return fmt.Errorf("%s missing (%d of %d present)", w, len(got), len(want))
		}
	}
	return nil
}

// writer registers nodes prefix-0, prefix-1, ... through one agent until
// stopped, and remembers which writes were acknowledged.
type writer struct {
	a      *agentProc
	prefix string
	stop   chan struct{}
	wg     sync.WaitGroup

	mu     sync.Mutex
	acked  []string
	failed int
}

func startWriter(a *agentProc, prefix string) *writer {
	w := &writer{a: a, prefix: prefix, stop: make(chan struct{})}
	w.wg.Add(1)
	go func() {
		defer w.wg.Done()
		for i := 0; ; i++ {
			select {
			case <-w.stop:
				return
			default:
			}
			name := fmt.Sprintf("%s-%d", prefix, i)
			err := register(a, name)
			w.mu.Lock()
			if err == nil {
				w.acked = append(w.acked, name)
			} else {
				w.failed++
			}
			w.mu.Unlock()
			if err != nil {
				// Failed writes (no leader yet) are retried under a new
				// name, at a gentler pace.
				select {
				case <-w.stop:
					return
				case <-time.After(50 * time.Millisecond):
				}
			}
		}
	}()
	return w
}

// ackedCount is how many writes were acknowledged so far.
func (w *writer) ackedCount() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.acked)
}

// halt stops the writer and returns the acknowledged writes.
func (w *writer) halt() (acked []string, failed int) {
	close(w.stop)
	w.wg.Wait()
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]string(nil), w.acked...), w.failed
}

// raftConfigs returns each running server's own view (stale) of the Raft
// configuration, as sorted "id@address" lists.
func raftConfigs(servers []*agentProc) (map[string][]string, error) {
	out := map[string][]string{}
	for _, s := range servers {
		cfg, err := s.API.Operator().RaftGetConfiguration(&api.QueryOptions{AllowStale: true})
		if err != nil {
			return nil, fmt.Errorf("raft configuration from %s: %w", s.Name, err)
		}
		var ids []string
		for _, srv := range cfg.Servers {
			ids = append(ids, srv.ID+"@"+srv.Address)
		}
		sort.Strings(ids)
		out[s.Name] = ids
	}
	return out, nil
}

// oneRaftConfig waits until every server reports the same configuration
// of want members, and returns it.
func oneRaftConfig(t *testing.T, servers []*agentProc, want int) []string {
	t.Helper()
	var conf []string
	waitFor(t, leaderTimeout, fmt.Sprintf("one raft configuration of %d servers", want), func() error {
		confs, err := raftConfigs(servers)
		if err != nil {
			return err
		}
		conf = nil
		for name, c := range confs {
			if len(c) != want {
				return fmt.Errorf("%s has %d servers in its configuration: %v", name, len(c), c)
			}
			if conf != nil && strings.Join(c, ",") != strings.Join(conf, ",") {
				return fmt.Errorf("configurations differ: %s has %v, another %v", name, c, conf)
			}
			conf = c
		}
		return nil
	})
	return conf
}

func TestRaftFailover(t *testing.T) {
	c := newCluster(t, 60, 79)
	rc := startRaftCluster(t, c, "raft")
	var committed []string // every acknowledged write so far

	step(t, "all agree on one leader", func(t *testing.T) {
		leader, _ := rc.leader(t)
		checkRaftPeers(t, rc.servers[1], rc.servers, leader)
		oneRaftConfig(t, rc.servers, 3)
	})

	step(t, "a write to a follower is readable from every server", func(t *testing.T) {
		_, followers := rc.leader(t)
		for i := 0; i < 10; i++ {
			name := fmt.Sprintf("f-%d", i)
			if err := register(followers[i%2], name); err != nil {
				t.Fatalf("write %s through follower %s: %v", name, followers[i%2].Name, err)
			}
			committed = append(committed, name)
		}
		waitFor(t, 10*time.Second, "every server to serve the writes with ?stale", func() error {
			for _, s := range rc.servers {
				got, err := nodesWithPrefix(s, "f-", &api.QueryOptions{AllowStale: true})
				if err != nil {
					return err
				}
				if err := hasAll(got, committed); err != nil {
					return fmt.Errorf("%s: %w", s.Name, err)
				}
			}
			return nil
		})
	})

	step(t, "SIGKILL of the leader loses no committed write", func(t *testing.T) {
		old, followers := rc.leader(t)
		oldAddr := fmt.Sprintf("%s:%d", old.Host, old.Ports.Server)
		w := startWriter(rc.client, "k")
		waitFor(t, 10*time.Second, "writes before the kill", func() error {
			if n := w.ackedCount(); n < 20 {
				return fmt.Errorf("%d writes acknowledged", n)
			}
			return nil
		})
		// It comes back below without -join, from its member file.
		waitPeersFile(t, old, false, names(followers...)...)
		killedAt := time.Now()
		before := w.ackedCount()
		old.Kill()
		survivors := append(append([]*agentProc(nil), followers...), rc.client)
		newLeader := waitLeaderNot(t, leaderTimeout, oldAddr, survivors...)
		t.Logf("new leader %s known to all %s after the kill", newLeader, time.Since(killedAt).Round(time.Millisecond))
		// Writes continue through the client once a new leader is known.
		waitFor(t, 15*time.Second, "writes after the failover", func() error {
			if n := w.ackedCount(); n < before+20 {
				return fmt.Errorf("%d writes acknowledged since the kill", n-before)
			}
			return nil
		})
		acked, failed := w.halt()
		t.Logf("%d writes acknowledged, %d refused during the failover", len(acked), failed)
		committed = append(committed, acked...)

		leader := byRPCAddr(t, newLeader, rc.servers...)
		got, err := nodesWithPrefix(leader, "", &api.QueryOptions{RequireConsistent: true})
		if err != nil {
			t.Fatal(err)
		}
		if err := hasAll(got, committed); err != nil {
			t.Fatalf("after the failover, a committed write is lost: %v", err)
		}

		// The leader marks the dead server's node critical.
		waitFor(t, 20*time.Second, "serfHealth of the killed server to turn critical", func() error {
			checks, _, err := leader.API.Health().Node(old.Name, nil)
			if err != nil {
				return err
			}
			if st := checkStatus(checks, "serfHealth"); st != api.HealthCritical {
				return fmt.Errorf("serfHealth of %s is %q", old.Name, st)
			}
			return nil
		})

		// Back with its data dir and without -join: serf writes its
		// snapshot lazily, so the killed process may not have recorded
		// its peers there; it rejoins from the member file the pool
		// keeps itself (gossip/peers.go).
		old.Restart()
		waitLeader(t, leaderTimeout, rc.all...)
		waitFor(t, 20*time.Second, "the restarted server to catch up", func() error {
			got, err := nodesWithPrefix(old, "", &api.QueryOptions{AllowStale: true})
			if err != nil {
				return err
			}
			return hasAll(got, committed)
		})
		waitFor(t, 20*time.Second, "serfHealth of the restarted server to pass", func() error {
			checks, _, err := leader.API.Health().Node(old.Name, nil)
			if err != nil {
				return err
			}
			if st := checkStatus(checks, "serfHealth"); st != api.HealthPassing {
				return fmt.Errorf("serfHealth of %s is %q", old.Name, st)
			}
			return nil
		})
		oneRaftConfig(t, rc.servers, 3)
	})

	step(t, "all servers restarted from their data dirs keep data and one cluster", func(t *testing.T) {
		before := oneRaftConfig(t, rc.servers, 3)
		for _, s := range rc.servers {
			s.Stop(syscall.SIGTERM)
		}
		// Every server comes back with -bootstrap-expect 3, as before:
		// their Raft state must stop them from bootstrapping anew.
		for _, s := range rc.servers {
			s.Restart()
		}
		leader := byRPCAddr(t, waitLeader(t, leaderTimeout, rc.all...), rc.servers...)
		after := oneRaftConfig(t, rc.servers, 3)
		if strings.Join(before, ",") != strings.Join(after, ",") {
			t.Errorf("raft configuration changed across the restart: %v, then %v", before, after)
		}
		checkRaftPeers(t, rc.client, rc.servers, leader)
		waitFor(t, 20*time.Second, "every server to serve every committed write", func() error {
			for _, s := range rc.servers {
				got, err := nodesWithPrefix(s, "", &api.QueryOptions{AllowStale: true})
				if err != nil {
					return err
				}
				if err := hasAll(got, committed); err != nil {
					return fmt.Errorf("%s: %w", s.Name, err)
				}
			}
			return nil
		})
		for _, s := range rc.servers {
			if strings.Contains(s.LastLog(), "bootstrapped the cluster") {
				t.Errorf("%s bootstrapped again after its restart", s.Name)
			}
		}
		if err := register(rc.client, "after-restart"); err != nil {
			t.Errorf("write after the restart: %v", err)
		}
		committed = append(committed, "after-restart")
	})

	step(t, "a server with a wiped data dir rejoins the existing cluster", func(t *testing.T) {
		leader, followers := rc.leader(t)
		victim := followers[0]
		before := oneRaftConfig(t, rc.servers, 3)
		victim.Stop(syscall.SIGTERM)
		victim.WipeData()
		// Without its data dir it has no snapshot to rejoin from, and
		// still -bootstrap-expect 3: it must join the cluster it finds,
		// not bootstrap one of its own.
		victim.Restart("-join=" + leader.LANAddr)
		waitLeader(t, leaderTimeout, rc.all...)
		after := oneRaftConfig(t, rc.servers, 3)
		t.Logf("raft configuration before the wipe: %v", before)
		t.Logf("raft configuration after the wipe:  %v", after)
		waitFor(t, 20*time.Second, "the wiped server to receive the data", func() error {
			got, err := nodesWithPrefix(victim, "", &api.QueryOptions{AllowStale: true})
			if err != nil {
				return err
			}
			return hasAll(got, committed)
		})
		if strings.Contains(victim.LastLog(), "bootstrapped the cluster") {
			t.Errorf("the wiped server bootstrapped a cluster of its own")
		}
		if err := register(victim, "after-wipe"); err != nil {
			t.Errorf("write through the wiped server: %v", err)
		}
	})
}
