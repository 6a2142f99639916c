package command

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hashicorp/cli"

	"github.com/meridian-sd/meridian/agent"
	"github.com/meridian-sd/meridian/agent/config"
	"github.com/meridian-sd/meridian/gossip"
)

// TestBannerReportsGossipEncryption: the banner's Encrypt line says what
// the LAN pool does, also when the key comes from the keyring file in the
// data dir rather than from -encrypt.
func TestBannerReportsGossipEncryption(t *testing.T) {
	withKeyring := t.TempDir()
	key, err := gossip.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	buf, _ := json.Marshal([]string{key})
	if err := os.MkdirAll(filepath.Join(withKeyring, "serf"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(withKeyring, "serf", gossip.LANKeyring), buf, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"keyring file, no -encrypt", []string{"-data-dir=" + withKeyring}, "Encrypt: Gossip: true"},
		{"-encrypt", []string{"-encrypt=" + key}, "Encrypt: Gossip: true"},
		{"no encryption", nil, "Encrypt: Gossip: false"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := agent.StartTestAgent(t, append([]string{"-server", "-bootstrap"}, tc.args...)...)
			ui := cli.NewMockUi()
			(&AgentCommand{UI: ui}).banner(&config.RuntimeConfig{NodeName: a.Name}, a.Agent)
			if out := ui.OutputWriter.String(); !strings.Contains(out, tc.want) {
				t.Fatalf("banner %q, want it to say %q", out, tc.want)
			}
		})
	}
}
