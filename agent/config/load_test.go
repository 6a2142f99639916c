package config

import (
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/meridian-sd/meridian/tlsutil"
	"github.com/meridian-sd/meridian/tlsutil/tlstest"
)

// clientDefaults is the configuration of `meridian agent -data-dir /d` on a
// machine whose hostname is host1 and whose detected address is
// testAdvertise: every default spelled out.
func clientDefaults() *RuntimeConfig {
	bind := netip.MustParseAddr("0.0.0.0")
	local := netip.MustParseAddr("127.0.0.1")
	return &RuntimeConfig{
		Datacenter:                "dc1",
		NodeName:                  "host1",
		DataDir:                   "/d",
		BindAddr:                  bind,
		AdvertiseAddrLAN:          testAdvertise,
		AdvertiseAddrWAN:          testAdvertise,
		ClientAddrs:               []netip.Addr{local},
		HTTPPort:                  8500,
		DNSPort:                   8600,
		ServerPort:                8300,
		SerfPortLAN:               8301,
		SerfPortWAN:               8302,
		HTTPAddrs:                 []netip.AddrPort{netip.AddrPortFrom(local, 8500)},
		DNSAddrs:                  []netip.AddrPort{netip.AddrPortFrom(local, 8600)},
		RPCBindAddr:               netip.AddrPortFrom(bind, 8300),
		RPCAdvertiseAddr:          netip.AddrPortFrom(testAdvertise, 8300),
		SerfBindAddrLAN:           netip.AddrPortFrom(bind, 8301),
		SerfAdvertiseAddrLAN:      netip.AddrPortFrom(testAdvertise, 8301),
		RetryJoinIntervalLAN:      30 * time.Second,
		RetryJoinIntervalWAN:      30 * time.Second,
		EncryptVerifyIncoming:     true,
		EncryptVerifyOutgoing:     true,
		ReconnectTimeoutLAN:       72 * time.Hour,
		ReconnectTimeoutWAN:       72 * time.Hour,
		LeaveOnTerm:               true,
		SkipLeaveOnInt:            false,
		RaftMultiplier:            5,
		LeaveDrainTime:            5 * time.Second,
		RPCHoldTimeout:            7 * time.Second,
		LogLevel:                  "info",
		CheckUpdateInterval:       5 * time.Minute,
		CheckOutputMaxSize:        4096,
		SyncCoordinateRateTarget:  64,
		SyncCoordinateIntervalMin: 15 * time.Second,
		SessionTTLMin:             10 * time.Second,
		DefaultQueryTime:          5 * time.Minute,
		MaxQueryTime:              10 * time.Minute,
		KVMaxValueSize:            512 * 1024,
		TxnMaxReqLen:              512 * 1024,
		HTTPMaxConnsPerClient:     200,
		RPCMaxConnsPerClient:      100,
		DNSDomain:                 "consul.",
		DNSAllowStale:             true,
		DNSNodeMetaTXT:            true,
		DNSMaxStale:               87600 * time.Hour,
		DNSUDPAnswerLimit:         3,
		DNSRecursorTimeout:        2 * time.Second,
		PrimaryDatacenter:         "dc1",
		ACL: ACLConfig{DefaultPolicy: "allow", DownPolicy: "extend-cache",
			TokenTTL: 30 * time.Second, PolicyTTL: 30 * time.Second},
		HTTPSPort: -1,
		TLS:       tlsutil.Config{Datacenter: "dc1", Domain: "consul"},
		Autopilot: AutopilotConfig{CleanupDeadServers: true, LastContactThreshold: 200 * time.Millisecond,
			MaxTrailingLogs: 250, ServerStabilizationTime: 10 * time.Second},
		Telemetry: TelemetryConfig{MetricsPrefix: "consul", FilterDefault: true},
	}
}

func TestLoadDefaults(t *testing.T) {
	t.Run("client", func(t *testing.T) {
		rc, warnings := mustLoad(t, "-data-dir", "/d")
		if want := clientDefaults(); !reflect.DeepEqual(rc, want) {
			t.Errorf("client defaults:\n got %+v\nwant %+v", rc, want)
		}
		if len(warnings) != 0 {
			t.Errorf("warnings = %q, want none", warnings)
		}
	})
	t.Run("server", func(t *testing.T) {
		rc, _ := mustLoad(t, "-data-dir", "/d", "-server")
		want := clientDefaults()
		want.ServerMode = true
		want.LeaveOnTerm = false
		want.SkipLeaveOnInt = true
		want.SerfBindAddrWAN = netip.MustParseAddrPort("0.0.0.0:8302")
		want.SerfAdvertiseAddrWAN = netip.AddrPortFrom(testAdvertise, 8302)
		if !reflect.DeepEqual(rc, want) {
			t.Errorf("server defaults:\n got %+v\nwant %+v", rc, want)
		}
	})
	t.Run("leave settings override the defaults", func(t *testing.T) {
		rc, _ := mustLoad(t, "-data-dir", "/d", "-server", "-hcl", "leave_on_terminate = true\nskip_leave_on_interrupt = false")
		if !rc.LeaveOnTerm || rc.SkipLeaveOnInt {
			t.Errorf("LeaveOnTerm, SkipLeaveOnInt = %v, %v; want true, false", rc.LeaveOnTerm, rc.SkipLeaveOnInt)
		}
	})
}

