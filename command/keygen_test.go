package command

import (
	"encoding/base64"
	"strings"
	"testing"
)

func TestKeygen(t *testing.T) {
	seen := map[string]bool{}
	for i := 0; i < 3; i++ {
		code, out, errOut := runVerb(keygenCmd)
		key, err := base64.StdEncoding.DecodeString(strings.TrimSpace(out))
		if code != 0 || err != nil || len(key) != 32 {
			t.Fatalf("keygen: exit %d, output %q (stderr %q): want base64 of 32 bytes", code, out, errOut)
		}
		seen[out] = true
	}
	if len(seen) != 3 {
		t.Errorf("keygen repeated a key")
	}
	code, _, errOut := runVerb(keygenCmd, "extra")
	if code != 1 {
		t.Errorf("keygen extra: exit %d", code)
	}
	oneLineError(t, errOut, "argument")
}
