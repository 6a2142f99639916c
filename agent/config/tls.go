package config

import (
	"errors"
	"fmt"
	"strings"

	"github.com/meridian-sd/meridian/tlsutil"
)

// TLS configuration, as Consul 1.12 and later read it:
//
//	tls {
//	  defaults     { ca_file, ca_path, cert_file, key_file, verify_incoming,
//	                 verify_outgoing, tls_min_version, tls_cipher_suites }
//	  internal_rpc { the same, and verify_server_hostname }
//	  https        { the same as defaults }
//	  grpc         { accepted and ignored: Meridian has no gRPC listener }
//	}
//
// internal_rpc and https take every key they leave unset from defaults.
// The top-level keys of Consul before 1.12 still work, each with a warning
// naming the key that replaces it, and only where the stanza does not set
// that key (the stanza wins, as in Consul).

// rawTLS is the tls stanza.
type rawTLS struct {
	Defaults    rawTLSProtocol `cfg:"defaults"`
	InternalRPC rawTLSProtocol `cfg:"internal_rpc"`
	HTTPS       rawTLSProtocol `cfg:"https"`
}

func (rawTLS) ignoredKeys() []string { return []string{"grpc"} }

// rawTLSProtocol is one block of the tls stanza.
type rawTLSProtocol struct {
	CAFile               *string `cfg:"ca_file"`
	CAPath               *string `cfg:"ca_path"`
	CertFile             *string `cfg:"cert_file"`
	KeyFile              *string `cfg:"key_file"`
	VerifyIncoming       *bool   `cfg:"verify_incoming"`
	VerifyOutgoing       *bool   `cfg:"verify_outgoing"`
	VerifyServerHostname *bool   `cfg:"verify_server_hostname"`
	TLSMinVersion        *string `cfg:"tls_min_version"`
	TLSCipherSuites      *string `cfg:"tls_cipher_suites"`
}

func (rawTLSProtocol) ignoredKeys() []string { return []string{"use_auto_cert"} }

// deprecatedTLSKeys maps each pre-1.12 top-level key to its place in the
// tls stanza.
var deprecatedTLSKeys = []struct {
	old, new string
	get      func(c *rawConfig) any
}{
	{"ca_file", "tls.defaults.ca_file", func(c *rawConfig) any { return c.CAFile }},
	{"ca_path", "tls.defaults.ca_path", func(c *rawConfig) any { return c.CAPath }},
	{"cert_file", "tls.defaults.cert_file", func(c *rawConfig) any { return c.CertFile }},
	{"key_file", "tls.defaults.key_file", func(c *rawConfig) any { return c.KeyFile }},
	{"verify_incoming", "tls.defaults.verify_incoming", func(c *rawConfig) any { return c.VerifyIncoming }},
	{"verify_incoming_rpc", "tls.internal_rpc.verify_incoming", func(c *rawConfig) any { return c.VerifyIncomingRPC }},
	{"verify_incoming_https", "tls.https.verify_incoming", func(c *rawConfig) any { return c.VerifyIncomingHTTPS }},
	{"verify_outgoing", "tls.defaults.verify_outgoing", func(c *rawConfig) any { return c.VerifyOutgoing }},
	{"verify_server_hostname", "tls.internal_rpc.verify_server_hostname", func(c *rawConfig) any { return c.VerifyServerHostname }},
	{"tls_min_version", "tls.defaults.tls_min_version", func(c *rawConfig) any { return c.TLSMinVersion }},
	{"tls_cipher_suites", "tls.defaults.tls_cipher_suites", func(c *rawConfig) any { return c.TLSCipherSuites }},
}

// deprecatedTLSWarnings warns about every pre-1.12 TLS key one source sets.
func (l *loader) deprecatedTLSWarnings(src *source, raw *rawConfig) {
	for _, k := range deprecatedTLSKeys {
		v := k.get(raw)
		if v == nil || fmt.Sprint(v) == "<nil>" {
			continue
		}
		l.warnings = append(l.warnings, fmt.Sprintf(
			"config key %q is deprecated: use %q instead (set in %s)", k.old, k.new, src.where(k.old)))
	}
}

// fillUnset sets *dst to src when dst is unset.
func fillUnset[T any](dst **T, src *T) {
	if *dst == nil && src != nil {
		*dst = src
	}
}

