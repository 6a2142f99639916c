package local

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/meridian-sd/meridian/structs"
)

func TestSyncChangesRegistersServiceChecksAndNode(t *testing.T) {
	cat := newFakeCatalog()
	l := NewState(testConfig(), cat, nil)
	if err := l.AddServiceWithChecks(webService(), []*structs.HealthCheck{ttlCheck("service:web1", "")}); err != nil {
		t.Fatal(err)
	}
	if err := l.AddCheck(&structs.HealthCheck{CheckID: "mem", Name: "Memory", Status: structs.HealthPassing}); err != nil {
		t.Fatal(err)
	}
	if err := l.SyncChanges(); err != nil {
		t.Fatalf("sync: %v", err)
	}
	n := cat.node("node1")
	if n == nil || n.ID != testConfig().NodeID || n.Address != "127.0.0.2" || n.Meta["rack"] != "r1" || n.TaggedAddresses["wan"] != "127.0.0.2" {
		t.Fatalf("node in catalog = %+v", n)
	}
	if s := cat.service("node1", "web1"); s == nil || s.Service != "web" || s.Port != 8080 {
		t.Fatalf("service in catalog = %+v", s)
	}
	c := cat.check("node1", "service:web1")
	if c == nil || c.ServiceID != "web1" || c.ServiceName != "web" || c.Status != structs.HealthCritical || c.Node != "node1" {
		t.Fatalf("service check in catalog = %+v", c)
	}
	if c := cat.check("node1", "mem"); c == nil || c.Status != structs.HealthPassing {
		t.Fatalf("node check in catalog = %+v", c)
	}
	if !l.InSync() {
		t.Fatal("state not in sync after a successful sync")
	}
	// The service and its check go in one registration, the node check in
	// another; nothing more.
	if got := cat.callCount("Catalog.Register"); got != 2 {
		t.Fatalf("Catalog.Register calls = %d, want 2", got)
	}
	// A second sync has nothing to do.
	if err := l.SyncChanges(); err != nil {
		t.Fatal(err)
	}
	if got := cat.callCount("Catalog.Register"); got != 2 {
		t.Fatalf("Catalog.Register calls after an idle sync = %d, want 2", got)
	}
}

func TestSyncFullRepairsDriftBothWays(t *testing.T) {
	cat := newFakeCatalog()
	l := NewState(testConfig(), cat, nil)
	if err := l.AddServiceWithChecks(webService(), []*structs.HealthCheck{ttlCheck("service:web1", "")}); err != nil {
		t.Fatal(err)
	}
	if err := l.SyncFull(); err != nil {
		t.Fatal(err)
	}
	// Drift: the service is removed by hand, a stray service and check
	// appear, the node loses its meta, and the leader's serfHealth is there.
	cat.edit(func(f *fakeCatalog) {
		delete(f.services["node1"], "web1")
		delete(f.checks["node1"], "service:web1")
		f.services["node1"]["stray"] = &structs.NodeService{ID: "stray", Service: "stray"}
		f.checks["node1"]["stray-check"] = &structs.HealthCheck{Node: "node1", CheckID: "stray-check", ServiceID: "stray", Status: structs.HealthPassing}
		f.checks["node1"]["lonely"] = &structs.HealthCheck{Node: "node1", CheckID: "lonely", Status: structs.HealthPassing}
		f.checks["node1"][structs.SerfCheckID] = &structs.HealthCheck{Node: "node1", CheckID: structs.SerfCheckID, Status: structs.HealthPassing}
		f.nodes["node1"].Meta = nil
	})
	if err := l.SyncFull(); err != nil {
		t.Fatal(err)
	}
	if cat.service("node1", "web1") == nil || cat.check("node1", "service:web1") == nil {
		t.Fatal("the service removed by hand did not come back")
	}
	for _, id := range []string{"stray-check", "lonely"} {
		if cat.check("node1", id) != nil {
			t.Errorf("stray check %q still in the catalog", id)
		}
	}
	if cat.service("node1", "stray") != nil {
		t.Error("stray service still in the catalog")
	}
	if cat.check("node1", structs.SerfCheckID) == nil {
		t.Error("anti-entropy removed serfHealth")
	}
	if n := cat.node("node1"); n.Meta["rack"] != "r1" {
		t.Errorf("node meta not repaired: %v", n.Meta)
	}
	if !l.InSync() {
		t.Error("not in sync after repair")
	}
	// Tombstones of strays are gone once the catalog forgot them.
	if err := l.SyncFull(); err != nil {
		t.Fatal(err)
	}
	if got := l.Services(); len(got) != 1 {
		t.Errorf("local services after repair = %v", got)
	}
}

