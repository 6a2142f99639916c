package config

import (
	"encoding/json"
	"fmt"
	"math"
	"reflect"
	"sort"
	"strings"
	"time"
)

// Error is a configuration problem. Load returns every problem it finds,
// joined with errors.Join; use errors.As to reach the individual ones.
type Error struct {
	// Source names where the offending value came from: `config file
	// "a.json"`, `flag -http-port`, `-hcl snippet 1`. It is empty when the
	// problem is how values from several sources combine.
	Source string
	// Key is the full key path, like "ports.http" or
	// "services[0].checks[1].interval"; empty when no single key is at fault.
	Key string
	// Msg is the rest of the sentence; it names the key where the source
	// does not.
	Msg string
}

// Error returns the source and the message as one sentence.
func (e *Error) Error() string {
	if e.Source == "" {
		return e.Msg
	}
	return e.Source + ": " + e.Msg
}

// source identifies a configuration source in messages.
type source struct {
	// desc is how messages name the source: `config file "a.json"`.
	desc string
	// flags maps the key paths set by flags to the flags' names; only the
	// command-line source has it.
	flags map[string]string
}

// errorAt returns an Error about the value at key.
func (s *source) errorAt(key, format string, args ...any) *Error {
	msg := fmt.Sprintf(format, args...)
	if f, ok := s.flags[key]; ok {
		return &Error{Source: "flag " + f, Key: key, Msg: msg}
	}
	if key == "" {
		return &Error{Source: s.desc, Msg: msg}
	}
	return &Error{Source: s.desc, Key: key, Msg: key + ": " + msg}
}

// where names the source of the value at key, for warnings.
func (s *source) where(key string) string {
	if f, ok := s.flags[key]; ok {
		return "flag " + f
	}
	return s.desc
}

// decoder decodes one source's generic tree into a raw struct, collecting
// every error rather than stopping at the first, and the ignored keys met.
type decoder struct {
	src  *source
	errs []error
	// ignored holds the paths of known-but-ignored keys that were set, with
	// list indices removed so that each key is reported once.
	ignored []string
}

func (d *decoder) fail(key, format string, args ...any) {
	d.errs = append(d.errs, d.src.errorAt(key, format, args...))
}

// Interfaces a raw struct type implements to describe its keys.
type (
	ignoredKeyer interface{ ignoredKeys() []string }
	quietKeyer   interface{ quietKeys() []string }
	looseKeyer   interface{ looseKeys() }
)

// blockKeys describes the keys a raw struct type accepts, by normalised key.
type blockKeys struct {
	fields  map[string]int    // field index
	names   map[string]string // canonical name of each field key
	ignored map[string]string // canonical name of each ignored key
	quiet   map[string]bool
}

// normKey normalises a key for matching: keys match case-insensitively, and
// in loose blocks underscores are dropped too.
func normKey(k string, loose bool) string {
	k = strings.ToLower(k)
	if loose {
		k = strings.ReplaceAll(k, "_", "")
	}
	return k
}

// isLoose reports whether a raw struct type matches keys loosely.
func isLoose(t reflect.Type) bool {
	_, ok := reflect.Zero(t).Interface().(looseKeyer)
	return ok
}

// keysOf builds the key table of a raw struct type.
func keysOf(t reflect.Type, loose bool) *blockKeys {
	bk := &blockKeys{
		fields:  map[string]int{},
		names:   map[string]string{},
		ignored: map[string]string{},
		quiet:   map[string]bool{},
	}
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		name := f.Tag.Get("cfg")
		if name == "" {
			continue
		}
		spellings := []string{name}
		if a := f.Tag.Get("alias"); a != "" {
			spellings = append(spellings, strings.Split(a, ",")...)
		}
		for _, s := range spellings {
			bk.fields[normKey(s, loose)] = i
			bk.names[normKey(s, loose)] = name
		}
	}
	zero := reflect.Zero(t).Interface()
	if ik, ok := zero.(ignoredKeyer); ok {
		for _, k := range ik.ignoredKeys() {
			bk.ignored[normKey(k, loose)] = k
		}
	}
	if qk, ok := zero.(quietKeyer); ok {
		for _, k := range qk.quietKeys() {
			bk.quiet[normKey(k, loose)] = true
		}
	}
	return bk
}

// joinKey appends a key to a path.
func joinKey(path, key string) string {
	if path == "" {
		return key
	}
	if key == "" {
		return path
	}
	return path + "." + key
}

