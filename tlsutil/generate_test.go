package tlsutil

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"io"
	"math/big"
	"net"
	"reflect"
	"strings"
	"testing"
	"time"
)

// mustCA makes a CA or fails the test.
func mustCA(t *testing.T, opts CAOpts) (certPEM, keyPEM string) {
	t.Helper()
	c, k, err := GenerateCA(opts)
	if err != nil {
		t.Fatalf("GenerateCA: %v", err)
	}
	return c, k
}

// mustParse parses a PEM certificate or fails the test.
func mustParse(t *testing.T, certPEM string) *x509.Certificate {
	t.Helper()
	c, err := ParseCertPEM(certPEM)
	if err != nil {
		t.Fatalf("ParseCertPEM: %v", err)
	}
	return c
}

// pemType returns the type of the only PEM block of s.
func pemType(t *testing.T, s string) string {
	t.Helper()
	block, rest := pem.Decode([]byte(s))
	if block == nil {
		t.Fatalf("no PEM block in %q", s)
	}
	if len(strings.TrimSpace(string(rest))) != 0 {
		t.Fatalf("trailing data after the PEM block: %q", rest)
	}
	return block.Type
}

// within reports whether got is within slack of want.
func within(got, want time.Time, slack time.Duration) bool {
	d := got.Sub(want)
	return d <= slack && d >= -slack
}

func TestGenerateCADefaults(t *testing.T) {
	certPEM, keyPEM := mustCA(t, CAOpts{})
	ca := mustParse(t, certPEM)

	if !ca.IsCA || !ca.BasicConstraintsValid {
		t.Errorf("IsCA %v, BasicConstraintsValid %v: want both true", ca.IsCA, ca.BasicConstraintsValid)
	}
	if ca.KeyUsage&x509.KeyUsageCertSign == 0 {
		t.Errorf("key usage %b lacks CertSign", ca.KeyUsage)
	}
	if err := ca.CheckSignatureFrom(ca); err != nil {
		t.Errorf("CA is not self-signed: %v", err)
	}
	if want := "Meridian Agent CA " + ca.SerialNumber.String(); ca.Subject.CommonName != want {
		t.Errorf("common name %q, want %q", ca.Subject.CommonName, want)
	}
	if ca.SerialNumber.Sign() <= 0 {
		t.Errorf("serial %v is not positive", ca.SerialNumber)
	}
	pub, ok := ca.PublicKey.(*ecdsa.PublicKey)
	if !ok || pub.Curve != elliptic.P256() {
		t.Errorf("public key %T: want ECDSA P-256", ca.PublicKey)
	}
	if len(ca.PermittedDNSDomains) != 0 {
		t.Errorf("permitted domains %v without constraints asked for", ca.PermittedDNSDomains)
	}
	now := time.Now()
	if !ca.NotBefore.Before(now) {
		t.Errorf("NotBefore %v is not in the past", ca.NotBefore)
	}
	if !within(ca.NotAfter, now.Add(DefaultCALifetime), 2*time.Minute) {
		t.Errorf("NotAfter %v: want about %v (1825 days)", ca.NotAfter, now.Add(DefaultCALifetime))
	}

	if got := pemType(t, keyPEM); got != "EC PRIVATE KEY" {
		t.Errorf("key PEM type %q, want EC PRIVATE KEY", got)
	}
	if _, _, err := ParseCA(certPEM, keyPEM); err != nil {
		t.Errorf("ParseCA of the new CA: %v", err)
	}

	other, _ := mustCA(t, CAOpts{})
	if mustParse(t, other).SerialNumber.Cmp(ca.SerialNumber) == 0 {
		t.Errorf("two CAs share serial %v", ca.SerialNumber)
	}
}

func TestGenerateCAOptions(t *testing.T) {
	start := time.Date(2020, 1, 2, 3, 4, 5, 0, time.UTC)
	certPEM, _ := mustCA(t, CAOpts{CommonName: "Test CA", Lifetime: 48 * time.Hour, NotBefore: start})
	ca := mustParse(t, certPEM)
	if ca.Subject.CommonName != "Test CA" {
		t.Errorf("common name %q, want Test CA", ca.Subject.CommonName)
	}
	if !ca.NotBefore.Equal(start) || !ca.NotAfter.Equal(start.Add(48*time.Hour)) {
		t.Errorf("validity %v to %v, want %v to %v", ca.NotBefore, ca.NotAfter, start, start.Add(48*time.Hour))
	}
	if _, _, err := GenerateCA(CAOpts{Lifetime: -time.Hour}); err == nil || !strings.Contains(err.Error(), "negative") {
		t.Errorf("negative lifetime: err %v, want one naming it negative", err)
	}
}

