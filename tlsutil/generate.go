// Package tlsutil holds Meridian's agent TLS: the configuration that wraps
// RPC, Raft and HTTPS listeners, and the certificate authority helpers
// behind `meridian tls ca create` and `meridian tls cert create`.
//
// The generated material follows Consul's `consul tls` defaults so an
// operator's existing habits and file layouts carry over: ECDSA P-256 keys
// in SEC 1 ("EC PRIVATE KEY") PEM, a self-signed CA valid for 1825 days
// with optional X.509 name constraints, and leaf certificates valid for
// 365 days whose SANs name the role and datacenter (server.<dc>.<domain>,
// client.<dc>.<domain>, cli.<dc>.<domain>) plus localhost. The server name
// is what verify_server_hostname checks, so only a server certificate of
// the right datacenter can act as that datacenter's server.
package tlsutil

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"strings"
	"time"
)

const (
	// DefaultCALifetime is how long a CA is valid when CAOpts.Lifetime is
	// zero: 1825 days, Consul's `tls ca create -days` default.
	DefaultCALifetime = 1825 * 24 * time.Hour

	// DefaultCertLifetime is how long a leaf certificate is valid when
	// CertOpts.Lifetime is zero: 365 days, Consul's `tls cert create
	// -days` default.
	DefaultCertLifetime = 365 * 24 * time.Hour

	// DefaultDomain is the DNS domain certificates are named under when
	// none is given, as the agent's `domain` default.
	DefaultDomain = "consul"

	// backdate moves NotBefore into the past so that a peer whose clock
	// runs a little behind accepts a certificate made just now.
	backdate = time.Minute
)

// CAOpts describes a certificate authority for GenerateCA.
type CAOpts struct {
	// CommonName is the CA's subject common name. Default: "Meridian
	// Agent CA <serial>", the serial in decimal, so that two CAs made
	// by the same command are told apart.
	CommonName string

	// Lifetime is how long the CA is valid from NotBefore. Default
	// DefaultCALifetime; negative is an error.
	Lifetime time.Duration

	// NotBefore is the start of validity. Default: one minute ago.
	NotBefore time.Time

	// PermittedDNSDomains, when not empty, become critical X.509 name
	// constraints: the CA then only vouches for certificates whose DNS
	// names lie under one of these domains (Consul's -name-constraint
	// adds the cluster's domain and localhost). Default: none.
	PermittedDNSDomains []string
}

// CertOpts describes a leaf certificate for GenerateCert.
type CertOpts struct {
	// CACert and CAKey are the PEM-encoded signing CA certificate and
	// its private key (EC, PKCS #1 RSA or PKCS #8). Required.
	CACert, CAKey string

	// CommonName is the subject common name. Default: the first of
	// DNSNames.
	CommonName string

	// DNSNames and IPAddresses are the Subject Alternative Names. At
	// least one name or address is required.
	DNSNames    []string
	IPAddresses []net.IP

	// ExtKeyUsage is what the certificate may be used for: ServerAuth
	// to accept TLS connections, ClientAuth to make them. Required.
	ExtKeyUsage []x509.ExtKeyUsage

	// Lifetime is how long the certificate is valid from NotBefore.
	// Default DefaultCertLifetime; negative is an error.
	Lifetime time.Duration

	// NotBefore is the start of validity. Default: one minute ago.
	NotBefore time.Time
}

// Role is the kind of agent a certificate is for.
type Role int

const (
	// RoleServer is a server agent's certificate: it serves and makes
	// RPC and Raft connections and is named server.<dc>.<domain>.
	RoleServer Role = iota + 1
	// RoleClient is a client agent's certificate: it makes RPC
	// connections to servers and serves HTTPS, named client.<dc>.<domain>.
	RoleClient
	// RoleCLI is a certificate for command-line and API callers,
	// named cli.<dc>.<domain>; it can only authenticate a client.
	RoleCLI
)

