package agent

import (
	"testing"

	"github.com/meridian-sd/meridian/gossip"
)

// TestGossipConfigEncryptVerify: encrypt_verify_incoming and
// encrypt_verify_outgoing reach both pools' configs.
func TestGossipConfigEncryptVerify(t *testing.T) {
	key, err := gossip.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name              string
		hcl               string
		plainIn, plainOut bool
	}{
		{"defaults", "", false, false},
		{"incoming off", "encrypt_verify_incoming = false", true, false},
		{"both off", "encrypt_verify_incoming = false\nencrypt_verify_outgoing = false", true, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rc := testRuntimeConfig(t, "-encrypt="+key, "-hcl="+tc.hcl)
			for _, wan := range []bool{false, true} {
				g, err := gossipConfig(rc, wan)
				if err != nil {
					t.Fatal(err)
				}
				if g.EncryptKey == nil || g.PlaintextIncoming != tc.plainIn || g.PlaintextOutgoing != tc.plainOut {
					t.Errorf("wan=%v: key set %v, plaintext in %v out %v; want in %v out %v",
						wan, g.EncryptKey != nil, g.PlaintextIncoming, g.PlaintextOutgoing, tc.plainIn, tc.plainOut)
				}
			}
		})
	}
}
