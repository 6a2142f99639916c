package gossip

import (
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/memberlist"
	"github.com/hashicorp/serf/serf"
)

// freePort returns a port free on 127.0.0.1 for both TCP and UDP.
func freePort(t *testing.T) int {
	t.Helper()
	for i := 0; i < 50; i++ {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port := l.Addr().(*net.TCPAddr).Port
		u, err := net.ListenPacket("udp", fmt.Sprintf("127.0.0.1:%d", port))
		l.Close()
		if err == nil {
			u.Close()
			return port
		}
	}
	t.Fatal("no free port")
	return 0
}

func testPool(t *testing.T, name, dc string, wan, server bool, key []byte) (*Pool, int) {
	t.Helper()
	return testPoolWith(t, name, dc, wan, server, func(c *Config) { c.EncryptKey = key })
}

// testPoolWith is testPool with the config adjusted before Create.
func testPoolWith(t *testing.T, name, dc string, wan, server bool, adjust func(*Config)) (*Pool, int) {
	t.Helper()
	port := freePort(t)
	tags := Tags(TagsConfig{NodeID: name + "-id", Datacenter: dc, Server: server, ServerPort: 8300})
	member := name
	if wan {
		member = WANName(name, dc)
	}
	cfg := Config{
		NodeName:   member,
		Datacenter: dc,
		WAN:        wan,
		BindAddr:   "127.0.0.1",
		BindPort:   port,
		Tags:       tags,
		Profile:    ProfileLocal,
		Logger:     hclog.New(&hclog.LoggerOptions{Output: newTestWriter(t), Level: hclog.Warn}),
	}
	adjust(&cfg)
	p, err := Create(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Shutdown() })
	return p, port
}

// testWriter sends a pool's logs to the test log until the test's
// cleanups are done, then drops them: memberlist's probe goroutines can
// still log after the pool shut down, and t.Log after the test panics.
type testWriter struct {
	t    *testing.T
	mu   *sync.Mutex
	done *bool
}

// newTestWriter registers the cleanup that mutes the writer first, so
// that it runs last, after the pool's Shutdown.
func newTestWriter(t *testing.T) testWriter {
	w := testWriter{t: t, mu: new(sync.Mutex), done: new(bool)}
	t.Cleanup(func() {
		w.mu.Lock()
		*w.done = true
		w.mu.Unlock()
	})
	return w
}

