package tlsutil

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// Config is the agent's TLS configuration, as package config resolves it
// from Consul's tls stanza: every protocol block already has the values it
// inherits from tls.defaults.
type Config struct {
	// InternalRPC covers the server port: RPC and Raft, between agents and
	// servers and between servers, across datacenters too.
	InternalRPC ProtocolConfig
	// HTTPS covers the HTTPS listener of the HTTP API (ports.https).
	HTTPS ProtocolConfig
	// Datacenter is the agent's datacenter: a Raft peer must hold a
	// certificate for server.<Datacenter>.<Domain> when
	// verify_server_hostname is set.
	Datacenter string
	// Domain is the DNS domain, with or without its trailing dot
	// ("consul."); server certificates name server.<datacenter>.<domain>.
	Domain string
}

// ProtocolConfig is one block of the tls stanza (internal_rpc or https)
// with the defaults laid under it.
type ProtocolConfig struct {
	// CAFile is a PEM file of the CA certificates that peers' certificates
	// must chain to. Key ca_file.
	CAFile string
	// CAPath is a directory of PEM files of CA certificates, used when
	// CAFile is empty. Key ca_path.
	CAPath string
	// CertFile is the PEM certificate this agent presents; it needs
	// KeyFile. Key cert_file.
	CertFile string
	// KeyFile is the PEM private key of CertFile. Key key_file.
	KeyFile string
	// VerifyIncoming requires every incoming connection to use TLS and to
	// present a certificate signed by the CA. Key verify_incoming; default
	// false.
	VerifyIncoming bool
	// VerifyOutgoing makes outgoing connections use TLS and check the
	// server's certificate against the CA. Key verify_outgoing; default
	// false. (Only the internal RPC makes outgoing connections.)
	VerifyOutgoing bool
	// VerifyServerHostname (internal RPC only) requires a server's
	// certificate to name server.<datacenter>.<domain> for the datacenter
	// dialled, and a Raft peer's to name server.<own datacenter>.<domain>.
	// It implies VerifyOutgoing, as in Consul. Key verify_server_hostname.
	VerifyServerHostname bool
	// TLSMinVersion is the oldest TLS version accepted, in Consul's
	// spelling: TLSv1_0, TLSv1_1, TLSv1_2 or TLSv1_3. Empty means TLSv1_2.
	// Key tls_min_version.
	TLSMinVersion string
	// CipherSuites are the TLS 1.0-1.2 cipher suites allowed, by their
	// IANA names (TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256, ...); empty means
	// Go's defaults. TLS 1.3 suites are not configurable. Key
	// tls_cipher_suites (comma separated).
	CipherSuites []string
}

// Enabled reports whether the block asks for anything at all.
func (p ProtocolConfig) Enabled() bool {
	return p.CAFile != "" || p.CAPath != "" || p.CertFile != "" || p.KeyFile != "" ||
		p.VerifyIncoming || p.VerifyOutgoing || p.VerifyServerHostname
}

// TLS version names, as Consul spells them in tls_min_version.
var tlsVersions = map[string]uint16{
	"TLSv1_0": tls.VersionTLS10,
	"TLSv1_1": tls.VersionTLS11,
	"TLSv1_2": tls.VersionTLS12,
	"TLSv1_3": tls.VersionTLS13,
}

// DeprecatedTLSVersions maps the spellings Consul accepted before 1.12
// (tls12) to the current ones (TLSv1_2).
var DeprecatedTLSVersions = map[string]string{
	"tls10": "TLSv1_0",
	"tls11": "TLSv1_1",
	"tls12": "TLSv1_2",
	"tls13": "TLSv1_3",
}

// DefaultTLSMinVersion is the tls_min_version when none is set, as Consul's.
const DefaultTLSMinVersion = "TLSv1_2"