func TestRemoveServiceDeregistersServiceAndChecksOnce(t *testing.T) {
	cat := newFakeCatalog()
	l := NewState(testConfig(), cat, nil)
	checks := []*structs.HealthCheck{ttlCheck("a", ""), ttlCheck("b", "")}
	if err := l.AddServiceWithChecks(webService(), checks); err != nil {
		t.Fatal(err)
	}
	if err := l.SyncChanges(); err != nil {
		t.Fatal(err)
	}
	if err := l.RemoveService("web1"); err != nil {
		t.Fatal(err)
	}
	if err := l.RemoveService("web1"); !errors.Is(err, ErrUnknownService) {
		t.Fatalf("second remove: err = %v, want ErrUnknownService", err)
	}
	if l.Check("a") != nil || l.Service("web1") != nil {
		t.Fatal("removed service or its check still visible locally")
	}
	if err := l.SyncChanges(); err != nil {
		t.Fatal(err)
	}
	if cat.service("node1", "web1") != nil || cat.check("node1", "a") != nil || cat.check("node1", "b") != nil {
		t.Fatal("service or checks still in the catalog")
	}
	if got := cat.callCount("Catalog.Deregister"); got != 1 {
		t.Fatalf("Catalog.Deregister calls = %d, want 1 (checks go with the service)", got)
	}
	if !l.InSync() {
		t.Fatal("tombstones left after deregistration")
	}
}

func TestAddCheckValidation(t *testing.T) {
	l := NewState(testConfig(), newFakeCatalog(), nil)
	tests := []struct {
		name string
		chk  *structs.HealthCheck
	}{
		{"no id", &structs.HealthCheck{Name: "x"}},
		{"serfHealth", &structs.HealthCheck{CheckID: structs.SerfCheckID}},
		{"bad status", &structs.HealthCheck{CheckID: "x", Status: "sick"}},
		{"unknown service", &structs.HealthCheck{CheckID: "x", ServiceID: "nope"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := l.AddCheck(tt.chk); err == nil {
				t.Fatalf("AddCheck(%+v) succeeded", tt.chk)
			}
		})
	}
	if err := l.RemoveCheck("nope"); !errors.Is(err, ErrUnknownCheck) {
		t.Fatalf("RemoveCheck(unknown) = %v, want ErrUnknownCheck", err)
	}
}

func TestUpdateCheckDefersOutputOnlyChanges(t *testing.T) {
	cfg := testConfig()
	cfg.CheckUpdateInterval = time.Hour
	cat := newFakeCatalog()
	l := NewState(cfg, cat, nil)
	defer l.Close()
	if err := l.AddCheck(&structs.HealthCheck{CheckID: "c", Name: "c", Status: structs.HealthPassing, Output: "v1"}); err != nil {
		t.Fatal(err)
	}
	if err := l.SyncFull(); err != nil {
		t.Fatal(err)
	}
	// Output only: visible locally, not pushed, and a full sync does not
	// push it either while the deferral is pending.
	l.UpdateCheck("c", structs.HealthPassing, "v2")
	if got := l.Check("c").Output; got != "v2" {
		t.Fatalf("local output = %q, want v2", got)
	}
	if !l.InSync() {
		t.Fatal("an output-only change marked the check out of sync")
	}
	if err := l.SyncFull(); err != nil {
		t.Fatal(err)
	}
	if got := cat.check("node1", "c").Output; got != "v1" {
		t.Fatalf("catalog output = %q, want the held-back v1", got)
	}
	// A status change goes at once, with the latest output.
	l.UpdateCheck("c", structs.HealthCritical, "v3")
	if l.InSync() {
		t.Fatal("a status change left the check in sync")
	}
	if err := l.SyncChanges(); err != nil {
		t.Fatal(err)
	}
	if c := cat.check("node1", "c"); c.Status != structs.HealthCritical || c.Output != "v3" {
		t.Fatalf("catalog check = %s %q, want critical v3", c.Status, c.Output)
	}
}

func TestDeferredOutputIsPushedLater(t *testing.T) {
	cfg := testConfig()
	cfg.CheckUpdateInterval = 40 * time.Millisecond
	cat := newFakeCatalog()
	l := NewState(cfg, cat, nil)
	defer l.Close()
	if err := l.AddCheck(&structs.HealthCheck{CheckID: "c", Name: "c", Status: structs.HealthPassing, Output: "v1"}); err != nil {
		t.Fatal(err)
	}
	if err := l.SyncFull(); err != nil {
		t.Fatal(err)
	}
	<-l.triggerCh // drain the trigger of AddCheck
	l.UpdateCheck("c", structs.HealthPassing, "v2")
	select {
	case <-l.triggerCh:
	case <-time.After(5 * time.Second):
		t.Fatal("the deferred output never asked for a sync")
	}
	if err := l.SyncChanges(); err != nil {
		t.Fatal(err)
	}
	if got := cat.check("node1", "c").Output; got != "v2" {
		t.Fatalf("catalog output = %q, want v2", got)
	}
}

