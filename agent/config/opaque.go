package config

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/meridian-sd/meridian/structs"
)

// Opaque service fields: a service's proxy, connect and ai blocks belong to
// Consul features Meridian does not have (service mesh, AI roles). They are
// stored as the JSON objects they were given and returned unchanged, so
// that tools which set them keep working. From a config file (HCL, or JSON
// in snake_case) their keys are rewritten to the CamelCase names the HTTP
// API uses (destination_service_name becomes DestinationServiceName), as
// Consul does; the keys of free-form maps inside them (Config, Meta,
// Header, Arguments) are the user's and stay as written.

// MaxOpaqueFieldSize bounds the JSON of one opaque field (bytes).
const MaxOpaqueFieldSize = structs.MaxOpaqueLen

// opaqueListKeys are the keys whose values are lists even when HCL gives a
// single block (HCL renders every block as a list of maps).
var opaqueListKeys = map[string]bool{"Upstreams": true, "Paths": true, "Checks": true, "Ports": true, "EnvoyExtensions": true}

// opaqueUserKeys are the keys whose values are free-form maps: their keys
// are not rewritten.
var opaqueUserKeys = map[string]bool{"Config": true, "Meta": true, "Header": true, "Arguments": true}

// keyAcronyms are the snake_case words that Consul's field names spell in
// capitals.
var keyAcronyms = map[string]string{
	"id": "ID", "http": "HTTP", "https": "HTTPS", "tcp": "TCP", "udp": "UDP", "grpc": "GRPC",
	"tls": "TLS", "ttl": "TTL", "json": "JSON", "ip": "IP", "dns": "DNS", "url": "URL", "sni": "SNI",
}

// camelKey rewrites a snake_case (or all lower-case) key to CamelCase; a key
// with a capital letter is kept as it is.
func camelKey(k string) string {
	if k != strings.ToLower(k) {
		return k
	}
	var b strings.Builder
	for _, part := range strings.Split(k, "_") {
		if part == "" {
			continue
		}
		if a, ok := keyAcronyms[part]; ok {
			b.WriteString(a)
			continue
		}
		b.WriteString(strings.ToUpper(part[:1]) + part[1:])
	}
	return b.String()
}

// normalizeOpaque rewrites a decoded tree: keys to CamelCase unless inside
// a user map, and HCL's one-block lists to objects except under list keys.
func normalizeOpaque(v any, rewrite bool, listKey bool) any {
	switch x := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, val := range x {
			nk := k
			if rewrite {
				nk = camelKey(k)
			}
			user := opaqueUserKeys[nk]
			out[nk] = normalizeOpaque(val, rewrite && !user, opaqueListKeys[nk])
		}
		return out
	case []map[string]any:
		if len(x) == 1 && !listKey {
			return normalizeOpaque(x[0], rewrite, false)
		}
		out := make([]any, len(x))
		for i, m := range x {
			out[i] = normalizeOpaque(m, rewrite, false)
		}
		return out
	case []any:
		if len(x) == 1 && !listKey {
			if m, ok := x[0].(map[string]any); ok {
				return normalizeOpaque(m, rewrite, false)
			}
		}
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = normalizeOpaque(e, rewrite, false)
		}
		return out
	}
	return v
}

// opaqueJSON encodes the tree of an opaque field as a JSON object.
func opaqueJSON(v any) (json.RawMessage, error) {
	n := normalizeOpaque(v, true, false)
	if _, ok := n.(map[string]any); !ok {
		return nil, fmt.Errorf("want a block of keys, got %s", describe(v))
	}
	buf, err := json.Marshal(n)
	if err != nil {
		return nil, fmt.Errorf("encode: %w", err)
	}
	if len(buf) > MaxOpaqueFieldSize {
		return nil, fmt.Errorf("%d bytes is larger than the %d byte limit", len(buf), MaxOpaqueFieldSize)
	}
	return buf, nil
}
