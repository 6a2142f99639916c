package e2e

// Hostile HTTP clients against real processes (hosts 168-175): one server
// and one client agent. A 64 MiB body is refused with 413 by both, costs
// the server little memory and leaves a data dir it restarts from; over a
// thousand blocking queries abandoned by their clients leave the client
// agent's RPC pool, so that a read and a write through it answer at once
// afterwards; a slowloris is cut off by the header timeout while normal
// requests go on; and one source address cannot open more than
// limits.http_max_conns_per_client connections while another is served.
// Hosts 170-175 are only source addresses of the test's connections.

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/hashicorp/consul/api"
)

// vmRSS is the resident memory of process pid, in bytes.
func vmRSS(t testing.TB, pid int) int64 {
	t.Helper()
	return procStatusBytes(t, pid, "VmRSS")
}

// procStatusBytes reads a "Field:   N kB" line of /proc/<pid>/status, in
// bytes.
func procStatusBytes(t testing.TB, pid int, field string) int64 {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatalf("read status of pid %d: %v", pid, err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			if err != nil {
				t.Fatalf("%s line %q: %v", field, line, err)
			}
			return kb << 10
		}
	}
	t.Fatalf("no %s in /proc/%d/status", field, pid)
	return 0
}

// mib formats bytes as MiB.
func mib(n int64) string { return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20)) }

// zeroReader yields n bytes of 'x'.
type zeroReader struct{ left int64 }

func (r *zeroReader) Read(p []byte) (int, error) {
	if r.left <= 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > r.left {
		p = p[:r.left]
	}
	for i := range p {
		p[i] = 'x'
	}
	r.left -= int64(len(p))
	return len(p), nil
}

// dialFrom opens a TCP connection to addr from the loopback address src.
func dialFrom(src, addr string) (net.Conn, error) {
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}, Timeout: 5 * time.Second}
	return d.Dial("tcp", addr)
}

// poolStats reads the client agent's "rpc_pool" section of /v1/agent/self:
// the calls in flight, and the open streams other than the idle ones the
// pool keeps for its next calls (an abandoned call's stream is never kept).
func poolStats(a *agentProc) (inFlight, busyStreams int, err error) {
	self, err := a.API.Agent().Self()
	if err != nil {
		return 0, 0, err
	}
	stats, _ := self["Stats"]["rpc_pool"].(map[string]any)
	if stats == nil {
		return 0, 0, fmt.Errorf("no rpc_pool in the Stats of %s", a.Name)
	}
	inFlight, err1 := strconv.Atoi(fmt.Sprint(stats["in_flight"]))
	streams, err2 := strconv.Atoi(fmt.Sprint(stats["streams"]))
	idle, err3 := strconv.Atoi(fmt.Sprint(stats["idle_streams"]))
	if err := errors.Join(err1, err2, err3); err != nil {
		return 0, 0, fmt.Errorf("rpc_pool %v: %w", stats, err)
	}
	return inFlight, streams - idle, nil
}

