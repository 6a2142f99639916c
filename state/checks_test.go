package state

import (
	"testing"
	"time"

	"github.com/meridian-sd/meridian/structs"
)

func TestDefinitionSame(t *testing.T) {
	base := structs.HealthCheckDefinition{
		HTTP: "http://127.0.0.1/", Method: "GET", Header: map[string][]string{"A": {"1", "2"}},
		Interval: structs.Duration(time.Second),
	}
	tests := []struct {
		name   string
		change func(d *structs.HealthCheckDefinition)
		same   bool
	}{
		{"identical", func(d *structs.HealthCheckDefinition) {}, true},
		{"header copy", func(d *structs.HealthCheckDefinition) { d.Header = map[string][]string{"A": {"1", "2"}} }, true},
		{"header value", func(d *structs.HealthCheckDefinition) { d.Header = map[string][]string{"A": {"1"}} }, false},
		{"header key", func(d *structs.HealthCheckDefinition) { d.Header = map[string][]string{"B": {"1", "2"}} }, false},
		{"interval", func(d *structs.HealthCheckDefinition) { d.Interval = 0 }, false},
		{"tcp", func(d *structs.HealthCheckDefinition) { d.TCP = "127.0.0.1:1" }, false},
	}
	for _, tt := range tests {
		d := base
		tt.change(&d)
		if got := definitionSame(base, d); got != tt.same {
			t.Errorf("%s: definitionSame = %v, want %v", tt.name, got, tt.same)
		}
	}
	if !definitionSame(structs.HealthCheckDefinition{Header: map[string][]string{}}, structs.HealthCheckDefinition{}) {
		t.Error("nil and empty headers differ")
	}
}

func TestEnsureCheck_DefinitionChangeIsAWrite(t *testing.T) {
	s := testStore(t)
	testRegisterNode(t, s, 1, "n1")
	hc := &structs.HealthCheck{Node: "n1", CheckID: "c", Status: structs.HealthPassing,
		Definition: structs.HealthCheckDefinition{TCP: "127.0.0.1:1"}}
	if err := s.EnsureCheck(2, hc); err != nil {
		t.Fatal(err)
	}
	if err := s.EnsureCheck(3, hc); err != nil {
		t.Fatal(err)
	}
	if got := s.MaxIndex("checks"); got != 2 {
		t.Fatalf("identical check moved the index to %d", got)
	}
	hc.Definition.TCP = "127.0.0.1:2"
	if err := s.EnsureCheck(4, hc); err != nil {
		t.Fatal(err)
	}
	_, checks, _ := s.NodeChecks(nil, "n1")
	if checks[0].ModifyIndex != 4 || checks[0].Definition.TCP != "127.0.0.1:2" {
		t.Fatalf("check = %+v", checks[0])
	}
}
