package e2e

// Snapshots with real processes (hosts 300-319): three servers and a
// client hold KV entries, sessions (one holding a lock) and catalog
// entries; `meridian snapshot save` through the client saves them (the
// archive crosses the server port as a snapshot stream), `inspect` counts
// them, and `snapshot restore` through a follower of a fresh cluster of
// three installs them there: every server of the new cluster then holds
// every saved record, indexes included. A truncated and an altered file
// are refused with one sentence, and nothing changes on any server.

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/consul/api"
)

// startSnapshotCluster starts three servers named prefix1..3.
func startSnapshotCluster(t *testing.T, c *cluster, prefix string) []*agentProc {
	t.Helper()
	var servers []*agentProc
	for i := 1; i <= 3; i++ {
		opts := agentOpts{Name: fmt.Sprintf("%s%d", prefix, i), Server: true, BootstrapExpect: 3}
		if i > 1 {
			opts.Join = []string{servers[0].LANAddr}
		}
		servers = append(servers, c.start(opts))
	}
	waitLeader(t, 30*time.Second, servers...)
	return servers
}

// snapView is what a snapshot must carry over: every KV entry, every
// session, and the nodes registered through the catalog API (those
// prefixed ext-) with their services and checks. Agents' own nodes are
// left out: each cluster reconciles its members into its catalog.
type snapView struct {
	KV       map[string]api.KVPair
	Sessions map[string]api.SessionEntry
	Nodes    map[string]string // node -> address and meta
	Services map[string]string // node/service id -> name, tags, port
	Checks   map[string]string // node/check id -> status, service, output
}

// readView reads a's own state (?stale, so a follower answers from its own
// store).
func readView(a *agentProc) (*snapView, error) {
	q := &api.QueryOptions{AllowStale: true}
	v := &snapView{KV: map[string]api.KVPair{}, Sessions: map[string]api.SessionEntry{},
		Nodes: map[string]string{}, Services: map[string]string{}, Checks: map[string]string{}}
	pairs, _, err := a.API.KV().List("", q)
	if err != nil {
		return nil, fmt.Errorf("kv list on %s: %w", a.Name, err)
	}
	for _, p := range pairs {
		v.KV[p.Key] = *p
	}
	sessions, _, err := a.API.Session().List(q)
	if err != nil {
		return nil, fmt.Errorf("session list on %s: %w", a.Name, err)
	}
	for _, s := range sessions {
		v.Sessions[s.ID] = *s
	}
	nodes, _, err := a.API.Catalog().Nodes(q)
	if err != nil {
		return nil, fmt.Errorf("node list on %s: %w", a.Name, err)
	}
	for _, n := range nodes {
		if !strings.HasPrefix(n.Node, "ext-") {
			continue
		}
		v.Nodes[n.Node] = fmt.Sprintf("%s %v %d/%d", n.Address, n.Meta, n.CreateIndex, n.ModifyIndex)
		ns, _, err := a.API.Catalog().Node(n.Node, q)
		if err != nil || ns == nil {
			return nil, fmt.Errorf("node %s on %s: %v", n.Node, a.Name, err)
		}
		for id, s := range ns.Services {
			v.Services[n.Node+"/"+id] = fmt.Sprintf("%s %v %d %d/%d", s.Service, s.Tags, s.Port, s.CreateIndex, s.ModifyIndex)
		}
		checks, _, err := a.API.Health().Node(n.Node, q)
		if err != nil {
			return nil, fmt.Errorf("checks of %s on %s: %w", n.Node, a.Name, err)
		}
		for _, ch := range checks {
			v.Checks[n.Node+"/"+ch.CheckID] = fmt.Sprintf("%s %s %q %d/%d", ch.Status, ch.ServiceID, ch.Output, ch.CreateIndex, ch.ModifyIndex)
		}
	}
	return v, nil
}

// diffView says how got differs from want, or "" when it does not.
func diffView(want, got *snapView) string {
	var out []string
	cmp := func(what string, w, g any) {
		wv, gv := reflect.ValueOf(w), reflect.ValueOf(g)
		keys := map[string]bool{}
		for _, k := range wv.MapKeys() {
			keys[k.String()] = true
		}
		for _, k := range gv.MapKeys() {
			keys[k.String()] = true
		}
		var sorted []string
		for k := range keys {
			sorted = append(sorted, k)
		}
		sort.Strings(sorted)
		for _, k := range sorted {
			a := wv.MapIndex(reflect.ValueOf(k))
			b := gv.MapIndex(reflect.ValueOf(k))
			switch {
			case !a.IsValid():
				out = append(out, fmt.Sprintf("%s %s: unexpected %+v", what, k, b))
			case !b.IsValid():
				out = append(out, fmt.Sprintf("%s %s: missing", what, k))
			case !reflect.DeepEqual(a.Interface(), b.Interface()):
				out = append(out, fmt.Sprintf("%s %s: got %+v, want %+v", what, k, b, a))
			}
		}
	}
	cmp("kv", want.KV, got.KV)
	cmp("session", want.Sessions, got.Sessions)
	cmp("node", want.Nodes, got.Nodes)
	cmp("service", want.Services, got.Services)
	cmp("check", want.Checks, got.Checks)
	if len(out) > 5 {
		out = append(out[:5], fmt.Sprintf("... and %d more differences", len(out)-5))
	}
	return strings.Join(out, "\n")
}

