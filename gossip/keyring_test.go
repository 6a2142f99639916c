package gossip

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hashicorp/serf/serf"
)

// readKeyringFile returns the keys of a keyring file, primary first.
func readKeyringFile(t *testing.T, path string) []string {
	t.Helper()
	buf, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read keyring file: %v", err)
	}
	var keys []string
	if err := json.Unmarshal(buf, &keys); err != nil {
		t.Fatalf("keyring file %s is not a JSON list: %v (%q)", path, err, buf)
	}
	return keys
}

// TestKeyringRotationPersists: keys installed, made primary and removed by
// serf's key queries (started on one member) reach the keyring file of
// every member, which writes it itself, atomically; a member restarted from
// its data dir, even with the old -encrypt key, comes back with the new
// keys and rejoins; a member with only the old key is refused.
func TestKeyringRotationPersists(t *testing.T) {
	k1, _ := GenerateKey()
	k2, _ := GenerateKey()
	key1, _ := DecodeKey(k1)
	dirs := make([]string, 3)
	pools := make([]*Pool, 3)
	ports := make([]int, 3)
	start := func(i int) {
		dirs[i] = filepath.Join(t.TempDir(), "serf")
		pools[i], ports[i] = testPoolWith(t, fmt.Sprintf("n%d", i), "dc1", false, i == 0, func(c *Config) {
			c.EncryptKey = key1
			c.DataDir = dirs[i]
			// Only the sync query writes the files, so that the test
			// shows it does.
			c.KeyringSyncInterval = 1 << 62
		})
	}
	for i := range pools {
		start(i)
	}
	for i := 1; i < 3; i++ {
		if _, err := pools[i].Join([]string{fmt.Sprintf("127.0.0.1:%d", ports[0])}, 8301); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "three members", func() bool {
		return aliveCount(pools[0]) == 3 && aliveCount(pools[1]) == 3 && aliveCount(pools[2]) == 3
	})

	// confirmed asks every member to write its keyring file and checks,
	// as soon as all have answered, that every file holds want.
	confirmed := func(step string, want ...string) {
		t.Helper()
		c, err := pools[1].ConfirmKeyring(0)
		if err != nil || c.Answered != 3 || c.Expected != 3 || len(c.Failures) != 0 {
			t.Fatalf("%s: confirm: %+v, %v", step, c, err)
		}
		for _, d := range dirs {
			got := readKeyringFile(t, filepath.Join(d, LANKeyring))
			if strings.Join(got, ",") != strings.Join(want, ",") {
				t.Fatalf("%s: %s holds %d keys, want %d in order", step, d, len(got), len(want))
			}
		}
	}
	km := pools[1].Serf().KeyManager()
	resp, err := RetryMissingAnswers(func() (*serf.KeyResponse, error) { return km.InstallKey(k2) })
	if err != nil {
		t.Fatalf("install: %v (%v)", err, resp.Messages)
	}
	confirmed("install", k1, k2)
	if _, err := RetryMissingAnswers(func() (*serf.KeyResponse, error) { return km.UseKey(k2) }); err != nil {
		t.Fatalf("use: %v", err)
	}
	confirmed("use", k2, k1)
	resp, err = km.RemoveKey(k2)
	if err == nil {
		t.Fatal("removing the primary key succeeded")
	}
	for _, msg := range resp.Messages {
		if msg != "removing the primary key is not allowed" {
			t.Errorf("remove primary: message %q", msg)
		}
	}
	if _, err := RetryMissingAnswers(func() (*serf.KeyResponse, error) { return km.RemoveKey(k1) }); err != nil {
		t.Fatalf("remove: %v", err)
	}
	confirmed("remove", k2)
	for _, d := range dirs {
		entries, _ := os.ReadDir(d)
		for _, e := range entries {
			if strings.HasPrefix(e.Name(), ".tmp") {
				t.Errorf("temporary file %s left in %s", e.Name(), d)
			}
		}
	}

	// Restart member 2 from its data dir with the old key on its command
	// line, as an unchanged service definition would.
	if err := pools[2].Shutdown(); err != nil {
		t.Fatal(err)
	}
	restarted, _ := testPoolWith(t, "n2", "dc1", false, false, func(c *Config) {
		c.EncryptKey = key1
		c.DataDir = dirs[2]
		c.BindPort = ports[2]
	})
	if got := base64.StdEncoding.EncodeToString(restarted.ml.Keyring.GetPrimaryKey()); got != k2 {
		t.Fatalf("restarted member's primary key is %s, want the rotated one", got)
	}
	if n := len(restarted.ml.Keyring.GetKeys()); n != 1 {
		t.Fatalf("restarted member has %d keys, want 1", n)
	}
	if _, err := restarted.Join([]string{fmt.Sprintf("127.0.0.1:%d", ports[0])}, 8301); err != nil {
		t.Fatalf("restarted member cannot rejoin: %v", err)
	}
	// It is back once every member sees it alive (the others may first
	// have to notice that it was gone).
	waitFor(t, "restarted member alive", func() bool {
		for _, p := range []*Pool{pools[0], pools[1]} {
			back := false
			for _, m := range p.Members() {
				if m.Name == "n2" && m.Status == serf.StatusAlive {
					back = true
				}
			}
			if !back {
				return false
			}
		}
		return aliveCount(restarted) == 3
	})

	// A member with only the old key cannot join.
	stale, _ := testPool(t, "stale", "dc1", false, false, key1)
	if _, err := stale.Join([]string{fmt.Sprintf("127.0.0.1:%d", ports[0])}, 8301); err == nil {
		t.Fatal("a member with only the removed key joined")
	}

	// A member that cannot write its file says so.
	file := filepath.Join(dirs[1], LANKeyring)
	if err := os.Remove(file); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(file, "in-the-way"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := pools[1].ml.Keyring.AddKey(key1); err != nil {
		t.Fatal(err)
	}
	c, err := pools[0].ConfirmKeyring(0)
	if err != nil || c.Answered != 3 || len(c.Failures) != 1 || !strings.Contains(c.Failures["n1"], "write keyring") {
		t.Fatalf("confirm with an unwritable file: %+v, %v", c, err)
	}
}

// TestSyncKeyring: SyncKeyring writes only on a change, keeps the primary
// key first, and does nothing without a data dir or a keyring.
func TestSyncKeyring(t *testing.T) {
	k1, _ := GenerateKey()
	k2, _ := GenerateKey()
	key1, _ := DecodeKey(k1)
	key2, _ := DecodeKey(k2)
	dir := t.TempDir()
	p, _ := testPoolWith(t, "s", "dc1", false, true, func(c *Config) {
		c.EncryptKey = key1
		c.DataDir = dir
		c.KeyringSyncInterval = 1 << 62 // only explicit syncs
	})
	file := filepath.Join(dir, LANKeyring)
	before, _ := os.Stat(file)
	if err := p.SyncKeyring(); err != nil {
		t.Fatal(err)
	}
	after, _ := os.Stat(file)
	if !os.SameFile(before, after) {
		t.Error("an unchanged keyring was rewritten")
	}
	if err := p.ml.Keyring.AddKey(key2); err != nil {
		t.Fatal(err)
	}
	if err := p.ml.Keyring.UseKey(key2); err != nil {
		t.Fatal(err)
	}
	if err := p.SyncKeyring(); err != nil {
		t.Fatal(err)
	}
	if got := readKeyringFile(t, file); len(got) != 2 || got[0] != k2 || got[1] != k1 {
		t.Errorf("keyring file %v, want the new primary key first", got)
	}

	for _, tc := range []struct {
		name string
		dir  string
		key  []byte
	}{{"no data dir", "", key1}, {"no keyring", t.TempDir(), nil}} {
		q, _ := testPoolWith(t, "q", "dc1", false, true, func(c *Config) { c.EncryptKey, c.DataDir = tc.key, tc.dir })
		if err := q.SyncKeyring(); err != nil {
			t.Errorf("%s: %v", tc.name, err)
		}
		if tc.dir != "" {
			if _, err := os.Stat(filepath.Join(tc.dir, LANKeyring)); !os.IsNotExist(err) {
				t.Errorf("%s: a keyring file was written", tc.name)
			}
		}
	}
}

// TestQueryTimeoutFloor: fast gossip timings do not make serf's queries
// (keyring operations) give up on members in under MinQueryTimeout; the
// default LAN timings (3.2s base in serf) are raised to the floor too.
func TestQueryTimeoutFloor(t *testing.T) {
	fast, _ := testPool(t, "fast", "dc1", false, true, nil)
	if got := fast.Serf().DefaultQueryTimeout(); got < MinQueryTimeout || got > MinQueryTimeout+fast.ml.GossipInterval {
		t.Errorf("query timeout with fast timings: %s, want %s", got, MinQueryTimeout)
	}
	lan, _ := testPoolWith(t, "lan", "dc1", false, true, func(c *Config) { c.Profile = ProfileLAN })
	if got := lan.Serf().DefaultQueryTimeout(); got != MinQueryTimeout {
		t.Errorf("query timeout with LAN timings: %s, want %s", got, MinQueryTimeout)
	}
}
