package e2e

// The servers' bound on Raft entries against a real process (hosts
// 192-199): a 64 MiB Catalog.Register sent straight to the server port,
// as a hostile or broken peer would, used to be committed and left a data
// dir the server could not start from ("frame header indicates a record
// larger than MaxEntrySize"). The test also writes the largest KV value
// the configuration allows (32 MiB) and restarts the server after a
// SIGKILL; the server's memory and the restart time are logged as figures.

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/meridian-sd/meridian/rpc"
	"github.com/meridian-sd/meridian/structs"
)

// vmHWM reads the peak resident memory of a process, in bytes.
func vmHWM(t testing.TB, pid int) int64 {
	t.Helper()
	return procStatusBytes(t, pid, "VmHWM")
}

func TestOversizedRPCRegisterAndLargestValueRestart(t *testing.T) {
	c := newCluster(t, 192, 199)
	srv := c.start(agentOpts{Name: "lim-srv", Server: true, Bootstrap: true,
		HCL: "\nlimits {\n  kv_max_value_size = 33554432\n}\n"})
	waitLeader(t, 30*time.Second, srv)

	// 64 MiB of node meta in one Catalog.Register, over the server port.
	pool, err := rpc.NewConnPool(rpc.DefaultConnPoolConfig())
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Shutdown()
	addr := &net.TCPAddr{IP: net.ParseIP(srv.Host), Port: srv.Ports.withDefaults().Server}
	huge := &structs.RegisterRequest{Datacenter: "dc1", Node: "huge-node", Address: "10.9.9.9",
		NodeMeta: map[string]string{"pad": strings.Repeat("x", 64<<20)}}
	rssBefore := vmRSS(t, srv.Pid())
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	start := time.Now()
	err = pool.RPC(ctx, "dc1", addr, "Catalog.Register", huge, &struct{}{})
	took := time.Since(start)
	huge = nil
	if !structs.IsTooLarge(err) {
		t.Fatalf("64 MiB Catalog.Register over RPC: %v, want Request too large", err)
	}
	t.Logf("64 MiB Catalog.Register refused after %s: %v; server RSS %s before, %s after, peak %s",
		took.Round(time.Millisecond), err, mib(rssBefore), mib(vmRSS(t, srv.Pid())), mib(vmHWM(t, srv.Pid())))
	waitLeader(t, 30*time.Second, srv)

	// The largest value the configuration allows, through the HTTP API.
	value := bytes.Repeat([]byte("0123456789abcdef"), 32<<20/16)
	req, err := http.NewRequest("PUT", "http://"+srv.HTTPAddr+"/v1/kv/lim/big", bytes.NewReader(value))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := (&http.Client{Timeout: time.Minute}).Do(req)
	if err != nil {
		t.Fatalf("PUT of 32 MiB: %v", err)
	}
	out, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("PUT of 32 MiB: %d %q", resp.StatusCode, out)
	}

	// A crash, then a restart on the data dir: the value is back, the
	// refused node is not.
	srv.Stop(syscall.SIGKILL)
	start = time.Now()
	srv.Restart()
	var got []byte
	waitFor(t, 60*time.Second, "the 32 MiB value after the restart", func() error {
		p, _, err := srv.API.KV().Get("lim/big", nil)
		if err != nil || p == nil {
			return fmt.Errorf("%v, %v", p, err)
		}
		got = p.Value
		return nil
	})
	t.Logf("restart after SIGKILL with a 32 MiB value in the log: %s until it is served; server peak RSS %s",
		time.Since(start).Round(time.Millisecond), mib(vmHWM(t, srv.Pid())))
	if !bytes.Equal(got, value) {
		t.Fatalf("the 32 MiB value after the restart has %d bytes and differs", len(got))
	}
	nodes, _, err := srv.API.Catalog().Nodes(nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range nodes {
		if n.Node == "huge-node" {
			t.Fatalf("the refused registration is in the catalog after the restart")
		}
	}
}
