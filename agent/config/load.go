package config

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"

	sockaddr "github.com/hashicorp/go-sockaddr"
)

// LoadOpts are the inputs of Load.
type LoadOpts struct {
	// Args are the command-line arguments after "agent".
	Args []string
	// Hostname returns the default node name; nil means os.Hostname.
	Hostname func() (string, error)
	// AdvertiseIP returns the address to advertise when the bind address is
	// unspecified (0.0.0.0 or ::), which it is given; nil means the first
	// private IPv4 address (for 0.0.0.0) or the first private, else public,
	// IPv6 address (for ::) found by go-sockaddr, as Consul does. Tests
	// set it to avoid depending on the machine's interfaces.
	AdvertiseIP func(bind netip.Addr) (netip.Addr, error)
}

// Load parses the flags in opts.Args, reads the config files they name,
// merges everything over the defaults and returns the resolved, validated
// configuration. The warnings are for the operator (keys Meridian ignores,
// doubtful settings); the agent logs them. The error, when not nil, holds
// every problem found (see Error); for -h it is flag.ErrHelp.
//
// Load has no side effects besides reading files and network interfaces, so
// it can be called again to reload.
func Load(opts LoadOpts) (*RuntimeConfig, []string, error) {
	f := NewFlags()
	if err := f.Parse(opts.Args); err != nil {
		return nil, nil, err
	}
	return LoadFlags(f, opts)
}

// LoadFlags is Load with flags already parsed; opts.Args is not used.
func LoadFlags(f *Flags, opts LoadOpts) (*RuntimeConfig, []string, error) {
	l := &loader{opts: opts, ignoredBy: map[string][]string{}}
	l.run(f)
	warnings := append(l.ignoredWarnings(), l.warnings...)
	if len(l.errs) > 0 {
		return nil, warnings, errors.Join(l.errs...)
	}
	return l.rc, warnings, nil
}

// loader carries one Load.
type loader struct {
	opts LoadOpts

	merged   rawConfig
	services []definedService
	checks   []definedCheck
	sources  []string

	// ignoredBy maps each ignored key path to the sources that set it.
	ignoredBy map[string][]string
	warnings  []string
	errs      []error
	rc        *RuntimeConfig
}

// definedService remembers where a service was defined, for messages.
type definedService struct {
	def ServiceDefinition
	src string
	key string
}

// definedCheck remembers where a top-level check was defined.
type definedCheck struct {
	def CheckDefinition
	src string
	key string
}

func (l *loader) run(f *Flags) {
	if f.dev {
		l.merged = devConfig()
	}
	for _, p := range f.configPaths {
		l.readPath(p, f.configFormat)
	}
	tree, flagOf := f.tree()
	l.add(&source{desc: "command-line flags", flags: flagOf}, tree)
	for i, snippet := range f.hcl {
		src := &source{desc: fmt.Sprintf("-hcl snippet %d", i+1)}
		tree, err := parse([]byte(snippet), FormatHCL)
		if err != nil {
			l.errs = append(l.errs, &Error{Source: src.desc, Msg: err.Error()})
			continue
		}
		l.add(src, tree)
	}
	if len(l.errs) > 0 {
		return
	}
	l.build(f.dev)
}

// readPath reads one -config-file or -config-dir. A directory contributes
// its .json and .hcl files (every file when format is set) in lexical
// order, skipping subdirectories, as Consul does.
func (l *loader) readPath(p configPath, format string) {
	what := "config file"
	if p.dir {
		what = "config dir"
	}
	fi, err := os.Stat(p.path)
	if err != nil {
		l.errs = append(l.errs, &Error{Source: fmt.Sprintf("%s %q", what, p.path), Msg: describeFSError(err)})
		return
	}
	if !fi.IsDir() {
		l.readFile(p.path, format, true)
		return
	}
	entries, err := os.ReadDir(p.path)
	if err != nil {
		l.errs = append(l.errs, &Error{Source: fmt.Sprintf("%s %q", what, p.path), Msg: describeFSError(err)})
		return
	}
	for _, e := range entries { // sorted by name
		path := filepath.Join(p.path, e.Name())
		fi, err := os.Stat(path) // follows symlinks
		if err != nil {
			l.errs = append(l.errs, &Error{Source: fmt.Sprintf("config file %q", path), Msg: describeFSError(err)})
			continue
		}
		if fi.IsDir() {
			continue
		}
		if format == "" && formatOf(path) == "" {
			continue
		}
		l.readFile(path, format, false)
	}
}