func TestAgentCertRoles(t *testing.T) {
	caPEM, caKey := mustCA(t, CAOpts{})
	ca := mustParse(t, caPEM)
	roots := x509.NewCertPool()
	roots.AddCert(ca)
	localhost := []net.IP{net.ParseIP("127.0.0.1")}
	both := []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}

	cases := []struct {
		role      Role
		dc, node  string
		wantCN    string
		wantDNS   []string
		wantIPs   []net.IP
		wantEKU   []x509.ExtKeyUsage
		canServer bool
	}{
		{RoleServer, "dc1", "", "server.dc1.consul", []string{"server.dc1.consul", "localhost"}, localhost, both, true},
		{RoleServer, "dc2", "s1", "server.dc2.consul", []string{"s1.server.dc2.consul", "server.dc2.consul", "localhost"}, localhost, both, true},
		{RoleClient, "dc1", "", "client.dc1.consul", []string{"client.dc1.consul", "localhost"}, localhost, both, true},
		{RoleClient, "dc1", "ignored", "client.dc1.consul", []string{"client.dc1.consul", "localhost"}, localhost, both, true},
		{RoleCLI, "dc1", "", "cli.dc1.consul", []string{"cli.dc1.consul", "localhost"}, nil, []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}, false},
	}
	for _, tc := range cases {
		t.Run(tc.role.String()+"-"+tc.dc+"-"+tc.node, func(t *testing.T) {
			opts := AgentCertOpts(tc.role, tc.dc, "consul.", tc.node)
			opts.CACert, opts.CAKey = caPEM, caKey
			certPEM, keyPEM, err := GenerateCert(opts)
			if err != nil {
				t.Fatalf("GenerateCert: %v", err)
			}
			leaf := mustParse(t, certPEM)
			if leaf.Subject.CommonName != tc.wantCN {
				t.Errorf("common name %q, want %q", leaf.Subject.CommonName, tc.wantCN)
			}
			if !reflect.DeepEqual(leaf.DNSNames, tc.wantDNS) {
				t.Errorf("DNS SANs %q, want %q", leaf.DNSNames, tc.wantDNS)
			}
			if len(leaf.IPAddresses) != len(tc.wantIPs) {
				t.Errorf("IP SANs %v, want %v", leaf.IPAddresses, tc.wantIPs)
			}
			for i := range tc.wantIPs {
				if i < len(leaf.IPAddresses) && !leaf.IPAddresses[i].Equal(tc.wantIPs[i]) {
					t.Errorf("IP SAN %d is %v, want %v", i, leaf.IPAddresses[i], tc.wantIPs[i])
				}
			}
			if !reflect.DeepEqual(leaf.ExtKeyUsage, tc.wantEKU) {
				t.Errorf("extended key usage %v, want %v", leaf.ExtKeyUsage, tc.wantEKU)
			}
			if leaf.IsCA {
				t.Errorf("leaf certificate is a CA")
			}
			if !within(leaf.NotAfter, time.Now().Add(DefaultCertLifetime), 2*time.Minute) {
				t.Errorf("NotAfter %v: want about 365 days from now", leaf.NotAfter)
			}
			if pemType(t, keyPEM) != "EC PRIVATE KEY" {
				t.Errorf("key is not an EC PRIVATE KEY block")
			}

			// The chain verifies for the role name, as a client.
			if _, err := leaf.Verify(x509.VerifyOptions{Roots: roots, DNSName: tc.wantCN,
				KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
				t.Errorf("verify as a client for %s: %v", tc.wantCN, err)
			}
			// Only server and client certificates may serve.
			_, err = leaf.Verify(x509.VerifyOptions{Roots: roots, DNSName: "localhost",
				KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}})
			if tc.canServer && err != nil {
				t.Errorf("verify as a server: %v", err)
			}
			if !tc.canServer && err == nil {
				t.Errorf("a %s certificate verifies as a server", tc.role)
			}
			// The names of other datacenters and roles do not match.
			if err := leaf.VerifyHostname("server.dc9.consul"); err == nil {
				t.Errorf("certificate matches server.dc9.consul")
			}
			if _, err := tls.X509KeyPair([]byte(certPEM), []byte(keyPEM)); err != nil {
				t.Errorf("crypto/tls does not load the pair: %v", err)
			}
		})
	}
}

