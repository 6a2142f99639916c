package checks

import (
	"context"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// flipServer is a loopback HTTP server whose answer the test changes.
type flipServer struct {
	*httptest.Server
	code atomic.Int32
	body atomic.Value // string
}

func newFlipServer(t testing.TB, code int, body string) *flipServer {
	t.Helper()
	s := &flipServer{}
	s.set(code, body)
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(int(s.code.Load()))
		_, _ = io.WriteString(w, s.body.Load().(string))
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *flipServer) set(code int, body string) {
	s.body.Store(body)
	s.code.Store(int32(code))
}

func newTestHTTP(t testing.TB, cfg HTTPConfig, n Notifier) *CheckHTTP {
	t.Helper()
	if cfg.CheckID == "" {
		cfg.CheckID = "web"
	}
	if cfg.Interval == 0 {
		cfg.Interval = 20 * time.Millisecond
	}
	if cfg.Stagger == nil {
		cfg.Stagger = noStagger
	}
	c, err := NewCheckHTTP(cfg, n)
	if err != nil {
		t.Fatalf("NewCheckHTTP: %v", err)
	}
	t.Cleanup(c.Stop)
	return c
}

// TestCheckHTTPStatusMapping flips one server through status codes while
// the check runs and waits for each to show.
func TestCheckHTTPStatusMapping(t *testing.T) {
	checkGoroutines(t)
	srv := newFlipServer(t, 200, "fine")
	rec := &recorder{}
	url := srv.URL + "/health"
	c := newTestHTTP(t, HTTPConfig{HTTP: url}, rec)
	c.Start()

	tests := []struct {
		code   int
		status string
		line   string
	}{
		{200, pass, "200 OK"},
		{201, pass, "201 Created"},
		{204, pass, "204 No Content"},
		{299, pass, "299 status code 299"},
		{429, warn, "429 Too Many Requests"},
		{500, crit, "500 Internal Server Error"},
		{503, crit, "503 Service Unavailable"},
		{404, crit, "404 Not Found"},
		{300, crit, "300 Multiple Choices"},
		{200, pass, "200 OK"},
	}
	for _, tt := range tests {
		body := fmt.Sprintf("answer %d", tt.code)
		if tt.code == 204 {
			body = "" // 204 has no body
		}
		srv.set(tt.code, body)
		want := fmt.Sprintf("HTTP GET %s: %s Output: %s", url, tt.line, body)
		u := waitForLast(t, rec, tt.status, want)
		if u.Output != want || u.CheckID != "web" {
			t.Errorf("code %d: got %+v, want output %q", tt.code, u, want)
		}
	}
}

func TestCheckHTTPRequest(t *testing.T) {
	checkGoroutines(t)
	type seen struct {
		method, body, host, ua, accept, custom string
	}
	got := make(chan seen, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		select {
		case got <- seen{r.Method, string(b), r.Host, r.UserAgent(), r.Header.Get("Accept"), r.Header.Get("X-Probe")}:
		default:
		}
	}))
	t.Cleanup(srv.Close)

	tests := []struct {
		name string
		cfg  HTTPConfig
		want seen
	}{
		{
			name: "defaults",
			cfg:  HTTPConfig{HTTP: srv.URL},
			want: seen{method: "GET", host: strings.TrimPrefix(srv.URL, "http://"), ua: UserAgent, accept: HTTPAccept},
		},
		{
			name: "method body and headers",
			cfg: HTTPConfig{
				HTTP:   srv.URL,
				Method: "POST",
				Body:   `{"ping":true}`,
				Header: map[string][]string{
					"Host":       {"service.example"},
					"User-Agent": {"custom-agent"},
					"Accept":     {"application/json"},
					"X-Probe":    {"yes"},
				},
			},
			want: seen{"POST", `{"ping":true}`, "service.example", "custom-agent", "application/json", "yes"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			header := http.Header(tt.cfg.Header).Clone()
			rec := &recorder{}
			// One request per subtest, so none can leak into the next.
			tt.cfg.Interval = time.Hour
			c := newTestHTTP(t, tt.cfg, rec)
			c.Start()
			select {
			case s := <-got:
				if s != tt.want {
					t.Errorf("server saw %+v, want %+v", s, tt.want)
				}
			case <-time.After(waitTimeout):
				t.Fatal("server saw no request")
			}
			waitForLast(t, rec, pass, "200 OK")
			c.Stop()
			if !reflect.DeepEqual(header, http.Header(tt.cfg.Header)) {
				t.Errorf("check changed its config's header map: %v, was %v", tt.cfg.Header, header)
			}
		})
	}
}

func TestCheckHTTPRedirects(t *testing.T) {
	checkGoroutines(t)
	mux := http.NewServeMux()
	mux.HandleFunc("/old", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/new", http.StatusFound)
	})
	mux.HandleFunc("/new", func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "moved here")
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)

	tests := []struct {
		name    string
		disable bool
		status  string
		want    string
	}{
		{"followed", false, pass, "HTTP GET " + srv.URL + "/old: 200 OK Output: moved here"},
		{"disabled", true, crit, "HTTP GET " + srv.URL + "/old: 302 Found Output: "},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := &recorder{}
			c := newTestHTTP(t, HTTPConfig{HTTP: srv.URL + "/old", DisableRedirects: tt.disable}, rec)
			c.Start()
			waitForLast(t, rec, tt.status, tt.want)
		})
	}
}

