package config

import (
	"reflect"
	"sort"
)

// KeySet lists the configuration keys Load knows, as dotted paths without
// list indices ("ports.http", "services.checks.interval"), sorted.
type KeySet struct {
	// Supported keys are decoded, validated and carried into RuntimeConfig.
	// A map-valued key (node_meta) is listed once, without its entries.
	Supported []string
	// Ignored keys belong to Consul features Meridian lacks: accepted and
	// reported in the warnings. Nothing below them is looked at.
	Ignored []string
	// Quiet keys are accepted without a warning because Meridian already
	// behaves as they ask.
	Quiet []string
	// Rejected keys are Consul check types Meridian does not run: a check
	// using one fails to load.
	Rejected []string
}

// Keys returns every configuration key Load knows, by how it treats them;
// for documentation and for tests that compare it with the docs.
func Keys() KeySet {
	var ks KeySet
	collectKeys(&ks, "", reflect.TypeOf(rawConfig{}))
	for _, l := range []*[]string{&ks.Supported, &ks.Ignored, &ks.Quiet, &ks.Rejected} {
		sort.Strings(*l)
	}
	return ks
}

func collectKeys(ks *KeySet, path string, t reflect.Type) {
	zero := reflect.Zero(t).Interface()
	if ik, ok := zero.(ignoredKeyer); ok {
		for _, k := range ik.ignoredKeys() {
			ks.Ignored = append(ks.Ignored, joinKey(path, k))
		}
	}
	if qk, ok := zero.(quietKeyer); ok {
		for _, k := range qk.quietKeys() {
			ks.Quiet = append(ks.Quiet, joinKey(path, k))
		}
	}
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		name := f.Tag.Get("cfg")
		if name == "" {
			continue
		}
		key := joinKey(path, name)
		if f.Tag.Get("reject") != "" {
			ks.Rejected = append(ks.Rejected, key)
			continue
		}
		ft := f.Type
		for ft.Kind() == reflect.Pointer || ft.Kind() == reflect.Slice {
			ft = ft.Elem()
		}
		if ft.Kind() == reflect.Struct && ft != durationType {
			collectKeys(ks, key, ft)
			continue
		}
		if f.Type.Kind() == reflect.Map && f.Type.Elem().Kind() == reflect.Struct {
			collectKeys(ks, key+".<name>", f.Type.Elem())
			continue
		}
		ks.Supported = append(ks.Supported, key)
	}
}
