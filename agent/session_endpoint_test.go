package agent

import (
	"encoding/json"
	"fmt"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/consul/api"

	"github.com/meridian-sd/meridian/structs"
)

// fastSessions lets tests use sub-second session TTLs.
const fastSessions = `-hcl=session_ttl_min = "100ms"`

func TestSessionEndpoint(t *testing.T) {
	a := startKVServer(t, fastSessions)
	sess := a.Client.Session()

	t.Run("create with defaults", func(t *testing.T) {
		id, _, err := sess.Create(nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		info, meta, err := sess.Info(id, nil)
		if err != nil || info == nil {
			t.Fatalf("info = %+v, %v", info, err)
		}
		if info.ID != id || info.Node != a.Name || info.Behavior != api.SessionBehaviorRelease ||
			info.LockDelay != structs.DefaultLockDelay || info.TTL != "" ||
			!reflect.DeepEqual(info.NodeChecks, []string{structs.SerfCheckID}) || info.CreateIndex == 0 {
			t.Fatalf("session with defaults = %+v", info)
		}
		if meta.LastIndex == 0 || !meta.KnownLeader {
			t.Fatalf("info meta = %+v", meta)
		}
	})

	t.Run("create with options", func(t *testing.T) {
		id, _, err := sess.Create(&api.SessionEntry{
			Name: "worker", LockDelay: 2 * time.Second, Behavior: api.SessionBehaviorDelete, TTL: "30s",
		}, nil)
		if err != nil {
			t.Fatal(err)
		}
		info, _, err := sess.Info(id, nil)
		if err != nil || info == nil {
			t.Fatal(info, err)
		}
		if info.Name != "worker" || info.LockDelay != 2*time.Second || info.Behavior != api.SessionBehaviorDelete || info.TTL != "30s" {
			t.Fatalf("session = %+v", info)
		}
		noChecks, _, err := sess.CreateNoChecks(&api.SessionEntry{Name: "bare"}, nil)
		if err != nil {
			t.Fatal(err)
		}
		info, _, err = sess.Info(noChecks, nil)
		if err != nil || info == nil || len(info.NodeChecks) != 0 || len(info.Checks) != 0 {
			t.Fatalf("session without checks = %+v, %v", info, err)
		}
	})

	t.Run("lock delay forms", func(t *testing.T) {
		tests := []struct {
			body string
			want time.Duration
		}{
			{`{"LockDelay": "3s"}`, 3 * time.Second},
			{`{"LockDelay": 7}`, 7 * time.Second},
			{`{"LockDelay": 250000000}`, 250 * time.Millisecond},
			{`{"LockDelay": "0s"}`, 0},
			{`{"LockDelay": "5m"}`, structs.MaxLockDelay},
		}
		for _, tt := range tests {
			code, body, _ := httpDo(t, a, "PUT", "/v1/session/create", []byte(tt.body))
			if code != 200 {
				t.Fatalf("%s: %d %s", tt.body, code, body)
			}
			var out struct{ ID string }
			if err := json.Unmarshal([]byte(body), &out); err != nil {
				t.Fatal(err)
			}
			info, _, err := sess.Info(out.ID, nil)
			if err != nil || info == nil || info.LockDelay != tt.want {
				t.Fatalf("%s: lock delay = %+v, %v, want %s", tt.body, info, err, tt.want)
			}
		}
	})

	t.Run("node and list", func(t *testing.T) {
		id, _, err := sess.Create(&api.SessionEntry{Name: "listed"}, nil)
		if err != nil {
			t.Fatal(err)
		}
		onNode, _, err := sess.Node(a.Name, nil)
		if err != nil || !hasSession(onNode, id) {
			t.Fatalf("node sessions = %v, %v", onNode, err)
		}
		all, meta, err := sess.List(nil)
		if err != nil || !hasSession(all, id) || meta.LastIndex == 0 {
			t.Fatalf("list = %v, %v", all, err)
		}
		none, _, err := sess.Node("no-such-node", nil)
		if err != nil || len(none) != 0 {
			t.Fatalf("sessions of an unknown node = %v, %v", none, err)
		}
		code, body, _ := httpDo(t, a, "GET", "/v1/session/node/no-such-node", nil)
		if code != 200 || body != "[]" {
			t.Fatalf("raw node sessions = %d %s, want []", code, body)
		}
	})

	t.Run("renew and destroy", func(t *testing.T) {
		id, _, err := sess.Create(&api.SessionEntry{TTL: "20s"}, nil)
		if err != nil {
			t.Fatal(err)
		}
		renewed, _, err := sess.Renew(id, nil)
		if err != nil || renewed == nil || renewed.ID != id || renewed.TTL != "20s" {
			t.Fatalf("renew = %+v, %v", renewed, err)
		}
		if _, err := sess.Destroy(id, nil); err != nil {
			t.Fatal(err)
		}
		if info, _, err := sess.Info(id, nil); err != nil || info != nil {
			t.Fatalf("info after destroy = %+v, %v", info, err)
		}
		// Renewing a session that is gone is a 404, which the client reads
		// as "no session".
		renewed, _, err = sess.Renew(id, nil)
		if err != nil || renewed != nil {
			t.Fatalf("renew of a destroyed session = %+v, %v", renewed, err)
		}
		code, body, _ := httpDo(t, a, "PUT", "/v1/session/renew/"+id, nil)
		if code != 404 || !strings.Contains(body, "not found") {
			t.Fatalf("raw renew of a destroyed session = %d %q", code, body)
		}
		// Destroying it again is fine.
		if _, err := sess.Destroy(id, nil); err != nil {
			t.Fatal(err)
		}
		code, body, _ = httpDo(t, a, "GET", "/v1/session/info/"+id, nil)
		if code != 200 || body != "[]" {
			t.Fatalf("info of an unknown session = %d %s, want []", code, body)
		}
	})

	t.Run("bad input", func(t *testing.T) {
		tests := []struct {
			name, body string
			wantText   string
		}{
			{"ttl below the minimum", `{"TTL": "10ms"}`, "TTL"},
			{"ttl above the maximum", `{"TTL": "100h"}`, "TTL"},
			{"ttl not a duration", `{"TTL": "soon"}`, "TTL"},
			{"bad behavior", `{"Behavior": "explode"}`, "behavior"},
			{"bad lock delay", `{"LockDelay": "later"}`, "LockDelay"},
			{"negative lock delay", `{"LockDelay": "-1s"}`, "LockDelay"},
			{"unknown node", `{"Node": "ghost"}`, "Missing node registration"},
			{"unknown check", `{"NodeChecks": ["serfHealth", "ghost-check"]}`, "Missing check"},
			{"malformed body", `{"Name": `, "decode"},
		}
		before, _, err := sess.List(nil)
		if err != nil {
			t.Fatal(err)
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				code, body, _ := httpDo(t, a, "PUT", "/v1/session/create", []byte(tt.body))
				if code != http.StatusBadRequest || !strings.Contains(body, tt.wantText) {
					t.Fatalf("create %s = %d %q, want 400 containing %q", tt.body, code, body, tt.wantText)
				}
			})
		}
		after, _, err := sess.List(nil)
		if err != nil || len(after) != len(before) {
			t.Fatalf("bad creates left sessions: %d before, %d after (%v)", len(before), len(after), err)
		}
	})
}