// handshake runs a mutually authenticated TLS handshake over a pipe: the
// server presents serverCert and requires a client certificate from the
// CA; the client presents clientCert and checks the server's name.
func handshake(t *testing.T, caPEM string, serverCert, clientCert tls.Certificate, serverName string) (serverErr, clientErr error) {
	t.Helper()
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM([]byte(caPEM)) {
		t.Fatalf("CA PEM not accepted by the pool")
	}
	sConn, cConn := net.Pipe()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	srv := tls.Server(sConn, &tls.Config{
		Certificates: []tls.Certificate{serverCert},
		ClientAuth:   tls.RequireAndVerifyClientCert,
		ClientCAs:    pool,
		MinVersion:   tls.VersionTLS12,
	})
	cli := tls.Client(cConn, &tls.Config{
		Certificates: []tls.Certificate{clientCert},
		RootCAs:      pool,
		ServerName:   serverName,
		MinVersion:   tls.VersionTLS12,
	})
	done := make(chan error, 1)
	go func() {
		err := srv.HandshakeContext(ctx)
		// Closing unblocks the client if the server gave up first.
		srv.Close()
		done <- err
	}()
	clientErr = cli.HandshakeContext(ctx)
	if clientErr == nil {
		// In TLS 1.3 the client finishes before the server has checked
		// its certificate; a read sees the server's verdict.
		_, clientErr = cli.Read(make([]byte, 1))
		if errors.Is(clientErr, io.EOF) {
			clientErr = nil
		}
	}
	cli.Close()
	serverErr = <-done
	return serverErr, clientErr
}

func TestGeneratedCertsHandshake(t *testing.T) {
	caPEM, caKey := mustCA(t, CAOpts{})
	pair := func(role Role, dc string) tls.Certificate {
		t.Helper()
		opts := AgentCertOpts(role, dc, "consul", "")
		opts.CACert, opts.CAKey = caPEM, caKey
		c, k, err := GenerateCert(opts)
		if err != nil {
			t.Fatalf("GenerateCert %s %s: %v", role, dc, err)
		}
		p, err := tls.X509KeyPair([]byte(c), []byte(k))
		if err != nil {
			t.Fatalf("X509KeyPair: %v", err)
		}
		return p
	}
	server1 := pair(RoleServer, "dc1")
	server2 := pair(RoleServer, "dc2")
	client1 := pair(RoleClient, "dc1")
	cli1 := pair(RoleCLI, "dc1")

	if sErr, cErr := handshake(t, caPEM, server1, client1, "server.dc1.consul"); sErr != nil || cErr != nil {
		t.Errorf("dc1 server with dc1 client: server %v, client %v", sErr, cErr)
	}
	if sErr, cErr := handshake(t, caPEM, server1, cli1, "server.dc1.consul"); sErr != nil || cErr != nil {
		t.Errorf("dc1 server with cli certificate: server %v, client %v", sErr, cErr)
	}
	if _, cErr := handshake(t, caPEM, server2, client1, "server.dc1.consul"); cErr == nil {
		t.Errorf("a dc2 server certificate passed as server.dc1.consul")
	}
	if _, cErr := handshake(t, caPEM, client1, server1, "server.dc1.consul"); cErr == nil {
		t.Errorf("a client certificate passed as server.dc1.consul")
	}
	if _, cErr := handshake(t, caPEM, cli1, client1, "localhost"); cErr == nil {
		t.Errorf("a cli certificate served TLS")
	}

	otherCA, otherKey := mustCA(t, CAOpts{})
	opts := AgentCertOpts(RoleClient, "dc1", "consul", "")
	opts.CACert, opts.CAKey = otherCA, otherKey
	c, k, err := GenerateCert(opts)
	if err != nil {
		t.Fatalf("GenerateCert: %v", err)
	}
	foreign, err := tls.X509KeyPair([]byte(c), []byte(k))
	if err != nil {
		t.Fatalf("X509KeyPair: %v", err)
	}
	if sErr, _ := handshake(t, caPEM, server1, foreign, "server.dc1.consul"); sErr == nil {
		t.Errorf("the server accepted a client certificate from another CA")
	}
}

