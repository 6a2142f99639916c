package tlsutil_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/meridian-sd/meridian/tlsutil"
	"github.com/meridian-sd/meridian/tlsutil/tlstest"
)

// rpcConfig is a full internal RPC setup: CA, certificate, every verify.
func rpcConfig(ca, cert, key string) tlsutil.Config {
	return tlsutil.Config{
		Datacenter: "dc1",
		Domain:     "consul.",
		InternalRPC: tlsutil.ProtocolConfig{
			CAFile: ca, CertFile: cert, KeyFile: key,
			VerifyIncoming: true, VerifyOutgoing: true, VerifyServerHostname: true,
		},
	}
}

func mustConfigurator(t *testing.T, cfg tlsutil.Config) *tlsutil.Configurator {
	t.Helper()
	c, err := tlsutil.NewConfigurator(cfg, nil)
	if err != nil {
		t.Fatalf("tlsutil.NewConfigurator: %v", err)
	}
	return c
}

// tlsServer accepts TLS connections with srv's incoming RPC config; each
// connection is answered with the subject of the client's certificate (or
// "-") and then echoes. It returns the address.
func tlsServer(t *testing.T, srv *tlsutil.Configurator) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	t.Cleanup(func() { ln.Close(); <-done })
	go func() {
		defer close(done)
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer conn.Close()
				tc := tls.Server(conn, srv.IncomingRPCConfig())
				_ = tc.SetDeadline(time.Now().Add(10 * time.Second))
				if err := tc.Handshake(); err != nil {
					return
				}
				peer := "-"
				if cs := tc.ConnectionState(); len(cs.PeerCertificates) > 0 {
					peer = cs.PeerCertificates[0].Subject.CommonName
				}
				if _, err := tc.Write([]byte(peer + "\n")); err != nil {
					return
				}
				_, _ = io.Copy(tc, tc)
			}()
		}
	}()
	return ln.Addr().String()
}

// dial connects as a client of dc and returns the connection and the line
// the server answered with.
func dial(t *testing.T, cli *tlsutil.Configurator, dc, addr string) (net.Conn, string, error) {
	t.Helper()
	raw, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := cli.WrapOutgoingRPC(ctx, dc, raw)
	if err != nil {
		return nil, "", err
	}
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	line, err := readLine(conn)
	if err != nil {
		conn.Close()
		return nil, "", err
	}
	return conn, line, nil
}

func readLine(r io.Reader) (string, error) {
	var b strings.Builder
	buf := make([]byte, 1)
	for {
		if _, err := r.Read(buf); err != nil {
			return b.String(), err
		}
		if buf[0] == '\n' {
			return b.String(), nil
		}
		b.WriteByte(buf[0])
	}
}

func TestConfiguratorMutualTLS(t *testing.T) {
	pki := tlstest.NewCA(t, "main")
	other := tlstest.NewCA(t, "other")
	srvCert, srvKey := pki.Server("dc1")
	srv := mustConfigurator(t, rpcConfig(pki.CAFile, srvCert, srvKey))
	addr := tlsServer(t, srv)

	t.Run("client certificate of the CA", func(t *testing.T) {
		cc, ck := pki.Client("dc1")
		conn, peer, err := dial(t, mustConfigurator(t, rpcConfig(pki.CAFile, cc, ck)), "dc1", addr)
		if err != nil {
			t.Fatalf("dial: %v", err)
		}
		defer conn.Close()
		if peer != "client.dc1.consul" {
			t.Errorf("server saw client %q, want client.dc1.consul", peer)
		}
	})
	t.Run("no client certificate", func(t *testing.T) {
		cfg := rpcConfig(pki.CAFile, "", "")
		cfg.InternalRPC.VerifyIncoming = false
		_, _, err := dial(t, mustConfigurator(t, cfg), "dc1", addr)
		if err == nil || !strings.Contains(err.Error(), "certificate") {
			t.Fatalf("dial without a client certificate: err %v, want a refusal naming the certificate", err)
		}
	})
	t.Run("client certificate of another CA", func(t *testing.T) {
		cc, ck := other.Client("dc1")
		// It trusts the right CA for the server, but its own certificate
		// comes from elsewhere.
		cfg := rpcConfig(pki.CAFile, cc, ck)
		cfg.InternalRPC.VerifyIncoming = false
		_, _, err := dial(t, mustConfigurator(t, cfg), "dc1", addr)
		if err == nil || !strings.Contains(err.Error(), "tls") {
			t.Fatalf("dial with another CA's certificate: err %v, want a TLS refusal", err)
		}
	})
	t.Run("server of another CA", func(t *testing.T) {
		cc, ck := other.Client("dc1")
		_, _, err := dial(t, mustConfigurator(t, rpcConfig(other.CAFile, cc, ck)), "dc1", addr)
		if err == nil || !strings.Contains(err.Error(), "unknown authority") {
			t.Fatalf("dial a server of another CA: err %v, want unknown authority", err)
		}
	})
}

