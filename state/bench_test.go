package state

import (
	"fmt"
	"testing"

	"github.com/meridian-sd/meridian/structs"
)

func BenchmarkKVSSet(b *testing.B) {
	s := testStore(b)
	value := []byte("a value of modest size for a config key")
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		e := &structs.DirEntry{Key: fmt.Sprintf("bench/key-%d", i%1024), Value: value, Flags: uint64(i)}
		if err := s.KVSSet(uint64(i+1), e); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkKVSGet(b *testing.B) {
	s := testStore(b)
	keys := make([]string, 1024)
	for i := range keys {
		keys[i] = fmt.Sprintf("bench/key-%d", i)
		testSetKV(b, s, uint64(i+1), keys[i], "value")
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, e, err := s.KVSGet(nil, keys[i%len(keys)]); err != nil || e == nil {
			b.Fatalf("KVSGet = %v, %v", e, err)
		}
	}
}

func BenchmarkEnsureRegistration(b *testing.B) {
	s := testStore(b)
	reqs := make([]*structs.RegisterRequest, 100)
	for i := range reqs {
		reqs[i] = &structs.RegisterRequest{
			ID: fmt.Sprintf("id-%d", i), Node: fmt.Sprintf("node-%d", i), Address: "127.0.0.1",
			NodeMeta: map[string]string{"rack": fmt.Sprint(i % 4)},
			Service:  &structs.NodeService{ID: "web", Service: "web", Port: 80, Tags: []string{"v1"}},
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		req := *reqs[i%len(reqs)]
		// A changing check output makes every registration a real write.
		req.Checks = structs.HealthChecks{
			{CheckID: structs.SerfCheckID, Status: structs.HealthPassing, Output: fmt.Sprint(i)},
			{CheckID: "web", ServiceID: "web", Status: structs.HealthPassing},
		}
		if err := s.EnsureRegistration(uint64(i+1), &req); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkNodes(b *testing.B) {
	s := testStore(b)
	for i := 0; i < 100; i++ {
		meta := map[string]string{"rack": fmt.Sprint(i % 4)}
		if err := s.EnsureNode(uint64(i+1), &structs.Node{Node: fmt.Sprintf("node-%03d", i), Address: "127.0.0.1", Meta: meta}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, nodes, err := s.Nodes(nil, nil); err != nil || len(nodes) != 100 {
			b.Fatalf("Nodes = %d, %v", len(nodes), err)
		}
	}
}