func TestNameConstraints(t *testing.T) {
	if got, want := NameConstraints("example.com.", " ui.example.net ", ""), []string{"ui.example.net", "example.com", "localhost"}; !reflect.DeepEqual(got, want) {
		t.Errorf("NameConstraints = %q, want %q", got, want)
	}
	caPEM, caKey := mustCA(t, CAOpts{PermittedDNSDomains: NameConstraints("consul", "ui.example.net")})
	ca := mustParse(t, caPEM)
	if !ca.PermittedDNSDomainsCritical {
		t.Errorf("name constraints are not critical")
	}
	if want := []string{"ui.example.net", "consul", "localhost"}; !reflect.DeepEqual(ca.PermittedDNSDomains, want) {
		t.Errorf("permitted domains %q, want %q", ca.PermittedDNSDomains, want)
	}

	for _, tc := range []struct {
		extra string
		ok    bool
	}{
		{"", true},
		{"ui.example.net", true},
		{"web.ui.example.net", true},
		{"evil.example.com", false},
		{"consul.evil", false},
	} {
		opts := AgentCertOpts(RoleServer, "dc1", "consul", "")
		opts.CACert, opts.CAKey = caPEM, caKey
		if tc.extra != "" {
			opts.DNSNames = append(opts.DNSNames, tc.extra)
		}
		_, _, err := GenerateCert(opts)
		if tc.ok && err != nil {
			t.Errorf("extra name %q: %v", tc.extra, err)
		}
		if !tc.ok && (err == nil || !strings.Contains(err.Error(), "does not verify against the CA")) {
			t.Errorf("extra name %q: err %v, want a name constraint failure", tc.extra, err)
		}
	}

	// Without constraints any name is signed.
	free, freeKey := mustCA(t, CAOpts{})
	opts := AgentCertOpts(RoleServer, "dc1", "consul", "")
	opts.CACert, opts.CAKey = free, freeKey
	opts.DNSNames = append(opts.DNSNames, "evil.example.com")
	if _, _, err := GenerateCert(opts); err != nil {
		t.Errorf("unconstrained CA refused evil.example.com: %v", err)
	}
}

func TestGenerateCertOptions(t *testing.T) {
	start := time.Now().Add(-48 * time.Hour).UTC().Truncate(time.Second)
	caPEM, caKey := mustCA(t, CAOpts{NotBefore: start})
	ca := mustParse(t, caPEM)
	certPEM, _, err := GenerateCert(CertOpts{
		CACert: caPEM, CAKey: caKey,
		DNSNames:    []string{"a.example", "b.example"},
		IPAddresses: []net.IP{net.ParseIP("10.0.0.7"), net.ParseIP("::1")},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		Lifetime:    time.Hour,
		NotBefore:   start,
	})
	if err != nil {
		t.Fatalf("GenerateCert: %v", err)
	}
	leaf := mustParse(t, certPEM)
	if leaf.Subject.CommonName != "a.example" {
		t.Errorf("common name %q, want the first DNS name", leaf.Subject.CommonName)
	}
	if len(leaf.IPAddresses) != 2 || !leaf.IPAddresses[0].Equal(net.ParseIP("10.0.0.7")) || !leaf.IPAddresses[1].Equal(net.ParseIP("::1")) {
		t.Errorf("IP SANs %v", leaf.IPAddresses)
	}
	if !leaf.NotBefore.Equal(start) || !leaf.NotAfter.Equal(start.Add(time.Hour)) {
		t.Errorf("validity %v to %v, want %v to %v", leaf.NotBefore, leaf.NotAfter, start, start.Add(time.Hour))
	}
	if err := leaf.CheckSignatureFrom(ca); err != nil {
		t.Errorf("not signed by the CA: %v", err)
	}
	// Made to be expired: verification now fails on time.
	roots := x509.NewCertPool()
	roots.AddCert(ca)
	_, err = leaf.Verify(x509.VerifyOptions{Roots: roots, DNSName: "a.example"})
	var inv x509.CertificateInvalidError
	if !errors.As(err, &inv) || inv.Reason != x509.Expired {
		t.Errorf("verify an expired certificate: err %v, want Expired", err)
	}
}