func TestHostileHTTP(t *testing.T) {
	c := newCluster(t, 168, 175)
	srv := c.start(agentOpts{Name: "hh-srv", Server: true, Bootstrap: true})
	cl := c.start(agentOpts{Name: "hh-client", Join: []string{srv.LANAddr}})
	waitLeader(t, 30*time.Second, srv, cl)
	sources := []string{host(170), host(171), host(172), host(173), host(174), host(175)}

	// readWrite writes and reads a key through a, within a few seconds.
	readWrite := func(t *testing.T, a *agentProc, key string) time.Duration {
		t.Helper()
		start := time.Now()
		if _, err := a.API.KV().Put(&api.KVPair{Key: key, Value: []byte("v")}, nil); err != nil {
			t.Fatalf("write %s through %s: %v", key, a.Name, err)
		}
		p, _, err := a.API.KV().Get(key, nil)
		if err != nil || p == nil || string(p.Value) != "v" {
			t.Fatalf("read %s through %s: %v, %v", key, a.Name, p, err)
		}
		took := time.Since(start)
		if took > 5*time.Second {
			t.Fatalf("a write and a read through %s took %s", a.Name, took)
		}
		return took
	}
	readWrite(t, cl, "hh/warm")

	step(t, "a 64 MiB body is refused and the server restarts", func(t *testing.T) {
		before := vmRSS(t, srv.Pid())
		hc := &http.Client{Timeout: 60 * time.Second}
		const want = "Request body is too large: the limit is 1048576 bytes"
		for _, tc := range []struct {
			a       *agentProc
			chunked bool
		}{{cl, false}, {srv, false}, {srv, true}} {
			body := &zeroReader{left: 64 << 20}
			req, err := http.NewRequest("PUT", "http://"+tc.a.HTTPAddr+"/v1/catalog/register", body)
			if err != nil {
				t.Fatal(err)
			}
			if !tc.chunked {
				req.ContentLength = 64 << 20
			}
			resp, err := hc.Do(req)
			if err != nil {
				t.Fatalf("64 MiB PUT to %s (chunked %v): %v", tc.a.Name, tc.chunked, err)
			}
			out, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusRequestEntityTooLarge || string(out) != want {
				t.Fatalf("64 MiB PUT to %s (chunked %v): %d %q, want 413 %q", tc.a.Name, tc.chunked, resp.StatusCode, out, want)
			}
		}
		after := vmRSS(t, srv.Pid())
		t.Logf("server RSS %s before the 64 MiB bodies, %s after", mib(before), mib(after))
		if after-before > 200<<20 {
			t.Fatalf("server RSS grew by %s", mib(after-before))
		}
		readWrite(t, cl, "hh/after-64mib")
		srv.Stop(syscall.SIGTERM)
		srv.Restart()
		waitLeader(t, 30*time.Second, srv, cl)
		p, _, err := srv.API.KV().Get("hh/after-64mib", nil)
		if err != nil || p == nil {
			t.Fatalf("the write before the restart, after it: %v, %v", p, err)
		}
		readWrite(t, srv, "hh/restarted")
	})

	step(t, "1,200 abandoned blocking queries leave the client agent", func(t *testing.T) {
		_, meta, err := cl.API.KV().Get("hh/warm", nil)
		if err != nil {
			t.Fatal(err)
		}
		const queries = 1200 // 200 per source address: the default limit
		request := fmt.Sprintf("GET /v1/kv/hh/warm?index=%d&wait=5m HTTP/1.1\r\nHost: x\r\n\r\n", meta.LastIndex)
		rssBefore := vmRSS(t, cl.Pid())
		conns := make([]net.Conn, 0, queries)
		defer func() {
			for _, c := range conns {
				c.Close()
			}
		}()
		for i := range queries {
			c, err := dialFrom(sources[i%len(sources)], cl.HTTPAddr)
			if err != nil {
				t.Fatalf("connection %d: %v", i, err)
			}
			conns = append(conns, c)
			if _, err := io.WriteString(c, request); err != nil {
				t.Fatalf("blocking query %d: %v", i, err)
			}
		}
		// The pool to the server fills up (1024 streams): before the
		// fix, this is where every new request waited and timed out.
		var inFlight int
		waitFor(t, 30*time.Second, "the client's RPC pool full of blocking queries", func() error {
			var err error
			if inFlight, _, err = poolStats(cl); err != nil {
				return err
			}
			if inFlight < 1000 {
				return fmt.Errorf("%d calls in flight", inFlight)
			}
			return nil
		})
		rssHeld := vmRSS(t, cl.Pid())
		t.Logf("client agent: %d calls in flight; RSS %s before, %s with %d blocking queries open (%.1f KiB each)",
			inFlight, mib(rssBefore), mib(rssHeld), queries, float64(rssHeld-rssBefore)/1024/queries)
		// None of them was refused or answered.
		for i, c := range conns[:10] {
			c.SetReadDeadline(time.Now().Add(10 * time.Millisecond))
			if n, err := c.Read(make([]byte, 1)); n > 0 || !errors.Is(err, os.ErrDeadlineExceeded) {
				t.Fatalf("blocking query %d answered or closed early: %d, %v", i, n, err)
			}
		}

		hungUp := time.Now()
		for _, c := range conns {
			c.Close()
		}
		conns = nil
		took := readWrite(t, cl, "hh/after-abandon")
		t.Logf("a write and a read through the client %s after the hang-up took %s",
			time.Since(hungUp).Round(time.Millisecond), took.Round(time.Millisecond))
		waitFor(t, 30*time.Second, "the abandoned calls and their streams gone from the client's pool", func() error {
			inFlight, busy, err := poolStats(cl)
			if err != nil {
				return err
			}
			if inFlight != 0 || busy != 0 {
				return fmt.Errorf("%d calls in flight, %d streams besides the idle ones", inFlight, busy)
			}
			return nil
		})
		t.Logf("client pool empty %s after the hang-up; client RSS %s", time.Since(hungUp).Round(time.Millisecond), mib(vmRSS(t, cl.Pid())))
	})

	step(t, "a slowloris is cut off while normal requests are served", func(t *testing.T) {
		const slow = 150
		var wg sync.WaitGroup
		var cut atomic.Int64
		stop := make(chan struct{})
		defer func() {
			close(stop)
			wg.Wait()
		}()
		rssBefore := vmRSS(t, cl.Pid())
		start := time.Now()
		for i := range slow {
			c, err := dialFrom(sources[0], cl.HTTPAddr)
			if err != nil {
				t.Fatalf("slowloris connection %d: %v", i, err)
			}
			closed := make(chan struct{})
			wg.Add(2)
			go func() { // the agent closing the connection ends this read
				defer wg.Done()
				defer close(closed)
				c.SetReadDeadline(time.Now().Add(40 * time.Second))
				if _, err := io.Copy(io.Discard, c); !errors.Is(err, os.ErrDeadlineExceeded) {
					cut.Add(1)
				}
			}()
			go func() { // a byte of headers every 250ms, for 40s at most
				defer wg.Done()
				defer c.Close()
				headers := "GET /v1/agent/self HTTP/1.1\r\nHost: x\r\nX-Slow: " + strings.Repeat("a", 200)
				for j := 0; j < len(headers); j++ {
					if _, err := c.Write([]byte{headers[j]}); err != nil {
						return
					}
					select {
					case <-closed:
						return
					case <-stop:
						return
					case <-time.After(250 * time.Millisecond):
					}
				}
			}()
		}
		time.Sleep(time.Second) // let every connection send some bytes
		rssHeld := vmRSS(t, cl.Pid())
		t.Logf("client agent RSS %s with %d slowloris connections open (%s before they opened)", mib(rssHeld), slow, mib(rssBefore))
		readWrite(t, cl, "hh/during-slowloris")
		readWrite(t, srv, "hh/during-slowloris-srv")
		waitFor(t, 30*time.Second, "the agent to cut off every slowloris connection", func() error {
			if n := cut.Load(); n < slow {
				return fmt.Errorf("%d of %d cut off", n, slow)
			}
			return nil
		})
		t.Logf("%d slowloris connections cut off within %s", slow, time.Since(start).Round(time.Millisecond))
		readWrite(t, cl, "hh/after-slowloris")
	})

	step(t, "connections over the per-client limit are refused, others served", func(t *testing.T) {
		_, meta, err := cl.API.KV().Get("hh/warm", nil)
		if err != nil {
			t.Fatal(err)
		}
		const limit = 200 // limits.http_max_conns_per_client's default
		request := fmt.Sprintf("GET /v1/kv/hh/warm?index=%d&wait=2m HTTP/1.1\r\nHost: x\r\n\r\n", meta.LastIndex)
		var held []net.Conn
		defer func() {
			for _, c := range held {
				c.Close()
			}
		}()
		// The connections of the earlier steps from this address may take
		// a moment to be closed on the agent's side.
		waitFor(t, 20*time.Second, fmt.Sprintf("%d connections from %s accepted", limit, sources[1]), func() error {
			for len(held) < limit {
				c, err := dialFrom(sources[1], cl.HTTPAddr)
				if err != nil {
					return err
				}
				if _, err := io.WriteString(c, request); err != nil {
					c.Close()
					return err
				}
				// A refused connection is answered at once; an accepted
				// one blocks.
				c.SetReadDeadline(time.Now().Add(20 * time.Millisecond))
				buf := make([]byte, 200)
				if n, err := c.Read(buf); n > 0 || !errors.Is(err, os.ErrDeadlineExceeded) {
					c.Close()
					return fmt.Errorf("connection %d answered at once: %q, %v", len(held)+1, buf[:n], err)
				}
				c.SetReadDeadline(time.Time{})
				held = append(held, c)
			}
			return nil
		})
		over, err := dialFrom(sources[1], cl.HTTPAddr)
		if err != nil {
			t.Fatal(err)
		}
		defer over.Close()
		over.SetReadDeadline(time.Now().Add(10 * time.Second))
		answer, err := io.ReadAll(over)
		if err != nil {
			t.Fatalf("connection %d from %s: %v (read %q)", limit+1, sources[1], err, answer)
		}
		if !strings.HasPrefix(string(answer), "HTTP/1.1 429 Too Many Requests\r\n") ||
			!strings.Contains(string(answer), "the limit is 200 (limits.http_max_conns_per_client)") {
			t.Fatalf("connection %d from %s got %q, want 429 naming the limit", limit+1, sources[1], answer)
		}
		other, err := dialFrom(sources[2], cl.HTTPAddr)
		if err != nil {
			t.Fatal(err)
		}
		defer other.Close()
		if _, err := io.WriteString(other, "GET /v1/status/leader HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
			t.Fatal(err)
		}
		other.SetReadDeadline(time.Now().Add(10 * time.Second))
		resp, err := http.ReadResponse(bufio.NewReader(other), nil)
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("a request from %s while %s is at its limit: %v, %v", sources[2], sources[1], resp, err)
		}
		readWrite(t, cl, "hh/at-limit")

		for _, c := range held {
			c.Close()
		}
		held = nil
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		waitFor(t, 20*time.Second, "a connection from "+sources[1]+" served again", func() error {
			req, err := http.NewRequestWithContext(ctx, "GET", "http://"+cl.HTTPAddr+"/v1/status/leader", nil)
			if err != nil {
				return err
			}
			hc := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
				return dialFrom(sources[1], addr)
			}}}
			defer hc.CloseIdleConnections()
			resp, err := hc.Do(req)
			if err != nil {
				return err
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				return fmt.Errorf("status %d", resp.StatusCode)
			}
			return nil
		})
	})
	if !srv.Running() || !cl.Running() {
		t.Fatalf("an agent died: server running %v, client running %v", srv.Running(), cl.Running())
	}
	waitLeader(t, 10*time.Second, srv, cl)
}