func TestLoadDev(t *testing.T) {
	local := netip.MustParseAddr("127.0.0.1")
	l := localGossip()
	t.Run("defaults", func(t *testing.T) {
		rc, warnings := mustLoad(t, "-dev")
		want := clientDefaults()
		want.DevMode = true
		want.ServerMode = true
		want.Bootstrap = true
		want.DataDir = ""
		want.BindAddr = local
		want.AdvertiseAddrLAN = local
		want.AdvertiseAddrWAN = local
		want.RPCBindAddr = netip.AddrPortFrom(local, 8300)
		want.RPCAdvertiseAddr = netip.AddrPortFrom(local, 8300)
		want.SerfBindAddrLAN = netip.AddrPortFrom(local, 8301)
		want.SerfAdvertiseAddrLAN = netip.AddrPortFrom(local, 8301)
		want.SerfBindAddrWAN = netip.AddrPortFrom(local, 8302)
		want.SerfAdvertiseAddrWAN = netip.AddrPortFrom(local, 8302)
		want.LeaveOnTerm = false
		want.SkipLeaveOnInt = true
		want.LogLevel = "debug"
		want.RaftMultiplier = 1
		want.GossipLAN = l
		want.GossipWAN = l
		if !reflect.DeepEqual(rc, want) {
			t.Errorf("dev config:\n got %+v\nwant %+v", rc, want)
		}
		if len(warnings) != 0 {
			t.Errorf("warnings = %q, want none", warnings)
		}
		if l.ProbeTimeout != 200*time.Millisecond || l.GossipInterval != 100*time.Millisecond {
			t.Errorf("local gossip profile = %+v, not memberlist's local profile", l)
		}
	})
	t.Run("files and flags override dev", func(t *testing.T) {
		dir := writeFiles(t, map[string]string{"a.hcl": `gossip_lan { probe_interval = "3s" }
performance { raft_multiplier = 2 }`})
		rc, _ := mustLoad(t, "-dev", "-config-file", filepath.Join(dir, "a.hcl"), "-log-level", "warn", "-bind", "127.0.0.7")
		if rc.GossipLAN.ProbeInterval != 3*time.Second || rc.GossipLAN.ProbeTimeout != l.ProbeTimeout {
			t.Errorf("GossipLAN = %+v, want probe_interval 3s over the local profile", rc.GossipLAN)
		}
		if rc.RaftMultiplier != 2 || rc.LogLevel != "warn" || rc.BindAddr != netip.MustParseAddr("127.0.0.7") {
			t.Errorf("RaftMultiplier, LogLevel, BindAddr = %d, %q, %s", rc.RaftMultiplier, rc.LogLevel, rc.BindAddr)
		}
	})
	t.Run("dev client", func(t *testing.T) {
		rc, _ := mustLoad(t, "-dev", "-server=false")
		if rc.ServerMode || rc.Bootstrap || rc.SerfBindAddrWAN.IsValid() {
			t.Errorf("ServerMode, Bootstrap, SerfBindAddrWAN = %v, %v, %s; want a client", rc.ServerMode, rc.Bootstrap, rc.SerfBindAddrWAN)
		}
	})
}

func TestLoadMergeOrder(t *testing.T) {
	dir := writeFiles(t, map[string]string{
		"first.json": `{
			"datacenter": "dcfirst", "log_level": "debug", "data_dir": "/d",
			"retry_join": ["127.0.0.11"], "node_meta": {"a": "1", "b": "2"},
			"ports": {"http": 1001, "dns": 1002},
			"service": {"name": "a"}
		}`,
		"conf.d/05-c.json":   `{"datacenter": "dcc", "retry_join": ["127.0.0.12"]}`,
		"conf.d/10-a.json":   `{"datacenter": "dca", "node_name": "from-a", "ports": {"http": 1003}}`,
		"conf.d/20-b.hcl":    "datacenter = \"dcb\"\nretry_join = [\"127.0.0.13\"]\nservices { name = \"b\" }",
		"conf.d/readme.txt":  "not a config file {{{",
		"conf.d/sub/x.json":  "not read either {{{",
		"conf.d/notes.json~": "nor this",
		"last.hcl":           "log_level = \"error\"\nnode_name = \"from-last\"\nnode_meta { c = \"3\" }",
	})
	rc, _ := mustLoad(t,
		"-config-file", filepath.Join(dir, "first.json"),
		"-config-dir", filepath.Join(dir, "conf.d"),
		"-config-file", filepath.Join(dir, "last.hcl"),
		"-node", "from-flag",
		"-log-level", "trace",
		"-retry-join", "127.0.0.14",
		"-hcl", `log_level = "warn"`,
	)
	checks := []struct {
		name      string
		got, want any
	}{
		{"datacenter (last file of the dir)", rc.Datacenter, "dcb"},
		{"node_name (flag over files)", rc.NodeName, "from-flag"},
		{"log_level (-hcl over flag)", rc.LogLevel, "warn"},
		{"retry_join (appended in order)", rc.RetryJoinLAN, []string{"127.0.0.11", "127.0.0.12", "127.0.0.13", "127.0.0.14"}},
		{"node_meta (later map replaces)", rc.NodeMeta, map[string]string{"c": "3"}},
		{"ports.http (block merged by key)", rc.HTTPPort, 1003},
		{"ports.dns (kept from first)", rc.DNSPort, 1002},
		{"sources", rc.Sources, []string{
			filepath.Join(dir, "first.json"),
			filepath.Join(dir, "conf.d", "05-c.json"),
			filepath.Join(dir, "conf.d", "10-a.json"),
			filepath.Join(dir, "conf.d", "20-b.hcl"),
			filepath.Join(dir, "last.hcl"),
		}},
	}
	for _, c := range checks {
		if !reflect.DeepEqual(c.got, c.want) {
			t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
		}
	}
	var names []string
	for _, s := range rc.Services {
		names = append(names, s.Name)
	}
	if !reflect.DeepEqual(names, []string{"a", "b"}) {
		t.Errorf("services = %v, want [a b]", names)
	}
}