// describeFSError turns a file system error into the rest of a sentence.
func describeFSError(err error) string {
	switch {
	case errors.Is(err, os.ErrNotExist):
		return "no such file or directory"
	case errors.Is(err, os.ErrPermission):
		return "permission denied"
	}
	return err.Error()
}

// readFile reads, parses and adds one config file. An explicit
// -config-file with neither a known extension nor -config-format is
// skipped with a warning, as Consul does.
func (l *loader) readFile(path, format string, explicit bool) {
	src := &source{desc: fmt.Sprintf("config file %q", path)}
	if format == "" {
		format = formatOf(path)
	}
	if format == "" {
		if explicit {
			l.warnings = append(l.warnings, fmt.Sprintf(
				"skipping config file %q: its name must end in .json or .hcl, or -config-format must be set", path))
		}
		return
	}
	data, err := os.ReadFile(path)
	if err != nil {
		l.errs = append(l.errs, &Error{Source: src.desc, Msg: describeFSError(err)})
		return
	}
	tree, err := parse(data, format)
	if err != nil {
		l.errs = append(l.errs, &Error{Source: src.desc, Msg: err.Error()})
		return
	}
	l.sources = append(l.sources, path)
	l.add(src, tree)
}

// add decodes one source's tree and merges it.
func (l *loader) add(src *source, tree map[string]any) {
	d := &decoder{src: src}
	var raw rawConfig
	d.decodeKeys("", tree, reflect.ValueOf(&raw).Elem(), false)
	for _, key := range d.ignored {
		where := src.where(key)
		if !contains(l.ignoredBy[key], where) {
			l.ignoredBy[key] = append(l.ignoredBy[key], where)
		}
	}
	services, checks := d.definitions(&raw)
	l.errs = append(l.errs, d.errs...)
	l.deprecatedTLSWarnings(src, &raw)
	for _, s := range services {
		l.services = append(l.services, definedService{def: s.def, src: src.desc, key: s.key})
	}
	for _, c := range checks {
		l.checks = append(l.checks, definedCheck{def: c.def, src: src.desc, key: c.key})
	}
	raw.Service, raw.Services, raw.Check, raw.Checks = nil, nil, nil, nil
	merge(&l.merged, &raw)
}

// ignoredWarnings reports each ignored key once, naming where it was set.
func (l *loader) ignoredWarnings() []string {
	keys := sortedKeys(l.ignoredBy)
	out := make([]string, 0, len(keys))
	for _, k := range keys {
		out = append(out, fmt.Sprintf("config key %q is not supported by Meridian and is ignored (set in %s)",
			k, strings.Join(l.ignoredBy[k], ", ")))
	}
	return out
}

func contains(list []string, s string) bool {
	for _, e := range list {
		if e == s {
			return true
		}
	}
	return false
}

// keyed pairs a definition with its key path in the source.
type keyed[T any] struct {
	def T
	key string
}

// definitions converts, normalises and validates a source's services and
// top-level checks, recording every problem against its key path.
func (d *decoder) definitions(raw *rawConfig) ([]keyed[ServiceDefinition], []keyed[CheckDefinition]) {
	var services []keyed[ServiceDefinition]
	addService := func(key string, r *rawService) {
		if def, ok := d.service(key, r); ok {
			services = append(services, keyed[ServiceDefinition]{def, key})
		}
	}
	if raw.Service != nil {
		addService("service", raw.Service)
	}
	for i := range raw.Services {
		addService(fmt.Sprintf("services[%d]", i), &raw.Services[i])
	}

	var checks []keyed[CheckDefinition]
	addCheck := func(key string, r *rawCheck) {
		if t := r.unsupportedType(); t != "" {
			d.fail(key, "%s checks are not supported by Meridian", t)
			return
		}
		def := r.definition()
		if def.ID == "" {
			def.ID = def.Name
		}
		bad := false
		for _, e := range def.validate() {
			d.fail(joinKey(key, e.key), "%s", e.msg)
			bad = true
		}
		if !bad {
			checks = append(checks, keyed[CheckDefinition]{def, key})
		}
	}
	if raw.Check != nil {
		addCheck("check", raw.Check)
	}
	for i := range raw.Checks {
		addCheck(fmt.Sprintf("checks[%d]", i), &raw.Checks[i])
	}
	return services, checks
}