// stripIndices removes list indices from a key path: services[2].kind
// becomes services.kind.
func stripIndices(path string) string {
	var b strings.Builder
	skip := false
	for _, r := range path {
		switch {
		case r == '[':
			skip = true
		case r == ']':
			skip = false
		case !skip:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// sortedKeys returns a map's keys in order, so that errors come out in a
// stable order.
func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// asBlocks returns the blocks a generic value holds: a map is one block; a
// list of maps (HCL's rendering of blocks, or a JSON list of objects) is
// several.
func asBlocks(v any) ([]map[string]any, bool) {
	switch x := v.(type) {
	case map[string]any:
		return []map[string]any{x}, true
	case []map[string]any:
		return x, true
	case []any:
		out := make([]map[string]any, 0, len(x))
		for _, e := range x {
			m, ok := e.(map[string]any)
			if !ok {
				return nil, false
			}
			out = append(out, m)
		}
		return out, true
	}
	return nil, false
}

// asList returns the elements of a generic list.
func asList(v any) ([]any, bool) {
	switch x := v.(type) {
	case []any:
		return x, true
	case []map[string]any:
		out := make([]any, len(x))
		for i, m := range x {
			out[i] = m
		}
		return out, true
	}
	return nil, false
}

// decodeBlock decodes a block (or, from HCL, several blocks merged in order)
// into the struct v.
func (d *decoder) decodeBlock(path string, data any, v reflect.Value, loose bool) {
	blocks, ok := asBlocks(data)
	if !ok {
		d.fail(path, "want a block of keys, got %s", describe(data))
		return
	}
	for _, m := range blocks {
		d.decodeKeys(path, m, v, loose)
	}
}

// decodeKeys decodes the keys of one block into the struct v.
func (d *decoder) decodeKeys(path string, m map[string]any, v reflect.Value, loose bool) {
	loose = loose || isLoose(v.Type())
	bk := keysOf(v.Type(), loose)
	for _, k := range sortedKeys(m) {
		val := m[k]
		nk := normKey(k, loose)
		if i, ok := bk.fields[nk]; ok {
			f := v.Type().Field(i)
			d.decodeValue(joinKey(path, bk.names[nk]), val, v.Field(i), f.Tag.Get("check"), loose)
			continue
		}
		if name, ok := bk.ignored[nk]; ok {
			if val != nil {
				d.ignored = append(d.ignored, stripIndices(joinKey(path, name)))
			}
			continue
		}
		if bk.quiet[nk] {
			continue
		}
		d.errs = append(d.errs, &Error{
			Source: d.src.desc,
			Key:    joinKey(path, k),
			Msg:    fmt.Sprintf("unknown key %q", joinKey(path, k)),
		})
	}
}

var durationType = reflect.TypeOf(time.Duration(0))

// decodeValue decodes one generic value into the field fv.
func (d *decoder) decodeValue(path string, val any, fv reflect.Value, check string, loose bool) {
	if val == nil {
		return // JSON null: leave the key unset
	}
	switch fv.Kind() {
	case reflect.Pointer:
		elem := fv.Type().Elem()
		if elem.Kind() == reflect.Struct {
			blocks, ok := asBlocks(val)
			if !ok {
				d.fail(path, "want a block of keys, got %s", describe(val))
				return
			}
			if len(blocks) != 1 {
				d.fail(path, "want one block, got %d", len(blocks))
				return
			}
			nv := reflect.New(elem)
			d.decodeKeys(path, blocks[0], nv.Elem(), loose)
			fv.Set(nv)
			return
		}
		nv := reflect.New(elem)
		if d.decodeScalar(path, val, nv.Elem(), check) {
			fv.Set(nv)
		}
	case reflect.Struct:
		d.decodeBlock(path, val, fv, loose)
	case reflect.Slice:
		d.decodeSlice(path, val, fv, loose)
	case reflect.Map:
		d.decodeMap(path, val, fv, check, loose)
	case reflect.Interface:
		// An opaque block, kept as the generic tree (see opaque.go).
		fv.Set(reflect.ValueOf(val))
	default:
		// Raw types hold only the kinds above.
		panic(fmt.Sprintf("config: unsupported raw field kind %s at %s", fv.Kind(), path))
	}
}

// decodeSlice decodes a list of strings or a list of blocks.
func (d *decoder) decodeSlice(path string, val any, fv reflect.Value, loose bool) {
	elem := fv.Type().Elem()
	list, ok := asList(val)
	if elem.Kind() == reflect.Struct {
		if !ok {
			d.fail(path, "want a list of blocks, got %s", describe(val))
			return
		}
		out := reflect.MakeSlice(fv.Type(), 0, len(list))
		for i, item := range list {
			p := fmt.Sprintf("%s[%d]", path, i)
			m, isMap := item.(map[string]any)
			if !isMap {
				d.fail(p, "want a block of keys, got %s", describe(item))
				continue
			}
			nv := reflect.New(elem).Elem()
			d.decodeKeys(p, m, nv, loose)
			out = reflect.Append(out, nv)
		}
		fv.Set(out)
		return
	}
	if !ok {
		d.fail(path, "want a list of strings, got %s", describe(val))
		return
	}
	out := make([]string, 0, len(list))
	for i, item := range list {
		s, isStr := item.(string)
		if !isStr {
			d.fail(fmt.Sprintf("%s[%d]", path, i), "want a string, got %s", describe(item))
			continue
		}
		out = append(out, s)
	}
	fv.Set(reflect.ValueOf(out))
}

// decodeMap decodes a map with user-chosen keys: string values, lists of
// strings, durations or blocks.
func (d *decoder) decodeMap(path string, val any, fv reflect.Value, check string, loose bool) {
	blocks, ok := asBlocks(val)
	if !ok {
		d.fail(path, "want a block of keys, got %s", describe(val))
		return
	}
	out := reflect.MakeMap(fv.Type())
	elem := fv.Type().Elem()
	for _, m := range blocks {
		for _, k := range sortedKeys(m) {
			p := joinKey(path, k)
			item := m[k]
			nv := reflect.New(elem).Elem()
			switch {
			case elem == durationType || elem.Kind() == reflect.String:
				if !d.decodeScalar(p, item, nv, "") {
					continue
				}
			case elem.Kind() == reflect.Slice:
				d.decodeSlice(p, item, nv, loose)
			case elem.Kind() == reflect.Struct:
				d.decodeBlock(p, item, nv, loose)
			default:
				panic(fmt.Sprintf("config: unsupported raw map element %s at %s", elem, path))
			}
			out.SetMapIndex(reflect.ValueOf(k), nv)
		}
	}
	if check != "" {
		if msg := checkMap(check, out.Interface()); msg != "" {
			d.fail(path, "%s", msg)
			return
		}
	}
	fv.Set(out)
}

// decodeScalar decodes a string, bool, integer, float or duration into v and
// applies the value check; it reports whether v was set.
func (d *decoder) decodeScalar(path string, val any, v reflect.Value, check string) bool {
	if v.Type() == durationType {
		s, ok := val.(string)
		if !ok {
			d.fail(path, "want a duration like \"10s\", got %s", describe(val))
			return false
		}
		if strings.TrimSpace(s) == "" {
			return false // "" leaves the duration unset, as Consul's API reads it
		}
		dur, err := time.ParseDuration(strings.TrimSpace(s))
		if err != nil {
			d.fail(path, "invalid duration %q: use a number with a unit, like \"500ms\", \"10s\" or \"72h\"", s)
			return false
		}
		if msg := checkDuration(check, dur); msg != "" {
			d.fail(path, "%s", msg)
			return false
		}
		v.SetInt(int64(dur))
		return true
	}
	switch v.Kind() {
	case reflect.String:
		s, ok := val.(string)
		if !ok {
			d.fail(path, "want a string, got %s", describe(val))
			return false
		}
		s, msg := checkString(check, s)
		if msg != "" {
			d.fail(path, "%s", msg)
			return false
		}
		v.SetString(s)
	case reflect.Bool:
		b, ok := val.(bool)
		if !ok {
			d.fail(path, "want true or false, got %s", describe(val))
			return false
		}
		v.SetBool(b)
	case reflect.Int:
		n, ok := toInt(val)
		if !ok {
			d.fail(path, "want an integer, got %s", describe(val))
			return false
		}
		if msg := checkInt(check, n); msg != "" {
			d.fail(path, "%s", msg)
			return false
		}
		v.SetInt(n)
	case reflect.Float64:
		f, ok := toFloat(val)
		if !ok {
			d.fail(path, "want a number, got %s", describe(val))
			return false
		}
		if check == "positive" && !(f > 0) {
			d.fail(path, "%v must be greater than zero", f)
			return false
		}
		v.SetFloat(f)
	default:
		panic(fmt.Sprintf("config: unsupported raw scalar %s at %s", v.Type(), path))
	}
	return true
}

// maxExactInt is the largest integer a float64 holds exactly.
const maxExactInt = 1 << 53

// toInt converts a generic number to an integer, if it is one.
func toInt(v any) (int64, bool) {
	switch x := v.(type) {
	case json.Number:
		if n, err := x.Int64(); err == nil {
			return n, true
		}
		f, err := x.Float64()
		if err != nil {
			return 0, false
		}
		return toInt(f)
	case int:
		return int64(x), true
	case int64:
		return x, true
	case float64:
		if x != math.Trunc(x) || math.Abs(x) > maxExactInt {
			return 0, false
		}
		return int64(x), true
	}
	return 0, false
}

// toFloat converts a generic number to a float64.
func toFloat(v any) (float64, bool) {
	switch x := v.(type) {
	case json.Number:
		f, err := x.Float64()
		return f, err == nil && !math.IsInf(f, 0) && !math.IsNaN(f)
	case int:
		return float64(x), true
	case int64:
		return float64(x), true
	case float64:
		return x, !math.IsInf(x, 0) && !math.IsNaN(x)
	}
	return 0, false
}