func TestCheckHTTPBodyTruncated(t *testing.T) {
	checkGoroutines(t)
	body := strings.Repeat("a", 10000)
	srv := newFlipServer(t, 200, body)
	tests := []struct {
		max  int
		kept int
	}{
		{0, DefaultOutputMaxSize},
		{100, 100},
	}
	for _, tt := range tests {
		rec := &recorder{}
		c := newTestHTTP(t, HTTPConfig{HTTP: srv.URL, OutputMaxSize: tt.max}, rec)
		c.Start()
		want := fmt.Sprintf("HTTP GET %s: 200 OK Output: %s ... (captured %d of 10000 bytes)",
			srv.URL, body[:tt.kept], tt.kept)
		u := waitForLast(t, rec, pass, "captured")
		if u.Output != want {
			t.Errorf("max %d: output is %d bytes ending %q, want %d bytes", tt.max, len(u.Output), u.Output[len(u.Output)-40:], len(want))
		}
		c.Stop()
	}
}

func TestCheckHTTPConnectionRefused(t *testing.T) {
	checkGoroutines(t)
	srv := newFlipServer(t, 200, "up")
	url := srv.URL
	rec := &recorder{}
	c := newTestHTTP(t, HTTPConfig{HTTP: url}, rec)
	c.Start()
	waitForLast(t, rec, pass, "200 OK")
	srv.Close()
	u := waitForLast(t, rec, crit, "connection refused")
	if !strings.Contains(u.Output, url) {
		t.Errorf("error output %q does not name the URL", u.Output)
	}
}

func TestCheckHTTPTimeout(t *testing.T) {
	checkGoroutines(t)
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}))
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(release) })

	rec := &recorder{}
	c := newTestHTTP(t, HTTPConfig{HTTP: srv.URL, Timeout: 50 * time.Millisecond, Interval: time.Hour}, rec)
	start := time.Now()
	c.Start()
	waitForLast(t, rec, crit, "deadline exceeded")
	if elapsed := time.Since(start); elapsed < 50*time.Millisecond {
		t.Errorf("timed out after %s, before the 50ms timeout", elapsed)
	}
}

func TestCheckHTTPTLS(t *testing.T) {
	checkGoroutines(t)
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "secure")
	}))
	// The rejected handshakes are the point; keep them out of the log.
	srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	srv.StartTLS()
	t.Cleanup(srv.Close)

	tests := []struct {
		name   string
		skip   bool
		status string
		want   string
	}{
		{"verified against an unknown CA", false, crit, "certificate"},
		{"skip verify", true, pass, "200 OK Output: secure"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := &recorder{}
			c := newTestHTTP(t, HTTPConfig{HTTP: srv.URL, TLSSkipVerify: tt.skip}, rec)
			c.Start()
			waitForLast(t, rec, tt.status, tt.want)
		})
	}
}

func TestCheckHTTPInjectedClient(t *testing.T) {
	checkGoroutines(t)
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "trusted")
	}))
	t.Cleanup(srv.Close)
	rec := &recorder{}
	// The server's own client trusts its certificate without skipping
	// verification.
	c := newTestHTTP(t, HTTPConfig{HTTP: srv.URL, Client: srv.Client()}, rec)
	c.Start()
	waitForLast(t, rec, pass, "Output: trusted")
}

// TestCheckHTTPStopCancelsRequest stops a check whose request hangs: Stop
// must return promptly and nothing may be reported.
func TestCheckHTTPStopCancelsRequest(t *testing.T) {
	checkGoroutines(t)
	arrived := make(chan struct{}, 1)
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		arrived <- struct{}{}
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}))
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(release) })

	rec := &recorder{}
	c := newTestHTTP(t, HTTPConfig{HTTP: srv.URL, Interval: time.Hour, Timeout: time.Hour}, rec)
	c.Start()
	select {
	case <-arrived:
	case <-time.After(waitTimeout):
		t.Fatal("request never arrived")
	}
	stopped := make(chan struct{})
	go func() {
		c.Stop()
		close(stopped)
	}()
	select {
	case <-stopped:
	case <-time.After(waitTimeout):
		t.Fatal("Stop did not return while a request hung")
	}
	if n := rec.count(); n != 0 {
		t.Errorf("cancelled request was reported: %+v", rec.all())
	}
}

func TestEffectiveTimeout(t *testing.T) {
	tests := []struct {
		timeout, interval, want time.Duration
	}{
		{0, time.Minute, DefaultHTTPTimeout},
		{0, 3 * time.Second, 3 * time.Second},
		{2 * time.Second, 3 * time.Second, 2 * time.Second},
		{5 * time.Second, 3 * time.Second, 3 * time.Second},
		{30 * time.Second, time.Minute, 30 * time.Second},
	}
	for _, tt := range tests {
		if got := effectiveTimeout(tt.timeout, tt.interval); got != tt.want {
			t.Errorf("effectiveTimeout(%s, %s) = %s, want %s", tt.timeout, tt.interval, got, tt.want)
		}
	}
}

// BenchmarkHTTPCheck measures one HTTP check run (a fresh connection, as
// keep-alives are off) against a loopback server.
func BenchmarkHTTPCheck(b *testing.B) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "ok")
	}))
	defer srv.Close()
	var mu sync.Mutex
	var last string
	n := notifierFunc(func(_, status, _ string) {
		mu.Lock()
		last = status
		mu.Unlock()
	})
	c, err := NewCheckHTTP(HTTPConfig{CheckID: "bench", HTTP: srv.URL, Interval: time.Second}, n)
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		c.check(ctx)
	}
	b.StopTimer()
	if last != pass {
		b.Fatalf("last status %q, want passing", last)
	}
}

// notifierFunc adapts a function to Notifier.
type notifierFunc func(checkID, status, output string)

func (f notifierFunc) UpdateCheck(checkID, status, output string) { f(checkID, status, output) }
