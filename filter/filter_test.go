package filter

import (
	"fmt"
	"strings"
	"testing"

	"github.com/meridian-sd/meridian/structs"
)

func TestNewRefusesBadExpressions(t *testing.T) {
	for _, tc := range []struct {
		expr string
		want string
	}{
		{`Service ==`, "Failed to create boolean expression evaluator: "},
		{`NoSuch == "x"`, "Failed to create boolean expression evaluator: "},
		{`Service.Nope == "x"`, "Failed to create boolean expression evaluator: "},
		{`Port == "eighty"`, "Failed to create boolean expression evaluator: "},
		{`Tags matches "("`, "Failed to create boolean expression evaluator: "},
		{strings.Repeat(" ", structs.MaxFilterLen) + `Port == 1`, "byte limit"},
	} {
		_, err := New[*structs.NodeService](tc.expr)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("New(%.40q): %v, want an error with %q", tc.expr, err, tc.want)
			continue
		}
		if code := structs.CodeOf(err); code != structs.CodeBadRequest && code != structs.CodeTooLarge {
			t.Errorf("New(%.40q): code %q, want bad-request or too-large", tc.expr, code)
		}
	}
}

// TestProbeChecksNestedSelectors: selectors through pointers and into
// list elements are checked against the type, with no data at all.
func TestProbeChecksNestedSelectors(t *testing.T) {
	good := []string{
		`Node.Meta.env == "prod"`, `Service.Tags contains "v1"`, `"v1" in Service.Tags`,
		`any Checks as c { c.Status == "passing" }`, `Service.Weights.Passing == 1`,
		`Service.TaggedAddresses.lan.Port == 80`, `Node.TaggedAddresses is empty`,
	}
	for _, expr := range good {
		if _, err := New[structs.CheckServiceNode](expr); err != nil {
			t.Errorf("New(%q): %v", expr, err)
		}
	}
	bad := []string{`Node.Nope == "x"`, `any Checks as c { c.Nope == "x" }`, `Service.Weights.Nope == 1`}
	for _, expr := range bad {
		if _, err := New[structs.CheckServiceNode](expr); err == nil {
			t.Errorf("New(%q) accepted an unknown selector", expr)
		}
	}
}

func TestSliceAndMap(t *testing.T) {
	in := structs.HealthChecks{
		{Node: "a", CheckID: "1", Status: structs.HealthPassing},
		{Node: "b", CheckID: "2", Status: structs.HealthCritical},
		{Node: "c", CheckID: "3", Status: structs.HealthPassing, ServiceTags: []string{"x"}},
	}
	got, err := Slice(`Status == "passing" and ServiceTags is empty or Node == "b"`, in)
	if err != nil {
		t.Fatal(err)
	}
	if s := fmt.Sprint(ids(got)); s != "[1 2]" {
		t.Fatalf("Slice = %s, want [1 2]", s)
	}
	if s := fmt.Sprint(ids(in)); s != "[1 2 3]" {
		t.Fatalf("Slice changed its input: %s", s)
	}
	f, err := New[*structs.HealthCheck](`not (Status == "passing")`)
	if err != nil {
		t.Fatal(err)
	}
	m, err := Map(f, map[string]*structs.HealthCheck{"1": in[0], "2": in[1]})
	if err != nil || len(m) != 1 || m["2"] == nil {
		t.Fatalf("Map = %v %v, want only 2", m, err)
	}
	// No expression: no filter, everything kept.
	none, err := New[*structs.HealthCheck]("")
	if err != nil || none != nil {
		t.Fatalf("New(\"\") = %v %v, want a nil filter", none, err)
	}
	if all, err := none.Slice(in); err != nil || len(all) != 3 {
		t.Fatalf("nil filter kept %d, %v", len(all), err)
	}
}

func ids(cs structs.HealthChecks) []string {
	var out []string
	for _, c := range cs {
		out = append(out, c.CheckID)
	}
	return out
}

// BenchmarkNewMaxLength: compiling the longest expression a request may
// carry stays cheap (the length bound is what bounds the parse).
//
//	go test -run '^$' -bench BenchmarkNewMaxLength ./filter/
func BenchmarkNewMaxLength(b *testing.B) {
	term := `Node.Meta.env == "prod" or `
	expr := strings.Repeat(term, structs.MaxFilterLen/len(term)-1) + `Node.Node == "x"`
	for i := 0; i < b.N; i++ {
		if _, err := New[structs.CheckServiceNode](expr); err != nil {
			b.Fatal(err)
		}
	}
}

