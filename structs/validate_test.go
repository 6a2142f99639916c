package structs

import (
	"errors"
	"strings"
	"testing"

	"github.com/hashicorp/serf/coordinate"
)

// registration is a typical client agent registration: a node with a
// service, three tags, some meta and two checks.
func registration() *RegisterRequest {
	return &RegisterRequest{
		Datacenter: "dc1", Node: "web-1", Address: "10.0.0.1",
		NodeMeta: map[string]string{"rack": "r1", "zone": "z1"},
		Service: &NodeService{ID: "web", Service: "web", Tags: []string{"a", "b", "c"}, Port: 80,
			Meta: map[string]string{"version": "1.2.3"}},
		Checks: HealthChecks{
			{CheckID: "serfHealth", Name: "Serf Health Status", Status: HealthPassing, Output: "Agent alive and reachable"},
			{CheckID: "service:web", Name: "web", Status: HealthPassing, ServiceID: "web", ServiceName: "web",
				Definition: HealthCheckDefinition{HTTP: "http://10.0.0.1/health", Interval: Duration(10e9)}},
		},
	}
}

func TestValidate(t *testing.T) {
	big := strings.Repeat("x", MaxNameLen+1)
	tests := []struct {
		name string
		req  Validator
		code ErrorCode // "" for valid
		text string    // part of the error text
	}{
		{"typical registration", registration(), "", ""},
		{"null check entry", func() Validator { r := registration(); r.Checks = append(r.Checks, nil); return r }(), CodeBadRequest, "checks[2]: a check is null"},
		{"node name too long", &RegisterRequest{Node: big}, CodeTooLarge, "node name"},
		{"too many checks", &RegisterRequest{Checks: make(HealthChecks, MaxListLen+1)}, CodeTooLarge, "checks"},
		{"negative port", &RegisterRequest{Service: &NodeService{Port: -1}}, CodeBadRequest, "port"},
		{"bad datacenter", &DCSpecificRequest{Datacenter: "dc 1"}, CodeBadRequest, "datacenter"},
		{"upper-case datacenter", &DCSpecificRequest{Datacenter: "DC1"}, "", ""},
		{"negative wait", &KeyRequest{QueryOptions: QueryOptions{MaxQueryTime: -1}}, CodeBadRequest, "wait"},
		{"filter too long", &ServiceSpecificRequest{QueryOptions: QueryOptions{Filter: strings.Repeat(" ", MaxFilterLen+1)}}, CodeTooLarge, "filter"},
		{"longest filter", &ChecksInStateRequest{QueryOptions: QueryOptions{Filter: strings.Repeat(" ", MaxFilterLen)}}, "", ""},
		{"missing coordinate", &CoordinateUpdateRequest{Node: "n"}, CodeBadRequest, "coordinate"},
		{"coordinate of no dimension", &CoordinateUpdateRequest{Node: "n", Coord: &coordinate.Coordinate{}}, CodeBadRequest, "dimensions"},
		{"valid coordinate", &CoordinateUpdateRequest{Node: "n", Coord: coordinate.NewCoordinate(coordinate.DefaultConfig())}, "", ""},
		{"negative lock delay", &SessionRequest{Session: Session{LockDelay: -1}}, CodeBadRequest, "lock delay"},
		{"null txn op left to the endpoint", &TxnRequest{Ops: TxnOps{nil, {KV: nil}}}, "", ""},
		{"txn node name too long", &TxnRequest{Ops: TxnOps{{Node: &TxnNodeOp{Verb: "set", Node: Node{Node: big}}}}}, CodeTooLarge, "node name"},
		{"txn service of a bogus kind", &TxnRequest{Ops: TxnOps{{Service: &TxnServiceOp{Verb: "set", Service: NodeService{Kind: "bogus"}}}}}, CodeBadRequest, "service kind"},
		{"txn service proxy not an object", &TxnReadRequest{Ops: TxnOps{{Service: &TxnServiceOp{Verb: "get", Service: NodeService{Proxy: []byte("[1]")}}}}}, CodeBadRequest, "service proxy"},
		{"txn check output too long", &TxnRequest{Ops: TxnOps{{Check: &TxnCheckOp{Verb: "set", Check: HealthCheck{Output: strings.Repeat("o", MaxTextLen+1)}}}}}, CodeTooLarge, "output"},
		{"txn session id too long", &TxnRequest{Ops: TxnOps{{Session: &TxnSessionOp{Verb: "delete", Session: Session{ID: big}}}}}, CodeTooLarge, "session id"},
		{"service proxy too large", &RegisterRequest{Service: &NodeService{Proxy: []byte(`{"x":"` + strings.Repeat("p", MaxOpaqueLen) + `"}`)}}, CodeTooLarge, "service proxy"},
		{"service ports", &RegisterRequest{Service: &NodeService{Ports: []ServicePort{{Name: "a", Port: 70000}}}}, CodeBadRequest, "service port"},
		{"too many meta pairs", &RegisterRequest{NodeMeta: func() map[string]string {
			m := map[string]string{}
			for i := 0; i <= MaxMapLen; i++ {
				m[strings.Repeat("k", i+1)] = ""
			}
			return m
		}()}, CodeTooLarge, "node meta"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.req.Validate()
			if CodeOf(err) != tt.code {
				t.Fatalf("Validate() = %v (code %q), want code %q", err, CodeOf(err), tt.code)
			}
			if err != nil && !strings.Contains(err.Error(), tt.text) {
				t.Errorf("Validate() = %q, want it to mention %q", err, tt.text)
			}
		})
	}
}

func TestRPCErrorEncoding(t *testing.T) {
	coded := BadRequest("missing node name")
	text := EncodeRPCError(coded)
	back := DecodeRPCError(text)
	if CodeOf(back) != CodeBadRequest || back.Error() != "missing node name" {
		t.Errorf("decode(encode(coded)) = %q (code %q)", back, CodeOf(back))
	}
	// A second hop changes nothing.
	if again := DecodeRPCError(EncodeRPCError(back)); CodeOf(again) != CodeBadRequest || again.Error() != "missing node name" {
		t.Errorf("two hops: %q (code %q)", again, CodeOf(again))
	}
	for _, sentinel := range []error{ErrNoLeader, ErrNoDCPath, ErrNoServers, ErrDCNoServers} {
		if EncodeRPCError(sentinel) != sentinel.Error() {
			t.Errorf("contract text %q was changed on the wire", sentinel)
		}
		if got := DecodeRPCError(sentinel.Error()); !errors.Is(got, sentinel) || CodeOf(got) != "" {
			t.Errorf("decode(%q) = %v (code %q), want the sentinel", sentinel, got, CodeOf(got))
		}
	}
	if got := DecodeRPCError(rpcCodePrefix + "no-such-code: x"); CodeOf(got) != "" || got.Error() != rpcCodePrefix+"no-such-code: x" {
		t.Errorf("unknown code: %q (code %q), want the whole text uncoded", got, CodeOf(got))
	}
	if got := DecodeRPCError("boom"); CodeOf(got) != "" || got.Error() != "boom" {
		t.Errorf("plain text: %q (code %q)", got, CodeOf(got))
	}
}

// BenchmarkValidateRegister is the cost the dispatcher adds to a typical
// catalog registration before the endpoint runs.
func BenchmarkValidateRegister(b *testing.B) {
	r := registration()
	b.ReportAllocs()
	for b.Loop() {
		if err := r.Validate(); err != nil {
			b.Fatal(err)
		}
	}
}