func TestLoadConfigFormat(t *testing.T) {
	dir := writeFiles(t, map[string]string{
		"conf/agent.conf": "data_dir = \"/d\"\ndatacenter = \"hcl\"",
		"other.conf":      `{"datacenter": "json"}`,
	})
	t.Run("format forces every file", func(t *testing.T) {
		rc, _ := mustLoad(t, "-config-format", "hcl", "-config-dir", filepath.Join(dir, "conf"))
		if rc.Datacenter != "hcl" {
			t.Errorf("datacenter = %q, want hcl from agent.conf", rc.Datacenter)
		}
	})
	t.Run("explicit file of unknown format is skipped with a warning", func(t *testing.T) {
		rc, warnings := mustLoad(t, "-data-dir", "/d", "-config-file", filepath.Join(dir, "other.conf"))
		if rc.Datacenter != "dc1" {
			t.Errorf("datacenter = %q, want dc1: the file should be skipped", rc.Datacenter)
		}
		if len(warnings) != 1 || !strings.Contains(warnings[0], "skipping config file") || !strings.Contains(warnings[0], "other.conf") {
			t.Errorf("warnings = %q, want one about skipping other.conf", warnings)
		}
	})
	t.Run("empty files are fine", func(t *testing.T) {
		dir := writeFiles(t, map[string]string{"a.json": "", "b.hcl": "  \n"})
		if _, _, err := Load(testOpts("-data-dir", "/d", "-config-dir", dir)); err != nil {
			t.Errorf("Load with empty files: %v", err)
		}
	})
}

// equivalentJSON and equivalentHCL are the same configuration in both
// syntaxes; everything Meridian supports appears at least once.
const equivalentJSON = `{
  "datacenter": "East-1",
  "node_name": "node-a",
  "node_id": "6F2D3C9E-1C6A-4B7E-9F0B-2A3C4D5E6F70",
  "node_meta": {"rack": "r1", "zone": "z"},
  "tagged_addresses": {"public": "127.0.0.9"},
  "data_dir": "/var/lib/meridian",
  "pid_file": "/run/meridian.pid",
  "server": true,
  "bootstrap_expect": 3,
  "bind_addr": "127.0.0.3",
  "advertise_addr": "127.0.0.4",
  "advertise_addr_wan": "127.0.0.5",
  "serf_lan": "127.0.0.6",
  "client_addr": "127.0.0.1 ::1",
  "addresses": {"http": "127.0.0.8", "dns": "127.0.0.1"},
  "ports": {"http": 18500, "dns": -1, "server": 18300, "serf_lan": 18301, "serf_wan": 18302},
  "start_join": ["127.0.0.20"],
  "start_join_wan": ["127.0.0.21"],
  "retry_join": ["127.0.0.22", "127.0.0.23:8301"],
  "retry_join_wan": ["127.0.0.24"],
  "retry_interval": "5s",
  "retry_interval_wan": "1m",
  "retry_max": 3,
  "retry_max_wan": 4,
  "rejoin_after_leave": true,
  "encrypt": "pUqJrVyVRj5jsiYEkM/tFQYfWyJIv4s3XkvDwy7Cu5s=",
  "encrypt_verify_incoming": false,
  "encrypt_verify_outgoing": true,
  "reconnect_timeout": "8h",
  "reconnect_timeout_wan": "12h",
  "gossip_lan": {"gossip_nodes": 4, "gossip_interval": "150ms", "probe_interval": "2s", "probe_timeout": "1s", "suspicion_mult": 5, "retransmit_mult": 3},
  "gossip_wan": {"probe_interval": "7s"},
  "leave_on_terminate": true,
  "skip_leave_on_interrupt": false,
  "performance": {"raft_multiplier": 2, "leave_drain_time": "3s", "rpc_hold_timeout": "9s"},
  "limits": {"kv_max_value_size": 1048576, "txn_max_req_len": 2048},
  "log_level": "WARN",
  "log_json": true,
  "enable_script_checks": false,
  "enable_local_script_checks": true,
  "check_update_interval": "1m",
  "check_output_max_size": 8192,
  "sync_coordinate_rate_target": 32.5,
  "sync_coordinate_interval_min": "20s",
  "session_ttl_min": "5s",
  "default_query_time": "1m",
  "max_query_time": "2m",
  "domain": "meridian",
  "alt_domain": "alt.example.",
  "recursors": ["127.0.0.53"],
  "dns_config": {"allow_stale": false, "max_stale": "5s", "node_ttl": "10s", "service_ttl": {"*": "5s", "web": "30s"}, "only_passing": true, "udp_answer_limit": 5, "recursor_timeout": "3s"},
  "service": {
    "id": "web-1",
    "name": "web",
    "tags": ["v1", "primary"],
    "address": "127.0.0.30",
    "port": 8080,
    "meta": {"version": "1.2"},
    "tagged_addresses": {"lan": {"address": "127.0.0.30", "port": 8080}},
    "enable_tag_override": true,
    "weights": {"passing": 10, "warning": 2},
    "check": {"http": "http://127.0.0.30:8080/health", "method": "POST", "header": {"X-Token": ["a", "b"]}, "body": "{}", "tls_skip_verify": true, "interval": "10s", "timeout": "2s"},
    "checks": [
      {"id": "web-tcp", "tcp": "127.0.0.30:8080", "interval": "5s", "deregister_critical_service_after": "90m", "success_before_passing": 2, "failures_before_critical": 3},
      {"name": "script", "args": ["/bin/check", "web"], "interval": "30s", "status": "passing"}
    ]
  },
  "services": [{"name": "db", "port": 5432}],
  "check": {"id": "mem", "name": "Memory", "notes": "free memory", "ttl": "30s"},
  "checks": [{"name": "db-up", "service_id": "db", "tcp": "127.0.0.31:5432", "interval": "10s"}],
  "acl": {"enabled": true, "tokens": {"agent": "secret"}},
  "telemetry": {"disable_hostname": true}
}`