// TestDocumentedOperators checks the operator table of
// website/api/filtering.md on one service.
func TestDocumentedOperators(t *testing.T) {
	svc := &structs.NodeService{ID: "web-1", Service: "web", Tags: []string{"v1", "primary"}, Port: 8080,
		Address: "10.0.0.1", Meta: map[string]string{"version": "2"}}
	for expr, want := range map[string]bool{
		`Service == "web"`:                          true,
		`Service != "web"`:                          false,
		`Tags is empty`:                             false,
		`TaggedAddresses is empty`:                  true,
		`"v1" in Tags`:                              true,
		`"v3" not in Tags`:                          true,
		`"version" in Meta`:                         true,
		`"10.0" in Address`:                         true,
		`Tags contains "primary"`:                   true,
		`Address matches "^10\\.0\\."`:              true,
		`Address not matches "^10"`:                 false,
		`Meta.missing == "x"`:                       false,
		`Meta.missing != "x"`:                       true,
		`Port == 8080 and not (Service == "db")`:    true,
		`Service == "db" or Port == 8080`:           true,
		`not Service == "db" and Service == "db"`:   false,
		`any Tags as t { t == "primary" }`:          true,
		`all Tags as t { t matches "^v" }`:          false,
		"Service == `web`":                          true,
		"Address matches `^10\\.0\\.`":              true,
		`ID == web-1`:                               false, // a bare word stops at '-': a parse error
		`EnableTagOverride == false and Port > 80`:  false, // no '>' operator: a parse error
		`Weights.Passing == 0 and Datacenter == ""`: true,
	} {
		f, err := New[*structs.NodeService](expr)
		if err != nil {
			if want {
				t.Errorf("New(%q): %v", expr, err)
			}
			continue
		}
		got, err := f.Match(svc)
		if err != nil || got != want {
			t.Errorf("%q on the service = %v %v, want %v", expr, got, err, want)
		}
	}
	for _, expr := range []string{`Port contains "8"`, `ID == web-1`, `Port > 80`} {
		if _, err := New[*structs.NodeService](expr); err == nil {
			t.Errorf("New(%q) accepted it, want a bad expression", expr)
		}
	}
}

// BenchmarkSlice10000 measures the server's part of a filtered
// /v1/health/service read: one filter over 10,000 instances (node,
// service, two checks each), against copying the list unfiltered.
//
//	go test -run '^$' -bench BenchmarkSlice10000 ./filter/
func BenchmarkSlice10000(b *testing.B) {
	in := make(structs.CheckServiceNodes, 10000)
	for i := range in {
		node := fmt.Sprintf("n%05d", i)
		in[i] = structs.CheckServiceNode{
			Node: &structs.Node{Node: node, Address: "10.2.0.1", Meta: map[string]string{"rack": fmt.Sprint("r", i%4)}},
			Service: &structs.NodeService{ID: "web", Service: "web", Port: 80, Tags: []string{"v1"},
				Meta: map[string]string{"shard": fmt.Sprint(i % 10)}},
			Checks: structs.HealthChecks{
				{Node: node, CheckID: "serfHealth", Status: structs.HealthPassing},
				{Node: node, CheckID: "web-ok", Status: structs.HealthPassing, ServiceID: "web", ServiceName: "web"},
			},
		}
	}
	for _, bc := range []struct{ name, expr string }{
		{"none", ""},
		{"tenth", `Service.Meta.shard == "3"`},
		{"all", `Service.Meta.shard != "x" and "v1" in Service.Tags`},
		{"nothing", `Node.Meta.rack == "r9" or any Checks as c { c.Status == "critical" }`},
	} {
		b.Run(bc.name, func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				f, err := New[structs.CheckServiceNode](bc.expr)
				if err != nil {
					b.Fatal(err)
				}
				out, err := f.Slice(in)
				if err != nil || len(out) > len(in) {
					b.Fatal(err)
				}
				if f == nil {
					// The unfiltered path hands the list on as it is; copy
					// it so that "none" counts what a reply costs at least.
					out = append(structs.CheckServiceNodes(nil), out...)
				}
				_ = out
			}
		})
	}
}
