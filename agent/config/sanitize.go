package config

import (
	"fmt"
	"net/netip"
	"reflect"
	"time"
)

// Sanitized returns the configuration as a map for the DebugConfig of
// /v1/agent/self, keyed by field name as Consul's is. Secrets (EncryptKey)
// read "hidden" when set; durations read as Go durations ("30s"); addresses
// as strings, listeners as "tcp://127.0.0.1:8500" like Consul's.
func (c *RuntimeConfig) Sanitized() map[string]any {
	return sanitizeValue(reflect.ValueOf(*c)).(map[string]any)
}

var (
	addrType     = reflect.TypeOf(netip.Addr{})
	addrPortType = reflect.TypeOf(netip.AddrPort{})
)

func sanitizeValue(v reflect.Value) any {
	switch v.Type() {
	case durationType:
		return time.Duration(v.Int()).String()
	case addrType:
		a := v.Interface().(netip.Addr)
		if !a.IsValid() {
			return ""
		}
		return a.String()
	case addrPortType:
		ap := v.Interface().(netip.AddrPort)
		if !ap.IsValid() {
			return ""
		}
		return "tcp://" + ap.String()
	}
	switch v.Kind() {
	case reflect.Struct:
		out := make(map[string]any, v.NumField())
		t := v.Type()
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			if !f.IsExported() {
				continue
			}
			if f.Tag.Get("sanitize") == "hidden" {
				if v.Field(i).IsZero() {
					out[f.Name] = ""
				} else {
					out[f.Name] = "hidden"
				}
				continue
			}
			out[f.Name] = sanitizeValue(v.Field(i))
		}
		return out
	case reflect.Slice:
		out := make([]any, v.Len())
		for i := range out {
			out[i] = sanitizeValue(v.Index(i))
		}
		return out
	case reflect.Map:
		out := make(map[string]any, v.Len())
		iter := v.MapRange()
		for iter.Next() {
			out[fmt.Sprint(iter.Key().Interface())] = sanitizeValue(iter.Value())
		}
		return out
	case reflect.Pointer:
		if v.IsNil() {
			return nil
		}
		return sanitizeValue(v.Elem())
	}
	return v.Interface()
}