// String returns the role's name as used in file names ("server").
func (r Role) String() string {
	switch r {
	case RoleServer:
		return "server"
	case RoleClient:
		return "client"
	case RoleCLI:
		return "cli"
	default:
		return fmt.Sprintf("role(%d)", int(r))
	}
}

// RoleName returns the DNS name that identifies role in datacenter dc
// under domain: server.dc1.consul, client.dc1.consul or cli.dc1.consul.
// An empty domain means DefaultDomain; a trailing dot is dropped.
func RoleName(role Role, dc, domain string) string {
	return role.String() + "." + dc + "." + normalizeDomain(domain)
}

// AgentCertOpts returns the CertOpts Consul's `tls cert create` uses for
// role: the role name (and, for a server given a node name,
// <node>.server.<dc>.<domain>), localhost, 127.0.0.1 for servers and
// clients, and the extended key usages. Server and client certificates
// carry ServerAuth and ClientAuth (a client agent serves HTTPS too);
// CLI certificates carry ClientAuth only. The caller fills in CACert,
// CAKey and, if wanted, Lifetime and more names.
func AgentCertOpts(role Role, dc, domain, node string) CertOpts {
	name := RoleName(role, dc, domain)
	o := CertOpts{CommonName: name}
	if role == RoleServer && node != "" {
		o.DNSNames = append(o.DNSNames, node+"."+name)
	}
	o.DNSNames = append(o.DNSNames, name, "localhost")
	switch role {
	case RoleServer, RoleClient:
		o.IPAddresses = []net.IP{net.IPv4(127, 0, 0, 1)}
		o.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}
	case RoleCLI:
		o.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
	}
	return o
}

// NameConstraints returns the permitted DNS domains Consul's
// `tls ca create -name-constraint` sets: the additional ones, then the
// cluster's domain and localhost.
func NameConstraints(domain string, additional ...string) []string {
	out := make([]string, 0, len(additional)+2)
	for _, a := range additional {
		if a = strings.TrimSpace(a); a != "" {
			out = append(out, a)
		}
	}
	return append(out, normalizeDomain(domain), "localhost")
}

// GenerateCA makes a new self-signed certificate authority with a fresh
// ECDSA P-256 key. It returns the PEM-encoded certificate and key.
func GenerateCA(opts CAOpts) (certPEM, keyPEM string, err error) {
	lifetime, err := lifetimeOr(opts.Lifetime, DefaultCALifetime)
	if err != nil {
		return "", "", fmt.Errorf("generate CA: %w", err)
	}
	key, keyPEM, err := GeneratePrivateKey()
	if err != nil {
		return "", "", fmt.Errorf("generate CA: %w", err)
	}
	sn, err := serialNumber()
	if err != nil {
		return "", "", fmt.Errorf("generate CA: %w", err)
	}
	name := opts.CommonName
	if name == "" {
		name = fmt.Sprintf("Meridian Agent CA %d", sn)
	}
	notBefore := notBeforeOr(opts.NotBefore)
	tmpl := &x509.Certificate{
		SerialNumber:          sn,
		Subject:               pkix.Name{CommonName: name, Organization: []string{"Meridian"}},
		NotBefore:             notBefore,
		NotAfter:              notBefore.Add(lifetime),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
	}
	if len(opts.PermittedDNSDomains) > 0 {
		tmpl.PermittedDNSDomainsCritical = true
		tmpl.PermittedDNSDomains = opts.PermittedDNSDomains
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return "", "", fmt.Errorf("generate CA: sign certificate: %w", err)
	}
	return EncodeCertPEM(der), keyPEM, nil
}