func TestNoDeferralWithZeroInterval(t *testing.T) {
	cat := newFakeCatalog()
	l := NewState(testConfig(), cat, nil)
	if err := l.AddCheck(&structs.HealthCheck{CheckID: "c", Name: "c", Status: structs.HealthPassing}); err != nil {
		t.Fatal(err)
	}
	if err := l.SyncChanges(); err != nil {
		t.Fatal(err)
	}
	l.UpdateCheck("c", structs.HealthPassing, "new output")
	if err := l.SyncChanges(); err != nil {
		t.Fatal(err)
	}
	if got := cat.check("node1", "c").Output; got != "new output" {
		t.Fatalf("catalog output = %q", got)
	}
}

func TestChangeDuringSyncStaysOutOfSync(t *testing.T) {
	cat := newFakeCatalog()
	l := NewState(testConfig(), cat, nil)
	if err := l.AddCheck(&structs.HealthCheck{CheckID: "c", Name: "c", Status: structs.HealthPassing}); err != nil {
		t.Fatal(err)
	}
	var once sync.Once
	cat.before = func(method string, args any) {
		if method == "Catalog.Register" {
			// The check changes while its registration is in flight.
			once.Do(func() { l.UpdateCheck("c", structs.HealthWarning, "slow") })
		}
	}
	if err := l.SyncChanges(); err != nil {
		t.Fatal(err)
	}
	if l.InSync() {
		t.Fatal("a change made during the sync was marked in sync")
	}
	if err := l.SyncChanges(); err != nil {
		t.Fatal(err)
	}
	if c := cat.check("node1", "c"); c.Status != structs.HealthWarning {
		t.Fatalf("catalog status = %s, want warning", c.Status)
	}
}

func TestSyncFailureLeavesWorkForLater(t *testing.T) {
	cat := newFakeCatalog()
	l := NewState(testConfig(), cat, nil)
	if err := l.AddService(webService()); err != nil {
		t.Fatal(err)
	}
	cat.setFail(errFake)
	if err := l.SyncFull(); err == nil {
		t.Fatal("sync succeeded against a failing catalog")
	}
	if err := l.SyncChanges(); err == nil {
		t.Fatal("partial sync succeeded against a failing catalog")
	}
	cat.setFail(nil)
	if err := l.SyncChanges(); err != nil {
		t.Fatal(err)
	}
	if cat.service("node1", "web1") == nil {
		t.Fatal("service not registered after the catalog recovered")
	}
}

func TestEnableTagOverrideKeepsCatalogTags(t *testing.T) {
	cat := newFakeCatalog()
	l := NewState(testConfig(), cat, nil)
	svc := webService()
	svc.EnableTagOverride = true
	if err := l.AddServiceWithChecks(svc, []*structs.HealthCheck{ttlCheck("chk", "")}); err != nil {
		t.Fatal(err)
	}
	if err := l.SyncFull(); err != nil {
		t.Fatal(err)
	}
	cat.edit(func(f *fakeCatalog) {
		f.services["node1"]["web1"].Tags = []string{"canary"}
		f.checks["node1"]["chk"].ServiceTags = []string{"canary"}
	})
	if err := l.SyncFull(); err != nil {
		t.Fatal(err)
	}
	if got := cat.service("node1", "web1").Tags; len(got) != 1 || got[0] != "canary" {
		t.Fatalf("catalog tags = %v, want the catalog's [canary]", got)
	}
	if got := l.Service("web1").Tags; len(got) != 1 || got[0] != "canary" {
		t.Fatalf("local tags = %v, want [canary] taken from the catalog", got)
	}
	if !l.InSync() {
		t.Fatal("not in sync after taking the catalog's tags")
	}
}

func TestSetConfigResyncsNode(t *testing.T) {
	cat := newFakeCatalog()
	l := NewState(testConfig(), cat, nil)
	if err := l.SyncFull(); err != nil {
		t.Fatal(err)
	}
	cfg := testConfig()
	cfg.NodeMeta = map[string]string{"rack": "r2"}
	l.SetConfig(cfg)
	if err := l.SyncChanges(); err != nil {
		t.Fatal(err)
	}
	if got := cat.node("node1").Meta["rack"]; got != "r2" {
		t.Fatalf("node meta rack = %q, want r2", got)
	}
}

