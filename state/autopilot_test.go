package state

import (
	"bytes"
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/meridian-sd/meridian/structs"
)

func TestAutopilotConfigSetCAS(t *testing.T) {
	s := testStore(t)
	if idx, c, err := s.AutopilotConfig(); err != nil || c != nil || idx != 0 {
		t.Fatalf("empty store: %d %+v %v", idx, c, err)
	}
	// CAS against "none stored" succeeds once.
	c := structs.DefaultAutopilotConfig()
	if ok, err := s.AutopilotCASConfig(5, 0, &c); err != nil || !ok {
		t.Fatalf("first CAS: %v %v", ok, err)
	}
	if ok, err := s.AutopilotCASConfig(6, 0, &c); err != nil || ok {
		t.Fatalf("second CAS with 0: %v %v, want false", ok, err)
	}
	idx, got, err := s.AutopilotConfig()
	if err != nil || idx != 5 || got.CreateIndex != 5 || got.ModifyIndex != 5 || !got.CleanupDeadServers {
		t.Fatalf("after CAS: %d %+v %v", idx, got, err)
	}
	c.MaxTrailingLogs = 9
	if err := s.AutopilotSetConfig(8, &c); err != nil {
		t.Fatal(err)
	}
	if ok, err := s.AutopilotCASConfig(9, 5, &c); err != nil || ok {
		t.Fatalf("CAS with a stale index: %v %v", ok, err)
	}
	c.MaxTrailingLogs = 10
	if ok, err := s.AutopilotCASConfig(9, 8, &c); err != nil || !ok {
		t.Fatalf("CAS with the current index: %v %v", ok, err)
	}
	idx, got, _ = s.AutopilotConfig()
	if idx != 9 || got.CreateIndex != 5 || got.ModifyIndex != 9 || got.MaxTrailingLogs != 10 {
		t.Fatalf("final: %d %+v", idx, got)
	}
	// The returned value is a copy.
	got.MaxTrailingLogs = 99
	if _, again, _ := s.AutopilotConfig(); again.MaxTrailingLogs != 10 {
		t.Error("the stored configuration changed through a returned copy")
	}
}

func TestAutopilotConfigSnapshot(t *testing.T) {
	s := testStore(t)
	c := structs.DefaultAutopilotConfig()
	c.RedundancyZoneTag = "zone"
	c.ServerStabilizationTime = structs.Duration(3 * time.Second)
	if err := s.AutopilotSetConfig(4, &c); err != nil {
		t.Fatal(err)
	}
	r, err := Restore(bytes.NewReader(testPersist(t, s)))
	if err != nil {
		t.Fatal(err)
	}
	wi, want, _ := s.AutopilotConfig()
	gi, got, err := r.AutopilotConfig()
	if err != nil || gi != wi || !reflect.DeepEqual(got, want) {
		t.Fatalf("restored %d %+v %v, want %d %+v", gi, got, err, wi, want)
	}
	// An invalid configuration in a snapshot is refused.
	bad := c
	bad.LastContactThreshold = -1
	data := craft(t, snapshotVersion, rec(recordAutopilotConfig, &bad), rec(recordEnd, nil))
	if _, err := Restore(bytes.NewReader(data)); !errors.Is(err, ErrCorruptSnapshot) {
		t.Errorf("restore of an invalid autopilot config: %v", err)
	}
	// Two rows are refused too.
	data = craft(t, snapshotVersion, rec(recordAutopilotConfig, &c), rec(recordAutopilotConfig, &c), rec(recordEnd, nil))
	if _, err := Restore(bytes.NewReader(data)); !errors.Is(err, ErrCorruptSnapshot) {
		t.Errorf("restore of two autopilot configs: %v", err)
	}
}
