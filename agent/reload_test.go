package agent

import (
	"bytes"
	"net/netip"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/meridian-sd/meridian/agent/config"
)

// TestReloadFieldsComplete: every RuntimeConfig field is classified for
// reloads, and the fields a derived field names exist.
func TestReloadFieldsComplete(t *testing.T) {
	typ := reflect.TypeFor[config.RuntimeConfig]()
	fields := reloadFields()
	for i := 0; i < typ.NumField(); i++ {
		name := typ.Field(i).Name
		rf, ok := fields[name]
		if !ok {
			t.Errorf("RuntimeConfig.%s is not in reloadFields: say whether a reload applies it", name)
			continue
		}
		if !rf.reloadable && rf.key == "" {
			t.Errorf("RuntimeConfig.%s needs a restart but has no key to report", name)
		}
		for _, from := range rf.from {
			if _, ok := typ.FieldByName(from); !ok {
				t.Errorf("RuntimeConfig.%s derives from %s, which is not a field", name, from)
			}
		}
	}
	if len(fields) != typ.NumField() {
		t.Errorf("reloadFields has %d entries for %d fields", len(fields), typ.NumField())
	}
}

func TestMergeReload(t *testing.T) {
	cur := testRuntimeConfig(t, "-node=a")
	cur.NodeID = "0b2a3f4e-0000-4000-8000-000000000001" // resolved at start
	restart := func(s string) string { return "reload: " + s + "; it takes effect only after a restart" }
	for _, tc := range []struct {
		name   string
		change func(*config.RuntimeConfig)
		want   []string
		check  func(t *testing.T, merged *config.RuntimeConfig)
	}{
		{"nothing", func(*config.RuntimeConfig) {}, nil, nil},
		{"node_name", func(c *config.RuntimeConfig) { c.NodeName = "b" },
			[]string{restart(`node_name changed from "a" to "b"`)},
			func(t *testing.T, m *config.RuntimeConfig) {
				if m.NodeName != "a" {
					t.Errorf("node name %q after reload, want a", m.NodeName)
				}
			}},
		{"datacenter and data_dir", func(c *config.RuntimeConfig) { c.Datacenter, c.DataDir = "dc9", "/elsewhere" },
			[]string{restart(`datacenter changed from "dc1" to "dc9"`), restart(`data_dir changed from "` + cur.DataDir + `" to "/elsewhere"`)},
			func(t *testing.T, m *config.RuntimeConfig) {
				if m.Datacenter != "dc1" || m.DataDir != cur.DataDir {
					t.Errorf("datacenter %q, data dir %q after reload", m.Datacenter, m.DataDir)
				}
			}},
		{"encrypt is not shown", func(c *config.RuntimeConfig) { c.EncryptKey = "c2VjcmV0c2VjcmV0c2VjcmV0" },
			[]string{restart("encrypt changed")}, nil},
		{"a port and the listeners it makes", func(c *config.RuntimeConfig) {
			c.HTTPPort = 8501
			c.HTTPAddrs = []netip.AddrPort{netip.MustParseAddrPort("127.0.0.1:8501")}
		}, []string{restart("ports.http changed from 0 to 8501")}, nil},
		{"a listener alone", func(c *config.RuntimeConfig) {
			c.HTTPAddrs = []netip.AddrPort{netip.MustParseAddrPort("127.0.0.2:0")}
		}, []string{restart(`addresses.http changed from [127.0.0.1:0] to [127.0.0.2:0]`)}, nil},
		{"retry_join and raft tuning", func(c *config.RuntimeConfig) {
			c.RetryJoinLAN = []string{"10.0.0.1"}
			c.RaftMultiplier = 3
		}, []string{restart(`retry_join changed from [] to [10.0.0.1]`), restart("performance.raft_multiplier changed from 5 to 3")}, nil},
		{"node ID not configured", func(c *config.RuntimeConfig) { c.NodeID = "" }, nil,
			func(t *testing.T, m *config.RuntimeConfig) {
				if m.NodeID != cur.NodeID {
					t.Errorf("node id %q after reload, want the resolved %q", m.NodeID, cur.NodeID)
				}
			}},
		{"run-time settings", func(c *config.RuntimeConfig) {
			c.LogLevel = "debug"
			c.NodeMeta = map[string]string{"rack": "r2"}
			c.CheckUpdateInterval = time.Second
			c.DNSOnlyPassing = true
			c.DNSAllowStale = false
			c.DNSMaxStale = time.Minute
			c.DNSUDPAnswerLimit = 9
			c.DNSRecursors = []string{"127.0.0.1:53"}
			c.DNSServiceTTL = map[string]time.Duration{"*": time.Second}
			c.Services = []config.ServiceDefinition{{ID: "web", Name: "web"}}
		}, nil, func(t *testing.T, m *config.RuntimeConfig) {
			if m.LogLevel != "debug" || m.NodeMeta["rack"] != "r2" || m.CheckUpdateInterval != time.Second ||
				!m.DNSOnlyPassing || m.DNSAllowStale || m.DNSMaxStale != time.Minute || m.DNSUDPAnswerLimit != 9 ||
				len(m.DNSRecursors) != 1 || m.DNSServiceTTL["*"] != time.Second || len(m.Services) != 1 {
				t.Errorf("run-time settings not applied: %+v", m)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			next := *cur
			next.NodeID = cur.NodeID
			tc.change(&next)
			before := *cur
			merged, warnings := mergeReload(cur, &next)
			if strings.Join(warnings, "\n") != strings.Join(tc.want, "\n") {
				t.Errorf("warnings:\n%s\nwant:\n%s", strings.Join(warnings, "\n"), strings.Join(tc.want, "\n"))
			}
			if !reflect.DeepEqual(before, *cur) {
				t.Error("mergeReload changed the running config")
			}
			if tc.check != nil {
				tc.check(t, merged)
			}
		})
	}
}

// logCapture collects what a logger writes at warn and above.
type logCapture struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (c *logCapture) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.buf.Write(p)
}

