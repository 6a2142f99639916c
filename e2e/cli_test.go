package e2e

// Bad input to the binary: each refused with one sentence on stderr and a
// non-zero exit, never a panic or a hang. Plus version and keygen, and the
// client verbs against a small cluster (hosts 10-19).

import (
	"encoding/base64"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// badInputTimeout bounds each refused command: a hang fails the test.
const badInputTimeout = 15 * time.Second

// refused checks that r failed fast with one sentence naming every want.
func refused(t *testing.T, r cliResult, want ...string) {
	t.Helper()
	if r.TimedOut {
		t.Fatalf("hung: %s", r)
	}
	if r.Code == 0 {
		t.Fatalf("want a non-zero exit, got %s", r)
	}
	if err := oneSentence(r.Stderr); err != nil {
		t.Errorf("stderr: %v\n%s", err, r)
	}
	if !strings.HasPrefix(r.Stderr, "Error") {
		t.Errorf("stderr does not start with Error: %q", r.Stderr)
	}
	for _, w := range want {
		if !strings.Contains(r.Stderr, w) {
			t.Errorf("stderr %q does not name %q", r.Stderr, w)
		}
	}
	if strings.Contains(r.Stdout, "agent running") {
		t.Errorf("the agent started:\n%s", r.Stdout)
	}
}

func TestAgentRefusesBadInput(t *testing.T) {
	dir := t.TempDir()
	write := func(name, text string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	unknownHCL := write("unknown.hcl", "datacenter = \"dc1\"\nbogus_key = 1\n")
	unknownJSON := write("unknown.json", `{"ports": {"htp": 8500}}`)
	badJSON := write("bad.json", `{"datacenter": "dc1",}`)
	badHCL := write("bad.hcl", "ports {\n  http = 8500\n")
	unterminated := write("unterminated.hcl", `datacenter = "dc1`)
	notObject := write("list.json", `["datacenter"]`)

	// Should any of these start an agent, it stays on host 10 with no HTTP
	// port, and the timeout reports the hang.
	base := []string{"agent", "-bind=" + host(10), "-client=" + host(10), "-dns-port=-1", "-http-port=-1",
		"-server-port=18300", "-serf-lan-port=18301", "-serf-wan-port=18302"}
	dataDir := "-data-dir=" + filepath.Join(dir, "data")
	tests := []struct {
		name string
		args []string
		want []string
	}{
		{"unknown flag", []string{dataDir, "-bogus"}, []string{"-bogus"}},
		{"unknown config key in HCL", []string{dataDir, "-config-file=" + unknownHCL}, []string{"bogus_key", unknownHCL}},
		{"unknown nested key in JSON", []string{dataDir, "-config-file=" + unknownJSON}, []string{"ports.htp", unknownJSON}},
		{"malformed JSON", []string{dataDir, "-config-file=" + badJSON}, []string{"JSON", badJSON}},
		{"JSON that is not an object", []string{dataDir, "-config-file=" + notObject}, []string{"JSON", notObject}},
		{"malformed HCL", []string{dataDir, "-config-file=" + badHCL}, []string{"HCL", badHCL}},
		{"unterminated HCL string", []string{dataDir, "-config-file=" + unterminated}, []string{"HCL", unterminated}},
		{"missing config file", []string{dataDir, "-config-file=" + filepath.Join(dir, "nope.hcl")}, []string{"nope.hcl"}},
		{"encrypt key not base64", []string{dataDir, "-encrypt=not*base64"}, []string{"-encrypt"}},
		{"encrypt key of the wrong size", []string{dataDir, "-encrypt=" + base64.StdEncoding.EncodeToString([]byte("short"))}, []string{"-encrypt"}},
		{"flag value of the wrong type", []string{dataDir, "-bootstrap-expect=three"}, []string{"-bootstrap-expect"}},
		{"port out of range", []string{dataDir, "-server-port=70000"}, []string{"-server-port"}},
		{"no data dir", nil, []string{"data_dir"}},
		{"client with -join-wan", []string{dataDir, "-join-wan=" + host(11)}, []string{"wan"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := runMeridian(t, badInputTimeout, append(append([]string(nil), base...), tt.args...)...)
			refused(t, r, tt.want...)
		})
	}
}

func TestVersionAndKeygen(t *testing.T) {
	r := runMeridian(t, cliTimeout, "version", "-format=json")
	if r.Code != 0 {
		t.Fatalf("version -format=json: %s", r)
	}
	var v struct{ Version string }
	if err := json.Unmarshal([]byte(r.Stdout), &v); err != nil || v.Version == "" {
		t.Errorf("version -format=json printed %q: want {\"Version\": ...} (err %v)", r.Stdout, err)
	}
	r = runMeridian(t, cliTimeout, "version")
	if r.Code != 0 || !strings.HasPrefix(r.Stdout, "Meridian v"+v.Version) {
		t.Errorf("version: want Meridian v%s..., got %s", v.Version, r)
	}
	r = runMeridian(t, cliTimeout, "version", "-format=yaml")
	refused(t, r, "yaml")

	seen := map[string]bool{}
	for i := 0; i < 2; i++ {
		r = runMeridian(t, cliTimeout, "keygen")
		key, err := base64.StdEncoding.DecodeString(strings.TrimSpace(r.Stdout))
		if r.Code != 0 || err != nil || len(key) != 32 {
			t.Fatalf("keygen: want base64 of 32 bytes, got %s (decode error %v)", r, err)
		}
		seen[string(key)] = true
	}
	if len(seen) != 2 {
		t.Errorf("keygen printed the same key twice")
	}
}

func TestCLIAgainstAgents(t *testing.T) {
	c := newCluster(t, 12, 19)
	srv := c.start(agentOpts{Name: "cli-s1", Server: true, Bootstrap: true})
	cli := c.start(agentOpts{Name: "cli-c1", Join: []string{srv.LANAddr}})
	waitPool(t, gossipTimeout, false, allAlive(srv.Name, cli.Name), srv, cli)
	nobody := host(11) // nothing listens there

	t.Run("members with no agent running", func(t *testing.T) {
		r := runMeridian(t, badInputTimeout, "members", "-http-addr="+nobody+":8500")
		refused(t, r, nobody+":8500")
	})

	t.Run("join where nothing listens", func(t *testing.T) {
		refused(t, cli.CLI("join", nobody))
		refused(t, srv.CLI("join", "-wan", nobody))
		if err := poolIs(cli, false, allAlive(srv.Name, cli.Name)); err != nil {
			t.Error(err)
		}
	})

	t.Run("client asked to join the WAN pool", func(t *testing.T) {
		refused(t, cli.CLI("join", "-wan", srv.Host), "client")
	})

	t.Run("client verbs refuse bad flags and arguments", func(t *testing.T) {
		refused(t, srv.CLI("members", "-status=["), "-status")
		refused(t, srv.CLI("members", "-bogus"), "-bogus")
		refused(t, srv.CLI("force-leave"))
		// Without an address, join prints the sentence and then its usage,
		// as Consul's does.
		r := srv.CLI("join")
		first, _, _ := strings.Cut(r.Stderr, "\n")
		if r.Code == 0 || r.TimedOut || !strings.HasPrefix(first, "Error") || !strings.Contains(first, "address") {
			t.Errorf("join without an address: %s", r)
		}
		r = runMeridian(t, badInputTimeout, "frobnicate")
		if r.Code == 0 || r.TimedOut {
			t.Errorf("unknown verb: want a non-zero exit, got %s", r)
		}
	})

	t.Run("the agent address comes from the environment", func(t *testing.T) {
		for _, env := range []string{"MERIDIAN_HTTP_ADDR", "CONSUL_HTTP_ADDR"} {
			r := runMeridianEnv(t, cliTimeout, []string{env + "=" + srv.HTTPAddr}, "members")
			if r.Code != 0 || !strings.Contains(r.Stdout, "cli-c1") {
				t.Errorf("members with %s: %s", env, r)
			}
		}
		// MERIDIAN_HTTP_ADDR wins over CONSUL_HTTP_ADDR.
		r := runMeridianEnv(t, cliTimeout, []string{"MERIDIAN_HTTP_ADDR=" + srv.HTTPAddr, "CONSUL_HTTP_ADDR=" + nobody + ":8500"}, "members")
		if r.Code != 0 {
			t.Errorf("members with both variables: %s", r)
		}
	})

	t.Run("info shows the agent and raft sections", func(t *testing.T) {
		waitLeader(t, 20*time.Second, srv)
		out := srv.mustCLI("info").Stdout
		for _, want := range []string{"raft:", "serf_lan:", "serf_wan:", "state = Leader"} {
			if !strings.Contains(out, want) {
				t.Errorf("info on the server lacks %q:\n%s", want, out)
			}
		}
		out = cli.mustCLI("info").Stdout
		if !strings.Contains(out, "serf_lan:") || strings.Contains(out, "raft:") {
			t.Errorf("info on a client: want serf_lan and no raft section:\n%s", out)
		}
	})

	t.Run("leave stops the agent gracefully", func(t *testing.T) {
		cli.mustCLI("leave")
		if code := cli.WaitExit(stopTimeout); code != 0 {
			t.Errorf("exit code after leave: %d, want 0", code)
		}
		waitPool(t, gossipTimeout, false, map[string]string{srv.Name: "alive", cli.Name: "left"}, srv)
	})

	t.Run("SIGINT on a server does not leave", func(t *testing.T) {
		srv.Stop(syscall.SIGINT)
		if !strings.Contains(srv.Log(), "Caught signal: interrupt") {
			t.Errorf("the server's log does not show the interrupt")
		}
		if strings.Contains(srv.Log(), "Gracefully leaving") {
			t.Errorf("the server left on SIGINT (skip_leave_on_interrupt defaults to true on servers)")
		}
	})
}