const equivalentHCL = `
datacenter = "East-1"
node_name  = "node-a"
node_id    = "6F2D3C9E-1C6A-4B7E-9F0B-2A3C4D5E6F70"
node_meta {
  rack = "r1"
  zone = "z"
}
tagged_addresses { public = "127.0.0.9" }
data_dir = "/var/lib/meridian"
pid_file = "/run/meridian.pid"
server = true
bootstrap_expect = 3
bind_addr = "127.0.0.3"
advertise_addr = "127.0.0.4"
advertise_addr_wan = "127.0.0.5"
serf_lan = "127.0.0.6"
client_addr = "127.0.0.1 ::1"
addresses {
  http = "127.0.0.8"
  dns  = "127.0.0.1"
}
ports {
  http     = 18500
  dns      = -1
  server   = 18300
  serf_lan = 18301
  serf_wan = 18302
}
start_join = ["127.0.0.20"]
start_join_wan = ["127.0.0.21"]
retry_join = ["127.0.0.22", "127.0.0.23:8301"]
retry_join_wan = ["127.0.0.24"]
retry_interval = "5s"
retry_interval_wan = "1m"
retry_max = 3
retry_max_wan = 4
rejoin_after_leave = true
encrypt = "pUqJrVyVRj5jsiYEkM/tFQYfWyJIv4s3XkvDwy7Cu5s="
encrypt_verify_incoming = false
encrypt_verify_outgoing = true
reconnect_timeout = "8h"
reconnect_timeout_wan = "12h"
gossip_lan {
  gossip_nodes    = 4
  gossip_interval = "150ms"
  probe_interval  = "2s"
  probe_timeout   = "1s"
  suspicion_mult  = 5
  retransmit_mult = 3
}
gossip_wan { probe_interval = "7s" }
leave_on_terminate = true
skip_leave_on_interrupt = false
performance {
  raft_multiplier  = 2
  leave_drain_time = "3s"
  rpc_hold_timeout = "9s"
}
limits {
  kv_max_value_size = 1048576
  txn_max_req_len   = 2048
}
log_level = "WARN"
log_json = true
enable_script_checks = false
enable_local_script_checks = true
check_update_interval = "1m"
check_output_max_size = 8192
sync_coordinate_rate_target = 32.5
sync_coordinate_interval_min = "20s"
session_ttl_min = "5s"
default_query_time = "1m"
max_query_time = "2m"
domain = "meridian"
alt_domain = "alt.example."
recursors = ["127.0.0.53"]
dns_config {
  allow_stale = false
  max_stale = "5s"
  node_ttl = "10s"
  service_ttl {
    "*" = "5s"
    web = "30s"
  }
  only_passing = true
  udp_answer_limit = 5
  recursor_timeout = "3s"
}
service {
  id      = "web-1"
  name    = "web"
  tags    = ["v1", "primary"]
  address = "127.0.0.30"
  port    = 8080
  meta { version = "1.2" }
  tagged_addresses {
    lan {
      address = "127.0.0.30"
      port    = 8080
    }
  }
  enable_tag_override = true
  weights {
    passing = 10
    warning = 2
  }
  check {
    http            = "http://127.0.0.30:8080/health"
    method          = "POST"
    header { X-Token = ["a", "b"] }
    body            = "{}"
    tls_skip_verify = true
    interval        = "10s"
    timeout         = "2s"
  }
  checks = [
    {
      id = "web-tcp"
      tcp = "127.0.0.30:8080"
      interval = "5s"
      deregister_critical_service_after = "90m"
      success_before_passing = 2
      failures_before_critical = 3
    },
    {
      name = "script"
      args = ["/bin/check", "web"]
      interval = "30s"
      status = "passing"
    }
  ]
}
services {
  name = "db"
  port = 5432
}
check {
  id    = "mem"
  name  = "Memory"
  notes = "free memory"
  ttl   = "30s"
}
checks {
  name       = "db-up"
  service_id = "db"
  tcp        = "127.0.0.31:5432"
  interval   = "10s"
}
acl {
  enabled = true
  tokens { agent = "secret" }
}
telemetry { disable_hostname = true }
`

func TestLoadJSONAndHCLAgree(t *testing.T) {
	dir := writeFiles(t, map[string]string{"a.json": equivalentJSON, "a.hcl": equivalentHCL})
	fromJSON, jsonWarnings := mustLoad(t, "-config-file", filepath.Join(dir, "a.json"))
	fromHCL, hclWarnings := mustLoad(t, "-config-file", filepath.Join(dir, "a.hcl"))
	fromJSON.Sources, fromHCL.Sources = nil, nil
	if !reflect.DeepEqual(fromJSON, fromHCL) {
		t.Errorf("JSON and HCL differ:\nJSON %+v\n HCL %+v", fromJSON, fromHCL)
	}
	for i := range jsonWarnings {
		jsonWarnings[i] = strings.ReplaceAll(jsonWarnings[i], "a.json", "a.X")
	}
	for i := range hclWarnings {
		hclWarnings[i] = strings.ReplaceAll(hclWarnings[i], "a.hcl", "a.X")
	}
	if !reflect.DeepEqual(jsonWarnings, hclWarnings) {
		t.Errorf("warnings differ:\nJSON %q\n HCL %q", jsonWarnings, hclWarnings)
	}

	// The agreement is not vacuous: spot-check what was decoded.
	rc := fromJSON
	ms := func(d string) time.Duration { v, _ := time.ParseDuration(d); return v }
	checks := []struct {
		name      string
		got, want any
	}{
		{"datacenter lower-cased", rc.Datacenter, "east-1"},
		{"node id lower-cased", rc.NodeID, "6f2d3c9e-1c6a-4b7e-9f0b-2a3c4d5e6f70"},
		{"log level canonical", rc.LogLevel, "warn"},
		{"http listener from addresses.http", rc.HTTPAddrs, []netip.AddrPort{netip.MustParseAddrPort("127.0.0.8:18500")}},
		{"dns turned off", len(rc.DNSAddrs), 0},
		{"client addrs", rc.ClientAddrs, []netip.Addr{netip.MustParseAddr("127.0.0.1"), netip.MustParseAddr("::1")}},
		{"serf lan bind", rc.SerfBindAddrLAN, netip.MustParseAddrPort("127.0.0.6:18301")},
		{"serf wan bind", rc.SerfBindAddrWAN, netip.MustParseAddrPort("127.0.0.3:18302")},
		{"serf wan advertise", rc.SerfAdvertiseAddrWAN, netip.MustParseAddrPort("127.0.0.5:18302")},
		{"rpc advertise", rc.RPCAdvertiseAddr, netip.MustParseAddrPort("127.0.0.4:18300")},
		{"gossip lan", rc.GossipLAN, GossipConfig{4, ms("150ms"), 2 * time.Second, time.Second, 5, 3}},
		{"gossip wan", rc.GossipWAN, GossipConfig{ProbeInterval: 7 * time.Second}},
		{"raft multiplier", rc.RaftMultiplier, 2},
		{"sync rate", rc.SyncCoordinateRateTarget, 32.5},
		{"domain fqdn", rc.DNSDomain, "meridian."},
		{"service ttl", rc.DNSServiceTTL, map[string]time.Duration{"*": 5 * time.Second, "web": 30 * time.Second}},
		{"services", len(rc.Services), 2},
		{"checks", len(rc.Checks), 2},
		{"header", rc.Services[0].Checks[0].Header, map[string][]string{"X-Token": {"a", "b"}}},
		{"check ids", []string{rc.Services[0].Checks[0].ID, rc.Services[0].Checks[1].ID, rc.Services[0].Checks[2].ID},
			[]string{"service:web-1:1", "web-tcp", "service:web-1:3"}},
		{"tagged address", rc.Services[0].TaggedAddresses["lan"].Port, 8080},
		{"weights", rc.Services[0].Weights.Passing, 10},
		{"deregister after", rc.Services[0].Checks[1].DeregisterCriticalServiceAfter, 90 * time.Minute},
	}
	for _, c := range checks {
		if !reflect.DeepEqual(c.got, c.want) {
			t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
		}
	}
}

