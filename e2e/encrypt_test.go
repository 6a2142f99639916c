package e2e

// Gossip encryption with real processes (hosts 50-59): agents sharing a
// key from `meridian keygen` form a cluster; an agent without the key, or
// with another key, cannot join it.

import (
	"strings"
	"testing"
	"time"
)

func keygen(t *testing.T) string {
	t.Helper()
	r := runMeridian(t, cliTimeout, "keygen")
	if r.Code != 0 {
		t.Fatalf("keygen: %s", r)
	}
	return strings.TrimSpace(r.Stdout)
}

func TestGossipEncryption(t *testing.T) {
	key, otherKey := keygen(t), keygen(t)
	c := newCluster(t, 50, 59)
	srv := c.start(agentOpts{Name: "enc-s1", Server: true, Bootstrap: true, Encrypt: key})
	cl := c.start(agentOpts{Name: "enc-c1", Encrypt: key, Join: []string{srv.LANAddr}})
	members := allAlive(srv.Name, cl.Name)
	waitPool(t, gossipTimeout, false, members, srv, cl)
	if out := srv.Log(); !strings.Contains(out, "Encrypt: Gossip: true") {
		t.Errorf("the server's banner does not report encryption")
	}
	// The WAN pool of the server is encrypted too: a server with the key
	// joins it, one of another datacenter.
	dc2 := c.start(agentOpts{Name: "enc-dc2", DC: "dc2", Server: true, Bootstrap: true, Encrypt: key})
	dc2.mustCLI("join", "-wan", srv.Host)
	waitPool(t, gossipTimeout, true, allAlive(wanName(srv), wanName(dc2)), srv, dc2)

	outsiders := []struct {
		name string
		key  string
	}{
		{"enc-nokey", ""},
		{"enc-otherkey", otherKey},
	}
	for _, o := range outsiders {
		t.Run(o.name, func(t *testing.T) {
			a := c.start(agentOpts{Name: o.name, Encrypt: o.key})
			r := a.CLI("join", srv.LANAddr)
			if r.Code == 0 || r.TimedOut {
				t.Errorf("join without the cluster's key: want failure, got %s", r)
			}
			if err := oneSentence(r.Stderr); err != nil {
				t.Errorf("join error: %v", err)
			}
			// Nobody learnt of anybody: the outsider is alone, the
			// cluster unchanged. Gossip spreads in well under the
			// second watched here.
			deadline := time.Now().Add(time.Second)
			for time.Now().Before(deadline) {
				if err := poolIs(a, false, allAlive(a.Name)); err != nil {
					t.Fatal(err)
				}
				if err := poolIs(srv, false, members); err != nil {
					t.Fatal(err)
				}
				time.Sleep(200 * time.Millisecond)
			}
			// Nor can the outsider be pulled in from the cluster's side.
			if r := srv.CLI("join", a.LANAddr); r.Code == 0 {
				t.Errorf("the server joined the outsider: %s", r)
			}
			a.Kill()
		})
	}
}
