package agent

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/hashicorp/consul/api"
)

// snapshotSave saves a snapshot through c and returns the archive.
func snapshotSave(t *testing.T, c *api.Client, q *api.QueryOptions) ([]byte, *api.QueryMeta) {
	t.Helper()
	rc, qm, err := c.Snapshot().Save(q)
	if err != nil {
		t.Fatalf("snapshot save: %v", err)
	}
	defer rc.Close()
	buf, err := io.ReadAll(rc)
	if err != nil {
		t.Fatalf("read snapshot: %v", err)
	}
	return buf, qm
}

// kvValue reads a key, "" when missing.
func kvValue(t *testing.T, c *api.Client, key string) string {
	t.Helper()
	p, _, err := c.KV().Get(key, nil)
	if err != nil {
		t.Fatalf("get %s: %v", key, err)
	}
	if p == nil {
		return ""
	}
	return string(p.Value)
}

func kvPut(t *testing.T, c *api.Client, key, value string) {
	t.Helper()
	if _, err := c.KV().Put(&api.KVPair{Key: key, Value: []byte(value)}, nil); err != nil {
		t.Fatalf("put %s: %v", key, err)
	}
}

// TestSnapshotSaveRestoreThroughClient saves through a client agent (so
// the archive crosses the server port as a snapshot stream), changes the
// data, restores, and finds the saved data back; then refuses corrupt,
// truncated and foreign archives without changing anything.
func TestSnapshotSaveRestoreThroughClient(t *testing.T) {
	srv := StartTestAgent(t, "-server", "-bootstrap")
	srv.WaitForLeader(t)
	cl := StartTestAgent(t)
	if err := cl.Client.Agent().Join(srv.LANAddr(), false); err != nil {
		t.Fatalf("join: %v", err)
	}
	WaitFor(t, "client knows the server", 10*time.Second, func() error {
		_, _, err := cl.Client.Catalog().Nodes(nil)
		return err
	})
	c := cl.Client

	kvPut(t, c, "app/a", "one")
	kvPut(t, c, "app/b", "two")
	if _, err := c.Catalog().Register(&api.CatalogRegistration{
		Node: "ext1", Address: "10.0.0.1",
		Service: &api.AgentService{ID: "web1", Service: "web", Port: 80, Tags: []string{"v1"}},
		Check:   &api.AgentCheck{CheckID: "alive", Name: "alive", Status: api.HealthPassing},
	}, nil); err != nil {
		t.Fatalf("register: %v", err)
	}
	sessID, _, err := c.Session().Create(&api.SessionEntry{Node: "ext1", NodeChecks: []string{"alive"}, Name: "keep"}, nil)
	if err != nil {
		t.Fatalf("session: %v", err)
	}

	archive, qm := snapshotSave(t, c, nil)
	if qm.LastIndex == 0 {
		t.Fatal("snapshot save: X-Consul-Index is 0")
	}
	if len(archive) < 2 || archive[0] != 0x1f || archive[1] != 0x8b {
		t.Fatalf("snapshot is not gzip: % x", archive[:min(len(archive), 8)])
	}
	// A stale save is served too, and from the same data.
	if stale, _ := snapshotSave(t, c, &api.QueryOptions{AllowStale: true}); len(stale) == 0 {
		t.Fatal("stale snapshot is empty")
	}

	kvPut(t, c, "app/a", "changed")
	if _, err := c.KV().Delete("app/b", nil); err != nil {
		t.Fatal(err)
	}
	kvPut(t, c, "app/c", "new")
	if _, err := c.Session().Destroy(sessID, nil); err != nil {
		t.Fatal(err)
	}

	if err := c.Snapshot().Restore(nil, bytes.NewReader(archive)); err != nil {
		t.Fatalf("restore: %v", err)
	}
	for key, want := range map[string]string{"app/a": "one", "app/b": "two", "app/c": ""} {
		if got := kvValue(t, c, key); got != want {
			t.Errorf("after restore %s = %q, want %q", key, got, want)
		}
	}
	sess, _, err := c.Session().Info(sessID, nil)
	if err != nil || sess == nil || sess.Name != "keep" {
		t.Errorf("after restore session %s = %+v, %v; want it back", sessID, sess, err)
	}
	svcs, _, err := c.Catalog().Service("web", "", nil)
	if err != nil || len(svcs) != 1 || svcs[0].Node != "ext1" || svcs[0].ServicePort != 80 {
		t.Errorf("after restore catalog web = %+v, %v", svcs, err)
	}

	// Bad archives: each refused with a sentence, nothing changed.
	kvPut(t, c, "marker", "untouched")
	corrupt := bytes.Clone(archive)
	corrupt[len(corrupt)/2] ^= 0xff
	bad := map[string][]byte{
		"corrupt":   corrupt,
		"truncated": archive[:len(archive)*2/3],
		"garbage":   []byte("this is not a snapshot"),
	}
	for name, body := range bad {
		t.Run(name, func(t *testing.T) {
			err := c.Snapshot().Restore(nil, bytes.NewReader(body))
			wantStatus(t, "restore "+name, err, http.StatusBadRequest, "nothing was changed")
			t.Logf("refused: %v", err)
			if got := kvValue(t, c, "marker"); got != "untouched" {
				t.Fatalf("after a refused restore marker = %q", got)
			}
			if got := kvValue(t, c, "app/a"); got != "one" {
				t.Fatalf("after a refused restore app/a = %q", got)
			}
		})
	}
}