func TestLoadIgnoredKeyWarnings(t *testing.T) {
	dir := writeFiles(t, map[string]string{
		"a.json": `{"data_dir": "/d", "acl": {"enabled": true}, "telemetry": {"statsd_address": "127.0.0.1:8125"},
			"disable_update_check": true, "ui": null,
			"services": [{"name": "a", "token": "t"}, {"name": "b", "namespace": "n"}]}`,
		"b.hcl": "acl { enabled = false }\nports { grpc = 8502 }\nlimits { rpc_rate = 100 }",
	})
	rc, warnings := mustLoad(t, "-config-dir", dir, "-ui", "-grpc-port", "8503")
	if !rc.UIEnabled {
		t.Error("-ui did not enable the UI")
	}
	a, b := filepath.Join(dir, "a.json"), filepath.Join(dir, "b.hcl")
	want := []string{
		`config key "limits.rpc_rate" is not supported by Meridian and is ignored (set in config file "` + b + `")`,
		`config key "ports.grpc" is not supported by Meridian and is ignored (set in config file "` + b + `", flag -grpc-port)`,
		`config key "services.namespace" is not supported by Meridian and is ignored (set in config file "` + a + `")`,
		`config key "services.token" is not supported by Meridian and is ignored (set in config file "` + a + `")`,
	}
	if !reflect.DeepEqual(warnings, want) {
		t.Errorf("warnings:\n got %q\nwant %q", warnings, want)
	}
}

