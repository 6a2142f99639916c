// Package tlstest makes throw-away certificate authorities and
// certificates for tests: servers and clients of any datacenter, written as
// PEM files into a test's temp dir. The operator-facing generator is
// `meridian tls`; tests need odd certificates too (another CA, the wrong
// datacenter), so this one is built straight on crypto/x509.
package tlstest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// CA is a certificate authority whose files live in a test's temp dir.
type CA struct {
	t    testing.TB
	dir  string
	name string
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	// CAFile is the CA certificate's PEM file.
	CAFile string
	serial int64
}

// NewCA makes a CA named name (its certificate's common name is "<name> CA").
func NewCA(t testing.TB, name string) *CA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: name + " CA"},
		NotBefore:             time.Now().Add(-time.Minute),
		NotAfter:              time.Now().Add(time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	p := &CA{t: t, dir: t.TempDir(), name: name, cert: cert, key: key, serial: 1}
	p.CAFile = p.write(name+"-ca.pem", "CERTIFICATE", der)
	return p
}

func (p *CA) write(file, typ string, der []byte) string {
	p.t.Helper()
	path := filepath.Join(p.dir, file)
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		p.t.Fatal(err)
	}
	return path
}

// Issue signs a certificate for cn with the DNS names given (and
// 127.0.0.1), good for server and client authentication, and returns its
// cert and key files.
func (p *CA) Issue(cn string, dns ...string) (certFile, keyFile string) {
	p.t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		p.t.Fatal(err)
	}
	p.serial++
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(p.serial),
		Subject:      pkix.Name{CommonName: cn},
		DNSNames:     dns,
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore:    time.Now().Add(-time.Minute),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, p.cert, &key.PublicKey, p.key)
	if err != nil {
		p.t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		p.t.Fatal(err)
	}
	base := filepath.Base(cn) + "-" + big.NewInt(p.serial).String()
	return p.write(base+".pem", "CERTIFICATE", der), p.write(base+"-key.pem", "EC PRIVATE KEY", kder)
}

// Server issues a server certificate of dc, as `tls cert create -server`
// does: server.<dc>.consul and localhost.
func (p *CA) Server(dc string) (certFile, keyFile string) {
	return p.Issue("server."+dc+".consul", "server."+dc+".consul", "localhost")
}

// Client issues a client certificate of dc, as `tls cert create -client`
// does: client.<dc>.consul and localhost.
func (p *CA) Client(dc string) (certFile, keyFile string) {
	return p.Issue("client."+dc+".consul", "client."+dc+".consul", "localhost")
}
