package command

import (
	"testing"
)

// TestHTTPTLSFlags checks the order of the TLS settings of client verbs:
// the flag, then MERIDIAN_<NAME>, then CONSUL_<NAME>.
func TestHTTPTLSFlags(t *testing.T) {
	t.Setenv("CONSUL_CACERT", "consul-ca.pem")
	t.Setenv("MERIDIAN_CACERT", "meridian-ca.pem")
	t.Setenv("CONSUL_CLIENT_CERT", "consul-cert.pem")
	t.Setenv("CONSUL_CLIENT_KEY", "consul-key.pem")
	t.Setenv("CONSUL_TLS_SERVER_NAME", "server.dc1.consul")
	t.Setenv("CONSUL_HTTP_SSL", "true")
	t.Setenv("CONSUL_HTTP_SSL_VERIFY", "false")

	fs := newFlagSet("test")
	h := &httpFlags{}
	h.addHTTPFlags(fs)
	if err := fs.Parse([]string{"-client-key", "flag-key.pem", "-http-addr", "10.0.0.1:8501"}); err != nil {
		t.Fatal(err)
	}
	c := h.tls.apiConfig()
	if c.CAFile != "meridian-ca.pem" {
		t.Errorf("CAFile = %q, want MERIDIAN_CACERT's", c.CAFile)
	}
	if c.CertFile != "consul-cert.pem" || c.KeyFile != "flag-key.pem" {
		t.Errorf("CertFile, KeyFile = %q, %q; want CONSUL_CLIENT_CERT's and the flag's", c.CertFile, c.KeyFile)
	}
	if c.Address != "server.dc1.consul" || !c.InsecureSkipVerify {
		t.Errorf("Address %q, InsecureSkipVerify %v", c.Address, c.InsecureSkipVerify)
	}
	if !h.tls.useSSL() {
		t.Error("CONSUL_HTTP_SSL=true does not mean https")
	}
	t.Setenv("CONSUL_HTTP_SSL", "")
	if h.tls.useSSL() {
		t.Error("useSSL without CONSUL_HTTP_SSL")
	}
}
