// Package filter evaluates Consul's ?filter= expressions
// (hashicorp/go-bexpr) on the result of a read.
//
// A selector names a field of the result's element type by its Go (and
// JSON) field name, dotted: Service.Tags, Node.Meta.env, ServiceMeta.version.
// go-bexpr resolves selectors only while it evaluates, so a misspelt
// selector would go unnoticed on an empty result and fail only once data
// matches. New therefore evaluates the expression once against a probe, a
// zero element of the type whose pointers are allocated and whose lists
// have one zero entry: an unknown selector, an operator that does not fit
// the field's type or a value that does not convert is refused up front,
// whatever the data, with Consul's text "Failed to create boolean
// expression evaluator: ...".
//
// Filtering keeps the elements for which the expression is true, in their
// order; it never changes the elements themselves.
package filter

import (
	"errors"
	"fmt"
	"reflect"
	"strings"

	"github.com/hashicorp/go-bexpr"
	"github.com/mitchellh/pointerstructure"

	"github.com/meridian-sd/meridian/structs"
)

// probeDepth bounds how deep the probe allocates nested structures.
const probeDepth = 6

// Filter is a compiled expression for elements of type T. A nil *Filter
// keeps everything.
type Filter[T any] struct {
	eval *bexpr.Evaluator
}

// New compiles expr for elements of type T; an empty expr gives a nil
// Filter, which keeps everything. A bad expression is a CodeBadRequest
// error with Consul's text.
func New[T any](expr string) (*Filter[T], error) {
	if expr == "" {
		return nil, nil
	}
	if len(expr) > structs.MaxFilterLen {
		return nil, structs.NewError(structs.CodeTooLarge, "invalid filter: %d bytes is longer than the %d byte limit", len(expr), structs.MaxFilterLen)
	}
	// The length bound above is what bounds the parse (go-bexpr's own cap
	// on parser steps, two million, is far above what 4 KiB can take).
	eval, err := bexpr.CreateEvaluator(expr)
	if err != nil {
		return nil, badExpression(err)
	}
	var zero T
	probe := newProbe(reflect.TypeOf(&zero).Elem(), probeDepth)
	if _, err := eval.Evaluate(probe.Interface()); err != nil && !missingMapKey(err) {
		return nil, badExpression(err)
	}
	return &Filter[T]{eval: eval}, nil
}

// badExpression is Consul's answer to an expression it cannot use.
func badExpression(err error) error {
	return structs.BadRequest("Failed to create boolean expression evaluator: %v", err)
}

// missingMapKey reports whether err is only a map key the probe lacks
// (its maps are empty): a selector through a map value, such as
// Service.TaggedAddresses.lan.Port, is valid, and fails on data only where
// the key is missing, as in Consul. A missing struct field is an error.
func missingMapKey(err error) bool {
	return errors.Is(err, pointerstructure.ErrNotFound) && !strings.Contains(err.Error(), "struct field")
}

// Match reports whether v passes the filter.
func (f *Filter[T]) Match(v T) (bool, error) {
	if f == nil {
		return true, nil
	}
	ok, err := f.eval.Evaluate(v)
	if err != nil {
		return false, structs.BadRequest("Failed to evaluate filter: %v", err)
	}
	return ok, nil
}

// Slice returns the elements of in that pass, in order, in a new slice
// (in is left as it is: it may be shared with the state store). A nil
// Filter returns in itself.
func (f *Filter[T]) Slice(in []T) ([]T, error) {
	if f == nil {
		return in, nil
	}
	out := make([]T, 0, len(in))
	for _, v := range in {
		ok, err := f.Match(v)
		if err != nil {
			return nil, err
		}
		if ok {
			out = append(out, v)
		}
	}
	return out, nil
}

// Map returns the entries of in whose value passes, in a new map; a nil
// Filter returns in itself.
func Map[K comparable, T any](f *Filter[T], in map[K]T) (map[K]T, error) {
	if f == nil {
		return in, nil
	}
	out := make(map[K]T, len(in))
	for k, v := range in {
		ok, err := f.Match(v)
		if err != nil {
			return nil, err
		}
		if ok {
			out[k] = v
		}
	}
	return out, nil
}

// Slice filters in by expr: Slice[T](expr, in) is New then Slice.
func Slice[T any](expr string, in []T) ([]T, error) {
	f, err := New[T](expr)
	if err != nil {
		return nil, err
	}
	return f.Slice(in)
}

// newProbe builds a value of type t for checking selectors: pointers
// allocated, structs filled field by field, lists with one zero entry, maps
// empty (a selector through a map key is accepted, see missingMapKey),
// down to depth levels.
func newProbe(t reflect.Type, depth int) reflect.Value {
	v := reflect.New(t).Elem()
	if depth <= 0 {
		return v
	}
	switch t.Kind() {
	case reflect.Pointer:
		v.Set(newProbe(t.Elem(), depth-1).Addr())
	case reflect.Struct:
		for i := 0; i < t.NumField(); i++ {
			if f := v.Field(i); f.CanSet() {
				f.Set(newProbe(t.Field(i).Type, depth-1))
			}
		}
	case reflect.Slice:
		// A byte slice (net.IP) stays a value; other lists get one entry
		// so that selectors into their elements are checked.
		if t.Elem().Kind() != reflect.Uint8 {
			v.Set(reflect.Append(v, newProbe(t.Elem(), depth-1)))
		}
	case reflect.Map:
		v.Set(reflect.MakeMap(t))
	}
	return v
}

// String describes the filter for logs.
func (f *Filter[T]) String() string {
	if f == nil {
		return "<none>"
	}
	return fmt.Sprintf("filter %q", f.eval.Expression())
}
