package checks

import (
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

// runners returns one started-able runner of each kind, all reporting to
// rec against loopback targets, with fast intervals.
func runners(t *testing.T, rec Notifier) map[string]Runner {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	t.Cleanup(srv.Close)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	wait := acceptAll(ln)
	t.Cleanup(func() { _ = ln.Close(); wait() })

	ttl, err := NewCheckTTL(TTLConfig{CheckID: "ttl", TTL: 10 * time.Millisecond}, rec)
	if err != nil {
		t.Fatal(err)
	}
	return map[string]Runner{
		"ttl":    ttl,
		"http":   newTestHTTP(t, HTTPConfig{HTTP: srv.URL, Interval: 10 * time.Millisecond}, rec),
		"tcp":    newTestTCP(t, TCPConfig{TCP: ln.Addr().String(), Interval: 10 * time.Millisecond}, rec),
		"script": newTestScript(t, ScriptConfig{Args: []string{"true"}, Interval: 10 * time.Millisecond}, rec),
	}
}

// TestRunnersStopIdempotent starts every kind of runner, waits for it to
// report, and stops it several times, concurrently and in sequence.
func TestRunnersStopIdempotent(t *testing.T) {
	checkGoroutines(t)
	for _, name := range []string{"ttl", "http", "tcp", "script"} {
		t.Run(name, func(t *testing.T) {
			rec := &recorder{}
			r := runners(t, rec)[name]
			r.Start()
			r.Start() // a second Start is a no-op
			waitFor(t, "a report", func() (bool, string) { return rec.count() > 0, "none yet" })
			var wg sync.WaitGroup
			for i := 0; i < 4; i++ {
				wg.Add(1)
				go func() { defer wg.Done(); r.Stop() }()
			}
			wg.Wait()
			r.Stop()
			n := rec.count()
			// The runners fire every 10ms; after Stop nothing may come.
			deadline := time.Now().Add(60 * time.Millisecond)
			for time.Now().Before(deadline) {
				if got := rec.count(); got != n {
					t.Fatalf("%d update(s) after Stop", got-n)
				}
				time.Sleep(5 * time.Millisecond)
			}
			r.Start() // Start after Stop does nothing either
			time.Sleep(30 * time.Millisecond)
			if got := rec.count(); got != n {
				t.Fatalf("Start after Stop ran the check again (%d updates)", got-n)
			}
		})
	}
}

func TestRunnersStopBeforeStart(t *testing.T) {
	checkGoroutines(t)
	rec := &recorder{}
	for name, r := range runners(t, rec) {
		done := make(chan struct{})
		go func() { r.Stop(); r.Stop(); close(done) }()
		select {
		case <-done:
		case <-time.After(waitTimeout):
			t.Fatalf("%s: Stop before Start blocked", name)
		}
		r.Start()
	}
	time.Sleep(30 * time.Millisecond)
	if n := rec.count(); n != 0 {
		t.Errorf("stopped runners reported: %+v", rec.all())
	}
}

// TestPeriodicRunsEveryInterval checks that a periodic check keeps running
// and that its first run does not wait for the interval.
func TestPeriodicRunsEveryInterval(t *testing.T) {
	checkGoroutines(t)
	rec := &recorder{}
	c := newTestTCP(t, TCPConfig{TCP: "127.0.0.1:1", Interval: 15 * time.Millisecond}, rec)
	c.Start()
	waitFor(t, "five runs", func() (bool, string) {
		n := rec.count()
		return n >= 5, strings.Repeat("run ", n)
	})

	// With a one-hour interval the first run still comes at once.
	rec2 := &recorder{}
	c2 := newTestTCP(t, TCPConfig{TCP: "127.0.0.1:1", Interval: time.Hour}, rec2)
	c2.Start()
	waitFor(t, "the first run", func() (bool, string) { return rec2.count() == 1, "none yet" })
}

// TestStaggerClamped gives a stagger far beyond the interval: the first run
// must still come within about one interval.
func TestStaggerClamped(t *testing.T) {
	checkGoroutines(t)
	rec := &recorder{}
	var asked time.Duration
	var mu sync.Mutex
	stagger := func(interval time.Duration) time.Duration {
		mu.Lock()
		asked = interval
		mu.Unlock()
		return 24 * time.Hour
	}
	c := newTestTCP(t, TCPConfig{TCP: "127.0.0.1:1", Interval: 20 * time.Millisecond, Stagger: stagger}, rec)
	c.Start()
	waitFor(t, "the first run", func() (bool, string) { return rec.count() > 0, "none yet" })
	mu.Lock()
	defer mu.Unlock()
	if asked != 20*time.Millisecond {
		t.Errorf("stagger was asked about interval %s, want 20ms", asked)
	}
}

func TestRandomStagger(t *testing.T) {
	tests := []struct {
		interval, bound time.Duration
	}{
		{0, 0},
		{-time.Second, 0},
		{50 * time.Millisecond, 50 * time.Millisecond},
		{time.Hour, MaxStagger},
	}
	for _, tt := range tests {
		var maxSeen time.Duration
		for i := 0; i < 1000; i++ {
			d := RandomStagger(tt.interval)
			if d < 0 || (tt.bound > 0 && d >= tt.bound) || (tt.bound == 0 && d != 0) {
				t.Fatalf("RandomStagger(%s) = %s, want within [0, %s)", tt.interval, d, tt.bound)
			}
			maxSeen = max(maxSeen, d)
		}
		// 1000 uniform draws all in the lower half would be a broken
		// generator, not bad luck (probability 2^-1000).
		if tt.bound > 0 && maxSeen < tt.bound/2 {
			t.Errorf("RandomStagger(%s): largest of 1000 draws %s, want spread over [0, %s)", tt.interval, maxSeen, tt.bound)
		}
	}
}

// TestNoGoroutineLeak starts and stops many runners of every kind and
// checks that the process's goroutine count returns to where it was.
func TestNoGoroutineLeak(t *testing.T) {
	rec := &recorder{}
	// Build the targets first: their goroutines are part of the baseline.
	srv := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	defer srv.Close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	wait := acceptAll(ln)
	defer func() { _ = ln.Close(); wait() }()
	// Let the server settle (its connections from other tests closed).
	srv.CloseClientConnections()

	baseline := runtime.NumGoroutine()
	for round := 0; round < 5; round++ {
		var rs []Runner
		for i := 0; i < 4; i++ {
			ttl, err := NewCheckTTL(TTLConfig{CheckID: "ttl", TTL: 5 * time.Millisecond}, rec)
			if err != nil {
				t.Fatal(err)
			}
			h, err := NewCheckHTTP(HTTPConfig{CheckID: "http", HTTP: srv.URL, Interval: 5 * time.Millisecond, Stagger: noStagger}, rec)
			if err != nil {
				t.Fatal(err)
			}
			tc, err := NewCheckTCP(TCPConfig{CheckID: "tcp", TCP: ln.Addr().String(), Interval: 5 * time.Millisecond, Stagger: noStagger}, rec)
			if err != nil {
				t.Fatal(err)
			}
			sc, err := NewCheckScript(ScriptConfig{CheckID: "script", Args: []string{"true"}, Interval: 5 * time.Millisecond, Stagger: noStagger}, rec)
			if err != nil {
				t.Fatal(err)
			}
			rs = append(rs, ttl, h, tc, sc)
		}
		for _, r := range rs {
			r.Start()
		}
		if round == 0 {
			waitFor(t, "some reports", func() (bool, string) { return rec.count() >= 16, "too few" })
		}
		for _, r := range rs {
			r.Stop()
		}
	}
	var now int
	waitFor(t, "the goroutine count to return to its baseline", func() (bool, string) {
		now = runtime.NumGoroutine()
		return now <= baseline, ""
	})
	t.Logf("goroutines: baseline %d, after %d", baseline, now)
}
