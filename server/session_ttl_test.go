package server

import (
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/meridian-sd/meridian/structs"
)

func TestSessionTimers(t *testing.T) {
	t.Run("fires once", func(t *testing.T) {
		st := newSessionTimers()
		var fired atomic.Int32
		st.set("a", 10*time.Millisecond, func() { fired.Add(1) })
		waitFor(t, "the timer", 2*time.Second, func() error {
			if fired.Load() != 1 {
				return fmt.Errorf("fired %d times", fired.Load())
			}
			return nil
		})
		if st.len() != 0 {
			t.Fatalf("%d timers left after firing", st.len())
		}
	})
	t.Run("reset replaces", func(t *testing.T) {
		st := newSessionTimers()
		var old, fresh atomic.Int32
		st.set("a", 30*time.Millisecond, func() { old.Add(1) })
		st.set("a", 80*time.Millisecond, func() { fresh.Add(1) })
		waitFor(t, "the fresh timer", 2*time.Second, func() error {
			if fresh.Load() != 1 {
				return fmt.Errorf("fresh fired %d times", fresh.Load())
			}
			return nil
		})
		if old.Load() != 0 {
			t.Fatal("a replaced timer fired")
		}
	})
	t.Run("clear and stopAll", func(t *testing.T) {
		st := newSessionTimers()
		var fired atomic.Int32
		st.set("a", 20*time.Millisecond, func() { fired.Add(1) })
		st.set("b", 20*time.Millisecond, func() { fired.Add(1) })
		st.clear("a")
		st.stopAll()
		time.Sleep(60 * time.Millisecond)
		if fired.Load() != 0 || st.len() != 0 {
			t.Fatalf("fired %d, %d left after clear and stopAll", fired.Load(), st.len())
		}
	})
	t.Run("stopAll waits for a running callback", func(t *testing.T) {
		st := newSessionTimers()
		started, release := make(chan struct{}), make(chan struct{})
		var finished atomic.Bool
		st.set("a", time.Millisecond, func() {
			close(started)
			<-release
			finished.Store(true)
		})
		<-started
		go func() {
			time.Sleep(50 * time.Millisecond)
			close(release)
		}()
		st.stopAll()
		if !finished.Load() {
			t.Fatal("stopAll returned while a callback was running")
		}
	})
}

// TestSessionTTLAcrossLeaderChange: TTL timers live on the leader; when it
// dies the new leader starts them again, so an unrenewed session still
// expires and a renewed one lives on.
func TestSessionTTLAcrossLeaderChange(t *testing.T) {
	var servers []*Server
	for i := 0; i < 3; i++ {
		cfg := testConfig(t, "dc1")
		cfg.BootstrapExpect = 3
		cfg.SessionTTLMin = 100 * time.Millisecond
		servers = append(servers, startServer(t, cfg))
	}
	for _, s := range servers[1:] {
		if _, err := s.JoinLAN([]string{lanAddr(servers[0])}); err != nil {
			t.Fatal(err)
		}
	}
	leader := waitForLeader(t, servers)
	if err := leader.RPC("Catalog.Register", &structs.RegisterRequest{Datacenter: "dc1", Node: "app", Address: "10.0.0.5"}, &struct{}{}); err != nil {
		t.Fatal(err)
	}
	create := func(ttl string) string {
		var id string
		req := &structs.SessionRequest{Datacenter: "dc1", Op: structs.SessionCreate, Session: structs.Session{Node: "app", TTL: ttl}}
		if err := leader.RPC("Session.Apply", req, &id); err != nil {
			t.Fatal(err)
		}
		return id
	}
	lapsing, renewed := create("1s"), create("1s")

	leader.Shutdown()
	var rest []*Server
	for _, s := range servers {
		if s != leader {
			rest = append(rest, s)
		}
	}
	var newLeader *Server
	waitFor(t, "a new leader", 15*time.Second, func() error {
		for _, s := range rest {
			if s.IsLeader() {
				newLeader = s
				return nil
			}
		}
		return fmt.Errorf("none")
	})
	exists := func(id string) bool {
		var out structs.IndexedSessions
		if err := rest[0].RPC("Session.Get", &structs.SessionSpecificRequest{Datacenter: "dc1", SessionID: id}, &out); err != nil {
			t.Fatal(err)
		}
		return len(out.Sessions) == 1
	}
	renew := func() {
		var out structs.IndexedSessions
		// Through the follower: renewals are forwarded to the leader.
		if err := rest[0].RPC("Session.Renew", &structs.SessionSpecificRequest{Datacenter: "dc1", SessionID: renewed,
			QueryOptions: structs.QueryOptions{AllowStale: true}}, &out); err != nil || len(out.Sessions) != 1 {
			t.Fatalf("renew = %+v, %v", out.Sessions, err)
		}
	}
	deadline := time.Now().Add(10 * time.Second)
	for exists(lapsing) {
		if time.Now().After(deadline) {
			t.Fatalf("the unrenewed session outlived the leader change (leader %s, %d timers)", newLeader.NodeName(), newLeader.sessionTimers.len())
		}
		renew()
		time.Sleep(200 * time.Millisecond)
	}
	if !exists(renewed) {
		t.Fatal("the renewed session expired")
	}
}
