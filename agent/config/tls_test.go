package config

import (
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/meridian-sd/meridian/tlsutil"
	"github.com/meridian-sd/meridian/tlsutil/tlstest"
)

// tlsFiles makes a CA with a dc1 server certificate.
func tlsFiles(t *testing.T) (ca, cert, key string) {
	t.Helper()
	c := tlstest.NewCA(t, "consul")
	cert, key = c.Server("dc1")
	return c.CAFile, cert, key
}

func TestLoadTLSInheritance(t *testing.T) {
	ca, cert, key := tlsFiles(t)
	hcl := fmt.Sprintf(`
tls {
  defaults {
    ca_file = %q
    cert_file = %q
    key_file = %q
    verify_incoming = true
    verify_outgoing = true
    tls_min_version = "TLSv1_3"
  }
  internal_rpc {
    verify_server_hostname = true
  }
  https {
    verify_incoming = false
    tls_min_version = "TLSv1_2"
    tls_cipher_suites = "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"
  }
}
ports { https = 8501 }
`, ca, cert, key)
	rc, warnings := mustLoad(t, "-data-dir", "/d", "-datacenter", "dc7", "-domain", "example", "-hcl", hcl)
	if len(warnings) != 0 {
		t.Errorf("warnings: %q", warnings)
	}
	want := tlsutil.Config{
		Datacenter: "dc7",
		Domain:     "example",
		InternalRPC: tlsutil.ProtocolConfig{CAFile: ca, CertFile: cert, KeyFile: key,
			VerifyIncoming: true, VerifyOutgoing: true, VerifyServerHostname: true, TLSMinVersion: "TLSv1_3"},
		HTTPS: tlsutil.ProtocolConfig{CAFile: ca, CertFile: cert, KeyFile: key,
			VerifyIncoming: false, VerifyOutgoing: true, TLSMinVersion: "TLSv1_2",
			CipherSuites: []string{"TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256", "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"}},
	}
	if fmt.Sprint(rc.TLS) != fmt.Sprint(want) {
		t.Errorf("TLS:\n got %+v\nwant %+v", rc.TLS, want)
	}
	if rc.HTTPSPort != 8501 || len(rc.HTTPSAddrs) != 1 || rc.HTTPSAddrs[0] != netip.MustParseAddrPort("127.0.0.1:8501") {
		t.Errorf("HTTPSPort %d, HTTPSAddrs %v; want 8501 on 127.0.0.1", rc.HTTPSPort, rc.HTTPSAddrs)
	}

	// The flag turns HTTPS on too, and verify_server_hostname alone
	// implies verify_outgoing, as in Consul.
	hcl = fmt.Sprintf(`tls { defaults { ca_file = %q
cert_file = %q
key_file = %q }
internal_rpc { verify_server_hostname = true } }`, ca, cert, key)
	rc, _ = mustLoad(t, "-data-dir", "/d", "-https-port", "9443", "-hcl", hcl)
	if !rc.TLS.InternalRPC.VerifyOutgoing || rc.TLS.HTTPS.VerifyOutgoing {
		t.Errorf("verify_outgoing internal_rpc %v, https %v; want true, false", rc.TLS.InternalRPC.VerifyOutgoing, rc.TLS.HTTPS.VerifyOutgoing)
	}
	if len(rc.HTTPSAddrs) != 1 || rc.HTTPSAddrs[0].Port() != 9443 {
		t.Errorf("HTTPSAddrs = %v, want port 9443", rc.HTTPSAddrs)
	}
}