// TLSVersionNames lists the accepted tls_min_version values, sorted.
func TLSVersionNames() []string {
	names := make([]string, 0, len(tlsVersions))
	for n := range tlsVersions {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// ParseMinVersion turns a tls_min_version value into the crypto/tls
// constant; "" means DefaultTLSMinVersion.
func ParseMinVersion(s string) (uint16, error) {
	if s == "" {
		s = DefaultTLSMinVersion
	}
	if v, ok := tlsVersions[s]; ok {
		return v, nil
	}
	return 0, fmt.Errorf("%q is not a TLS version (want one of %s)", s, strings.Join(TLSVersionNames(), ", "))
}

// ParseCipherSuites turns cipher suite names into their IDs. Only the
// suites Go considers secure are accepted, and none when the minimum
// version is TLS 1.3, whose suites are fixed.
func ParseCipherSuites(names []string, minVersion uint16) ([]uint16, error) {
	if len(names) == 0 {
		return nil, nil
	}
	if minVersion >= tls.VersionTLS13 {
		return nil, errors.New("cipher suites cannot be set with tls_min_version TLSv1_3, whose cipher suites are fixed")
	}
	known := map[string]uint16{}
	for _, s := range tls.CipherSuites() {
		for _, v := range s.SupportedVersions {
			if v <= tls.VersionTLS12 {
				known[s.Name] = s.ID
				break
			}
		}
	}
	out := make([]uint16, 0, len(names))
	for _, n := range names {
		id, ok := known[strings.TrimSpace(n)]
		if !ok {
			return nil, fmt.Errorf("%q is not a supported cipher suite (supported: %s)", n, strings.Join(sortedKeys(known), ", "))
		}
		out = append(out, id)
	}
	return out, nil
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// FileError is a problem with one of the files the TLS configuration
// names: Field is the config key's last part ("cert_file"), Path the file.
type FileError struct {
	Field string
	Path  string
	Msg   string
}

// Error returns the problem as a sentence naming the key and the file.
func (e *FileError) Error() string {
	return fmt.Sprintf("%s %q: %s", e.Field, e.Path, e.Msg)
}

// describeReadError turns a failure to read a file into the end of a
// sentence.
func describeReadError(err error) string {
	switch {
	case errors.Is(err, os.ErrNotExist):
		return "no such file or directory"
	case errors.Is(err, os.ErrPermission):
		return "permission denied"
	}
	return err.Error()
}

// LoadKeyPair reads a PEM certificate and its private key. It returns nil
// and no error when both paths are empty, and a *FileError when one is
// missing, unreadable, not PEM, or when the key does not belong to the
// certificate.
func LoadKeyPair(certFile, keyFile string) (*tls.Certificate, error) {
	switch {
	case certFile == "" && keyFile == "":
		return nil, nil
	case keyFile == "":
		return nil, &FileError{Field: "cert_file", Path: certFile, Msg: "is set without key_file: set both"}
	case certFile == "":
		return nil, &FileError{Field: "key_file", Path: keyFile, Msg: "is set without cert_file: set both"}
	}
	certPEM, err := os.ReadFile(certFile)
	if err != nil {
		return nil, &FileError{Field: "cert_file", Path: certFile, Msg: describeReadError(err)}
	}
	keyPEM, err := os.ReadFile(keyFile)
	if err != nil {
		return nil, &FileError{Field: "key_file", Path: keyFile, Msg: describeReadError(err)}
	}
	if b, _ := pem.Decode(certPEM); b == nil || b.Type != "CERTIFICATE" {
		return nil, &FileError{Field: "cert_file", Path: certFile, Msg: "holds no PEM certificate"}
	}
	if b, _ := pem.Decode(keyPEM); b == nil || !strings.Contains(b.Type, "PRIVATE KEY") {
		return nil, &FileError{Field: "key_file", Path: keyFile, Msg: "holds no PEM private key"}
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		msg := fmt.Sprintf("cannot be used with cert_file %q: %v", certFile, err)
		if strings.Contains(err.Error(), "does not match") {
			msg = fmt.Sprintf("is not the private key of cert_file %q", certFile)
		}
		return nil, &FileError{Field: "key_file", Path: keyFile, Msg: msg}
	}
	leaf, err := x509.ParseCertificate(cert.Certificate[0])
	if err != nil {
		return nil, &FileError{Field: "cert_file", Path: certFile, Msg: fmt.Sprintf("cannot be parsed: %v", err)}
	}
	cert.Leaf = leaf
	return &cert, nil
}

// LoadCAs reads the CA certificates of caFile, or else of every file in
// caPath, into a pool. It returns nil and no error when both are empty.
func LoadCAs(caFile, caPath string) (*x509.CertPool, error) {
	if caFile == "" && caPath == "" {
		return nil, nil
	}
	pool := x509.NewCertPool()
	add := func(field, path string) error {
		data, err := os.ReadFile(path)
		if err != nil {
			return &FileError{Field: field, Path: path, Msg: describeReadError(err)}
		}
		if !pool.AppendCertsFromPEM(data) {
			return &FileError{Field: field, Path: path, Msg: "holds no PEM certificate"}
		}
		return nil
	}
	if caFile != "" {
		if err := add("ca_file", caFile); err != nil {
			return nil, err
		}
		return pool, nil
	}
	entries, err := os.ReadDir(caPath)
	if err != nil {
		return nil, &FileError{Field: "ca_path", Path: caPath, Msg: describeReadError(err)}
	}
	found := 0
	for _, e := range entries {
		p := filepath.Join(caPath, e.Name())
		fi, err := os.Stat(p)
		if err != nil || fi.IsDir() {
			continue
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return nil, &FileError{Field: "ca_path", Path: p, Msg: describeReadError(err)}
		}
		if pool.AppendCertsFromPEM(data) {
			found++
		}
	}
	if found == 0 {
		return nil, &FileError{Field: "ca_path", Path: caPath, Msg: "holds no PEM certificate"}
	}
	return pool, nil
}

// ServerName is the name a server's certificate must hold for
// verify_server_hostname: server.<dc>.<domain>.
func ServerName(dc, domain string) string {
	return "server." + dc + "." + strings.TrimSuffix(domain, ".")
}
