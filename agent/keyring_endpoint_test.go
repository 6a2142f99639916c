package agent

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/consul/api"

	"github.com/meridian-sd/meridian/gossip"
)

// keyringPools indexes a keyring list by pool name ("WAN", "dc1 (LAN)").
func keyringPools(rs []*api.KeyringResponse) map[string]*api.KeyringResponse {
	out := map[string]*api.KeyringResponse{}
	for _, r := range rs {
		name := r.Datacenter + " (LAN)"
		if r.WAN {
			name = "WAN"
		}
		out[name] = r
	}
	return out
}

// checkKeyring compares a keyring list with the wanted keys of each pool:
// every key held, and the primary key used, by all of the pool's members.
func checkKeyring(rs []*api.KeyringResponse, members map[string]int, keys []string, primary string) error {
	pools := keyringPools(rs)
	if len(pools) != len(members) || len(rs) != len(members) {
		return fmt.Errorf("%d pools, want %d", len(rs), len(members))
	}
	for name, n := range members {
		p := pools[name]
		if p == nil {
			return fmt.Errorf("no pool %s", name)
		}
		if p.NumNodes != n {
			return fmt.Errorf("%s: %d nodes, want %d", name, p.NumNodes, n)
		}
		if len(p.Keys) != len(keys) {
			return fmt.Errorf("%s: keys %v, want %d keys", name, p.Keys, len(keys))
		}
		for _, k := range keys {
			if p.Keys[k] != n {
				return fmt.Errorf("%s: key held by %d members, want %d (%v)", name, p.Keys[k], n, p.Keys)
			}
		}
		if len(p.PrimaryKeys) != 1 || p.PrimaryKeys[primary] != n {
			return fmt.Errorf("%s: primary keys %v, want one used by %d", name, p.PrimaryKeys, n)
		}
	}
	return nil
}

