package command

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/meridian-sd/meridian/version"
)

func TestVersion(t *testing.T) {
	code, out, _ := runVerb(versionCmd)
	if code != 0 || !strings.HasPrefix(out, "Meridian v"+version.Human()+"\n") || !strings.Contains(out, "Protocol ") {
		t.Errorf("version: exit %d, output %q", code, out)
	}
	code, out, _ = runVerb(versionCmd, "-format=json")
	var v map[string]any
	if err := json.Unmarshal([]byte(out), &v); code != 0 || err != nil {
		t.Fatalf("version -format=json: exit %d, output %q, err %v", code, out, err)
	}
	if v["Version"] != version.Version {
		t.Errorf("Version = %v, want %s", v["Version"], version.Version)
	}
	for _, k := range []string{"Revision", "Prerelease", "Protocol"} {
		if _, ok := v[k]; !ok {
			t.Errorf("version -format=json lacks %s: %s", k, out)
		}
	}
	for _, args := range [][]string{{"-format=xml"}, {"extra"}, {"-frob"}} {
		code, _, errOut := runVerb(versionCmd, args...)
		if code != 1 {
			t.Errorf("version %v: exit %d, want 1", args, code)
		}
		oneLineError(t, errOut)
	}
}
