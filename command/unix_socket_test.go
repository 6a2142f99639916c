package command

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/meridian-sd/meridian/agent"
)

// TestVerbsOverUnixSocket drives the CLI through -http-addr unix:///path
// and through CONSUL_HTTP_ADDR, as a Consul user would.
func TestVerbsOverUnixSocket(t *testing.T) {
	dir, err := os.MkdirTemp("", "msock") // short: a socket path fits in 108 bytes
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	sock := filepath.Join(dir, "http.sock")
	ta := agent.StartTestAgent(t, "-server", "-bootstrap", `-hcl=addresses { http = "unix://`+sock+`" }`)
	ta.WaitForLeader(t)

	if code, _, errOut := runCmd(kvPutCmd(), "-http-addr=unix://"+sock, "sock/key", "through the socket"); code != 0 {
		t.Fatalf("kv put over the unix socket: exit %d, %s", code, errOut)
	}
	t.Setenv("MERIDIAN_HTTP_ADDR", "")
	t.Setenv("CONSUL_HTTP_ADDR", "unix://"+sock)
	code, out, errOut := runCmd(kvGetCmd(), "sock/key")
	if code != 0 || strings.TrimSpace(out) != "through the socket" {
		t.Fatalf("kv get with CONSUL_HTTP_ADDR=unix://: exit %d, out %q, err %q", code, out, errOut)
	}
}