// waitView waits until every agent's own state matches want.
func waitView(t *testing.T, want *snapView, as ...*agentProc) {
	t.Helper()
	for _, a := range as {
		waitFor(t, 30*time.Second, "the snapshot's records on "+a.Name, func() error {
			got, err := readView(a)
			if err != nil {
				return err
			}
			if d := diffView(want, got); d != "" {
				return fmt.Errorf("%s differs:\n%s", a.Name, d)
			}
			return nil
		})
	}
}

// fillSnapshotData writes KV entries, catalog nodes with services and
// checks, and sessions (one holding a lock) through a.
func fillSnapshotData(t *testing.T, a *agentProc) {
	t.Helper()
	for i := range 3 {
		node := fmt.Sprintf("ext-%d", i)
		reg := &api.CatalogRegistration{
			Node: node, Address: fmt.Sprintf("10.9.0.%d", i+1), NodeMeta: map[string]string{"rack": strconv.Itoa(i)},
			Service: &api.AgentService{ID: "web-" + node, Service: "web", Tags: []string{"v1", node}, Port: 8080 + i},
			Check:   &api.AgentCheck{CheckID: "alive", Name: "alive", Status: api.HealthPassing, Output: "ok " + node},
		}
		if _, err := a.API.Catalog().Register(reg, nil); err != nil {
			t.Fatalf("register %s: %v", node, err)
		}
		db := &api.CatalogRegistration{
			Node: node, Address: reg.Address,
			Service: &api.AgentService{ID: "db-" + node, Service: "db", Port: 5432},
			Check:   &api.AgentCheck{CheckID: "db-check", Name: "db", ServiceID: "db-" + node, Status: api.HealthWarning, Output: "slow"},
		}
		if _, err := a.API.Catalog().Register(db, nil); err != nil {
			t.Fatalf("register db on %s: %v", node, err)
		}
	}
	var sessions []string
	for i := range 3 {
		id, _, err := a.API.Session().Create(&api.SessionEntry{
			Name: fmt.Sprintf("sess-%d", i), Node: fmt.Sprintf("ext-%d", i), NodeChecks: []string{"alive"},
			TTL: "3600s", LockDelay: 5 * time.Second, Behavior: api.SessionBehaviorDelete,
		}, nil)
		if err != nil {
			t.Fatalf("session %d: %v", i, err)
		}
		sessions = append(sessions, id)
	}
	ops := api.KVTxnOps{}
	for i := range 200 {
		ops = append(ops, &api.KVTxnOp{Verb: api.KVSet, Key: fmt.Sprintf("data/%03d", i), Value: []byte(fmt.Sprintf("value %d", i)), Flags: uint64(i)})
		if len(ops) == 50 {
			if ok, resp, _, err := a.API.KV().Txn(ops, nil); err != nil || !ok {
				t.Fatalf("kv txn: %v %+v", err, resp)
			}
			ops = ops[:0]
		}
	}
	if ok, _, err := a.API.KV().Acquire(&api.KVPair{Key: "locks/leader", Value: []byte("held"), Session: sessions[0]}, nil); err != nil || !ok {
		t.Fatalf("acquire: %v %v", ok, err)
	}
	if _, err := a.API.KV().Delete("data/199", nil); err != nil { // a tombstone
		t.Fatal(err)
	}
}

