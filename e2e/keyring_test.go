package e2e

// Gossip key rotation with real processes (hosts 240-254): two
// datacenters and a client agent, all started with -encrypt K1, rotate to
// K2 (install, use, remove) through the official client and the CLI while
// every member stays alive in the LAN and WAN pools; afterwards an agent
// with only K1 cannot join, and agents killed and restarted from their
// data dirs (still given -encrypt K1) come back with K2 and rejoin.

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/consul/api"
)

// keyringByPool indexes a keyring list by pool name.
func keyringByPool(rs []*api.KeyringResponse) map[string]*api.KeyringResponse {
	out := map[string]*api.KeyringResponse{}
	for _, r := range rs {
		if r.WAN {
			out["WAN"] = r
		} else {
			out[r.Datacenter+" (LAN)"] = r
		}
	}
	return out
}

// keyringIs checks a keyring list: the pools and their member counts, the
// keys every member holds, and the primary key every member uses.
func keyringIs(rs []*api.KeyringResponse, pools map[string]int, keys []string, primary string) error {
	got := keyringByPool(rs)
	if len(rs) != len(pools) || len(got) != len(pools) {
		return fmt.Errorf("%d pools in the list, want %d", len(rs), len(pools))
	}
	for name, n := range pools {
		p := got[name]
		switch {
		case p == nil:
			return fmt.Errorf("pool %s missing", name)
		case p.NumNodes != n:
			return fmt.Errorf("%s: %d members, want %d", name, p.NumNodes, n)
		case len(p.Keys) != len(keys):
			return fmt.Errorf("%s: %d keys, want %d", name, len(p.Keys), len(keys))
		case len(p.PrimaryKeys) != 1 || p.PrimaryKeys[primary] != n:
			return fmt.Errorf("%s: primary keys %v, want the expected one on all %d members", name, p.PrimaryKeys, n)
		}
		for _, k := range keys {
			if p.Keys[k] != n {
				return fmt.Errorf("%s: a key is held by %d members, want %d", name, p.Keys[k], n)
			}
		}
	}
	return nil
}

// membershipWatch polls LAN and WAN members while keys rotate and keeps
// every moment a member was not alive.
type membershipWatch struct {
	stop chan struct{}
	wg   sync.WaitGroup

	mu     sync.Mutex
	polls  int
	lapses []string
}

type poolView struct {
	a    *agentProc
	wan  bool
	want map[string]string
}

func watchMembership(views ...poolView) *membershipWatch {
	w := &membershipWatch{stop: make(chan struct{})}
	w.wg.Add(1)
	go func() {
		defer w.wg.Done()
		for {
			for _, v := range views {
				ms, err := v.a.API.Agent().Members(v.wan)
				if err != nil {
					continue // a slow answer is not a lapse of membership
				}
				var diffs []string
				seen := map[string]bool{}
				for _, m := range ms {
					seen[m.Name] = true
					if _, ok := v.want[m.Name]; ok && m.Status != statusAlive {
						diffs = append(diffs, m.Name+" "+statusName(m.Status))
					}
				}
				for name := range v.want {
					if !seen[name] {
						diffs = append(diffs, name+" missing")
					}
				}
				w.mu.Lock()
				w.polls++
				if len(diffs) > 0 && len(w.lapses) < 20 {
					w.lapses = append(w.lapses, fmt.Sprintf("%s (wan=%v) at %s: %s", v.a.Name, v.wan, time.Now().Format("15:04:05.000"), strings.Join(diffs, ", ")))
				}
				w.mu.Unlock()
			}
			select {
			case <-w.stop:
				return
			case <-time.After(100 * time.Millisecond):
			}
		}
	}()
	return w
}

// end stops the watch and returns how many polls it made and its lapses.
func (w *membershipWatch) end() (int, []string) {
	close(w.stop)
	w.wg.Wait()
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.polls, w.lapses
}