func hasSession(list []*api.SessionEntry, id string) bool {
	for _, s := range list {
		if s.ID == id {
			return true
		}
	}
	return false
}

// TestSessionTTL: a session that is not renewed is invalidated after twice
// its TTL, which releases (or deletes) its keys; RenewPeriodic keeps one
// alive and destroys it when told to stop.
func TestSessionTTL(t *testing.T) {
	a := startKVServer(t, fastSessions)
	sess, kv := a.Client.Session(), a.Client.KV()

	for _, behavior := range []string{api.SessionBehaviorRelease, api.SessionBehaviorDelete} {
		t.Run(behavior, func(t *testing.T) {
			key := "ttl/" + behavior
			id, _, err := sess.Create(&api.SessionEntry{TTL: "200ms", Behavior: behavior, LockDelay: time.Millisecond}, nil)
			if err != nil {
				t.Fatal(err)
			}
			created := time.Now()
			ok, _, err := kv.Acquire(&api.KVPair{Key: key, Value: []byte("held"), Session: id}, nil)
			if err != nil || !ok {
				t.Fatalf("acquire = %v, %v", ok, err)
			}
			WaitFor(t, "the session to expire", 5*time.Second, func() error {
				info, _, err := sess.Info(id, nil)
				if err != nil {
					return err
				}
				if info != nil {
					return fmt.Errorf("still there")
				}
				return nil
			})
			// The server waits twice the TTL.
			if el := time.Since(created); el < 400*time.Millisecond {
				t.Fatalf("session expired after %s, before twice its TTL", el)
			}
			p := mustGet(t, kv, key)
			switch behavior {
			case api.SessionBehaviorRelease:
				if p == nil || p.Session != "" || string(p.Value) != "held" {
					t.Fatalf("released key = %+v", p)
				}
			case api.SessionBehaviorDelete:
				if p != nil {
					t.Fatalf("key of a delete session = %+v, want deleted", p)
				}
			}
		})
	}

	t.Run("renew periodic", func(t *testing.T) {
		id, _, err := sess.Create(&api.SessionEntry{TTL: "300ms"}, nil)
		if err != nil {
			t.Fatal(err)
		}
		done := make(chan struct{})
		errCh := make(chan error, 1)
		go func() { errCh <- sess.RenewPeriodic("300ms", id, nil, done) }()
		// Well past twice the TTL, the renewed session lives.
		deadline := time.Now().Add(1500 * time.Millisecond)
		for time.Now().Before(deadline) {
			info, _, err := sess.Info(id, nil)
			if err != nil || info == nil {
				close(done)
				t.Fatalf("renewed session gone: %+v, %v", info, err)
			}
			time.Sleep(100 * time.Millisecond)
		}
		close(done)
		if err := <-errCh; err != nil {
			t.Fatalf("RenewPeriodic: %v", err)
		}
		// Stopping RenewPeriodic destroys the session.
		if info, _, err := sess.Info(id, nil); err != nil || info != nil {
			t.Fatalf("session after RenewPeriodic stopped = %+v, %v", info, err)
		}
	})

	t.Run("renew periodic of an expired session", func(t *testing.T) {
		id, _, err := sess.Create(&api.SessionEntry{TTL: "300ms"}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := sess.Destroy(id, nil); err != nil {
			t.Fatal(err)
		}
		err = sess.RenewPeriodic("300ms", id, nil, make(chan struct{}))
		if err != api.ErrSessionExpired {
			t.Fatalf("RenewPeriodic of a destroyed session = %v, want ErrSessionExpired", err)
		}
	})
}

// TestSessionInvalidation: a session ends when a check it depends on turns
// critical or its node is deregistered, its keys are released or deleted,
// and the lock delay then keeps others off the key for a while.
func TestSessionInvalidation(t *testing.T) {
	a := startKVServer(t)
	sess, kv, cat := a.Client.Session(), a.Client.KV(), a.Client.Catalog()
	register := func(status string) {
		t.Helper()
		_, err := cat.Register(&api.CatalogRegistration{
			Node: "ext", Address: "10.9.9.9",
			Check: &api.AgentCheck{Node: "ext", CheckID: "disk", Name: "disk", Status: status},
		}, nil)
		if err != nil {
			t.Fatal(err)
		}
	}
	register(api.HealthPassing)

	t.Run("check turns critical", func(t *testing.T) {
		holder, _, err := sess.Create(&api.SessionEntry{Node: "ext", NodeChecks: []string{"disk"}, LockDelay: 1500 * time.Millisecond}, nil)
		if err != nil {
			t.Fatal(err)
		}
		other, _, err := sess.Create(&api.SessionEntry{Name: "other", LockDelay: time.Millisecond}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if ok, _, err := kv.Acquire(&api.KVPair{Key: "inv/lock", Value: []byte("v"), Session: holder}, nil); err != nil || !ok {
			t.Fatalf("acquire = %v, %v", ok, err)
		}
		if ok, _, err := kv.Acquire(&api.KVPair{Key: "inv/lock", Session: other}, nil); err != nil || ok {
			t.Fatalf("acquire of a held lock = %v, %v, want false", ok, err)
		}
		register(api.HealthCritical)
		released := time.Now()
		if info, _, err := sess.Info(holder, nil); err != nil || info != nil {
			t.Fatalf("session after its check turned critical = %+v, %v", info, err)
		}
		p := mustGet(t, kv, "inv/lock")
		if p == nil || p.Session != "" || p.LockIndex != 1 {
			t.Fatalf("key after invalidation = %+v", p)
		}
		// The lock delay refuses the other session for a while.
		if ok, _, err := kv.Acquire(&api.KVPair{Key: "inv/lock", Session: other}, nil); err != nil || ok {
			t.Fatalf("acquire during the lock delay = %v, %v, want false", ok, err)
		}
		var took time.Duration
		WaitFor(t, "the lock after the lock delay", 5*time.Second, func() error {
			ok, _, err := kv.Acquire(&api.KVPair{Key: "inv/lock", Session: other}, nil)
			if err != nil {
				return err
			}
			if !ok {
				return fmt.Errorf("refused")
			}
			took = time.Since(released)
			return nil
		})
		if took < time.Second {
			t.Fatalf("lock taken %s after the release, within the 1.5s lock delay", took)
		}
		if p := mustGet(t, kv, "inv/lock"); p.Session != other || p.LockIndex != 2 {
			t.Fatalf("key after the second acquire = %+v", p)
		}
		// A session cannot be created on a critical check.
		if _, _, err := sess.Create(&api.SessionEntry{Node: "ext", NodeChecks: []string{"disk"}}, nil); err == nil ||
			!strings.Contains(err.Error(), "critical") {
			t.Fatalf("session on a critical check: %v", err)
		}
	})

	t.Run("node deregistered", func(t *testing.T) {
		register(api.HealthPassing)
		id, _, err := sess.Create(&api.SessionEntry{Node: "ext", NodeChecks: []string{"disk"}, Behavior: api.SessionBehaviorDelete}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if ok, _, err := kv.Acquire(&api.KVPair{Key: "inv/eph", Value: []byte("v"), Session: id}, nil); err != nil || !ok {
			t.Fatalf("acquire = %v, %v", ok, err)
		}
		if _, err := cat.Deregister(&api.CatalogDeregistration{Node: "ext"}, nil); err != nil {
			t.Fatal(err)
		}
		if info, _, err := sess.Info(id, nil); err != nil || info != nil {
			t.Fatalf("session of a deregistered node = %+v, %v", info, err)
		}
		if p := mustGet(t, kv, "inv/eph"); p != nil {
			t.Fatalf("key of a delete session = %+v, want deleted", p)
		}
	})

	t.Run("service check turns critical", func(t *testing.T) {
		reg := func(status string) {
			t.Helper()
			_, err := cat.Register(&api.CatalogRegistration{
				Node: "svc-node", Address: "10.9.9.10",
				Service: &api.AgentService{ID: "web1", Service: "web", Port: 80},
				Checks: api.HealthChecks{
					{Node: "svc-node", CheckID: structs.SerfCheckID, Name: "Serf Health Status", Status: api.HealthPassing},
					{Node: "svc-node", CheckID: "web-alive", Name: "web", ServiceID: "web1", Status: status},
				},
			}, nil)
			if err != nil {
				t.Fatal(err)
			}
		}
		reg(api.HealthPassing)
		// As in Consul, service checks come on top of the default
		// serfHealth node check.
		id, _, err := sess.Create(&api.SessionEntry{Node: "svc-node", ServiceChecks: []api.ServiceCheck{{ID: "web-alive"}}}, nil)
		if err != nil {
			t.Fatal(err)
		}
		info, _, err := sess.Info(id, nil)
		if err != nil || info == nil || len(info.ServiceChecks) != 1 || info.ServiceChecks[0].ID != "web-alive" ||
			!reflect.DeepEqual(info.NodeChecks, []string{structs.SerfCheckID}) {
			t.Fatalf("session = %+v, %v", info, err)
		}
		reg(api.HealthCritical)
		if info, _, err := sess.Info(id, nil); err != nil || info != nil {
			t.Fatalf("session after its service check turned critical = %+v, %v", info, err)
		}
	})

	t.Run("release keeps the value", func(t *testing.T) {
		id, _, err := sess.Create(nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		if ok, _, err := kv.Acquire(&api.KVPair{Key: "inv/rel", Value: []byte("mine"), Flags: 3, Session: id}, nil); err != nil || !ok {
			t.Fatalf("acquire = %v, %v", ok, err)
		}
		// Acquiring again with the same session updates the value only.
		if ok, _, err := kv.Acquire(&api.KVPair{Key: "inv/rel", Value: []byte("mine2"), Session: id}, nil); err != nil || !ok {
			t.Fatalf("re-acquire = %v, %v", ok, err)
		}
		if p := mustGet(t, kv, "inv/rel"); p.LockIndex != 1 || p.Session != id || string(p.Value) != "mine2" {
			t.Fatalf("after re-acquire = %+v", p)
		}
		other, _, err := sess.Create(nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		if ok, _, err := kv.Release(&api.KVPair{Key: "inv/rel", Session: other}, nil); err != nil || ok {
			t.Fatalf("release by another session = %v, %v, want false", ok, err)
		}
		if ok, _, err := kv.Release(&api.KVPair{Key: "inv/rel", Value: []byte("done"), Session: id}, nil); err != nil || !ok {
			t.Fatalf("release = %v, %v", ok, err)
		}
		p := mustGet(t, kv, "inv/rel")
		if p.Session != "" || p.LockIndex != 1 || string(p.Value) != "done" {
			t.Fatalf("after release = %+v", p)
		}
		// An explicit release sets no lock delay.
		if ok, _, err := kv.Acquire(&api.KVPair{Key: "inv/rel", Session: other}, nil); err != nil || !ok {
			t.Fatalf("acquire after a release = %v, %v", ok, err)
		}
		if p := mustGet(t, kv, "inv/rel"); p.LockIndex != 2 || p.Session != other {
			t.Fatalf("after the second holder = %+v", p)
		}
		// A plain write does not take or drop the lock.
		mustPut(t, kv, "inv/rel", "plain")
		if p := mustGet(t, kv, "inv/rel"); p.Session != other || string(p.Value) != "plain" {
			t.Fatalf("after a plain write = %+v", p)
		}
	})
}
