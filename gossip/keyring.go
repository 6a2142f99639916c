package gossip

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"

	"github.com/hashicorp/memberlist"
	"github.com/meridian-sd/meridian/lib/fsutil"
)

// GenerateKey returns a new random 32-byte gossip key, base64 encoded, as
// `meridian keygen` prints it.
func GenerateKey() (string, error) {
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return "", fmt.Errorf("read random bytes: %w", err)
	}
	return base64.StdEncoding.EncodeToString(key), nil
}

// DecodeKey checks and decodes a base64 gossip key.
func DecodeKey(s string) ([]byte, error) {
	key, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return nil, fmt.Errorf("encryption key is not valid base64: %w", err)
	}
	switch len(key) {
	case 16, 24, 32:
		return key, nil
	}
	return nil, fmt.Errorf("encryption key must be 16, 24 or 32 bytes, got %d", len(key))
}

// loadKeyring builds the keyring: from the keyring file when it exists (it
// holds rotations made since the first start; fromFile is then true),
// otherwise from key, which is then written to the file so later starts
// need no -encrypt. With neither, the keyring is nil.
func loadKeyring(file string, key []byte) (kr *memberlist.Keyring, fromFile bool, err error) {
	if file != "" {
		buf, err := os.ReadFile(file)
		switch {
		case err == nil:
			var encoded []string
			if err := json.Unmarshal(buf, &encoded); err != nil {
				return nil, false, fmt.Errorf("read keyring %s: %w", file, err)
			}
			if len(encoded) == 0 {
				return nil, false, fmt.Errorf("read keyring %s: no keys", file)
			}
			keys := make([][]byte, 0, len(encoded))
			for _, e := range encoded {
				k, err := DecodeKey(e)
				if err != nil {
					return nil, false, fmt.Errorf("read keyring %s: %w", file, err)
				}
				keys = append(keys, k)
			}
			kr, err := memberlist.NewKeyring(keys, keys[0])
			if err != nil {
				return nil, false, fmt.Errorf("read keyring %s: %w", file, err)
			}
			return kr, true, nil
		case !errors.Is(err, os.ErrNotExist):
			return nil, false, fmt.Errorf("read keyring: %w", err)
		}
	}
	if key == nil {
		return nil, false, nil
	}
	kr, err = memberlist.NewKeyring(nil, key)
	if err != nil {
		return nil, false, fmt.Errorf("build keyring: %w", err)
	}
	if file != "" {
		buf, _ := json.Marshal([]string{base64.StdEncoding.EncodeToString(key)})
		if err := fsutil.WriteFileAtomic(file, buf, 0o600); err != nil {
			return nil, false, fmt.Errorf("write keyring: %w", err)
		}
	}
	return kr, false, nil
}
