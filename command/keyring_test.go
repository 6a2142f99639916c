package command

import (
	"fmt"
	"strings"
	"testing"

	"github.com/hashicorp/cli"

	"github.com/meridian-sd/meridian/agent"
	"github.com/meridian-sd/meridian/gossip"
)

func keyringCmd(ui cli.Ui) cli.Command { return &KeyringCommand{UI: ui} }

// TestKeyring rotates the key of a server and a client with the verb and
// checks Consul's output: a "==>" progress line, then per pool a blank
// line, "WAN:" or "dc1 (LAN):" and "  <key> [held/members]".
func TestKeyring(t *testing.T) {
	k1, _ := gossip.GenerateKey()
	k2, _ := gossip.GenerateKey()
	srv := agent.StartTestAgent(t, "-server", "-bootstrap", "-node=srv", "-encrypt="+k1)
	cl := agent.StartTestAgent(t, "-node=cl", "-encrypt="+k1, "-join="+srv.LANAddr())
	srv.WaitForLeader(t)
	waitMembers(t, srv, 2)
	addr := "-http-addr=" + cl.HTTPAddr

	steps := []struct {
		name string
		args []string
		out  string
	}{
		{"list", []string{"-list"}, fmt.Sprintf("==> Gathering installed encryption keys...\n\nWAN:\n  %s [1/1]\n\ndc1 (LAN):\n  %s [2/2]\n", k1, k1)},
		{"install", []string{"-install", k2}, "==> Installing new gossip encryption key...\n"},
		{"list both", []string{"-list", "-relay-factor=1"}, fmt.Sprintf("==> Gathering installed encryption keys...\n\nWAN:\n%s\n\ndc1 (LAN):\n%s\n",
			sortedLines(fmt.Sprintf("  %s [1/1]", k1), fmt.Sprintf("  %s [1/1]", k2)), sortedLines(fmt.Sprintf("  %s [2/2]", k1), fmt.Sprintf("  %s [2/2]", k2)))},
		{"use", []string{"-use=" + k2}, "==> Changing primary gossip encryption key...\n"},
		{"list primary", []string{"-list-primary"}, fmt.Sprintf("==> Gathering installed primary encryption keys...\n\nWAN:\n  %s [1/1]\n\ndc1 (LAN):\n  %s [2/2]\n", k2, k2)},
		{"remove", []string{"-remove", k1}, "==> Removing gossip encryption key...\n"},
		{"list local", []string{"-list", "-local-only"}, fmt.Sprintf("==> Gathering installed encryption keys...\n\ndc1 (LAN):\n  %s [2/2]\n", k2)},
	}
	for _, s := range steps {
		code, out, errOut := runVerb(keyringCmd, append([]string{addr}, s.args...)...)
		if code != 0 || out != s.out {
			t.Fatalf("%s: exit %d, stderr %q, stdout\n%s\nwant\n%s", s.name, code, errOut, out, s.out)
		}
	}

	bad := []struct {
		name string
		args []string
		want []string
	}{
		{"no action", []string{addr}, []string{"exactly one of"}},
		{"two actions", []string{addr, "-list", "-install", k1}, []string{"exactly one of"}},
		{"relay factor", []string{addr, "-list", "-relay-factor=9"}, []string{"-relay-factor", "9"}},
		{"local-only with a change", []string{addr, "-install", k1, "-local-only"}, []string{"-local-only"}},
		{"stray argument", []string{addr, "-list", k1}, []string{"unexpected argument"}},
		{"unknown flag", []string{addr, "-frob"}, []string{"-frob"}},
		{"not a key", []string{addr, "-install", "abc"}, []string{"Invalid key"}},
		{"remove the primary key", []string{addr, "-remove", k2}, []string{"removing the primary key is not allowed"}},
		{"use a key not installed", []string{addr, "-use", k1}, []string{"dc1 (LAN) error", "requested key is not in the keyring"}},
		{"no agent", []string{"-http-addr=127.0.0.1:1", "-list"}, []string{"127.0.0.1:1"}},
	}
	for _, b := range bad {
		t.Run(b.name, func(t *testing.T) {
			code, _, errOut := runVerb(keyringCmd, b.args...)
			if code != 1 {
				t.Errorf("exit %d, want 1", code)
			}
			oneLineError(t, errOut, b.want...)
		})
	}
}

// sortedLines joins two lines in sorted order, as keys are printed.
func sortedLines(a, b string) string {
	if b < a {
		a, b = b, a
	}
	return a + "\n" + b
}

// TestKeyringHelp: the verb is registered and documents every flag.
func TestKeyringHelp(t *testing.T) {
	f, err := Commands(cli.NewMockUi())["keyring"]()
	if err != nil {
		t.Fatal(err)
	}
	help := f.Help()
	for _, flag := range []string{"-list", "-list-primary", "-install", "-use", "-remove", "-relay-factor", "-local-only", "-http-addr"} {
		if !strings.Contains(help, flag+"\n") && !strings.Contains(help, flag+"=") {
			t.Errorf("help lacks %s", flag)
		}
	}
}