func TestKeyringRotation(t *testing.T) {
	k1, k2 := keygen(t), keygen(t)
	c := newCluster(t, 240, 254)
	var dc1, dc2 []*agentProc
	for i := 1; i <= 3; i++ {
		o := agentOpts{Name: fmt.Sprintf("kr1-s%d", i), Server: true, BootstrapExpect: 3, Encrypt: k1}
		if i > 1 {
			o.Join = []string{dc1[0].LANAddr}
		}
		dc1 = append(dc1, c.start(o))
	}
	cl := c.start(agentOpts{Name: "kr1-c1", Encrypt: k1, Join: []string{dc1[0].LANAddr}})
	for i := 1; i <= 2; i++ {
		o := agentOpts{Name: fmt.Sprintf("kr2-s%d", i), DC: "dc2", Server: true, BootstrapExpect: 2, Encrypt: k1}
		if i > 1 {
			o.Join = []string{dc2[0].LANAddr}
		}
		dc2 = append(dc2, c.start(o))
	}
	dc2[0].mustCLI("join", "-wan", dc1[0].Host)
	lan1 := allAlive(append(names(dc1...), cl.Name)...)
	lan2 := allAlive(names(dc2...)...)
	wan := allAlive(append(wanNames(dc1...), wanNames(dc2...)...)...)
	waitPool(t, 20*time.Second, false, lan1, append([]*agentProc{cl}, dc1...)...)
	waitPool(t, 20*time.Second, false, lan2, dc2...)
	waitPool(t, 20*time.Second, true, wan, append(dc1, dc2...)...)
	waitLeader(t, 20*time.Second, dc1...)
	waitLeader(t, 20*time.Second, dc2...)

	pools := map[string]int{"WAN": 5, "dc1 (LAN)": 4, "dc2 (LAN)": 2}
	list := func(a *agentProc) []*api.KeyringResponse {
		t.Helper()
		rs, err := a.API.Operator().KeyringList(nil)
		if err != nil {
			t.Fatalf("keyring list through %s: %v", a.Name, err)
		}
		return rs
	}
	waitFor(t, 20*time.Second, "every pool to list K1 on every member", func() error {
		rs, err := cl.API.Operator().KeyringList(nil)
		if err != nil {
			return err
		}
		return keyringIs(rs, pools, []string{k1}, k1)
	})

	watch := watchMembership(
		poolView{cl, false, lan1}, poolView{dc2[1], false, lan2}, poolView{dc1[1], true, wan}, poolView{dc2[0], true, wan})
	step(t, "install through the CLI of a client agent", func(t *testing.T) {
		start := time.Now()
		r := cl.mustCLI("keyring", "-install", k2)
		t.Logf("install reached all 7 agents (11 pool memberships: WAN 5, dc1 LAN 4, dc2 LAN 2) in %s (meridian keyring -install through a client agent, process start included)",
			time.Since(start).Round(time.Millisecond))
		if !strings.Contains(r.Stdout, "==> Installing new gossip encryption key...") {
			t.Errorf("install output: %s", r)
		}
		if err := keyringIs(list(dc2[0]), pools, []string{k1, k2}, k1); err != nil {
			t.Fatal(err)
		}
	})
	step(t, "use through the official client in dc2", func(t *testing.T) {
		start := time.Now()
		if err := dc2[1].API.Operator().KeyringUse(k2, nil); err != nil {
			t.Fatalf("use: %v", err)
		}
		t.Logf("use reached every member in %s", time.Since(start).Round(time.Millisecond))
		if err := keyringIs(list(cl), pools, []string{k1, k2}, k2); err != nil {
			t.Fatal(err)
		}
	})
	step(t, "the primary key cannot be removed", func(t *testing.T) {
		r := dc1[0].CLI("keyring", "-remove", k2)
		if r.Code != 1 || !strings.Contains(r.Stderr, "removing the primary key is not allowed") {
			t.Errorf("remove the primary key: %s", r)
		}
		if err := oneSentence(r.Stderr); err != nil {
			t.Error(err)
		}
		err := cl.API.Operator().KeyringRemove(k2, nil)
		var se api.StatusError
		if !errors.As(err, &se) || se.Code != 400 {
			t.Errorf("remove the primary key through the client: %v, want a 400", err)
		}
	})
	step(t, "remove the old key through the official client", func(t *testing.T) {
		if err := cl.API.Operator().KeyringRemove(k1, nil); err != nil {
			t.Fatalf("remove: %v", err)
		}
		if err := keyringIs(list(dc1[2]), pools, []string{k2}, k2); err != nil {
			t.Fatal(err)
		}
		r := dc2[0].mustCLI("keyring", "-list")
		for _, want := range []string{"==> Gathering installed encryption keys...", "\nWAN:\n  " + k2 + " [5/5]",
			"\ndc1 (LAN):\n  " + k2 + " [4/4]", "\ndc2 (LAN):\n  " + k2 + " [2/2]"} {
			if !strings.Contains(r.Stdout, want) {
				t.Errorf("keyring -list lacks %q:\n%s", want, r.Stdout)
			}
		}
	})
	// A member left behind by a step (still sending with the removed key)
	// would be suspected and declared failed within a few probe rounds
	// (200ms each here): keep watching for a window of several of them.
	window := time.Now().Add(3 * time.Second)
	for time.Now().Before(window) {
		time.Sleep(pollEvery)
	}
	polls, lapses := watch.end()
	if polls < 20 {
		t.Errorf("the membership watch polled only %d times", polls)
	}
	for _, l := range lapses {
		t.Errorf("a member was not alive during the rotation: %s", l)
	}
	if t.Failed() {
		return
	}

	step(t, "an agent with only the old key cannot join", func(t *testing.T) {
		o := c.start(agentOpts{Name: "kr-old", Encrypt: k1})
		if r := o.CLI("join", cl.LANAddr); r.Code == 0 {
			t.Errorf("joined with the removed key: %s", r)
		}
		if r := o.CLI("join", dc1[0].LANAddr); r.Code == 0 {
			t.Errorf("joined a server with the removed key: %s", r)
		}
		if err := poolIs(cl, false, lan1); err != nil {
			t.Error(err)
		}
		o.Kill()
	})
	step(t, "agents restarted from their data dirs keep the new key and rejoin", func(t *testing.T) {
		// Killed, not stopped: the keyring files were written when the
		// keys changed. Both restart with -encrypt K1 still on their
		// command line, which the keyring file overrides.
		waitPeersFile(t, cl, false, names(dc1...)...)
		waitPeersFile(t, dc2[1], true, wanNames(dc1...)...)
		cl.Kill()
		dc2[1].Kill()
		cl.Restart()
		dc2[1].Restart()
		for _, a := range []*agentProc{cl, dc2[1]} {
			if !strings.Contains(a.LastLog(), "encrypt key is ignored") {
				t.Errorf("%s did not report that its keyring file overrides -encrypt", a.Name)
			}
		}
		waitPool(t, 20*time.Second, false, lan1, append([]*agentProc{cl}, dc1...)...)
		waitPool(t, 20*time.Second, false, lan2, dc2...)
		waitPool(t, 20*time.Second, true, wan, append(dc1, dc2...)...)
		waitFor(t, 20*time.Second, "the restarted agents to list K2 alone", func() error {
			rs, err := cl.API.Operator().KeyringList(nil)
			if err != nil {
				return err
			}
			return keyringIs(rs, pools, []string{k2}, k2)
		})
	})
}