// service converts, normalises and validates one raw service.
func (d *decoder) service(key string, r *rawService) (ServiceDefinition, bool) {
	// Name the i-th check of the definition by its key in the source:
	// check comes first, then checks.
	checkKey := func(i int) string {
		if r.Check != nil {
			if i == 0 {
				return "check"
			}
			i--
		}
		return fmt.Sprintf("checks[%d]", i)
	}
	ok := true
	raws := []*rawCheck{}
	if r.Check != nil {
		raws = append(raws, r.Check)
	}
	for i := range r.Checks {
		raws = append(raws, &r.Checks[i])
	}
	for i, rc := range raws {
		if t := rc.unsupportedType(); t != "" {
			d.fail(joinKey(key, checkKey(i)), "%s checks are not supported by Meridian", t)
			ok = false
		}
	}
	if !ok {
		return ServiceDefinition{}, false
	}
	def := r.definition()
	for _, o := range []struct {
		name string
		tree any
		dst  *json.RawMessage
	}{{"proxy", r.Proxy, &def.Proxy}, {"connect", r.Connect, &def.Connect}, {"ai", r.AI, &def.AI}} {
		if o.tree == nil {
			continue
		}
		raw, err := opaqueJSON(o.tree)
		if err != nil {
			d.fail(joinKey(key, o.name), "%s", err)
			ok = false
			continue
		}
		*o.dst = raw
	}
	if !ok {
		return ServiceDefinition{}, false
	}
	def.Normalize()
	for _, e := range def.validate(checkKey) {
		d.fail(joinKey(key, e.key), "%s", e.msg)
		ok = false
	}
	return def, ok
}

// LoadServiceFile reads a file holding service definitions, as `meridian
// services register` takes it: JSON or HCL (by extension; JSON when the
// extension is neither) with a service block, a services list, or both.
// The definitions come back validated and normalised. Known-but-ignored
// keys (connect, proxy, token, ...) are dropped; ReadServiceFile also
// returns warnings about them.
func LoadServiceFile(path string) ([]ServiceDefinition, error) {
	defs, _, err := ReadServiceFile(path)
	return defs, err
}

// ReadServiceFile is LoadServiceFile that also returns a warning for each
// known-but-ignored key the file sets.
func ReadServiceFile(path string) ([]ServiceDefinition, []string, error) {
	src := &source{desc: fmt.Sprintf("service file %q", path)}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, &Error{Source: src.desc, Msg: describeFSError(err)}
	}
	format := formatOf(path)
	if format == "" {
		format = FormatJSON
	}
	tree, err := parse(data, format)
	if err != nil {
		return nil, nil, &Error{Source: src.desc, Msg: err.Error()}
	}
	var raw rawServiceFile
	d := &decoder{src: src}
	d.decodeKeys("", tree, reflect.ValueOf(&raw).Elem(), false)
	var defs []ServiceDefinition
	if raw.Service != nil {
		if def, ok := d.service("service", raw.Service); ok {
			defs = append(defs, def)
		}
	}
	for i := range raw.Services {
		if def, ok := d.service(fmt.Sprintf("services[%d]", i), &raw.Services[i]); ok {
			defs = append(defs, def)
		}
	}
	warnings := ignoredKeyWarnings(src, d.ignored)
	if len(d.errs) > 0 {
		return nil, warnings, errors.Join(d.errs...)
	}
	if len(defs) == 0 {
		return nil, warnings, &Error{Source: src.desc, Msg: "no service or services defined"}
	}
	if err := duplicateServiceIDs(defs); err != nil {
		return nil, warnings, &Error{Source: src.desc, Msg: err.Error()}
	}
	return defs, warnings, nil
}

// ParseServiceDefinition decodes one service definition in JSON: the body
// of /v1/agent/service/register (Consul's CamelCase field names) or a
// config file's service block (snake_case) — both work. The definition
// comes back validated and normalised; warnings name the known-but-ignored
// fields that were set.
func ParseServiceDefinition(data []byte) (*ServiceDefinition, []string, error) {
	src := &source{desc: "service definition"}
	tree, err := parse(data, FormatJSON)
	if err != nil {
		return nil, nil, &Error{Source: src.desc, Msg: err.Error()}
	}
	var raw rawService
	d := &decoder{src: src}
	d.decodeKeys("", tree, reflect.ValueOf(&raw).Elem(), true)
	if len(d.errs) > 0 {
		return nil, ignoredKeyWarnings(src, d.ignored), errors.Join(d.errs...)
	}
	def, ok := d.service("", &raw)
	if !ok {
		return nil, ignoredKeyWarnings(src, d.ignored), errors.Join(d.errs...)
	}
	return &def, ignoredKeyWarnings(src, d.ignored), nil
}