// TestSnapshotLimits refuses an archive over the agent's cap, and an
// empty one.
func TestSnapshotLimits(t *testing.T) {
	ta := startTestAgent(t, func(o *Options) {
		o.HTTPLimits = func(l *HTTPLimits) { l.MaxSnapshotSize = 1024 }
	}, "-server", "-bootstrap")
	ta.WaitForLeader(t)
	kvPut(t, ta.Client, "k", "v")
	err := ta.Client.Snapshot().Restore(nil, bytes.NewReader(make([]byte, 4096)))
	wantStatus(t, "restore over the cap", err, http.StatusRequestEntityTooLarge, "the limit is 1024 bytes")
	err = ta.Client.Snapshot().Restore(nil, bytes.NewReader(nil))
	wantStatus(t, "empty restore", err, http.StatusBadRequest, "Snapshot archive missing")
	if got := kvValue(t, ta.Client, "k"); got != "v" {
		t.Fatalf("k = %q after refused restores", got)
	}
}

// TestSnapshotACL needs a management token (acl:write) for both, as
// Consul does.
func TestSnapshotACL(t *testing.T) {
	const root = "5d0f3a54-7b51-4c4f-9b3e-2b1f8f1f0c11"
	ta := startACLAgent(t, fmt.Sprintf("-hcl=acl { tokens { initial_management = %q } }", root))
	rootC := withToken(t, ta, root)
	WaitFor(t, "management token works", 10*time.Second, func() error {
		_, _, err := rootC.ACL().TokenReadSelf(nil)
		return err
	})
	pol, _, err := rootC.ACL().PolicyCreate(&api.ACLPolicy{Name: "op", Rules: `operator = "write" key_prefix "" { policy = "write" }`}, nil)
	if err != nil {
		t.Fatal(err)
	}
	tok, _, err := rootC.ACL().TokenCreate(&api.ACLToken{Policies: []*api.ACLTokenPolicyLink{{ID: pol.ID}}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	op := withToken(t, ta, tok.SecretID)
	_, _, err = op.Snapshot().Save(nil)
	wantStatus(t, "save with operator:write", err, http.StatusForbidden, "lacks permission 'acl:write'")
	err = op.Snapshot().Restore(nil, bytes.NewReader([]byte("x")))
	wantStatus(t, "restore with operator:write", err, http.StatusForbidden, "lacks permission 'acl:write'")
	archive, _ := snapshotSave(t, rootC, nil)
	if err := rootC.Snapshot().Restore(nil, bytes.NewReader(archive)); err != nil {
		t.Fatalf("restore with the management token: %v", err)
	}
	// The restored state holds the same tokens.
	if _, _, err := op.ACL().TokenReadSelf(nil); err != nil {
		t.Fatalf("token after restore: %v", err)
	}
}