func TestCriticalFor(t *testing.T) {
	l := NewState(testConfig(), newFakeCatalog(), nil)
	if err := l.AddCheck(&structs.HealthCheck{CheckID: "c", Name: "c"}); err != nil {
		t.Fatal(err)
	}
	if _, ok := l.CriticalFor()["c"]; !ok {
		t.Fatal("a new check without status is not critical")
	}
	l.UpdateCheck("c", structs.HealthPassing, "")
	if _, ok := l.CriticalFor()["c"]; ok {
		t.Fatal("a passing check is listed as critical")
	}
	l.UpdateCheck("c", structs.HealthCritical, "down")
	first := l.CriticalFor()["c"]
	time.Sleep(2 * time.Millisecond)
	l.UpdateCheck("c", structs.HealthCritical, "still down")
	if got := l.CriticalFor()["c"]; got <= first {
		t.Fatalf("critical time went from %s to %s: repeated critical results restarted it", first, got)
	}
}

func TestScaleFactor(t *testing.T) {
	tests := []struct{ nodes, want int }{
		{0, 1}, {1, 1}, {128, 1}, {129, 2}, {256, 2}, {257, 3}, {512, 3}, {1024, 4}, {8192, 7},
	}
	for _, tt := range tests {
		if got := ScaleFactor(tt.nodes); got != tt.want {
			t.Errorf("ScaleFactor(%d) = %d, want %d", tt.nodes, got, tt.want)
		}
	}
}

func TestSyncerPushesChangesAndRecovers(t *testing.T) {
	cat := newFakeCatalog()
	cat.setFail(errFake) // no server yet
	l := NewState(testConfig(), cat, nil)
	s := NewSyncer(l, SyncerConfig{Interval: time.Hour, RetryInterval: time.Hour})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.Run(ctx)
	}()
	defer func() {
		cancel()
		<-done
	}()
	if err := l.AddService(webService()); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "a failed first sync", 5*time.Second, func() error {
		if cat.callCount("Catalog.NodeServices") == 0 {
			return errors.New("no sync yet")
		}
		return nil
	})
	// A server appears: the full sync is asked for instead of waiting an
	// hour for the retry.
	cat.setFail(nil)
	s.SyncFull()
	waitFor(t, "the service in the catalog", 5*time.Second, func() error {
		if cat.service("node1", "web1") == nil {
			return errors.New("not registered")
		}
		return nil
	})
	// A change is pushed at once by a partial sync.
	if err := l.AddCheck(ttlCheck("late", "web1")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the new check in the catalog", 5*time.Second, func() error {
		if cat.check("node1", "late") == nil {
			return fmt.Errorf("not registered")
		}
		return nil
	})
}

func TestSyncerPeriodicFullSyncRepairs(t *testing.T) {
	cat := newFakeCatalog()
	l := NewState(testConfig(), cat, nil)
	if err := l.AddService(webService()); err != nil {
		t.Fatal(err)
	}
	s := NewSyncer(l, SyncerConfig{Interval: 20 * time.Millisecond, RetryInterval: 20 * time.Millisecond})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.Run(ctx)
	}()
	defer func() {
		cancel()
		<-done
	}()
	waitFor(t, "the service in the catalog", 5*time.Second, func() error {
		if cat.service("node1", "web1") == nil {
			return errors.New("not registered")
		}
		return nil
	})
	cat.edit(func(f *fakeCatalog) { delete(f.services["node1"], "web1") })
	waitFor(t, "the service back in the catalog", 5*time.Second, func() error {
		if cat.service("node1", "web1") == nil {
			return errors.New("not repaired")
		}
		return nil
	})
}

// TestSyncerChangeDuringRetryWaitSyncsAtOnce: a registration made while
// the syncer waits to retry a failed sync (the servers were electing a
// leader, say) reaches the catalog at once, not after the retry interval
// (an hour here) or a server-watch tick.
func TestSyncerChangeDuringRetryWaitSyncsAtOnce(t *testing.T) {
	cat := newFakeCatalog()
	cat.setFail(errFake)
	l := NewState(testConfig(), cat, nil)
	s := NewSyncer(l, SyncerConfig{Interval: time.Hour, RetryInterval: time.Hour, MinRetryGap: time.Millisecond})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.Run(ctx)
	}()
	defer func() {
		cancel()
		<-done
	}()
	waitFor(t, "a failed first sync", 5*time.Second, func() error {
		if cat.callCount("Catalog.NodeServices") == 0 {
			return errors.New("no sync yet")
		}
		return nil
	})
	cat.setFail(nil)
	if err := l.AddService(webService()); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the service in the catalog", 5*time.Second, func() error {
		if cat.service("node1", "web1") == nil {
			return errors.New("not registered")
		}
		return nil
	})
}