// GenerateCert makes a leaf certificate with a fresh ECDSA P-256 key,
// signed by the CA in opts, and checks that it verifies against that CA
// at a moment within both validity periods (so a name outside the CA's
// name constraints is an error here, not at the first handshake; a
// certificate whose validity does not overlap the CA's is an error too,
// so to make an expired certificate for a test, backdate the CA as well).
// It returns the PEM-encoded certificate and key.
func GenerateCert(opts CertOpts) (certPEM, keyPEM string, err error) {
	if len(opts.DNSNames) == 0 && len(opts.IPAddresses) == 0 {
		return "", "", errors.New("generate certificate: no DNS name or IP address to certify")
	}
	if len(opts.ExtKeyUsage) == 0 {
		return "", "", errors.New("generate certificate: no extended key usage (server or client auth) given")
	}
	for _, ip := range opts.IPAddresses {
		if ip == nil {
			return "", "", errors.New("generate certificate: nil IP address")
		}
	}
	lifetime, err := lifetimeOr(opts.Lifetime, DefaultCertLifetime)
	if err != nil {
		return "", "", fmt.Errorf("generate certificate: %w", err)
	}
	ca, caKey, err := ParseCA(opts.CACert, opts.CAKey)
	if err != nil {
		return "", "", fmt.Errorf("generate certificate: %w", err)
	}
	key, keyPEM, err := GeneratePrivateKey()
	if err != nil {
		return "", "", fmt.Errorf("generate certificate: %w", err)
	}
	sn, err := serialNumber()
	if err != nil {
		return "", "", fmt.Errorf("generate certificate: %w", err)
	}
	name := opts.CommonName
	if name == "" && len(opts.DNSNames) > 0 {
		name = opts.DNSNames[0]
	}
	notBefore := notBeforeOr(opts.NotBefore)
	tmpl := &x509.Certificate{
		SerialNumber:          sn,
		Subject:               pkix.Name{CommonName: name},
		NotBefore:             notBefore,
		NotAfter:              notBefore.Add(lifetime),
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           opts.ExtKeyUsage,
		DNSNames:              opts.DNSNames,
		IPAddresses:           opts.IPAddresses,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, key.Public(), caKey)
	if err != nil {
		return "", "", fmt.Errorf("generate certificate: sign: %w", err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return "", "", fmt.Errorf("generate certificate: parse the result: %w", err)
	}
	// Verify at a moment both the CA and the new certificate are valid,
	// so that certificates made to be already expired still pass here.
	at := leaf.NotBefore
	if ca.NotBefore.After(at) {
		at = ca.NotBefore
	}
	if at.After(leaf.NotAfter) || at.After(ca.NotAfter) {
		return "", "", fmt.Errorf("generate certificate: its validity (%s to %s) does not overlap the CA's (%s to %s)",
			leaf.NotBefore.Format(time.RFC3339), leaf.NotAfter.Format(time.RFC3339),
			ca.NotBefore.Format(time.RFC3339), ca.NotAfter.Format(time.RFC3339))
	}
	roots := x509.NewCertPool()
	roots.AddCert(ca)
	_, err = leaf.Verify(x509.VerifyOptions{
		Roots:       roots,
		CurrentTime: at,
		KeyUsages:   []x509.ExtKeyUsage{x509.ExtKeyUsageAny},
	})
	if err != nil {
		return "", "", fmt.Errorf("generate certificate: the new certificate does not verify against the CA: %w", err)
	}
	return EncodeCertPEM(der), keyPEM, nil
}

// ParseCA parses a PEM CA certificate and its PEM private key and checks
// that they belong together and that the certificate may sign others.
func ParseCA(certPEM, keyPEM string) (*x509.Certificate, crypto.Signer, error) {
	ca, err := ParseCertPEM(certPEM)
	if err != nil {
		return nil, nil, fmt.Errorf("CA certificate: %w", err)
	}
	if !ca.IsCA || !ca.BasicConstraintsValid {
		return nil, nil, fmt.Errorf("CA certificate %q is not a CA (basic constraints do not allow signing)", ca.Subject.CommonName)
	}
	key, err := ParseSignerPEM(keyPEM)
	if err != nil {
		return nil, nil, fmt.Errorf("CA key: %w", err)
	}
	pub, ok := key.Public().(interface{ Equal(crypto.PublicKey) bool })
	if !ok || !pub.Equal(ca.PublicKey) {
		return nil, nil, fmt.Errorf("CA key does not match the public key of CA certificate %q", ca.Subject.CommonName)
	}
	return ca, key, nil
}

// GeneratePrivateKey makes an ECDSA P-256 key and returns it with its
// SEC 1 ("EC PRIVATE KEY") PEM encoding.
func GeneratePrivateKey() (crypto.Signer, string, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, "", fmt.Errorf("generate ECDSA P-256 key: %w", err)
	}
	pemKey, err := EncodeKeyPEM(key)
	if err != nil {
		return nil, "", err
	}
	return key, pemKey, nil
}