// take returns what was logged since the last take.
func (c *logCapture) take() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	s := c.buf.String()
	c.buf.Reset()
	return s
}

// TestReloadKeepsIdentity: a reload after editing the datacenter (and
// other settings that need a restart) keeps the running values, reports
// each change once per reload, applies what can change at run time, and
// does not log again the ignored-key warnings already logged.
func TestReloadKeepsIdentity(t *testing.T) {
	path := filepath.Join(t.TempDir(), "agent.json")
	writeConfig(t, path, `{"datacenter": "dc1", "node_meta": {"rack": "r1"}, "telemetry": {}}`)
	ta := StartTestAgent(t, "-server", "-bootstrap", "-config-file="+path)
	var logs logCapture
	ta.logger.RegisterSink(hclog.NewSinkAdapter(&hclog.LoggerOptions{Output: &logs, Level: hclog.Warn}))

	writeConfig(t, path, `{"datacenter": "dc2", "node_meta": {"rack": "r2"}, "telemetry": {}, "connect": {},
  "retry_join": ["127.0.0.1:1"], "dns_config": {"only_passing": true}}`)
	if err := ta.Client.Agent().Reload(); err != nil {
		t.Fatalf("reload: %v", err)
	}
	self, err := ta.Client.Agent().Self()
	if err != nil {
		t.Fatal(err)
	}
	if dc := self["Config"]["Datacenter"]; dc != "dc1" {
		t.Errorf("/v1/agent/self datacenter %v after the reload, want dc1 (gossip still says %s)", dc, ta.delegate.LocalMember().Tags["dc"])
	}
	if name := self["Config"]["NodeName"]; name != ta.Name {
		t.Errorf("/v1/agent/self node name %v, want %s", name, ta.Name)
	}
	if meta := self["Meta"]; meta["rack"] != "r2" {
		t.Errorf("node meta after the reload = %v, want rack r2", meta)
	}
	if rc := ta.cfg(); !rc.DNSOnlyPassing || len(rc.RetryJoinLAN) != 0 {
		t.Errorf("after the reload only_passing %v, retry_join %v; want true and none", rc.DNSOnlyPassing, rc.RetryJoinLAN)
	}
	first := logs.take()
	for _, want := range []string{
		`reload: datacenter changed from "dc1" to "dc2"; it takes effect only after a restart`,
		`reload: retry_join changed from [] to [127.0.0.1:1]; it takes effect only after a restart`,
		`config key "connect" is not supported by Meridian`,
	} {
		if strings.Count(first, want) != 1 {
			t.Errorf("first reload logged %q %d times, want once; logs:\n%s", want, strings.Count(first, want), first)
		}
	}
	if strings.Contains(first, `"telemetry"`) {
		t.Errorf("the reload logged again the warning about telemetry logged at start:\n%s", first)
	}

	// A second reload of the same files: nothing new to warn about, but
	// the pending restart is still reported.
	if err := ta.Client.Agent().Reload(); err != nil {
		t.Fatalf("second reload: %v", err)
	}
	second := logs.take()
	if strings.Contains(second, "is not supported by Meridian") {
		t.Errorf("the second reload logged ignored keys again:\n%s", second)
	}
	if !strings.Contains(second, `reload: datacenter changed from "dc1" to "dc2"`) {
		t.Errorf("the second reload did not report the pending datacenter change:\n%s", second)
	}
}