func TestConfiguratorVerifyServerHostname(t *testing.T) {
	pki := tlstest.NewCA(t, "main")
	cc, ck := pki.Client("dc1")
	cli := mustConfigurator(t, rpcConfig(pki.CAFile, cc, ck))
	lax := rpcConfig(pki.CAFile, cc, ck)
	lax.InternalRPC.VerifyServerHostname = false
	laxCli := mustConfigurator(t, lax)

	serve := func(cert, key string) string {
		cfg := rpcConfig(pki.CAFile, cert, key)
		cfg.InternalRPC.VerifyIncoming = false
		return tlsServer(t, mustConfigurator(t, cfg))
	}
	dc1 := serve(pki.Server("dc1"))
	dc2 := serve(pki.Server("dc2"))
	fake := serve(pki.Client("dc1"))

	cases := []struct {
		name   string
		cli    *tlsutil.Configurator
		dc     string
		addr   string
		wantOK bool
	}{
		{"dc1 server as dc1", cli, "dc1", dc1, true},
		{"dc2 server as dc2", cli, "dc2", dc2, true},
		{"dc2 server as dc1", cli, "dc1", dc2, false},
		{"client certificate as a server", cli, "dc1", fake, false},
		{"without verify_server_hostname a client certificate passes", laxCli, "dc1", fake, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			conn, _, err := dial(t, tc.cli, tc.dc, tc.addr)
			if tc.wantOK {
				if err != nil {
					t.Fatalf("dial: %v", err)
				}
				conn.Close()
				return
			}
			if err == nil {
				conn.Close()
				t.Fatal("dial succeeded, want a refusal")
			}
			if !strings.Contains(err.Error(), "server.dc1.consul") {
				t.Errorf("error %q does not name server.dc1.consul", err)
			}
		})
	}
}

func TestConfiguratorCheckRaftPeer(t *testing.T) {
	pki := tlstest.NewCA(t, "main")
	sc, sk := pki.Server("dc1")
	c := mustConfigurator(t, rpcConfig(pki.CAFile, sc, sk))
	for _, tc := range []struct {
		name    string
		cert    string
		wantErr bool
	}{
		{"dc1 server", sc, false},
		{"dc2 server", func() string { c, _ := pki.Server("dc2"); return c }(), true},
		{"dc1 client", func() string { c, _ := pki.Client("dc1"); return c }(), true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pair, err := tlsutil.LoadKeyPair(tc.cert, strings.TrimSuffix(tc.cert, ".pem")+"-key.pem")
			if err != nil {
				t.Fatal(err)
			}
			err = c.CheckRaftPeer(tls.ConnectionState{PeerCertificates: []*x509.Certificate{pair.Leaf}})
			if (err != nil) != tc.wantErr {
				t.Fatalf("CheckRaftPeer: %v, want error %v", err, tc.wantErr)
			}
		})
	}
	lax := rpcConfig(pki.CAFile, sc, sk)
	lax.InternalRPC.VerifyServerHostname = false
	if err := mustConfigurator(t, lax).CheckRaftPeer(tls.ConnectionState{}); err != nil {
		t.Errorf("without verify_server_hostname: %v", err)
	}
}