// TestLoadRealisticServerConfig loads the kind of configuration an operator
// runs Consul servers with: it must load, warning about what Meridian
// ignores, with no error.
func TestLoadRealisticServerConfig(t *testing.T) {
	const hcl = `
datacenter = "dc1"
data_dir = "/opt/consul"
node_name = "consul-server-1"
server = true
bootstrap_expect = 3
bind_addr = "0.0.0.0"
client_addr = "0.0.0.0"
advertise_addr = "127.0.0.21"
retry_join = ["127.0.0.21", "127.0.0.22", "127.0.0.23"]
encrypt = "pUqJrVyVRj5jsiYEkM/tFQYfWyJIv4s3XkvDwy7Cu5s="
log_level = "INFO"
leave_on_terminate = true
disable_update_check = true
primary_datacenter = "dc1"

ui_config {
  enabled = true
}

acl {
  enabled = true
  default_policy = "deny"
  enable_token_persistence = true
  tokens {
    initial_management = "00000000-0000-0000-0000-000000000001"
    agent = "00000000-0000-0000-0000-000000000002"
  }
}

telemetry {
  prometheus_retention_time = "30s"
  disable_hostname = true
}

connect {
  enabled = true
}

ports {
  grpc = 8502
  grpc_tls = 8503
  https = -1
  dns = 8600
}

performance {
  raft_multiplier = 1
}

autopilot {
  cleanup_dead_servers = true
  last_contact_threshold = "200ms"
}

tls {
  defaults {
    ca_file = "/etc/consul.d/consul-agent-ca.pem"
    cert_file = "/etc/consul.d/dc1-server-consul-0.pem"
    key_file = "/etc/consul.d/dc1-server-consul-0-key.pem"
    verify_incoming = true
    verify_outgoing = true
  }
  internal_rpc {
    verify_server_hostname = true
  }
}

auto_encrypt {
  allow_tls = true
}
`
	const json = `{
  "datacenter": "dc1",
  "data_dir": "/opt/consul",
  "server": true,
  "bootstrap_expect": 3,
  "retry_join": ["127.0.0.21", "127.0.0.22", "127.0.0.23"],
  "ui_config": {"enabled": true},
  "acl": {"enabled": true, "default_policy": "deny", "tokens": {"agent": "x"}},
  "telemetry": {"prometheus_retention_time": "24h", "disable_hostname": true},
  "connect": {"enabled": true},
  "verify_incoming": true,
  "verify_outgoing": true,
  "verify_server_hostname": true,
  "ca_file": "/etc/consul.d/ca.pem",
  "cert_file": "/etc/consul.d/server.pem",
  "key_file": "/etc/consul.d/server-key.pem",
  "performance": {"raft_multiplier": 1},
  "dns_config": {"enable_truncate": true, "only_passing": true}
}`
	// The certificates the configs name exist (in a temp dir).
	ca := tlstest.NewCA(t, "consul")
	serverCert, serverKey := ca.Server("dc1")
	certDir := filepath.Dir(ca.CAFile)
	for name, from := range map[string]string{
		"consul-agent-ca.pem": ca.CAFile, "dc1-server-consul-0.pem": serverCert, "dc1-server-consul-0-key.pem": serverKey,
		"ca.pem": ca.CAFile, "server.pem": serverCert, "server-key.pem": serverKey,
	} {
		data, err := os.ReadFile(from)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(certDir, name), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	dir := writeFiles(t, map[string]string{
		"server.hcl":  strings.ReplaceAll(hcl, "/etc/consul.d/", certDir+"/"),
		"server.json": strings.ReplaceAll(json, "/etc/consul.d/", certDir+"/"),
	})
	for _, name := range []string{"server.hcl", "server.json"} {
		t.Run(name, func(t *testing.T) {
			rc, warnings, err := Load(testOpts("-config-file", filepath.Join(dir, name)))
			if err != nil {
				t.Fatalf("a realistic Consul server config failed to load: %v", err)
			}
			if !rc.ServerMode || rc.BootstrapExpect != 3 || rc.RaftMultiplier != 1 || rc.LogLevel != "info" {
				t.Errorf("ServerMode, BootstrapExpect, RaftMultiplier, LogLevel = %v, %d, %d, %q",
					rc.ServerMode, rc.BootstrapExpect, rc.RaftMultiplier, rc.LogLevel)
			}
			if len(rc.RetryJoinLAN) != 3 {
				t.Errorf("RetryJoinLAN = %v", rc.RetryJoinLAN)
			}
			joined := strings.Join(warnings, "\n")
			if !rc.ACL.Enabled || rc.ACL.DefaultPolicy != "deny" || rc.PrimaryDatacenter != "dc1" {
				t.Errorf("acl = %+v, primary_datacenter %q", rc.ACL, rc.PrimaryDatacenter)
			}
			if !rc.UIEnabled {
				t.Error("ui_config { enabled = true } did not enable the UI")
			}
			if rc.Telemetry.PrometheusRetentionTime <= 0 || !rc.Telemetry.DisableHostname || rc.Telemetry.MetricsPrefix != "consul" {
				t.Errorf("telemetry = %+v", rc.Telemetry)
			}
			for _, key := range []string{"connect"} {
				if !strings.Contains(joined, `"`+key+`"`) {
					t.Errorf("no warning about %q in %q", key, warnings)
				}
			}
			if strings.Contains(joined, "disable_update_check") {
				t.Errorf("disable_update_check should be accepted quietly: %q", warnings)
			}
		})
	}
	rc, _, err := Load(testOpts("-config-file", filepath.Join(dir, "server.hcl")))
	if err != nil {
		t.Fatal(err)
	}
	if want := netip.MustParseAddrPort("0.0.0.0:8500"); len(rc.HTTPAddrs) != 1 || rc.HTTPAddrs[0] != want {
		t.Errorf("HTTPAddrs = %v, want [%s]", rc.HTTPAddrs, want)
	}
	if rc.AdvertiseAddrLAN != netip.MustParseAddr("127.0.0.21") || !rc.LeaveOnTerm {
		t.Errorf("AdvertiseAddrLAN, LeaveOnTerm = %s, %v", rc.AdvertiseAddrLAN, rc.LeaveOnTerm)
	}
}

func TestLoadAddresses(t *testing.T) {
	t.Run("bind address is advertised without detection", func(t *testing.T) {
		opts := testOpts("-data-dir", "/d", "-bind", "127.0.0.4")
		opts.AdvertiseIP = func(netip.Addr) (netip.Addr, error) {
			t.Error("AdvertiseIP called for a specific bind address")
			return netip.Addr{}, nil
		}
		rc, _, err := Load(opts)
		if err != nil {
			t.Fatal(err)
		}
		if rc.AdvertiseAddrLAN != netip.MustParseAddr("127.0.0.4") || rc.AdvertiseAddrWAN != rc.AdvertiseAddrLAN {
			t.Errorf("advertise = %s / %s, want 127.0.0.4", rc.AdvertiseAddrLAN, rc.AdvertiseAddrWAN)
		}
	})
	t.Run("detection gets the unspecified bind address", func(t *testing.T) {
		var got netip.Addr
		opts := testOpts("-data-dir", "/d", "-bind", "::")
		opts.AdvertiseIP = func(b netip.Addr) (netip.Addr, error) { got = b; return netip.MustParseAddr("::1"), nil }
		rc, _, err := Load(opts)
		if err != nil {
			t.Fatal(err)
		}
		if got != netip.IPv6Unspecified() || rc.AdvertiseAddrLAN != netip.IPv6Loopback() {
			t.Errorf("detect(%s) -> advertise %s", got, rc.AdvertiseAddrLAN)
		}
		if rc.SerfAdvertiseAddrLAN.String() != "[::1]:8301" {
			t.Errorf("SerfAdvertiseAddrLAN = %s", rc.SerfAdvertiseAddrLAN)
		}
	})
	t.Run("go-sockaddr templates", func(t *testing.T) {
		rc, _ := mustLoad(t, "-data-dir", "/d",
			"-bind", `{{ "127.0.0.3" }}`,
			"-client", `{{ GetAllInterfaces | include "flags" "loopback" | include "type" "IPv4" | attr "address" }}`)
		if rc.BindAddr != netip.MustParseAddr("127.0.0.3") {
			t.Errorf("BindAddr = %s, want 127.0.0.3", rc.BindAddr)
		}
		if len(rc.ClientAddrs) == 0 || !rc.ClientAddrs[0].IsLoopback() {
			t.Errorf("ClientAddrs = %v, want the loopback address", rc.ClientAddrs)
		}
	})
	t.Run("listeners off and per-listener addresses", func(t *testing.T) {
		rc, _ := mustLoad(t, "-data-dir", "/d", "-server", "-http-port", "-1",
			"-hcl", `addresses { dns = "127.0.0.5 127.0.0.6" }`, "-serf-wan-port", "-1",
			"-serf-lan-bind", "127.0.0.7", "-serf-wan-bind", "127.0.0.8")
		if len(rc.HTTPAddrs) != 0 || rc.HTTPPort != -1 {
			t.Errorf("HTTPAddrs = %v, want none", rc.HTTPAddrs)
		}
		want := []netip.AddrPort{netip.MustParseAddrPort("127.0.0.5:8600"), netip.MustParseAddrPort("127.0.0.6:8600")}
		if !reflect.DeepEqual(rc.DNSAddrs, want) {
			t.Errorf("DNSAddrs = %v, want %v", rc.DNSAddrs, want)
		}
		if rc.SerfBindAddrWAN.IsValid() || rc.SerfAdvertiseAddrWAN.IsValid() {
			t.Errorf("serf WAN = %s / %s, want none with serf_wan = -1", rc.SerfBindAddrWAN, rc.SerfAdvertiseAddrWAN)
		}
		if rc.SerfBindAddrLAN != netip.MustParseAddrPort("127.0.0.7:8301") {
			t.Errorf("SerfBindAddrLAN = %s", rc.SerfBindAddrLAN)
		}
	})
	t.Run("port zero asks for any port", func(t *testing.T) {
		rc, _ := mustLoad(t, "-dev", "-server-port", "0", "-serf-lan-port", "0", "-serf-wan-port", "0", "-http-port", "0")
		if rc.RPCBindAddr.Port() != 0 || rc.HTTPAddrs[0].Port() != 0 {
			t.Errorf("ports = %s, %s; want 0", rc.RPCBindAddr, rc.HTTPAddrs[0])
		}
	})
}

func TestLoadWarnings(t *testing.T) {
	cases := []struct {
		name string
		args []string
		want string
		// check inspects the config that came with the warning.
		check func(*RuntimeConfig) bool
	}{
		{
			name:  "bootstrap_expect 1 means bootstrap",
			args:  []string{"-server", "-bootstrap-expect", "1"},
			want:  "bootstrap_expect = 1 is the same as bootstrap = true",
			check: func(rc *RuntimeConfig) bool { return rc.Bootstrap && rc.BootstrapExpect == 0 },
		},
		{
			name: "two servers",
			args: []string{"-server", "-bootstrap-expect", "2"},
			want: "a cluster of 2 servers cannot survive the loss of either",
		},
		{
			name: "even servers",
			args: []string{"-server", "-bootstrap-expect", "4"},
			want: "an even number of servers tolerates no more failures than 3",
		},
		{
			name: "node name not a DNS label",
			args: []string{"-node", "web_1.example"},
			want: `node name "web_1.example" will not be discoverable via DNS`,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rc, warnings := mustLoad(t, append([]string{"-data-dir", "/d"}, tc.args...)...)
			if !strings.Contains(strings.Join(warnings, "\n"), tc.want) {
				t.Errorf("warnings %q do not contain %q", warnings, tc.want)
			}
			if tc.check != nil && !tc.check(rc) {
				t.Errorf("config not as expected: %+v", rc)
			}
		})
	}
	_, warnings := mustLoad(t, "-data-dir", "/d", "-server", "-bootstrap-expect", "3", "-node", "web-1")
	if len(warnings) != 0 {
		t.Errorf("bootstrap_expect 3 and a good node name: warnings %q, want none", warnings)
	}
}

