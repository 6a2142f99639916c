package rpc

import (
	"os"
	"runtime"
	"testing"

	"github.com/hashicorp/yamux"

	"github.com/meridian-sd/meridian/tlsutil/tlstest"
)

// TestMeasureIdleConnMemory reports the memory one idle pooled connection
// holds, both ends in this process (the pool's yamux session and the
// server's), plaintext and with TLS (verify_incoming, a client
// certificate). Nothing is asserted; it runs only with MERIDIAN_MEASURE=1:
//
//	MERIDIAN_MEASURE=1 go test -count=1 -run TestMeasureIdleConnMemory -v ./rpc/
func TestMeasureIdleConnMemory(t *testing.T) {
	if os.Getenv("MERIDIAN_MEASURE") != "1" {
		t.Skip("figures are measured only with MERIDIAN_MEASURE=1")
	}
	const conns = 500
	ca := tlstest.NewCA(t, "consul")
	for _, mode := range []string{"plain", "tls"} {
		t.Run(mode, func(t *testing.T) {
			var srv *testServer
			var pool *ConnPool
			if mode == "tls" {
				srv, _ = startTLSServer(t, ca)
				cert, key := ca.Client("dc1")
				pool, _ = newTestPool(t, func(c *ConnPoolConfig) { c.TLS = tlsConfigurator(t, ca.CAFile, cert, key, false) })
			} else {
				srv = startServer(t)
				pool, _ = newTestPool(t)
			}
			heap := func() uint64 {
				runtime.GC()
				runtime.GC()
				var m runtime.MemStats
				runtime.ReadMemStats(&m)
				return m.HeapInuse + m.StackInuse
			}
			// One connection first, so that what every connection shares
			// (code paths, the handshake's one-time tables) is not counted.
			open := func() *yamux.Session {
				sess, err := pool.connect("dc1", srv.addr)
				if err != nil {
					t.Fatal(err)
				}
				if _, err := sess.Ping(); err != nil {
					t.Fatal(err)
				}
				return sess
			}
			warm := open()
			defer warm.Close()
			before := heap()
			sessions := make([]*yamux.Session, 0, conns)
			for i := 0; i < conns; i++ {
				sessions = append(sessions, open())
			}
			after := heap()
			t.Logf("%s: %d idle connections hold %d KiB: %.1f KiB per connection (client and server side)",
				mode, conns, (after-before)/1024, float64(after-before)/1024/conns)
			for _, s := range sessions {
				s.Close()
			}
		})
	}
}