func TestConfiguratorErrors(t *testing.T) {
	pki := tlstest.NewCA(t, "main")
	cert, key := pki.Server("dc1")
	_, otherKey := pki.Server("dc1")
	dir := t.TempDir()
	notPEM := filepath.Join(dir, "junk.pem")
	if err := os.WriteFile(notPEM, []byte("hello"), 0o600); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(dir, "missing.pem")
	cases := []struct {
		name string
		p    tlsutil.ProtocolConfig
		want string
	}{
		{"verify_incoming without a CA", tlsutil.ProtocolConfig{CertFile: cert, KeyFile: key, VerifyIncoming: true},
			"tls.internal_rpc: verify_incoming needs a CA"},
		{"verify_incoming without a certificate", tlsutil.ProtocolConfig{CAFile: pki.CAFile, VerifyIncoming: true},
			"verify_incoming needs a certificate"},
		{"verify_outgoing without a CA", tlsutil.ProtocolConfig{VerifyOutgoing: true}, "verify_outgoing needs a CA"},
		{"verify_server_hostname without a CA", tlsutil.ProtocolConfig{VerifyServerHostname: true}, "verify_server_hostname (which implies verify_outgoing) needs a CA"},
		{"missing ca_file", tlsutil.ProtocolConfig{CAFile: missing}, `ca_file "` + missing + `": no such file or directory`},
		{"ca_file not PEM", tlsutil.ProtocolConfig{CAFile: notPEM}, `ca_file "` + notPEM + `": holds no PEM certificate`},
		{"empty ca_path", tlsutil.ProtocolConfig{CAPath: dir + "/none"}, "ca_path"},
		{"cert without key", tlsutil.ProtocolConfig{CertFile: cert}, "is set without key_file"},
		{"key of another certificate", tlsutil.ProtocolConfig{CertFile: cert, KeyFile: otherKey}, "is not the private key of cert_file"},
		{"bad version", tlsutil.ProtocolConfig{TLSMinVersion: "tls12"}, `tls_min_version: "tls12" is not a TLS version (want one of TLSv1_0, TLSv1_1, TLSv1_2, TLSv1_3)`},
		{"bad cipher", tlsutil.ProtocolConfig{CipherSuites: []string{"TLS_RSA_WITH_NOTHING"}}, `tls_cipher_suites: "TLS_RSA_WITH_NOTHING" is not a supported cipher suite`},
		{"ciphers with TLS 1.3", tlsutil.ProtocolConfig{TLSMinVersion: "TLSv1_3", CipherSuites: []string{"TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256"}}, "cannot be set with tls_min_version TLSv1_3"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := tlsutil.NewConfigurator(tlsutil.Config{Datacenter: "dc1", Domain: "consul", InternalRPC: tc.p}, nil)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want it to contain %q", err, tc.want)
			}
		})
	}
	// A good cipher list and version load.
	if _, err := tlsutil.NewConfigurator(tlsutil.Config{InternalRPC: tlsutil.ProtocolConfig{TLSMinVersion: "TLSv1_2",
		CipherSuites: []string{"TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256"}}}, nil); err != nil {
		t.Errorf("valid cipher suites: %v", err)
	}
}

// TestConfiguratorReload swaps in a renewed certificate: a connection made
// before keeps working, and new connections see the new certificate.
func TestConfiguratorReload(t *testing.T) {
	pki := tlstest.NewCA(t, "main")
	sc, sk := pki.Server("dc1")
	srv := mustConfigurator(t, rpcConfig(pki.CAFile, sc, sk))
	addr := tlsServer(t, srv)
	cc, ck := pki.Client("dc1")
	cli := mustConfigurator(t, rpcConfig(pki.CAFile, cc, ck))

	serverSerial := func(conn net.Conn) string {
		return conn.(*tls.Conn).ConnectionState().PeerCertificates[0].SerialNumber.String()
	}
	before, _, err := dial(t, cli, "dc1", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer before.Close()
	oldSerial := serverSerial(before)

	sc2, sk2 := pki.Server("dc1")
	if err := srv.Update(rpcConfig(pki.CAFile, sc2, sk2)); err != nil {
		t.Fatalf("Update: %v", err)
	}
	// A bad update is refused and changes nothing.
	if err := srv.Update(rpcConfig(pki.CAFile, sc2, sk)); err == nil {
		t.Fatal("Update with a mismatched key succeeded")
	}

	after, _, err := dial(t, cli, "dc1", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer after.Close()
	if got := serverSerial(after); got == oldSerial {
		t.Errorf("new connection got the old certificate (serial %s)", got)
	}
	// The old connection still echoes.
	if _, err := before.Write([]byte("ping\n")); err != nil {
		t.Fatalf("write on the old connection: %v", err)
	}
	if line, err := readLine(before); err != nil || line != "ping" {
		t.Fatalf("old connection after reload: %q, %v", line, err)
	}
	if got := serverSerial(before); got != oldSerial {
		t.Errorf("old connection's certificate changed to %s", got)
	}
}