func TestLoadFlagsReachTheConfig(t *testing.T) {
	rc, _ := mustLoad(t,
		"-data-dir", "/d", "-server", "-bootstrap", "-datacenter", "dc2", "-node", "n1",
		"-node-id", "11111111-2222-3333-4444-555555555555", "-node-meta", "rack:r1", "-node-meta", "os:linux",
		"-join", "127.0.0.40", "-join-wan", "127.0.0.41", "-retry-join-wan", "127.0.0.42",
		"-retry-interval-wan", "3s", "-retry-max", "2", "-retry-max-wan", "5", "-rejoin",
		"-encrypt", "pUqJrVyVRj5jsiYEkM/tFQYfWyJIv4s3XkvDwy7Cu5s=", "-log-json",
		"-enable-script-checks", "-enable-local-script-checks", "-pid-file", "/run/m.pid",
		"-domain", "example", "-recursor", "127.0.0.53", "-max-query-time", "1h",
		"-advertise-wan", "127.0.0.43",
	)
	checks := []struct {
		name      string
		got, want any
	}{
		{"datacenter", rc.Datacenter, "dc2"},
		{"bootstrap", rc.Bootstrap, true},
		{"node id", rc.NodeID, "11111111-2222-3333-4444-555555555555"},
		{"node meta", rc.NodeMeta, map[string]string{"rack": "r1", "os": "linux"}},
		{"join", rc.StartJoinAddrsLAN, []string{"127.0.0.40"}},
		{"join wan", rc.StartJoinAddrsWAN, []string{"127.0.0.41"}},
		{"retry join wan", rc.RetryJoinWAN, []string{"127.0.0.42"}},
		{"retry interval wan", rc.RetryJoinIntervalWAN, 3 * time.Second},
		{"retry max", rc.RetryJoinMaxAttemptsLAN, 2},
		{"retry max wan", rc.RetryJoinMaxAttemptsWAN, 5},
		{"rejoin", rc.RejoinAfterLeave, true},
		{"encrypt", rc.EncryptKey, "pUqJrVyVRj5jsiYEkM/tFQYfWyJIv4s3XkvDwy7Cu5s="},
		{"log json", rc.LogJSON, true},
		{"script checks", rc.EnableRemoteScriptChecks && rc.EnableLocalScriptChecks, true},
		{"pid file", rc.PidFile, "/run/m.pid"},
		{"domain", rc.DNSDomain, "example."},
		{"recursors", rc.DNSRecursors, []string{"127.0.0.53"}},
		{"max query time", rc.MaxQueryTime, time.Hour},
		{"advertise wan", rc.SerfAdvertiseAddrWAN, netip.MustParseAddrPort("127.0.0.43:8302")},
	}
	for _, c := range checks {
		if !reflect.DeepEqual(c.got, c.want) {
			t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
		}
	}
}