func TestSnapshotSaveRestoreAcrossClusters(t *testing.T) {
	c := newCluster(t, 300, 319)
	dir := t.TempDir()
	file := filepath.Join(dir, "backup.snap")
	var src, dst []*agentProc
	var client *agentProc
	var saved *snapView

	step(t, "save from three servers through a client", func(t *testing.T) {
		src = startSnapshotCluster(t, c, "snap-a")
		client = c.start(agentOpts{Name: "snap-ac", Join: []string{src[0].LANAddr}})
		waitFor(t, 20*time.Second, "the client knows a server", func() error {
			_, err := leaderOf(client)
			return err
		})
		fillSnapshotData(t, client)
		// src[0] answers from its own state: wait until it has applied
		// every write (the leader, which takes the snapshot, has).
		waitFor(t, 20*time.Second, "every write applied on "+src[0].Name, func() error {
			v, err := readView(src[0])
			if err != nil {
				return err
			}
			_, locked := v.KV["locks/leader"]
			_, deleted := v.KV["data/199"]
			if !locked || deleted || len(v.KV) != 200 || len(v.Sessions) != 3 || len(v.Nodes) != 3 || len(v.Services) != 6 || len(v.Checks) != 6 {
				return fmt.Errorf("%d keys, %d sessions, %d nodes, %d services, %d checks",
					len(v.KV), len(v.Sessions), len(v.Nodes), len(v.Services), len(v.Checks))
			}
			saved = v
			return nil
		})
		r := client.mustCLI("snapshot save", file)
		if !regexp.MustCompile(`^Saved and verified snapshot to index [1-9]\d*\n$`).MatchString(r.Stdout) {
			t.Fatalf("save printed %q", r.Stdout)
		}
		// The API client saves too, from any server with ?stale.
		rc, qm, err := src[2].API.Snapshot().Save(&api.QueryOptions{AllowStale: true})
		if err != nil {
			t.Fatalf("stale save: %v", err)
		}
		var buf bytes.Buffer
		if _, err := buf.ReadFrom(rc); err != nil || buf.Len() == 0 || qm.LastIndex == 0 {
			t.Fatalf("stale save: %d bytes, index %d, %v", buf.Len(), qm.LastIndex, err)
		}
		rc.Close()
	})

	step(t, "inspect counts the records", func(t *testing.T) {
		r := runMeridian(t, cliTimeout, "snapshot", "inspect", file)
		if r.Code != 0 {
			t.Fatalf("inspect: %s", r)
		}
		for _, re := range []string{`(?m)^ Index +[1-9]\d*$`, `(?m)^ Version +1$`, `(?m)^ KVS +200 `, `(?m)^ Session +3 `,
			`(?m)^ Tombstone +1 `, `(?m)^ Total +`} {
			if !regexp.MustCompile(re).MatchString(r.Stdout) {
				t.Errorf("inspect output does not match %s:\n%s", re, r.Stdout)
			}
		}
	})

	step(t, "restore into a fresh cluster through a follower", func(t *testing.T) {
		dst = startSnapshotCluster(t, c, "snap-b")
		leader := waitLeader(t, 30*time.Second, dst...)
		follower := dst[0]
		if follower.Host+":8300" == leader {
			follower = dst[1]
		}
		r := follower.mustCLI("snapshot restore", file)
		if r.Stdout != "Restored snapshot\n" {
			t.Fatalf("restore printed %q", r.Stdout)
		}
		waitView(t, saved, dst...)
		// The new cluster's own servers are back in its catalog, and it
		// takes writes.
		waitFor(t, 30*time.Second, "the new servers in the catalog", func() error {
			for _, s := range dst {
				n, _, err := dst[0].API.Catalog().Node(s.Name, nil)
				if err != nil {
					return err
				}
				if n == nil {
					return fmt.Errorf("%s not in the catalog", s.Name)
				}
			}
			return nil
		})
		if _, err := dst[1].API.KV().Put(&api.KVPair{Key: "after/restore", Value: []byte("yes")}, nil); err != nil {
			t.Fatalf("write after restore: %v", err)
		}
		p, _, err := dst[2].API.KV().Get("locks/leader", nil)
		if err != nil || p == nil || p.Session == "" || p.Session != saved.KV["locks/leader"].Session {
			t.Fatalf("lock after restore: %+v, %v", p, err)
		}
	})

	step(t, "corrupt archives are refused and change nothing", func(t *testing.T) {
		// Every server has applied the last write before the baseline is
		// taken.
		for _, s := range dst {
			waitFor(t, 20*time.Second, "the last write on "+s.Name, func() error {
				p, _, err := s.API.KV().Get("after/restore", &api.QueryOptions{AllowStale: true})
				if err != nil || p == nil {
					return fmt.Errorf("not yet (%v)", err)
				}
				return nil
			})
		}
		before, err := readView(dst[0])
		if err != nil {
			t.Fatal(err)
		}
		buf, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		altered := bytes.Clone(buf)
		altered[len(altered)/2] ^= 0x20
		for name, content := range map[string][]byte{"truncated": buf[:len(buf)*3/4], "altered": altered} {
			bad := filepath.Join(dir, name+".snap")
			if err := os.WriteFile(bad, content, 0o600); err != nil {
				t.Fatal(err)
			}
			r := dst[2].CLI("snapshot restore", bad)
			if r.Code != 1 {
				t.Fatalf("%s: want exit 1, got %s", name, r)
			}
			if err := oneSentence(r.Stderr); err != nil || !strings.Contains(r.Stderr, "nothing was changed") {
				t.Fatalf("%s: stderr %q (%v)", name, r.Stderr, err)
			}
			if r := runMeridian(t, cliTimeout, "snapshot", "inspect", bad); r.Code != 1 || oneSentence(r.Stderr) != nil {
				t.Fatalf("inspect of %s: %s", name, r)
			}
		}
		for _, s := range dst {
			got, err := readView(s)
			if err != nil {
				t.Fatal(err)
			}
			if d := diffView(before, got); d != "" {
				t.Fatalf("%s changed after refused restores:\n%s", s.Name, d)
			}
		}
	})
}