func (w testWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !*w.done {
		w.t.Log(string(p))
	}
	return len(p), nil
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if cond() {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("timed out waiting for %s", what)
}

func aliveCount(p *Pool) int {
	n := 0
	for _, m := range p.Members() {
		if m.Status == serf.StatusAlive {
			n++
		}
	}
	return n
}

func TestLANJoinSameDC(t *testing.T) {
	a, _ := testPool(t, "a", "dc1", false, true, nil)
	b, bport := testPool(t, "b", "dc1", false, false, nil)
	_ = b
	if _, err := a.Join([]string{fmt.Sprintf("127.0.0.1:%d", bport)}, 8301); err != nil {
		t.Fatalf("join: %v", err)
	}
	waitFor(t, "both members alive", func() bool { return aliveCount(a) == 2 && aliveCount(b) == 2 })
}

func TestLANRefusesOtherDC(t *testing.T) {
	a, _ := testPool(t, "a", "dc1", false, true, nil)
	_, bport := testPool(t, "b", "dc2", false, true, nil)
	if _, err := a.Join([]string{fmt.Sprintf("127.0.0.1:%d", bport)}, 8301); err == nil {
		t.Fatal("join across datacenters in the LAN pool succeeded")
	}
	if n := len(a.Members()); n != 1 {
		t.Fatalf("members = %d, want 1", n)
	}
}

func TestWANRefusesClient(t *testing.T) {
	d := &mergeDelegate{dc: "dc1", wan: true}
	client := &serf.Member{Name: "c.dc1", Addr: net.IPv4(127, 0, 0, 1), Tags: Tags(TagsConfig{Datacenter: "dc1"})}
	if err := d.NotifyMerge([]*serf.Member{client}); err == nil {
		t.Fatal("the wan merge delegate accepted a client")
	}
	server := &serf.Member{Name: "s.dc2", Addr: net.IPv4(127, 0, 0, 1), Tags: Tags(TagsConfig{Datacenter: "dc2", Server: true, ServerPort: 8300})}
	if err := d.NotifyMerge([]*serf.Member{server}); err != nil {
		t.Fatalf("the wan merge delegate refused a server of another dc: %v", err)
	}
	badName := &serf.Member{Name: "s", Addr: net.IPv4(127, 0, 0, 1), Tags: server.Tags}
	if err := d.NotifyMerge([]*serf.Member{badName}); err == nil {
		t.Fatal("the wan merge delegate accepted a server without the .dc suffix")
	}

	// Whole pools: a client that somehow runs a WAN pool never shows up in
	// a server's WAN member list.
	a, _ := testPool(t, "a", "dc1", true, true, nil)
	_, bport := testPool(t, "b", "dc2", true, false, nil)
	a.Join([]string{fmt.Sprintf("127.0.0.1:%d", bport)}, 8302)
	for _, m := range a.Members() {
		if m.Name == "b.dc2" {
			t.Fatal("a client was let into the WAN pool")
		}
	}
}

func TestWANJoinAcrossDCs(t *testing.T) {
	a, _ := testPool(t, "a", "dc1", true, true, nil)
	b, bport := testPool(t, "b", "dc2", true, true, nil)
	if _, err := a.Join([]string{fmt.Sprintf("127.0.0.1:%d", bport)}, 8302); err != nil {
		t.Fatalf("join: %v", err)
	}
	waitFor(t, "wan members", func() bool { return aliveCount(a) == 2 && aliveCount(b) == 2 })
	for _, m := range b.Members() {
		meta, ok := IsServer(m)
		if !ok {
			t.Fatalf("member %s not parsed as a server", m.Name)
		}
		if WANName(meta.Name, meta.Datacenter) != m.Name {
			t.Fatalf("meta name %q dc %q from member %q", meta.Name, meta.Datacenter, m.Name)
		}
	}
}

func TestEncryptionKeyMismatch(t *testing.T) {
	k1, _ := GenerateKey()
	k2, _ := GenerateKey()
	key1, _ := DecodeKey(k1)
	key2, _ := DecodeKey(k2)
	a, _ := testPool(t, "a", "dc1", false, true, key1)
	_, bport := testPool(t, "b", "dc1", false, true, key2)
	_, cport := testPool(t, "c", "dc1", false, true, key1)
	if _, err := a.Join([]string{fmt.Sprintf("127.0.0.1:%d", bport)}, 8301); err == nil {
		t.Fatal("join with a different key succeeded")
	}
	if _, err := a.Join([]string{fmt.Sprintf("127.0.0.1:%d", cport)}, 8301); err != nil {
		t.Fatalf("join with the same key: %v", err)
	}
}

func TestDecodeKey(t *testing.T) {
	for _, tc := range []struct {
		in string
		ok bool
	}{
		{"", false},
		{"not base64!", false},
		{"AAAAAAAAAAAAAAAAAAAAAA==", true},                     // 16 bytes
		{"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", true},             // 24 bytes
		{"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=", true}, // 32 bytes
		{"AAAAAAAAAAAAAAAAAAAA", false},                        // 15 bytes
	} {
		_, err := DecodeKey(tc.in)
		if (err == nil) != tc.ok {
			t.Errorf("DecodeKey(%q) err=%v, want ok=%v", tc.in, err, tc.ok)
		}
	}
}

func TestWithDefaultPort(t *testing.T) {
	for in, want := range map[string]string{
		"127.0.0.2":      "127.0.0.2:8301",
		"127.0.0.2:9000": "127.0.0.2:9000",
		"::1":            "[::1]:8301",
		"[::1]":          "[::1]:8301",
		"[::1]:9":        "[::1]:9",
		"host.example":   "host.example:8301",
	} {
		if got := WithDefaultPort(in, 8301); got != want {
			t.Errorf("WithDefaultPort(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestJoinErrorIsOneLine: serf reports a failed join as a multi-line list
// of errors; the pool turns it into one line naming every address.
func TestJoinErrorIsOneLine(t *testing.T) {
	a, _ := testPool(t, "a", "dc1", false, true, nil)
	dead1, dead2 := freePort(t), freePort(t)
	_, err := a.Join([]string{fmt.Sprintf("127.0.0.1:%d", dead1), fmt.Sprintf("127.0.0.1:%d", dead2)}, 8301)
	if err == nil {
		t.Fatal("join to closed ports succeeded")
	}
	msg := err.Error()
	if strings.Contains(msg, "\n") {
		t.Errorf("join error spans lines: %q", msg)
	}
	for _, port := range []int{dead1, dead2} {
		if !strings.Contains(msg, fmt.Sprintf(":%d", port)) {
			t.Errorf("join error %q does not name port %d", msg, port)
		}
	}
}

// The LAN profile's failure detector is the tuned one unless the operator
// sets any of its timings; then memberlist's defaults fill in the others.
// The WAN profile stays memberlist's.
func TestLANFailureDetectorTimings(t *testing.T) {
	lan, wan := memberlist.DefaultLANConfig(), memberlist.DefaultWANConfig()
	type timings struct {
		interval, timeout time.Duration
		mult              int
	}
	cases := []struct {
		name    string
		profile Profile
		tuning  Tuning
		want    timings
	}{
		{"lan default", ProfileLAN, Tuning{}, timings{LANProbeInterval, LANProbeTimeout, LANSuspicionMult}},
		{"lan other keys only", ProfileLAN, Tuning{GossipInterval: 100 * time.Millisecond}, timings{LANProbeInterval, LANProbeTimeout, LANSuspicionMult}},
		{"lan probe_timeout only", ProfileLAN, Tuning{ProbeTimeout: 900 * time.Millisecond}, timings{lan.ProbeInterval, 900 * time.Millisecond, lan.SuspicionMult}},
		{"lan suspicion_mult only", ProfileLAN, Tuning{SuspicionMult: 5}, timings{lan.ProbeInterval, lan.ProbeTimeout, 5}},
		{"lan all set", ProfileLAN, Tuning{ProbeInterval: 2 * time.Second, ProbeTimeout: time.Second, SuspicionMult: 6}, timings{2 * time.Second, time.Second, 6}},
		{"wan default", ProfileWAN, Tuning{}, timings{wan.ProbeInterval, wan.ProbeTimeout, wan.SuspicionMult}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := Config{NodeName: "n1", Datacenter: "dc1", WAN: tc.profile == ProfileWAN, Profile: tc.profile, Tuning: tc.tuning, Logger: hclog.NewNullLogger()}
			sc, err := c.serfConfig()
			if err != nil {
				t.Fatal(err)
			}
			ml := sc.MemberlistConfig
			got := timings{ml.ProbeInterval, ml.ProbeTimeout, ml.SuspicionMult}
			if got != tc.want {
				t.Fatalf("probe interval, timeout, suspicion mult = %v, want %v", got, tc.want)
			}
			if tc.tuning.GossipInterval > 0 && ml.GossipInterval != tc.tuning.GossipInterval {
				t.Fatalf("gossip interval %s, want %s", ml.GossipInterval, tc.tuning.GossipInterval)
			}
		})
	}
}