// TestLoadIsRepeatable checks that Load is a pure function of its inputs,
// as reloading on SIGHUP needs.
func TestLoadIsRepeatable(t *testing.T) {
	dir := writeFiles(t, map[string]string{"a.json": equivalentJSON})
	args := []string{"-config-file", filepath.Join(dir, "a.json"), "-retry-join", "127.0.0.50"}
	first, w1 := mustLoad(t, args...)
	second, w2 := mustLoad(t, args...)
	if !reflect.DeepEqual(first, second) || !reflect.DeepEqual(w1, w2) {
		t.Errorf("two loads of the same input differ")
	}
	if n := len(second.RetryJoinLAN); n != 3 {
		t.Errorf("retry_join has %d entries after a second load, want 3", n)
	}
}

func TestRaftTimings(t *testing.T) {
	rc, _ := mustLoad(t, "-data-dir", "/d")
	hb, el, ll := rc.RaftTimings()
	if hb != 5*time.Second || el != 5*time.Second || ll != 2500*time.Millisecond {
		t.Errorf("RaftTimings at multiplier 5 = %s, %s, %s", hb, el, ll)
	}
}

func TestLoadCloudAutoJoinIsIgnored(t *testing.T) {
	rc, warnings := mustLoad(t, "-data-dir", "/d", "-retry-join", "provider=aws tag_key=consul tag_value=server", "-retry-join", "127.0.0.70")
	if !reflect.DeepEqual(rc.RetryJoinLAN, []string{"127.0.0.70"}) {
		t.Errorf("RetryJoinLAN = %q, want only the address", rc.RetryJoinLAN)
	}
	if len(warnings) != 1 || !strings.Contains(warnings[0], `retry_join entry "provider=aws`) {
		t.Errorf("warnings = %q, want one about the cloud auto-join entry", warnings)
	}
}

// TestLoadUI: the UI is off by default; ui_config.enabled, the deprecated
// ui key and -ui turn it on, and ui_config.enabled wins over ui.
func TestLoadUI(t *testing.T) {
	for _, c := range []struct {
		name string
		args []string
		want bool
	}{
		{"default", nil, false},
		{"flag", []string{"-ui"}, true},
		{"ui_config", []string{"-hcl", "ui_config { enabled = true }"}, true},
		{"deprecated ui", []string{"-hcl", "ui = true"}, true},
		{"ui_config wins", []string{"-hcl", "ui = true\nui_config { enabled = false }"}, false},
		{"flag false", []string{"-ui=false", "-hcl", "ui = true"}, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			rc, _ := mustLoad(t, append([]string{"-data-dir", "/d"}, c.args...)...)
			if rc.UIEnabled != c.want {
				t.Errorf("UIEnabled = %v, want %v", rc.UIEnabled, c.want)
			}
		})
	}
}

func TestLoadTelemetry(t *testing.T) {
	rc, warnings := mustLoad(t, "-data-dir", "/d", "-hcl", `
enable_debug = true
telemetry {
  metrics_prefix = "meridian"
  disable_hostname = true
  statsd_address = "127.0.0.1:8125"
  dogstatsd_addr = "unix:///var/run/dd.sock"
  dogstatsd_tags = ["env:test"]
  prometheus_retention_time = "30s"
  prefix_filter = ["+meridian.raft", "-meridian.http"]
  filter_default = false
  circonus_api_token = "x"
}`)
	want := TelemetryConfig{
		DisableHostname: true, MetricsPrefix: "meridian", StatsdAddr: "127.0.0.1:8125",
		DogstatsdAddr: "unix:///var/run/dd.sock", DogstatsdTags: []string{"env:test"},
		PrometheusRetentionTime: 30 * time.Second, AllowedPrefixes: []string{"meridian.raft"},
		BlockedPrefixes: []string{"meridian.http"}, FilterDefault: false,
	}
	if !reflect.DeepEqual(rc.Telemetry, want) || !rc.EnableDebug {
		t.Errorf("telemetry = %+v, enable_debug %v\nwant %+v", rc.Telemetry, rc.EnableDebug, want)
	}
	if len(warnings) != 1 || !strings.Contains(warnings[0], "telemetry.circonus_api_token") {
		t.Errorf("warnings %q, want one about telemetry.circonus_api_token", warnings)
	}
	def, _ := mustLoad(t, "-data-dir", "/d")
	if def.Telemetry.MetricsPrefix != "consul" || !def.Telemetry.FilterDefault || def.Telemetry.DisableHostname ||
		def.Telemetry.PrometheusRetentionTime != 0 || def.EnableDebug {
		t.Errorf("defaults: %+v, enable_debug %v", def.Telemetry, def.EnableDebug)
	}
	for _, bad := range []struct{ hcl, want string }{
		{`telemetry { statsd_address = "nohost" }`, "telemetry.statsd_address"},
		{`telemetry { prefix_filter = ["raft"] }`, "prefix_filter"},
		{`telemetry { prometheus_retention_time = "-1s" }`, "prometheus_retention_time"},
		{`telemetry { frob = 1 }`, "telemetry.frob"},
	} {
		_, _, err := Load(testOpts("-data-dir", "/d", "-hcl", bad.hcl))
		if err == nil || !strings.Contains(err.Error(), bad.want) {
			t.Errorf("%s: error %v, want one naming %s", bad.hcl, err, bad.want)
		}
	}
}
