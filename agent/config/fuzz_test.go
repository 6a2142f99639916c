package config

import (
	"testing"
)

// loadBytes runs one source through the whole pipeline: parse, decode,
// definitions, merge over the dev layer, and build.
func loadBytes(data []byte, format string) {
	tree, err := parse(data, format)
	if err != nil {
		return
	}
	l := &loader{opts: testOpts(), ignoredBy: map[string][]string{}, merged: devConfig()}
	l.add(&source{desc: "fuzz"}, tree)
	if len(l.errs) == 0 {
		l.build(true)
	}
	if l.rc != nil {
		l.rc.Sanitized()
	}
}

// fuzzSeeds are valid and nearly valid configurations to start from.
var fuzzSeeds = []string{
	equivalentJSON,
	`{"datacenter": "dc1", "ports": {"http": -1}, "service": {"name": "x", "check": {"ttl": "1s"}}}`,
	`{"services": [{"Name": "a", "Checks": [{"HTTP": "http://127.0.0.1/", "Interval": "1s"}]}]}`,
	`{"node_meta": {"a": "b"}, "dns_config": {"service_ttl": {"*": "1s"}}, "acl": {"x": [1, 2]}}`,
	`{"bind_addr": "{{ \"127.0.0.1\" }}", "retry_join": ["a", "b"], "gossip_lan": {"probe_interval": "1s"}}`,
}

func FuzzParseJSON(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		loadBytes(data, FormatJSON)
	})
}

func FuzzParseHCL(f *testing.F) {
	f.Add([]byte(equivalentHCL))
	f.Add([]byte("ports { http = 1 }\nports { dns = 2 }\nservice { name = \"a\" check { ttl = \"1s\" } }"))
	f.Add([]byte("services { name = \"a\" }\nservices { name = \"b\" tagged_addresses { lan { port = 1 } } }"))
	f.Add([]byte("node_meta = [{ a = \"b\" }]\nchecks = [{ name = \"x\", tcp = \"h:1\", interval = \"1s\" }]"))
	f.Add([]byte("a = <<EOF\nx\nEOF\n\"quoted.key\" = 1.5"))
	for _, s := range fuzzSeeds {
		f.Add([]byte(s)) // HCL parses JSON too
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		loadBytes(data, FormatHCL)
	})
}
