package e2e

// ACL replication with real processes (hosts 2-9): dc1 (primary, three
// servers) and dc2 (three servers replicating tokens with a replication
// token of their own) and a client in dc1. Bootstrap with the official
// client; a key_prefix "app/" write token writes app/x but not other/z in
// both datacenters and through ?dc=, and anonymous writes are refused;
// the delay from a token's creation in dc1 to its arrival in dc2 is
// measured; with every dc1 server killed the token still works in dc2,
// resolved from dc2's copy, and other/z is still refused; every server
// restarted keeps every token and policy in both datacenters.

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hashicorp/consul/api"
)

// replSecret is the replication token's secret, in dc2's config before
// the token exists in dc1.
const replSecret = "0b5e3c7a-2d94-4f1e-8a6b-9c3d2e1f0a4b"

const replHCL = `primary_datacenter = "dc1"
acl {
  enabled = true
  default_policy = "deny"
  enable_token_replication = true
  tokens { replication = "` + replSecret + `" }
}
`

func TestACLReplicationE2E(t *testing.T) {
	c := newCluster(t, 2, 9)
	var dc1, dc2 []*agentProc
	// Joins through the API need agent:write, which nobody has before the
	// bootstrap: agents join from their flags.
	for i := 1; i <= 3; i++ {
		o := agentOpts{Name: fmt.Sprintf("repl-dc1-s%d", i), Server: true, BootstrapExpect: 3, HCL: replHCL}
		if i > 1 {
			o.Join = []string{dc1[0].LANAddr}
		}
		dc1 = append(dc1, c.start(o))
	}
	waitLeader(t, 30*time.Second, dc1...)

	// Bootstrap through the official client; the replication token, with
	// acl = "write" (token replication needs the secrets), under the
	// secret dc2 is configured with.
	var boot *api.ACLToken
	waitFor(t, 20*time.Second, "bootstrap", func() error {
		var err error
		boot, _, err = dc1[0].API.ACL().Bootstrap()
		return err
	})
	mgmt := &api.QueryOptions{Token: boot.SecretID}
	wmgmt := &api.WriteOptions{Token: boot.SecretID}
	acl1 := dc1[0].API.ACL()
	rp, _, err := acl1.PolicyCreate(&api.ACLPolicy{Name: "replication", Rules: `acl = "write"`}, wmgmt)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := acl1.TokenCreate(&api.ACLToken{SecretID: replSecret, Description: "dc2 replication",
		Policies: []*api.ACLTokenPolicyLink{{ID: rp.ID}}}, wmgmt); err != nil {
		t.Fatal(err)
	}

	for i := 1; i <= 3; i++ {
		o := agentOpts{Name: fmt.Sprintf("repl-dc2-s%d", i), DC: "dc2", Server: true, BootstrapExpect: 3, HCL: replHCL,
			Args: []string{"-join-wan=" + dc1[0].WANAddr}}
		if i > 1 {
			o.Join = []string{dc2[0].LANAddr}
		}
		dc2 = append(dc2, c.start(o))
	}
	cl := c.start(agentOpts{Name: "repl-c1", Join: []string{dc1[0].LANAddr}, HCL: replHCL})
	waitLeader(t, 30*time.Second, dc2...)
	waitFor(t, 30*time.Second, "dc2 replicating", func() error {
		st, _, err := dc2[0].API.ACL().Replication(nil)
		if err != nil {
			return err
		}
		if !st.Running || st.ReplicatedTokenIndex == 0 {
			return fmt.Errorf("status %+v", st)
		}
		return nil
	})

	// A key_prefix "app/" write policy and a token for it.
	pol, _, err := acl1.PolicyCreate(&api.ACLPolicy{Name: "app", Rules: `key_prefix "app/" { policy = "write" }`}, wmgmt)
	if err != nil {
		t.Fatal(err)
	}
	tok, _, err := acl1.TokenCreate(&api.ACLToken{Description: "app writer", Policies: []*api.ACLTokenPolicyLink{{ID: pol.ID}}}, wmgmt)
	if err != nil {
		t.Fatal(err)
	}
	w := &api.WriteOptions{Token: tok.SecretID}
	// Both datacenters, directly and through ?dc= from dc1's client.
	type target struct {
		name string
		kv   *api.KV
		acl  *api.ACL
		dc   string
	}
	targets := []target{
		{"dc1 client", cl.API.KV(), cl.API.ACL(), ""},
		{"dc2 server", dc2[1].API.KV(), dc2[1].API.ACL(), ""},
		{"dc1 client ?dc=dc2", cl.API.KV(), cl.API.ACL(), "dc2"},
	}
	checkKV := func(t *testing.T, targets []target) {
		t.Helper()
		for _, tg := range targets {
			wo := *w
			wo.Datacenter = tg.dc
			if _, err := tg.kv.Put(&api.KVPair{Key: "app/x", Value: []byte(tg.name)}, &wo); err != nil {
				t.Errorf("%s: app/x with the app token: %v", tg.name, err)
			}
			_, err := tg.kv.Put(&api.KVPair{Key: "other/z", Value: []byte("no")}, &wo)
			want := fmt.Sprintf("Permission denied: token with AccessorID '%s' lacks permission 'key:write' on \"other/z\"", tok.AccessorID)
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Errorf("%s: other/z with the app token: %v, want %q", tg.name, err, want)
			}
			anon := api.WriteOptions{Datacenter: tg.dc}
			_, err = tg.kv.Put(&api.KVPair{Key: "app/x", Value: []byte("anonymous")}, &anon)
			if err == nil || !strings.Contains(err.Error(), "Permission denied: anonymous token lacks permission 'key:write'") {
				t.Errorf("%s: anonymous write: %v", tg.name, err)
			}
			pair, _, err := tg.kv.Get("app/x", &api.QueryOptions{Token: tok.SecretID, Datacenter: tg.dc})
			if err != nil || pair == nil || string(pair.Value) != tg.name {
				t.Errorf("%s: app/x after the writes: %+v %v", tg.name, pair, err)
			}
			self, _, err := tg.acl.TokenReadSelf(&api.QueryOptions{Token: tok.SecretID, Datacenter: tg.dc})
			if err != nil || self.AccessorID != tok.AccessorID {
				t.Errorf("%s: the app token's own read: %+v %v", tg.name, self, err)
			}
		}
	}
	step(t, "app token in both datacenters", func(t *testing.T) { checkKV(t, targets) })

	step(t, "replication delay", func(t *testing.T) {
		// From a token's creation in dc1 to dc2's status saying it has
		// applied that index; and to the token being listed by dc2.
		const n = 20
		var delays []time.Duration
		for i := 0; i < n; i++ {
			start := time.Now()
			nt, _, err := acl1.TokenCreate(&api.ACLToken{Description: fmt.Sprintf("delay %d", i), Policies: []*api.ACLTokenPolicyLink{{ID: pol.ID}}}, wmgmt)
			if err != nil {
				t.Fatal(err)
			}
			deadline := time.Now().Add(10 * time.Second)
			for {
				st, _, err := dc2[0].API.ACL().Replication(nil)
				if err == nil && st.ReplicatedTokenIndex >= nt.CreateIndex {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("token %d not replicated to dc2 within 10s: %+v %v", i, st, err)
				}
				time.Sleep(2 * time.Millisecond)
			}
			delays = append(delays, time.Since(start))
			// Usable in dc2: its own read there.
			if self, _, err := dc2[2].API.ACL().TokenReadSelf(&api.QueryOptions{Token: nt.SecretID}); err != nil || self.AccessorID != nt.AccessorID {
				t.Errorf("token %d in dc2: %+v %v", i, self, err)
			}
		}
		slices.Sort(delays)
		t.Logf("ACL replication delay dc1 -> dc2 over %d tokens (create in dc1 to applied in dc2): min %v p50 %v p90 %v max %v",
			n, delays[0], delays[n/2], delays[n*9/10], delays[n-1])
		list, _, err := dc2[0].API.ACL().TokenList(&api.QueryOptions{Token: boot.SecretID, Datacenter: "dc2"})
		if err != nil {
			t.Fatal(err)
		}
		found := 0
		for _, l := range list {
			if strings.HasPrefix(l.Description, "delay ") {
				found++
			}
		}
		if found != n {
			t.Errorf("dc2 lists %d of the %d new tokens", found, n)
		}
	})

	step(t, "dc1 killed", func(t *testing.T) {
		cl.Kill()
		for _, s := range dc1 {
			s.Kill()
		}
		checkKV(t, targets[1:2])
		self, _, err := dc2[0].API.ACL().TokenReadSelf(&api.QueryOptions{Token: tok.SecretID})
		if err != nil || self.AccessorID != tok.AccessorID {
			t.Errorf("token self in dc2 with dc1 down: %+v %v", self, err)
		}
		p, _, err := dc2[0].API.ACL().PolicyReadByName("app", mgmt)
		if err != nil || p.Rules != pol.Rules {
			t.Errorf("policy in dc2 with dc1 down: %+v %v", p, err)
		}
		waitFor(t, 30*time.Second, "dc2's status to report dc1 unreachable", func() error {
			st, _, err := dc2[0].API.ACL().Replication(nil)
			if err != nil {
				return err
			}
			if st.LastErrorMessage == "" || !st.LastError.After(st.LastSuccess) {
				return fmt.Errorf("status %+v", st)
			}
			return nil
		})
	})

	step(t, "every server restarted", func(t *testing.T) {
		for _, s := range dc2 {
			s.Stop(syscall.SIGTERM)
		}
		for _, s := range dc1 {
			s.Restart()
		}
		for _, s := range dc2 {
			s.Restart()
		}
		// Its serf snapshot lists dc1's servers as failed: -join again.
		cl.Restart("-join=" + dc1[0].LANAddr)
		restarted := time.Now()
		waitLeader(t, 30*time.Second, append(dc1, cl)...)
		waitLeader(t, 30*time.Second, dc2...)
		t.Logf("leaders after %v", time.Since(restarted))
		want := []string{"anonymous", "app writer", "dc2 replication", "bootstrap"}
		for _, a := range []*agentProc{dc1[1], dc2[1]} {
			waitFor(t, 30*time.Second, a.DC+"'s tokens and policies after the restart", func() error {
				q := &api.QueryOptions{Token: boot.SecretID, Datacenter: a.DC}
				toks, _, err := a.API.ACL().TokenList(q)
				if err != nil {
					return err
				}
				var have []string
				for _, tk := range toks {
					d := strings.ToLower(tk.Description)
					for _, w := range want {
						if strings.Contains(d, w) && !slices.Contains(have, w) {
							have = append(have, w)
						}
					}
				}
				if len(toks) != 3+20+1 || len(have) != len(want) {
					return fmt.Errorf("%d tokens, found %v of %v", len(toks), have, want)
				}
				pols, _, err := a.API.ACL().PolicyList(q)
				if err != nil {
					return err
				}
				var names []string
				for _, p := range pols {
					names = append(names, p.Name)
				}
				slices.Sort(names)
				if !slices.Equal(names, []string{"app", "global-management", "replication"}) {
					return fmt.Errorf("policies %v", names)
				}
				return nil
			})
		}
		t.Logf("tokens and policies after %v", time.Since(restarted))
		waitFor(t, 30*time.Second, "dc2 replicating again", func() error {
			st, _, err := dc2[0].API.ACL().Replication(nil)
			if err != nil {
				return err
			}
			if !st.Running || !st.LastSuccess.After(st.LastError) {
				return errors.New("not yet")
			}
			return nil
		})
		t.Logf("replicating after %v", time.Since(restarted))
		checkKV(t, targets)
	})
}
