package config

import (
	"fmt"
	"reflect"
)

// merge lays src over dst the way Consul merges configuration sources: a
// set pointer replaces, a list is appended, a non-empty map replaces the
// whole map, and blocks merge key by key.
func merge(dst, src *rawConfig) {
	mergeValue(reflect.ValueOf(dst).Elem(), reflect.ValueOf(src).Elem())
}

func mergeValue(dst, src reflect.Value) {
	switch src.Kind() {
	case reflect.Pointer:
		if !src.IsNil() {
			dst.Set(src)
		}
	case reflect.Slice:
		if src.Len() > 0 {
			dst.Set(reflect.AppendSlice(dst, src))
		}
	case reflect.Map:
		if src.Len() > 0 {
			dst.Set(src)
		}
	case reflect.Struct:
		for i := 0; i < src.NumField(); i++ {
			mergeValue(dst.Field(i), src.Field(i))
		}
	default:
		panic(fmt.Sprintf("config: cannot merge a raw field of kind %s", src.Kind()))
	}
}
