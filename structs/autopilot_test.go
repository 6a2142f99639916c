package structs

import (
	"bytes"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-msgpack/v2/codec"
)

// TestAutopilotStateMsgpack: the state crosses RPC with every zone's
// voters and every server's meta its own (a map of struct values would
// share them between entries when decoded).
func TestAutopilotStateMsgpack(t *testing.T) {
	in := AutopilotState{
		Servers: map[string]*AutopilotServer{
			"x": {ID: "x", Meta: map[string]string{"zone": "a"}},
			"y": {ID: "y", Meta: map[string]string{"zone": "b"}},
		},
		RedundancyZones: map[string]*AutopilotZone{
			"a": {Servers: []string{"x"}, Voters: []string{"x"}},
			"b": {Servers: []string{"y", "z"}, Voters: []string{"y"}, FailureTolerance: 1},
		},
		Voters: []string{"x", "y"},
	}
	var buf bytes.Buffer
	if err := codec.NewEncoder(&buf, NewMsgpackHandle()).Encode(&in); err != nil {
		t.Fatal(err)
	}
	var out AutopilotState
	if err := codec.NewDecoder(&buf, NewMsgpackHandle()).Decode(&out); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(out, in) {
		t.Errorf("round trip:\n got %+v\nwant %+v", out, in)
	}
}

func TestAutopilotConfigValidate(t *testing.T) {
	ok := DefaultAutopilotConfig()
	if err := ok.Validate(); err != nil {
		t.Fatalf("defaults: %v", err)
	}
	for _, tc := range []struct {
		mod  func(*AutopilotConfig)
		says string
	}{
		{func(c *AutopilotConfig) { c.LastContactThreshold = 0 }, "LastContactThreshold"},
		{func(c *AutopilotConfig) { c.LastContactThreshold = Duration(25 * time.Hour) }, "LastContactThreshold"},
		{func(c *AutopilotConfig) { c.ServerStabilizationTime = -1 }, "ServerStabilizationTime"},
		{func(c *AutopilotConfig) { c.MinQuorum = 5000 }, "MinQuorum"},
		{func(c *AutopilotConfig) { c.RedundancyZoneTag = strings.Repeat("z", MaxNameLen+1) }, "RedundancyZoneTag"},
	} {
		c := DefaultAutopilotConfig()
		tc.mod(&c)
		err := c.Validate()
		if err == nil || !strings.Contains(err.Error(), tc.says) || CodeOf(err) == "" {
			t.Errorf("%v, want an error with a code naming %s", err, tc.says)
		}
		req := &AutopilotSetConfigRequest{Config: c}
		if err := req.Validate(); err == nil {
			t.Errorf("a request with a bad %s validated", tc.says)
		}
	}
	if err := (&TransferLeaderRequest{ID: strings.Repeat("i", MaxNameLen+1)}).Validate(); err == nil {
		t.Error("transfer request with a huge id validated")
	}
}
