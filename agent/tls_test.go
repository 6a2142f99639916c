package agent

import (
	"bufio"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/consul/api"

	"github.com/meridian-sd/meridian/tlsutil/tlstest"
)

// writeTLSConfig writes a tls stanza with every check on for the given
// certificate.
func writeTLSConfig(t *testing.T, path, caFile, cert, key string) {
	t.Helper()
	hcl := fmt.Sprintf(`tls {
  defaults {
    ca_file = %q
    cert_file = %q
    key_file = %q
    verify_incoming = true
    verify_outgoing = true
  }
  internal_rpc { verify_server_hostname = true }
}
`, caFile, cert, key)
	if err := os.WriteFile(path, []byte(hcl), 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestAgentHTTPSAndReload serves the API over HTTPS with verify_incoming,
// through the official client, then reloads a renewed certificate: a
// connection made before the reload keeps working with the old one, and
// new connections get the new one.
func TestAgentHTTPSAndReload(t *testing.T) {
	ca := tlstest.NewCA(t, "consul")
	cert, key := ca.Server("dc1")
	cfgFile := filepath.Join(t.TempDir(), "tls.hcl")
	writeTLSConfig(t, cfgFile, ca.CAFile, cert, key)
	a := StartTestAgent(t, "-server", "-bootstrap", "-https-port=0", "-config-file="+cfgFile)
	if len(a.HTTPSAddrs()) != 1 {
		t.Fatalf("HTTPSAddrs = %v, want one", a.HTTPSAddrs())
	}
	httpsAddr := a.HTTPSAddrs()[0].String()
	clientCert, clientKey := ca.Client("dc1")

	apiClient := func(tc api.TLSConfig) *api.Client {
		cfg := api.DefaultNonPooledConfig()
		cfg.Address = httpsAddr
		cfg.Scheme = "https"
		cfg.TLSConfig = tc
		c, err := api.NewClient(cfg)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	good := apiClient(api.TLSConfig{CAFile: ca.CAFile, CertFile: clientCert, KeyFile: clientKey})
	WaitFor(t, "a leader through HTTPS", 15*time.Second, func() error {
		leader, err := good.Status().Leader()
		if err != nil {
			return err
		}
		if leader == "" {
			return fmt.Errorf("no leader yet")
		}
		return nil
	})
	if _, _, err := good.Catalog().Nodes(nil); err != nil {
		t.Fatalf("catalog over HTTPS: %v", err)
	}
	// verify_incoming: no client certificate, no answer.
	if _, err := apiClient(api.TLSConfig{CAFile: ca.CAFile}).Status().Leader(); err == nil {
		t.Fatal("HTTPS without a client certificate answered")
	}

	// A kept-alive connection made before the reload.
	pool := x509.NewCertPool()
	caPEM, err := os.ReadFile(ca.CAFile)
	if err != nil {
		t.Fatal(err)
	}
	pool.AppendCertsFromPEM(caPEM)
	pair, err := tls.LoadX509KeyPair(clientCert, clientKey)
	if err != nil {
		t.Fatal(err)
	}
	dialCfg := &tls.Config{RootCAs: pool, Certificates: []tls.Certificate{pair}, ServerName: "localhost"}
	before, err := tls.Dial("tcp", httpsAddr, dialCfg)
	if err != nil {
		t.Fatal(err)
	}
	defer before.Close()
	br := bufio.NewReader(before)
	get := func(conn *tls.Conn, r *bufio.Reader) int {
		t.Helper()
		_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
		if _, err := fmt.Fprintf(conn, "GET /v1/status/leader HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
			t.Fatalf("write request: %v", err)
		}
		resp, err := http.ReadResponse(r, nil)
		if err != nil {
			t.Fatalf("read response: %v", err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := get(before, br); code != 200 {
		t.Fatalf("status %d before the reload", code)
	}
	serial := func(c *tls.Conn) string { return c.ConnectionState().PeerCertificates[0].SerialNumber.String() }
	oldSerial := serial(before)

	cert2, key2 := ca.Server("dc1")
	writeTLSConfig(t, cfgFile, ca.CAFile, cert2, key2)
	if err := a.Reload(); err != nil {
		t.Fatalf("reload: %v", err)
	}

	after, err := tls.Dial("tcp", httpsAddr, dialCfg)
	if err != nil {
		t.Fatal(err)
	}
	defer after.Close()
	if got := serial(after); got == oldSerial {
		t.Errorf("a connection after the reload got the old certificate (serial %s)", got)
	}
	if code := get(after, bufio.NewReader(after)); code != 200 {
		t.Errorf("status %d on a new connection", code)
	}
	if code := get(before, br); code != 200 {
		t.Errorf("status %d on the connection made before the reload", code)
	}

	// A reload whose key does not match its certificate is refused and
	// keeps the running certificate.
	writeTLSConfig(t, cfgFile, ca.CAFile, cert, key2)
	if err := a.Reload(); err == nil || !strings.Contains(err.Error(), "is not the private key") {
		t.Fatalf("reload with a mismatched key: err = %v", err)
	}
	again, err := tls.Dial("tcp", httpsAddr, dialCfg)
	if err != nil {
		t.Fatal(err)
	}
	defer again.Close()
	if serial(again) != serial(after) {
		t.Error("a refused reload changed the certificate")
	}
}