func TestGenerateCertErrors(t *testing.T) {
	caPEM, caKey := mustCA(t, CAOpts{})
	otherCA, otherKey := mustCA(t, CAOpts{})
	good := AgentCertOpts(RoleServer, "dc1", "consul", "")
	good.CACert, good.CAKey = caPEM, caKey
	leafPEM, leafKey, err := GenerateCert(good)
	if err != nil {
		t.Fatalf("GenerateCert: %v", err)
	}
	future, futureKey := mustCA(t, CAOpts{NotBefore: time.Now().Add(24 * time.Hour)})

	cases := []struct {
		name string
		mod  func(o *CertOpts)
		want string
	}{
		{"no names", func(o *CertOpts) { o.DNSNames, o.IPAddresses = nil, nil }, "no DNS name or IP address"},
		{"no usage", func(o *CertOpts) { o.ExtKeyUsage = nil }, "no extended key usage"},
		{"nil IP", func(o *CertOpts) { o.IPAddresses = []net.IP{nil} }, "nil IP address"},
		{"negative lifetime", func(o *CertOpts) { o.Lifetime = -time.Second }, "negative"},
		{"no CA", func(o *CertOpts) { o.CACert = "" }, "no PEM CERTIFICATE block"},
		{"garbage CA", func(o *CertOpts) { o.CACert = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n" }, "parse certificate"},
		{"no key", func(o *CertOpts) { o.CAKey = "" }, "no PEM private key block"},
		{"key of another CA", func(o *CertOpts) { o.CAKey = otherKey }, "does not match"},
		{"certificate of another CA", func(o *CertOpts) { o.CACert = otherCA }, "does not match"},
		{"leaf as CA", func(o *CertOpts) { o.CACert, o.CAKey = leafPEM, leafKey }, "is not a CA"},
		{"encrypted key", func(o *CertOpts) {
			o.CAKey = string(pem.EncodeToMemory(&pem.Block{Type: "ENCRYPTED PRIVATE KEY", Bytes: []byte{1}}))
		}, "encrypted"},
		{"outside CA validity", func(o *CertOpts) { o.CACert, o.CAKey, o.Lifetime = future, futureKey, time.Hour }, "does not overlap"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			o := good
			o.DNSNames = append([]string(nil), good.DNSNames...)
			tc.mod(&o)
			c, k, err := GenerateCert(o)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err %v, want one containing %q", err, tc.want)
			}
			if c != "" || k != "" {
				t.Errorf("material returned with an error")
			}
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("error %q spans lines", err)
			}
		})
	}
}

// selfSigned makes a CA certificate for key by hand, as another tool would.
func selfSigned(t *testing.T, key crypto.Signer) string {
	t.Helper()
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(7),
		Subject:               pkix.Name{CommonName: "External CA"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatalf("create external CA: %v", err)
	}
	return EncodeCertPEM(der)
}

func TestForeignCAKeys(t *testing.T) {
	_, edKey, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	pkcs8, err := EncodeKeyPEM(edKey)
	if err != nil {
		t.Fatal(err)
	}
	pkcs1 := string(pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(rsaKey)}))

	for _, tc := range []struct {
		name    string
		certPEM string
		keyPEM  string
	}{
		{"ed25519 PKCS8", selfSigned(t, edKey), pkcs8},
		{"RSA PKCS1", selfSigned(t, rsaKey), pkcs1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			opts := AgentCertOpts(RoleClient, "dc1", "consul", "")
			opts.CACert, opts.CAKey = tc.certPEM, tc.keyPEM
			c, _, err := GenerateCert(opts)
			if err != nil {
				t.Fatalf("GenerateCert: %v", err)
			}
			if err := mustParse(t, c).CheckSignatureFrom(mustParse(t, tc.certPEM)); err != nil {
				t.Errorf("not signed by the external CA: %v", err)
			}
		})
	}
}

func TestParseCertPEMSkipsOtherBlocks(t *testing.T) {
	caPEM, caKey := mustCA(t, CAOpts{})
	ca, err := ParseCertPEM(caKey + caPEM)
	if err != nil {
		t.Fatalf("ParseCertPEM(key then cert): %v", err)
	}
	if !ca.IsCA {
		t.Errorf("parsed the wrong block")
	}
	if _, err := ParseSignerPEM(caPEM + caKey); err != nil {
		t.Errorf("ParseSignerPEM(cert then key): %v", err)
	}
	if _, err := ParseSignerPEM(caPEM); err == nil {
		t.Errorf("ParseSignerPEM found a key in a certificate")
	}
}

func TestRoleNames(t *testing.T) {
	for _, tc := range []struct {
		role       Role
		dc, domain string
		want       string
	}{
		{RoleServer, "dc1", "", "server.dc1.consul"},
		{RoleClient, "eu", "example.com.", "client.eu.example.com"},
		{RoleCLI, "dc1", "consul", "cli.dc1.consul"},
	} {
		if got := RoleName(tc.role, tc.dc, tc.domain); got != tc.want {
			t.Errorf("RoleName(%v, %q, %q) = %q, want %q", tc.role, tc.dc, tc.domain, got, tc.want)
		}
	}
	if got := Role(0).String(); got != "role(0)" {
		t.Errorf("Role(0) = %q", got)
	}
}
