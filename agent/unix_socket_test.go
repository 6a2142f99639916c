package agent

import (
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hashicorp/consul/api"
	"github.com/meridian-sd/meridian/agent/config"
)

// shortTempDir makes a directory with a short path: a unix socket's path
// must fit in 108 bytes, which t.TempDir's long names can exceed.
func shortTempDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "msock")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

func TestHTTPOnUnixSocket(t *testing.T) {
	dir := shortTempDir(t)
	sock := filepath.Join(dir, "http.sock")
	a := StartTestAgent(t, "-server", "-bootstrap",
		`-hcl=addresses { http = "127.0.0.1 unix://`+sock+`" } unix_sockets { mode = "0600" }`)

	fi, err := os.Stat(sock)
	if err != nil {
		t.Fatalf("socket file: %v", err)
	}
	if got := fi.Mode().Perm(); got != 0o600 {
		t.Errorf("socket mode = %o, want 600", got)
	}

	cfg := api.DefaultNonPooledConfig()
	cfg.Address = "unix://" + sock
	c, err := api.NewClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	a.WaitForLeader(t)
	if _, err := c.KV().Put(&api.KVPair{Key: "over/unix", Value: []byte("yes")}, nil); err != nil {
		t.Fatalf("kv put over the unix socket: %v", err)
	}
	// The TCP listener sees the same store.
	kv, _, err := a.Client.KV().Get("over/unix", nil)
	if err != nil || kv == nil || string(kv.Value) != "yes" {
		t.Fatalf("kv get over tcp = %v, %v; want yes", kv, err)
	}
	self, err := c.Agent().Self()
	if err != nil {
		t.Fatalf("agent self over the unix socket: %v", err)
	}
	if name := self["Config"]["NodeName"]; name != a.Name {
		t.Errorf("agent self NodeName = %v, want %s", name, a.Name)
	}

	a.Shutdown()
	if _, err := os.Lstat(sock); !os.IsNotExist(err) {
		t.Errorf("socket file after shutdown: %v; want it removed", err)
	}
}

func TestHTTPOnlyOnUnixSocket(t *testing.T) {
	dir := shortTempDir(t)
	sock := filepath.Join(dir, "only.sock")
	// A socket file left behind by an agent that was killed is replaced.
	stale, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	stale.(*net.UnixListener).SetUnlinkOnClose(false)
	stale.Close()
	if _, err := os.Lstat(sock); err != nil {
		t.Fatalf("stale socket file was not left: %v", err)
	}

	a := StartTestAgent(t, "-server", "-bootstrap", `-hcl=addresses { http = "unix://`+sock+`" }`)
	addrs := a.HTTPAddrs()
	if len(addrs) != 1 || addrs[0].Network() != "unix" {
		t.Fatalf("HTTP addresses = %v, want only the unix socket", addrs)
	}
	if a.HTTPAddr != "unix://"+sock {
		t.Fatalf("HTTPAddr = %q, want unix://%s", a.HTTPAddr, sock)
	}
	a.WaitForLeader(t)
	if _, _, err := a.Client.Catalog().Nodes(nil); err != nil {
		t.Fatalf("catalog nodes over the unix socket: %v", err)
	}
}

func TestUnixSocketRefusesToReplaceAFile(t *testing.T) {
	dir := shortTempDir(t)
	path := filepath.Join(dir, "notes.txt")
	if err := os.WriteFile(path, []byte("keep me"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := listenUnix(path, config.UnixSocketConfig{})
	if err == nil || !strings.Contains(err.Error(), "is not a unix socket") {
		t.Fatalf("listen over a regular file: err = %v, want 'is not a unix socket'", err)
	}
	b, err := os.ReadFile(path)
	if err != nil || string(b) != "keep me" {
		t.Fatalf("the file was changed: %q, %v", b, err)
	}

	_, err = listenUnix(filepath.Join(dir, "s.sock"), config.UnixSocketConfig{User: "no-such-user-meridian"})
	if err == nil || !strings.Contains(err.Error(), `unix_sockets.user "no-such-user-meridian"`) {
		t.Fatalf("unknown user: err = %v", err)
	}
}
