package agent

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/meridian-sd/meridian/agent/config"
)

// countingReader counts the bytes read from it; it yields size bytes of
// 'x' and hides its length from net/http, so that the body is chunked.
type countingReader struct {
	size int64
	read atomic.Int64
}

func (r *countingReader) Read(p []byte) (int, error) {
	left := r.size - r.read.Load()
	if left <= 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > left {
		p = p[:left]
	}
	for i := range p {
		p[i] = 'x'
	}
	r.read.Add(int64(len(p)))
	return len(p), nil
}

// catalogRegisterBody is a registration of one node and one service with
// n checks, each with output bytes of output.
func catalogRegisterBody(n, output int) []byte {
	var b bytes.Buffer
	b.WriteString(`{"Node":"big","Address":"127.0.0.9","Service":{"ID":"web","Service":"web","Port":80},"Checks":[`)
	out := strings.Repeat("o", output)
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"CheckID":"c%d","Name":"check %d","ServiceID":"web","Status":"passing","Output":%q}`, i, i, out)
	}
	b.WriteString(`]}`)
	return b.Bytes()
}

// TestHTTPBodyCaps: every request body is capped in the handler wrapper:
// 413 with a sentence naming the limit, whether the body declares its
// length or not; a large but reasonable registration still fits; a 64 MiB
// body is refused without the agent reading it.
func TestHTTPBodyCaps(t *testing.T) {
	a := startKVServer(t)
	const general = 1 << 20
	big := catalogRegisterBody(200, 4096)
	if len(big) < 800<<10 || len(big) > general {
		t.Fatalf("registration of 200 checks is %d bytes, want 800 KiB to 1 MiB", len(big))
	}
	if code, body, _ := httpDo(t, a, "PUT", "/v1/catalog/register", big); code != http.StatusOK {
		t.Fatalf("registration with 200 checks of 4 KiB output (%d bytes): %d %q", len(big), code, body)
	}
	checks, _, err := a.Client.Health().Node("big", nil)
	if err != nil || len(checks) != 200 {
		t.Fatalf("checks of the registered node: %d, %v; want 200", len(checks), err)
	}

	generalText := fmt.Sprintf("Request body is too large: the limit is %d bytes", general)
	for _, tc := range []struct {
		name, path string
		size       int
		chunked    bool
		says       string
	}{
		{"catalog register with a length", "/v1/catalog/register", general + 1, false, generalText},
		{"catalog register chunked", "/v1/catalog/register", 3 * general, true, generalText},
		{"catalog deregister", "/v1/catalog/deregister", 2 * general, false, generalText},
		{"agent service register chunked", "/v1/agent/service/register", 2 * general, true, generalText},
		{"coordinate update", "/v1/coordinate/update", 2 * general, false, generalText},
		{"kv value", "/v1/kv/capped", 512<<10 + 1, false, "Value is too large: the limit is 524288 bytes (limits.kv_max_value_size)"},
		{"kv value chunked", "/v1/kv/capped", 1 << 20, true, "Value is too large: the limit is 524288 bytes (limits.kv_max_value_size)"},
		{"txn", "/v1/txn", 512<<10 + 1, false, "Request body is too large: the limit is 524288 bytes (limits.txn_max_req_len)"},
		{"session create", "/v1/session/create", 64<<10 + 1, true, "Request body is too large: the limit is 65536 bytes"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var body io.Reader = bytes.NewReader(bytes.Repeat([]byte("x"), tc.size))
			if tc.chunked {
				body = &countingReader{size: int64(tc.size)}
			}
			req, err := http.NewRequest("PUT", "http://"+a.HTTPAddr+tc.path, body)
			if err != nil {
				t.Fatal(err)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatalf("PUT %s of %d bytes: %v", tc.path, tc.size, err)
			}
			defer resp.Body.Close()
			out, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != http.StatusRequestEntityTooLarge || string(out) != tc.says {
				t.Fatalf("PUT %s of %d bytes: %d %q, want 413 %q", tc.path, tc.size, resp.StatusCode, out, tc.says)
			}
		})
	}
	if p := mustGet(t, a.Client.KV(), "capped"); p != nil {
		t.Fatalf("refused KV write was applied: %v", p)
	}

	t.Run("64 MiB is refused unread", func(t *testing.T) {
		body := &countingReader{size: 64 << 20}
		req, err := http.NewRequest("PUT", "http://"+a.HTTPAddr+"/v1/catalog/register", body)
		if err != nil {
			t.Fatal(err)
		}
		req.ContentLength = body.size
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("PUT of 64 MiB: %v", err)
		}
		out, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusRequestEntityTooLarge || string(out) != generalText {
			t.Fatalf("PUT of 64 MiB: %d %q, want 413 %q", resp.StatusCode, out, generalText)
		}
		// What the client could send at all went into socket buffers
		// only: far from the whole body.
		if sent := body.read.Load(); sent > 32<<20 {
			t.Fatalf("the client sent %d bytes of the refused body, want the agent to stop it early", sent)
		}
	})

	t.Run("a body somewhat over the cap is answered, not reset", func(t *testing.T) {
		// A raw client that writes the whole body before it reads: the
		// agent must read (and drop) the rest of a refused body of up to
		// drainLimit, or the client's writes meet a reset connection.
		conn, err := net.Dial("tcp", a.HTTPAddr)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		size := 4 << 20
		if _, err := fmt.Fprintf(conn, "PUT /v1/catalog/register HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n", size); err != nil {
			t.Fatal(err)
		}
		chunk := bytes.Repeat([]byte("x"), 64<<10)
		for sent := 0; sent < size; sent += len(chunk) {
			if err := conn.SetWriteDeadline(time.Now().Add(20 * time.Second)); err != nil {
				t.Fatal(err)
			}
			if _, err := conn.Write(chunk); err != nil {
				t.Fatalf("writing the body at byte %d: %v", sent, err)
			}
		}
		if err := conn.SetReadDeadline(time.Now().Add(20 * time.Second)); err != nil {
			t.Fatal(err)
		}
		resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
		if err != nil {
			t.Fatalf("reading the answer: %v", err)
		}
		out, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusRequestEntityTooLarge || string(out) != generalText {
			t.Fatalf("PUT of %d bytes: %d %q, want 413 %q", size, resp.StatusCode, out, generalText)
		}
	})

	t.Run("headers over 64 KiB", func(t *testing.T) {
		req, err := http.NewRequest("GET", "http://"+a.HTTPAddr+"/v1/agent/self", nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("X-Big", strings.Repeat("h", 80<<10))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("GET with 80 KiB of headers: %v", err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
			t.Fatalf("GET with 80 KiB of headers: %d, want 431", resp.StatusCode)
		}
	})
}

// shortHTTPLimits shrinks the listener's timeouts for a test.
func shortHTTPLimits(o *Options) {
	o.HTTPLimits = func(l *HTTPLimits) {
		l.ReadHeaderTimeout = 300 * time.Millisecond
		l.BodyReadTimeout = 300 * time.Millisecond
		l.IdleTimeout = 300 * time.Millisecond
	}
}

// readUntilClosed reads c until the agent closes it and returns what it
// read; it fails the test if c is still open after limit.
func readUntilClosed(t *testing.T, c net.Conn, limit time.Duration) string {
	t.Helper()
	if err := c.SetReadDeadline(time.Now().Add(limit)); err != nil {
		t.Fatal(err)
	}
	out, err := io.ReadAll(c)
	if errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("connection still open after %s (read so far: %q)", limit, out)
	}
	return string(out)
}

// TestHTTPTimeouts: a client that sends its headers or its body too
// slowly, or keeps an idle connection, is cut off; a blocking query still
// waits longer than every one of these timeouts.
func TestHTTPTimeouts(t *testing.T) {
	a := startTestAgent(t, shortHTTPLimits, "-server", "-bootstrap")
	a.WaitForLeader(t)
	dial := func(t *testing.T) net.Conn {
		c, err := net.Dial("tcp", a.HTTPAddr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}

	t.Run("slow headers", func(t *testing.T) {
		c := dial(t)
		if _, err := io.WriteString(c, "GET /v1/agent/self HTTP/1.1\r\nHost: x\r\n"); err != nil {
			t.Fatal(err)
		}
		if out := readUntilClosed(t, c, 5*time.Second); strings.Contains(out, "200 OK") {
			t.Fatalf("incomplete headers answered: %q", out)
		}
	})
	t.Run("slow body", func(t *testing.T) {
		c := dial(t)
		if _, err := io.WriteString(c, "PUT /v1/kv/slow HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n0123456789"); err != nil {
			t.Fatal(err)
		}
		out := readUntilClosed(t, c, 5*time.Second)
		if !strings.HasPrefix(out, "HTTP/1.1 408 ") || !strings.Contains(out, "Request body not received within 300ms") {
			t.Fatalf("slow body answered %q, want 408 naming the timeout", out)
		}
	})
	t.Run("idle keep-alive", func(t *testing.T) {
		c := dial(t)
		if _, err := io.WriteString(c, "GET /v1/status/leader HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
			t.Fatal(err)
		}
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("first request on the connection: %v, %v", resp, err)
		}
		readUntilClosed(t, c, 5*time.Second)
	})
	t.Run("blocking query outlives the timeouts", func(t *testing.T) {
		mustPut(t, a.Client.KV(), "block", "v")
		_, meta, err := a.Client.KV().Get("block", nil)
		if err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		code, body, _ := httpDo(t, a, "GET", fmt.Sprintf("/v1/kv/block?index=%d&wait=1500ms", meta.LastIndex), nil)
		if took := time.Since(start); code != http.StatusOK || took < 1500*time.Millisecond {
			t.Fatalf("blocking query: %d %q after %s, want 200 after its 1.5s wait", code, body, took)
		}
	})
}

// TestHTTPConnLimitPerClient: limits.http_max_conns_per_client caps the
// connections of one source IP; one more is answered 429 and closed,
// another source is served, a closed connection frees its place, and a
// reload changes the limit.
func TestHTTPConnLimitPerClient(t *testing.T) {
	dir := t.TempDir()
	cfgFile := filepath.Join(dir, "limits.hcl")
	writeLimit := func(n int) {
		if err := os.WriteFile(cfgFile, fmt.Appendf(nil, "limits { http_max_conns_per_client = %d }\n", n), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	writeLimit(4)
	a := StartTestAgent(t, "-server", "-bootstrap", "-config-file="+cfgFile)
	a.WaitForLeader(t)
	from := func(src string) net.Conn {
		t.Helper()
		d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}, Timeout: 5 * time.Second}
		c, err := d.Dial("tcp", a.HTTPAddr)
		if err != nil {
			t.Fatalf("dial from %s: %v", src, err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	// get sends one request on c and reads the answer's status line.
	get := func(c net.Conn) (string, error) {
		if _, err := io.WriteString(c, "GET /v1/status/leader HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
			return "", err
		}
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		line, err := bufio.NewReader(c).ReadString('\n')
		return strings.TrimSpace(line), err
	}
	// The connections under test come from 127.0.0.3: the test agent's
	// own API client keeps a connection from 127.0.0.1 open, which
	// would count against the limit.
	ip := netip.MustParseAddr("127.0.0.3")
	var held []net.Conn
	for range 4 {
		c := from("127.0.0.3")
		if line, err := get(c); err != nil || line != "HTTP/1.1 200 OK" {
			t.Fatalf("connection within the limit: %q, %v", line, err)
		}
		held = append(held, c)
	}
	if n := a.httpConns.numOpen(ip); n != 4 {
		t.Fatalf("open connections from %s: %d, want 4", ip, n)
	}
	refused := func() {
		t.Helper()
		out := readUntilClosed(t, from("127.0.0.3"), 5*time.Second)
		want := "Too many concurrent connections from 127.0.0.3: the limit is"
		if !strings.HasPrefix(out, "HTTP/1.1 429 Too Many Requests\r\n") || !strings.Contains(out, want) {
			t.Fatalf("connection over the limit got %q, want 429 saying %q", out, want)
		}
	}
	refused()
	if line, err := get(from("127.0.0.2")); err != nil || line != "HTTP/1.1 200 OK" {
		t.Fatalf("another source address: %q, %v; want served", line, err)
	}

	held[0].Close()
	WaitFor(t, "the closed connection's place freed", 5*time.Second, func() error {
		if n := a.httpConns.numOpen(ip); n != 3 {
			return fmt.Errorf("%d open", n)
		}
		return nil
	})
	held[0] = from("127.0.0.3")
	if line, err := get(held[0]); err != nil || line != "HTTP/1.1 200 OK" {
		t.Fatalf("connection after one closed: %q, %v", line, err)
	}
	refused()

	writeLimit(6)
	if err := a.Reload(); err != nil {
		t.Fatalf("reload: %v", err)
	}
	if line, err := get(from("127.0.0.3")); err != nil || line != "HTTP/1.1 200 OK" {
		t.Fatalf("fifth connection after raising the limit to 6: %q, %v", line, err)
	}
}

// TestHTTPMaxConnsPerClientConfig: limits.http_max_conns_per_client is a
// real key now (no "ignored" warning), 200 by default, 0 for no limit, and
// a negative value is an error naming the key.
func TestHTTPMaxConnsPerClientConfig(t *testing.T) {
	base := []string{"-data-dir=" + t.TempDir(), "-bind=127.0.0.1"}
	rc, warnings, err := config.Load(config.LoadOpts{Args: base})
	if err != nil || rc.HTTPMaxConnsPerClient != 200 {
		t.Fatalf("default: %v, %v; want 200", rc, err)
	}
	rc, warnings, err = config.Load(config.LoadOpts{Args: append(base, "-hcl=limits { http_max_conns_per_client = 0 }")})
	if err != nil || rc.HTTPMaxConnsPerClient != 0 {
		t.Fatalf("0: %v, %v", rc, err)
	}
	for _, w := range warnings {
		if strings.Contains(w, "http_max_conns_per_client") {
			t.Fatalf("warning for a supported key: %q", w)
		}
	}
	_, _, err = config.Load(config.LoadOpts{Args: append(base, "-hcl=limits { http_max_conns_per_client = -1 }")})
	if err == nil || !strings.Contains(err.Error(), "limits.http_max_conns_per_client") || !strings.Contains(err.Error(), "must not be negative") {
		t.Fatalf("-1: %v, want an error naming the key", err)
	}
}