// TestOperatorKeyring rotates the gossip key of two datacenters and a
// client through the official client: install, use, remove, each reaching
// the WAN pool and both LAN pools, and every member's keyring file; the
// errors of bad input and of removing the primary key.
func TestOperatorKeyring(t *testing.T) {
	k1, _ := gossip.GenerateKey()
	k2, _ := gossip.GenerateKey()
	s1 := StartTestAgent(t, "-server", "-bootstrap", "-node=s1", "-encrypt="+k1)
	s2 := StartTestAgent(t, "-server", "-bootstrap", "-node=s2", "-datacenter=dc2", "-encrypt="+k1)
	c1 := StartTestAgent(t, "-node=c1", "-encrypt="+k1, "-join="+s1.LANAddr())
	if err := s1.Client.Agent().Join(s2.WANAddr(), true); err != nil {
		t.Fatalf("join wan: %v", err)
	}
	s1.WaitForLeader(t)
	s2.WaitForLeader(t)
	members := map[string]int{"WAN": 2, "dc1 (LAN)": 2, "dc2 (LAN)": 1}
	WaitFor(t, "every pool complete", 15*time.Second, func() error {
		rs, err := c1.Client.Operator().KeyringList(nil)
		if err != nil {
			return err
		}
		return checkKeyring(rs, members, []string{k1}, k1)
	})

	// Installed through a client agent, which hands it to its server.
	if err := c1.Client.Operator().KeyringInstall(k2, nil); err != nil {
		t.Fatalf("install: %v", err)
	}
	rs, err := s1.Client.Operator().KeyringList(nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := checkKeyring(rs, members, []string{k1, k2}, k1); err != nil {
		t.Fatalf("after install: %v", err)
	}
	// Made primary from the other datacenter.
	if err := s2.Client.Operator().KeyringUse(k2, &api.WriteOptions{RelayFactor: 2}); err != nil {
		t.Fatalf("use: %v", err)
	}
	rs, err = c1.Client.Operator().KeyringList(&api.QueryOptions{RelayFactor: 1})
	if err != nil {
		t.Fatal(err)
	}
	if err := checkKeyring(rs, members, []string{k1, k2}, k2); err != nil {
		t.Fatalf("after use: %v", err)
	}
	// The primary key cannot be removed.
	err = s1.Client.Operator().KeyringRemove(k2, nil)
	var se api.StatusError
	if !errors.As(err, &se) || se.Code != 400 || !strings.Contains(se.Body, "removing the primary key is not allowed") {
		t.Fatalf("removing the primary key: %v, want 400 naming the primary key", err)
	}
	if err := s1.Client.Operator().KeyringRemove(k1, nil); err != nil {
		t.Fatalf("remove: %v", err)
	}
	// Every member persisted the result before the change was reported
	// done, servers for both pools.
	files := []string{
		filepath.Join(s1.DataDir, "serf", gossip.LANKeyring), filepath.Join(s1.DataDir, "serf", gossip.WANKeyring),
		filepath.Join(s2.DataDir, "serf", gossip.LANKeyring), filepath.Join(s2.DataDir, "serf", gossip.WANKeyring),
		filepath.Join(c1.DataDir, "serf", gossip.LANKeyring),
	}
	for _, f := range files {
		buf, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var keys []string
		if err := json.Unmarshal(buf, &keys); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		if len(keys) != 1 || keys[0] != k2 {
			t.Errorf("%s holds %d keys, want only the new one", f, len(keys))
		}
	}

	rs, err = c1.Client.Operator().KeyringList(nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := checkKeyring(rs, members, []string{k2}, k2); err != nil {
		t.Fatalf("after remove: %v", err)
	}
	// -local-only lists this datacenter's LAN pool alone.
	rs, err = s2.Client.Operator().KeyringList(&api.QueryOptions{LocalOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := checkKeyring(rs, map[string]int{"dc2 (LAN)": 1}, []string{k2}, k2); err != nil {
		t.Fatalf("local-only: %v", err)
	}

	// A member that cannot write its keyring file fails the change,
	// named with the reason.
	cf := filepath.Join(c1.DataDir, "serf", gossip.LANKeyring)
	if err := os.Remove(cf); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(cf, "in-the-way"), 0o700); err != nil {
		t.Fatal(err)
	}
	err = s1.Client.Operator().KeyringInstall(k1, nil)
	if !errors.As(err, &se) || se.Code != 500 || !strings.Contains(se.Body, "dc1 (LAN) error: 1/2 nodes could not write their keyring file (c1: write keyring") {
		t.Fatalf("install with a member that cannot write its file: %v", err)
	}

	// A datacenter that cannot be reached fails the operation, named.
	if err := s2.Shutdown(); err != nil {
		t.Fatal(err)
	}
	_, err = c1.Client.Operator().KeyringList(nil)
	if !errors.As(err, &se) || se.Code != 500 || !strings.Contains(se.Body, "dc2 (LAN) error: no answer from datacenter dc2") || strings.Contains(se.Body, "\n") {
		t.Fatalf("list with dc2 down: %v, want a 500 naming dc2 on one line", err)
	}
}

// TestOperatorKeyringBadInput: every malformed request is a 400 (or 405)
// with a sentence, before anything reaches the gossip pools; a key that
// is not installed fails on every member, with memberlist's words.
func TestOperatorKeyringBadInput(t *testing.T) {
	k1, _ := gossip.GenerateKey()
	k3, _ := gossip.GenerateKey()
	s1 := StartTestAgent(t, "-server", "-bootstrap", "-node=s1", "-encrypt="+k1)
	s1.WaitForLeader(t)
	short := base64.StdEncoding.EncodeToString([]byte("short"))
	tests := []struct {
		name, method, query, body string
		code                      int
		want                      string
	}{
		{"not base64", "POST", "", `{"Key": "not base64!"}`, 400, "Invalid key"},
		{"wrong length", "POST", "", `{"Key": "` + short + `"}`, 400, "16, 24 or 32 bytes, got 5"},
		{"no body", "PUT", "", ``, 400, "body is empty"},
		{"no key", "DELETE", "", `{}`, 400, "Missing key"},
		{"not json", "POST", "", `Key=abc`, 400, "decode failed"},
		{"relay factor too high", "GET", "?relay-factor=6", ``, 400, "relay-factor"},
		{"relay factor not a number", "GET", "?relay-factor=x", ``, 400, "relay-factor"},
		{"local-only on a change", "PUT", "?local-only=true", `{"Key": "` + k1 + `"}`, 400, "local-only"},
		{"local-only not a bool", "GET", "?local-only=maybe", ``, 400, "local-only"},
		{"other method", "PATCH", "", ``, 405, "PATCH"},
		{"use a key not installed", "PUT", "", `{"Key": "` + k3 + `"}`, 500, "requested key is not in the keyring"},
		{"remove the primary key", "DELETE", "", `{"Key": "` + k1 + `"}`, 400, "removing the primary key is not allowed"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req, err := http.NewRequest(tc.method, "http://"+s1.HTTPAddr+"/v1/operator/keyring"+tc.query, strings.NewReader(tc.body))
			if err != nil {
				t.Fatal(err)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tc.code || !strings.Contains(string(body), tc.want) || strings.Contains(strings.TrimSpace(string(body)), "\n") {
				t.Errorf("%s %s: %d %q, want %d with %q on one line", tc.method, tc.query, resp.StatusCode, body, tc.code, tc.want)
			}
		})
	}
	// Nothing was changed by any of them.
	rs, err := s1.Client.Operator().KeyringList(nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := checkKeyring(rs, map[string]int{"WAN": 1, "dc1 (LAN)": 1}, []string{k1}, k1); err != nil {
		t.Fatal(err)
	}
}

// TestOperatorKeyringWithoutEncryption answers with serf's words when
// gossip is not encrypted, as Consul does.
func TestOperatorKeyringWithoutEncryption(t *testing.T) {
	k1, _ := gossip.GenerateKey()
	s1 := StartTestAgent(t, "-server", "-bootstrap", "-node=plain")
	s1.WaitForLeader(t)
	_, err := s1.Client.Operator().KeyringList(nil)
	var se api.StatusError
	if !errors.As(err, &se) || se.Code != 500 || se.Body != "Keyring is empty (encryption not enabled)" {
		t.Errorf("list: %v", err)
	}
	err = s1.Client.Operator().KeyringInstall(k1, nil)
	if !errors.As(err, &se) || se.Code != 500 || se.Body != "No keyring to modify (encryption not enabled)" {
		t.Errorf("install: %v", err)
	}
}