// EncodeCertPEM returns a DER certificate as a "CERTIFICATE" PEM block.
func EncodeCertPEM(der []byte) string {
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
}

// EncodeKeyPEM returns a private key as PEM: ECDSA keys in SEC 1 ("EC
// PRIVATE KEY", as Consul writes them), others in PKCS #8.
func EncodeKeyPEM(key crypto.Signer) (string, error) {
	if ec, ok := key.(*ecdsa.PrivateKey); ok {
		der, err := x509.MarshalECPrivateKey(ec)
		if err != nil {
			return "", fmt.Errorf("encode EC private key: %w", err)
		}
		return string(pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der})), nil
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return "", fmt.Errorf("encode private key: %w", err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})), nil
}

// ParseCertPEM parses the first CERTIFICATE block of s.
func ParseCertPEM(s string) (*x509.Certificate, error) {
	rest := []byte(s)
	for {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			return nil, errors.New("no PEM CERTIFICATE block found")
		}
		if block.Type != "CERTIFICATE" {
			continue
		}
		cert, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("parse certificate: %w", err)
		}
		return cert, nil
	}
}

// ParseSignerPEM parses the first private key block of s: "EC PRIVATE
// KEY" (SEC 1), "RSA PRIVATE KEY" (PKCS #1) or "PRIVATE KEY" (PKCS #8
// holding an ECDSA, RSA or Ed25519 key). Encrypted keys are not read.
func ParseSignerPEM(s string) (crypto.Signer, error) {
	rest := []byte(s)
	for {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			return nil, errors.New("no PEM private key block found")
		}
		switch block.Type {
		case "EC PRIVATE KEY":
			k, err := x509.ParseECPrivateKey(block.Bytes)
			if err != nil {
				return nil, fmt.Errorf("parse EC private key: %w", err)
			}
			return k, nil
		case "RSA PRIVATE KEY":
			k, err := x509.ParsePKCS1PrivateKey(block.Bytes)
			if err != nil {
				return nil, fmt.Errorf("parse RSA private key: %w", err)
			}
			return k, nil
		case "PRIVATE KEY":
			k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
			if err != nil {
				return nil, fmt.Errorf("parse PKCS #8 private key: %w", err)
			}
			switch k := k.(type) {
			case *ecdsa.PrivateKey:
				return k, nil
			case *rsa.PrivateKey:
				return k, nil
			case ed25519.PrivateKey:
				return k, nil
			default:
				return nil, fmt.Errorf("unsupported PKCS #8 private key type %T", k)
			}
		case "ENCRYPTED PRIVATE KEY":
			return nil, errors.New("encrypted private keys are not supported: decrypt the key first")
		}
	}
}

func serialNumber() (*big.Int, error) {
	sn, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 128))
	if err != nil {
		return nil, fmt.Errorf("generate serial number: %w", err)
	}
	return sn, nil
}

func lifetimeOr(d, def time.Duration) (time.Duration, error) {
	switch {
	case d < 0:
		return 0, fmt.Errorf("lifetime %v is negative", d)
	case d == 0:
		return def, nil
	default:
		return d, nil
	}
}

func notBeforeOr(t time.Time) time.Time {
	if t.IsZero() {
		return time.Now().Add(-backdate).UTC().Truncate(time.Second)
	}
	return t
}

func normalizeDomain(domain string) string {
	domain = strings.TrimSuffix(strings.TrimSpace(domain), ".")
	if domain == "" {
		return DefaultDomain
	}
	return domain
}
