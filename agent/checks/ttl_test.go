package checks

import (
	"strings"
	"sync"
	"testing"
	"time"
)

func newTestTTL(t *testing.T, ttl time.Duration, rec *recorder) *CheckTTL {
	t.Helper()
	c, err := NewCheckTTL(TTLConfig{CheckID: "ttl", TTL: ttl}, rec)
	if err != nil {
		t.Fatalf("NewCheckTTL: %v", err)
	}
	t.Cleanup(c.Stop)
	return c
}

func TestCheckTTLExpiresWithoutUpdate(t *testing.T) {
	checkGoroutines(t)
	rec := &recorder{}
	c := newTestTTL(t, 30*time.Millisecond, rec)
	start := time.Now()
	c.Start()
	u := waitForLast(t, rec, crit, TTLExpiredOutput)
	if elapsed := time.Since(start); elapsed < 30*time.Millisecond {
		t.Errorf("expired after %s, before the 30ms TTL", elapsed)
	}
	if u.Output != TTLExpiredOutput || u.CheckID != "ttl" {
		t.Errorf("expiry update = %+v, want check ttl with output %q", u, TTLExpiredOutput)
	}
	// An expired check stays critical without repeating itself.
	n := rec.count()
	c.Stop()
	if got := rec.count(); got != n || n != 1 {
		t.Errorf("got %d updates, want exactly one expiry", got)
	}
}

func TestCheckTTLSetStatusThenExpiry(t *testing.T) {
	checkGoroutines(t)
	rec := &recorder{}
	c := newTestTTL(t, 50*time.Millisecond, rec)
	c.Start()

	if got := c.SetStatus(pass, "all good"); got != "all good" {
		t.Errorf("SetStatus returned %q, want the output unchanged", got)
	}
	if u, _ := rec.last(); u != (update{"ttl", pass, "all good"}) {
		t.Errorf("after SetStatus the notifier saw %+v, want passing with the output", u)
	}
	waitForLast(t, rec, crit, "TTL expired (last output before timeout follows): all good")

	// A status after expiry is reported and restarts the clock.
	c.SetStatus(warn, "degraded")
	if u, _ := rec.last(); u.Status != warn {
		t.Errorf("after SetStatus(warning) the notifier saw %+v", u)
	}
	waitForLast(t, rec, crit, "follows): degraded")
}

func TestCheckTTLRenewalKeepsItAlive(t *testing.T) {
	checkGoroutines(t)
	rec := &recorder{}
	const ttl = 300 * time.Millisecond
	c := newTestTTL(t, ttl, rec)
	c.Start()
	// Renew well within the TTL for over three TTLs: no expiry may show.
	end := time.Now().Add(3*ttl + ttl/2)
	for time.Now().Before(end) {
		c.SetStatus(pass, "fresh")
		time.Sleep(ttl / 15)
	}
	c.Stop()
	for _, u := range rec.all() {
		if u.Status != pass {
			t.Fatalf("got %+v while the TTL was being renewed", u)
		}
	}
}

func TestCheckTTLTruncatesOutput(t *testing.T) {
	rec := &recorder{}
	c, err := NewCheckTTL(TTLConfig{CheckID: "ttl", TTL: time.Hour, OutputMaxSize: 10}, rec)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Stop)
	c.Start()
	const want = "0123456789 ... (captured 10 of 26 bytes)"
	if got := c.SetStatus(pass, "0123456789abcdefghijklmnop"); got != want {
		t.Errorf("SetStatus returned %q, want %q", got, want)
	}
	if u, _ := rec.last(); u.Output != want {
		t.Errorf("notifier got output %q, want %q", u.Output, want)
	}
}

func TestCheckTTLNoUpdatesAfterStop(t *testing.T) {
	checkGoroutines(t)
	rec := &recorder{}
	c := newTestTTL(t, 20*time.Millisecond, rec)
	c.Start()
	c.SetStatus(pass, "ok")
	c.Stop()
	n := rec.count()
	if got := c.SetStatus(pass, "late"); got != "late" {
		t.Errorf("SetStatus after Stop returned %q", got)
	}
	// Wait past several TTLs by polling a condition that must stay false.
	deadline := time.Now().Add(100 * time.Millisecond)
	for time.Now().Before(deadline) {
		if got := rec.count(); got != n {
			t.Fatalf("got %d updates after Stop (had %d): %+v", got-n, n, rec.all()[n:])
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestCheckTTLSetStatusBeforeStart(t *testing.T) {
	checkGoroutines(t)
	rec := &recorder{}
	c := newTestTTL(t, 30*time.Millisecond, rec)
	c.SetStatus(pass, "early")
	if u, _ := rec.last(); u != (update{"ttl", pass, "early"}) {
		t.Fatalf("SetStatus before Start reported %+v", u)
	}
	c.Start()
	waitForLast(t, rec, crit, "follows): early")
}

// TestCheckTTLConcurrentSetStatus runs SetStatus from several goroutines
// against a short TTL for the race detector, and checks that the last word
// after the writers stop is a status they set, then the expiry.
func TestCheckTTLConcurrentSetStatus(t *testing.T) {
	checkGoroutines(t)
	rec := &recorder{}
	c := newTestTTL(t, 5*time.Millisecond, rec)
	c.Start()
	var wg sync.WaitGroup
	for i := 0; i < 4; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := 0; j < 200; j++ {
				c.SetStatus(pass, "writer")
			}
		}()
	}
	wg.Wait()
	waitForLast(t, rec, crit, "follows): writer")
	for _, u := range rec.all() {
		if u.Status == crit && !strings.HasPrefix(u.Output, TTLExpiredOutput) {
			t.Errorf("critical update without the expiry text: %+v", u)
		}
	}
}
