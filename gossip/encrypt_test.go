package gossip

import (
	"bytes"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/hashicorp/go-hclog"
)

// TestEncryptionRollout: with encrypt_verify_incoming and
// encrypt_verify_outgoing off, an agent with a key still talks to agents
// without one, which is how encryption is turned on in a running pool.
func TestEncryptionRollout(t *testing.T) {
	k, _ := GenerateKey()
	key, _ := DecodeKey(k)
	plain, _ := testPool(t, "plain", "dc1", false, true, nil)
	_, mixedPort := testPoolWith(t, "mixed", "dc1", false, true, func(c *Config) {
		c.EncryptKey, c.PlaintextIncoming, c.PlaintextOutgoing = key, true, true
	})
	if _, err := plain.Join([]string{fmt.Sprintf("127.0.0.1:%d", mixedPort)}, 8301); err != nil {
		t.Fatalf("join without a key to a pool that accepts and sends plaintext: %v", err)
	}
	waitFor(t, "both members alive", func() bool { return aliveCount(plain) == 2 })

	// Sending encrypted but accepting both: agents with the key join it.
	incoming, _ := testPoolWith(t, "incoming", "dc1", false, true, func(c *Config) {
		c.EncryptKey, c.PlaintextIncoming = key, true
	})
	if !incoming.Serf().EncryptionEnabled() {
		t.Fatal("a pool with a key reports no encryption")
	}
	if _, err := incoming.Join([]string{fmt.Sprintf("127.0.0.1:%d", mixedPort)}, 8301); err != nil {
		t.Fatalf("join between pools that accept plaintext: %v", err)
	}

	// The defaults still refuse plaintext.
	_, strictPort := testPool(t, "strict", "dc1", false, true, key)
	if _, err := plain.Join([]string{fmt.Sprintf("127.0.0.1:%d", strictPort)}, 8301); err == nil {
		t.Fatal("join without a key to a pool that verifies incoming gossip succeeded")
	}
}

// lockedBuffer collects log output written from several goroutines.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// TestKeyringFileWinsOverEncrypt: once the keyring file exists, its keys
// are used; an encrypt key that is not its primary key is reported once.
func TestKeyringFileWinsOverEncrypt(t *testing.T) {
	dir := t.TempDir()
	k1, _ := GenerateKey()
	k2, _ := GenerateKey()
	key1, _ := DecodeKey(k1)
	key2, _ := DecodeKey(k2)
	start := func(key []byte) (*Pool, string) {
		t.Helper()
		var logs lockedBuffer
		p, _ := testPoolWith(t, "k", "dc1", false, true, func(c *Config) {
			c.EncryptKey = key
			c.DataDir = dir
			c.Logger = hclog.New(&hclog.LoggerOptions{Output: &logs, Level: hclog.Warn})
		})
		out := logs.String()
		if err := p.Shutdown(); err != nil {
			t.Fatal(err)
		}
		return p, out
	}
	for _, tc := range []struct {
		name    string
		key     []byte
		warned  bool
		primary []byte
	}{
		{"first start writes the key", key1, false, key1},
		{"the same key again", key1, false, key1},
		{"another key", key2, true, key1},
		{"no key", nil, false, key1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, logs := start(tc.key)
			if got := p.ml.Keyring.GetPrimaryKey(); !bytes.Equal(got, tc.primary) {
				t.Errorf("primary key is not the expected one")
			}
			warned := strings.Contains(logs, "encrypt key is ignored") && strings.Contains(logs, filepath.Join(dir, LANKeyring))
			if warned != tc.warned {
				t.Errorf("warned = %v, want %v; logs: %q", warned, tc.warned, logs)
			}
			if n := strings.Count(logs, "encrypt key is ignored"); n > 1 {
				t.Errorf("warned %d times", n)
			}
		})
	}
}