// ParseCheckDefinition decodes one check definition in JSON: the body of
// /v1/agent/check/register (CamelCase) or a config file's check block
// (snake_case). The ID defaults to the name. The check comes back
// validated.
func ParseCheckDefinition(data []byte) (*CheckDefinition, []string, error) {
	src := &source{desc: "check definition"}
	tree, err := parse(data, FormatJSON)
	if err != nil {
		return nil, nil, &Error{Source: src.desc, Msg: err.Error()}
	}
	var raw rawCheck
	d := &decoder{src: src}
	d.decodeKeys("", tree, reflect.ValueOf(&raw).Elem(), true)
	warnings := ignoredKeyWarnings(src, d.ignored)
	if len(d.errs) > 0 {
		return nil, warnings, errors.Join(d.errs...)
	}
	if t := raw.unsupportedType(); t != "" {
		return nil, warnings, &Error{Source: src.desc, Msg: t + " checks are not supported by Meridian"}
	}
	def := raw.definition()
	if def.ID == "" {
		def.ID = def.Name
	}
	for _, e := range def.validate() {
		d.errs = append(d.errs, &Error{Source: src.desc, Key: e.key, Msg: e.String()})
	}
	if len(d.errs) > 0 {
		return nil, warnings, errors.Join(d.errs...)
	}
	return &def, warnings, nil
}

// ignoredKeyWarnings words the ignored keys of a single source.
func ignoredKeyWarnings(src *source, keys []string) []string {
	var out []string
	seen := map[string]bool{}
	for _, k := range keys {
		if seen[k] {
			continue
		}
		seen[k] = true
		out = append(out, fmt.Sprintf("%s: key %q is not supported by Meridian and is ignored", src.desc, k))
	}
	sort.Strings(out)
	return out
}

// duplicateServiceIDs reports the first service ID defined twice.
func duplicateServiceIDs(defs []ServiceDefinition) error {
	seen := map[string]bool{}
	for _, d := range defs {
		if seen[d.ID] {
			return fmt.Errorf("service ID %q is defined twice", d.ID)
		}
		seen[d.ID] = true
	}
	return nil
}

// defaultAdvertiseIP finds the address to advertise for an unspecified bind
// address with go-sockaddr.
func defaultAdvertiseIP(bind netip.Addr) (netip.Addr, error) {
	if bind.Is4() {
		ip, err := firstAddr(sockaddr.GetPrivateInterfaces, sockaddr.TypeIPv4)
		if err != nil {
			return netip.Addr{}, err
		}
		if !ip.IsValid() {
			return netip.Addr{}, errors.New("no private IPv4 address found")
		}
		return ip, nil
	}
	ip, err := firstAddr(sockaddr.GetPrivateInterfaces, sockaddr.TypeIPv6)
	if err == nil && !ip.IsValid() {
		ip, err = firstAddr(sockaddr.GetPublicInterfaces, sockaddr.TypeIPv6)
	}
	if err != nil {
		return netip.Addr{}, err
	}
	if !ip.IsValid() {
		return netip.Addr{}, errors.New("no IPv6 address found")
	}
	return ip, nil
}

// firstAddr returns the first address of the given type among the
// interfaces list returns (go-sockaddr sorts the default route's first).
func firstAddr(list func() (sockaddr.IfAddrs, error), typ sockaddr.SockAddrType) (netip.Addr, error) {
	ifs, err := list()
	if err != nil {
		return netip.Addr{}, fmt.Errorf("list network interfaces: %w", err)
	}
	for _, ifa := range ifs {
		if ifa.SockAddr.Type()&typ == 0 {
			continue
		}
		ipa, ok := ifa.SockAddr.(sockaddr.IPAddr)
		if !ok {
			continue
		}
		if a, ok := netip.AddrFromSlice(*ipa.NetIP()); ok {
			return a.Unmap(), nil
		}
	}
	return netip.Addr{}, nil
}