func TestLoadTLSDeprecatedKeys(t *testing.T) {
	ca, cert, key := tlsFiles(t)
	dir := writeFiles(t, map[string]string{"old.json": fmt.Sprintf(`{
  "data_dir": "/d",
  "ca_file": %q, "cert_file": %q, "key_file": %q,
  "verify_incoming_rpc": true, "verify_incoming_https": false,
  "verify_outgoing": true, "verify_server_hostname": true,
  "tls_min_version": "tls12",
  "tls": {"defaults": {"tls_min_version": "TLSv1_3"}}
}`, ca, cert, key)})
	rc, warnings := mustLoad(t, "-config-file", filepath.Join(dir, "old.json"))
	p := rc.TLS.InternalRPC
	if p.CAFile != ca || p.CertFile != cert || p.KeyFile != key || !p.VerifyIncoming || !p.VerifyOutgoing || !p.VerifyServerHostname {
		t.Errorf("internal_rpc from the deprecated keys = %+v", p)
	}
	if rc.TLS.HTTPS.VerifyIncoming {
		t.Error("verify_incoming_https = false did not reach tls.https")
	}
	// The stanza wins over the deprecated key.
	if p.TLSMinVersion != "TLSv1_3" {
		t.Errorf("tls_min_version = %q, want the stanza's TLSv1_3", p.TLSMinVersion)
	}
	joined := strings.Join(warnings, "\n")
	for old, repl := range map[string]string{
		"ca_file": "tls.defaults.ca_file", "cert_file": "tls.defaults.cert_file", "key_file": "tls.defaults.key_file",
		"verify_incoming_rpc": "tls.internal_rpc.verify_incoming", "verify_incoming_https": "tls.https.verify_incoming",
		"verify_outgoing": "tls.defaults.verify_outgoing", "verify_server_hostname": "tls.internal_rpc.verify_server_hostname",
		"tls_min_version": "tls.defaults.tls_min_version",
	} {
		want := fmt.Sprintf(`config key %q is deprecated: use %q instead (set in config file %q)`, old, repl, filepath.Join(dir, "old.json"))
		if !strings.Contains(joined, want) {
			t.Errorf("no warning %s\nin:\n%s", want, joined)
		}
	}

	// The old version spelling works, with a warning.
	rc, warnings = mustLoad(t, "-data-dir", "/d", "-hcl", `tls { defaults { tls_min_version = "tls13" } }`)
	if rc.TLS.InternalRPC.TLSMinVersion != "TLSv1_3" {
		t.Errorf("tls13 became %q", rc.TLS.InternalRPC.TLSMinVersion)
	}
	if !strings.Contains(strings.Join(warnings, "\n"), `tls.defaults.tls_min_version "tls13" is deprecated: use "TLSv1_3"`) {
		t.Errorf("warnings %q lack the version deprecation", warnings)
	}

	// tls.grpc is accepted and reported as ignored.
	_, warnings = mustLoad(t, "-data-dir", "/d", "-hcl", `tls { grpc { verify_incoming = true } }`)
	if !strings.Contains(strings.Join(warnings, "\n"), `config key "tls.grpc" is not supported by Meridian and is ignored`) {
		t.Errorf("warnings %q lack tls.grpc", warnings)
	}
}

func TestLoadTLSErrors(t *testing.T) {
	ca, cert, key := tlsFiles(t)
	_, otherKey := tlstest.NewCA(t, "other").Server("dc1")
	dir := t.TempDir()
	missing := filepath.Join(dir, "missing.pem")
	unreadable := filepath.Join(dir, "unreadable.pem")
	if err := os.WriteFile(unreadable, []byte("x"), 0o000); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		hcl  string
		want string
	}{
		{"missing file", fmt.Sprintf(`tls { defaults { ca_file = %q } }`, missing),
			fmt.Sprintf(`tls.defaults.ca_file %q: no such file or directory`, missing)},
		{"missing file in a block", fmt.Sprintf(`tls { https { ca_file = %q } }`, missing),
			fmt.Sprintf(`tls.https.ca_file %q: no such file or directory`, missing)},
		{"cert and key mismatch", fmt.Sprintf(`tls { internal_rpc { cert_file = %q
key_file = %q } }`, cert, otherKey),
			fmt.Sprintf(`tls.internal_rpc.key_file %q: is not the private key of cert_file %q`, otherKey, cert)},
		{"verify_incoming without a CA", fmt.Sprintf(`tls { internal_rpc { cert_file = %q
key_file = %q
verify_incoming = true } }`, cert, key),
			"tls.internal_rpc.verify_incoming needs a CA to check client certificates against: set ca_file or ca_path"},
		{"verify_outgoing without a CA", `tls { internal_rpc { verify_outgoing = true } }`,
			"tls.internal_rpc.verify_outgoing needs a CA to check servers against: set ca_file or ca_path"},
		{"verify_server_hostname in defaults", fmt.Sprintf(`tls { defaults { ca_file = %q
verify_server_hostname = true } }`, ca),
			"verify_server_hostname is only valid in the tls.internal_rpc stanza"},
		{"bad version", `tls { defaults { tls_min_version = "TLS1.2" } }`,
			`tls.defaults.tls_min_version: "TLS1.2" is not a TLS version (want one of TLSv1_0, TLSv1_1, TLSv1_2, TLSv1_3)`},
		{"unknown cipher", `tls { internal_rpc { tls_cipher_suites = "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,TLS_FAST" } }`,
			`tls.internal_rpc.tls_cipher_suites: "TLS_FAST" is not a supported cipher suite`},
		{"https without a certificate", `ports { https = 8501 }`,
			"ports.https is set but HTTPS has no certificate: set cert_file and key_file in tls.https or tls.defaults"},
	}
	if os.Getuid() != 0 {
		cases = append(cases, struct{ name, hcl, want string }{"unreadable file",
			fmt.Sprintf(`tls { defaults { ca_file = %q } }`, unreadable),
			fmt.Sprintf(`tls.defaults.ca_file %q: permission denied`, unreadable)})
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := Load(testOpts("-data-dir", "/d", "-hcl", tc.hcl))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v\nwant it to contain %s", err, tc.want)
			}
			// One sentence per problem: a bad default is not reported
			// once per block.
			if n := strings.Count(err.Error(), tc.want); n != 1 {
				t.Errorf("reported %d times: %v", n, err)
			}
		})
	}
}