// buildTLS resolves the tls stanza (with the deprecated top-level keys
// under it) into rc.TLS and checks it: files readable and matching,
// verify_* with what they need, versions and cipher suites known.
func (l *loader) buildTLS(rc *RuntimeConfig, c *rawConfig) {
	fail := func(format string, args ...any) {
		l.errs = append(l.errs, &Error{Msg: fmt.Sprintf(format, args...)})
	}
	t := c.TLS
	fillUnset(&t.Defaults.CAFile, c.CAFile)
	fillUnset(&t.Defaults.CAPath, c.CAPath)
	fillUnset(&t.Defaults.CertFile, c.CertFile)
	fillUnset(&t.Defaults.KeyFile, c.KeyFile)
	fillUnset(&t.Defaults.VerifyIncoming, c.VerifyIncoming)
	fillUnset(&t.InternalRPC.VerifyIncoming, c.VerifyIncomingRPC)
	fillUnset(&t.HTTPS.VerifyIncoming, c.VerifyIncomingHTTPS)
	fillUnset(&t.Defaults.VerifyOutgoing, c.VerifyOutgoing)
	fillUnset(&t.InternalRPC.VerifyServerHostname, c.VerifyServerHostname)
	fillUnset(&t.Defaults.TLSMinVersion, c.TLSMinVersion)
	fillUnset(&t.Defaults.TLSCipherSuites, c.TLSCipherSuites)

	// As Consul: only the internal RPC dials servers whose name it could
	// check.
	if t.Defaults.VerifyServerHostname != nil || t.HTTPS.VerifyServerHostname != nil {
		fail("verify_server_hostname is only valid in the tls.internal_rpc stanza")
	}

	rc.TLS = tlsutil.Config{
		Datacenter:  rc.Datacenter,
		Domain:      strings.TrimSuffix(rc.DNSDomain, "."),
		InternalRPC: l.tlsProtocol("internal_rpc", t.InternalRPC, t.Defaults),
		HTTPS:       l.tlsProtocol("https", t.HTTPS, t.Defaults),
	}
	rpc := &rc.TLS.InternalRPC
	rpc.VerifyServerHostname = deref(t.InternalRPC.VerifyServerHostname)
	// verify_server_hostname implies verify_outgoing: without it the
	// agent would dial plaintext while the operator believes servers are
	// checked (Consul's CVE-2018-19653).
	rpc.VerifyOutgoing = rpc.VerifyOutgoing || rpc.VerifyServerHostname

	reported := map[string]bool{}
	check := func(block string, p tlsutil.ProtocolConfig, raw rawTLSProtocol, isRPC bool) {
		err := tlsutil.CheckProtocol(p, isRPC)
		if err == nil {
			return
		}
		// Name the block the offending value was set in: the message
		// starts with its key.
		field, _, _ := strings.Cut(err.Error(), " ")
		field = strings.TrimSuffix(field, ":")
		var fe *tlsutil.FileError
		if errors.As(err, &fe) {
			field = fe.Field
		}
		where := "tls." + block
		if set, known := rawSets(raw, field); known && !set {
			where = "tls.defaults"
		}
		msg := where + "." + err.Error()
		if !reported[msg] {
			reported[msg] = true
			fail("%s", msg)
		}
	}
	check("internal_rpc", rc.TLS.InternalRPC, t.InternalRPC, true)
	check("https", rc.TLS.HTTPS, t.HTTPS, false)

	if len(rc.HTTPSAddrs) > 0 && (rc.TLS.HTTPS.CertFile == "" || rc.TLS.HTTPS.KeyFile == "") {
		fail("ports.https is set but HTTPS has no certificate: set cert_file and key_file in tls.https or tls.defaults")
	}
}

// rawSets reports whether a protocol block sets the key field itself
// rather than inheriting it; known is false for a key it cannot tell.
func rawSets(raw rawTLSProtocol, field string) (set, known bool) {
	switch field {
	case "ca_file":
		return raw.CAFile != nil, true
	case "ca_path":
		return raw.CAPath != nil, true
	case "cert_file":
		return raw.CertFile != nil, true
	case "key_file":
		return raw.KeyFile != nil, true
	case "verify_incoming":
		return raw.VerifyIncoming != nil, true
	case "verify_outgoing":
		return raw.VerifyOutgoing != nil, true
	case "tls_min_version":
		return raw.TLSMinVersion != nil, true
	case "tls_cipher_suites":
		return raw.TLSCipherSuites != nil, true
	}
	return false, false
}

// tlsProtocol lays a protocol block over the defaults. Deprecated version
// spellings (tls12) are translated with a warning.
func (l *loader) tlsProtocol(block string, p, def rawTLSProtocol) tlsutil.ProtocolConfig {
	pick := func(v, d *string) string { return or(v, deref(d)) }
	pickBool := func(v, d *bool) bool { return or(v, deref(d)) }
	out := tlsutil.ProtocolConfig{
		CAFile:         pick(p.CAFile, def.CAFile),
		CAPath:         pick(p.CAPath, def.CAPath),
		CertFile:       pick(p.CertFile, def.CertFile),
		KeyFile:        pick(p.KeyFile, def.KeyFile),
		VerifyIncoming: pickBool(p.VerifyIncoming, def.VerifyIncoming),
		VerifyOutgoing: pickBool(p.VerifyOutgoing, def.VerifyOutgoing),
		TLSMinVersion:  pick(p.TLSMinVersion, def.TLSMinVersion),
	}
	if v, ok := tlsutil.DeprecatedTLSVersions[out.TLSMinVersion]; ok {
		key := "tls." + block + ".tls_min_version"
		if p.TLSMinVersion == nil {
			key = "tls.defaults.tls_min_version"
		}
		warning := fmt.Sprintf("%s %q is deprecated: use %q", key, out.TLSMinVersion, v)
		if !contains(l.warnings, warning) {
			l.warnings = append(l.warnings, warning)
		}
		out.TLSMinVersion = v
	}
	if s := pick(p.TLSCipherSuites, def.TLSCipherSuites); strings.TrimSpace(s) != "" {
		for _, name := range strings.Split(s, ",") {
			out.CipherSuites = append(out.CipherSuites, strings.TrimSpace(name))
		}
	}
	return out
}
