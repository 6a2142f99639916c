package server

import (
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/meridian-sd/meridian/structs"
)

// serverIdentity is what a restarted server must keep: its name, ID, data
// dir and ports. Take it before the server shuts down.
type serverIdentity struct {
	name, id, dc, dataDir string
	bootstrap             bool
	bootstrapExpect       int
	rpcPort               int
	lanPort, wanPort      int
	tweak                 func(*Config)
}

// identityOf records how to bring s back.
func identityOf(s *Server) serverIdentity {
	return serverIdentity{
		name: s.config.NodeName, id: s.config.NodeID, dc: s.config.Datacenter, dataDir: s.config.DataDir,
		bootstrap: s.config.Bootstrap, bootstrapExpect: s.config.BootstrapExpect,
		rpcPort: s.RPCAddr().Port,
		lanPort: int(s.serfLAN.LocalMember().Port), wanPort: int(s.wan().LocalMember().Port),
	}
}

// restartConfig is a config that brings a server back on its data dir and
// ports, as a restarted process would.
func restartConfig(t testing.TB, id serverIdentity) *Config {
	t.Helper()
	cfg := testConfig(t, id.dc)
	cfg.NodeName, cfg.NodeID, cfg.DataDir = id.name, id.id, id.dataDir
	cfg.Bootstrap, cfg.BootstrapExpect = id.bootstrap, id.bootstrapExpect
	cfg.RPCAddr = &net.TCPAddr{IP: net.ParseIP("127.0.0.1"), Port: id.rpcPort}
	cfg.SerfLAN.BindPort = id.lanPort
	cfg.SerfWAN.BindPort = id.wanPort
	cfg.Logger = hclog.New(&hclog.LoggerOptions{Name: id.name, Output: newTestWriter(t), Level: hclog.Warn})
	if id.tweak != nil {
		id.tweak(cfg)
	}
	return cfg
}

// TestDefaultReadAfterRestartSeesCommittedWrites: a single durable server
// restarted on its data dir becomes leader before it has re-applied its
// log; a default (leader) read must still see every acknowledged write.
func TestDefaultReadAfterRestartSeesCommittedWrites(t *testing.T) {
	s := startCluster(t, "dc1", 1)[0]
	const n = 200
	for i := 0; i < n; i++ {
		req := &structs.KVSRequest{Datacenter: "dc1", Op: structs.KVSSet, DirEnt: structs.DirEntry{Key: fmt.Sprintf("r/%03d", i), Value: []byte("v")}}
		var ok bool
		if err := s.RPC("KVS.Apply", req, &ok); err != nil {
			t.Fatal(err)
		}
	}
	id := identityOf(s)
	s.Shutdown()
	s = startServer(t, restartConfig(t, id))
	waitFor(t, "leader after restart", 10*time.Second, func() error {
		if !s.IsLeader() {
			return fmt.Errorf("not leader")
		}
		return nil
	})
	var out structs.IndexedDirEntries
	if err := s.RPC("KVS.List", &structs.KeyRequest{Datacenter: "dc1", Key: "r/"}, &out); err != nil {
		t.Fatal(err)
	}
	if len(out.Entries) != n {
		t.Fatalf("default read right after the restart: %d keys, want %d", len(out.Entries), n)
	}
}
