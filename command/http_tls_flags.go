package command

import (
	"flag"
	"os"
	"strconv"

	"github.com/hashicorp/consul/api"
)

// httpTLSFlags are the TLS flags of every client verb, as Consul's: the
// CA to check the agent's HTTPS certificate with, the client certificate
// to present when the agent verifies incoming HTTPS, and the name to check.
// Each falls back to MERIDIAN_<NAME>, then CONSUL_<NAME>, as -http-addr
// does.
type httpTLSFlags struct {
	caFile, caPath, clientCert, clientKey, serverName string
}

func (t *httpTLSFlags) addFlags(fs *flag.FlagSet) {
	fs.StringVar(&t.caFile, "ca-file", "", "A PEM file of the CA that signed the agent's HTTPS certificate. Default MERIDIAN_CACERT, then CONSUL_CACERT.")
	fs.StringVar(&t.caPath, "ca-path", "", "A directory of PEM CA files, instead of -ca-file. Default MERIDIAN_CAPATH, then CONSUL_CAPATH.")
	fs.StringVar(&t.clientCert, "client-cert", "", "A PEM client certificate for agents with tls.https.verify_incoming. Default MERIDIAN_CLIENT_CERT, then CONSUL_CLIENT_CERT.")
	fs.StringVar(&t.clientKey, "client-key", "", "The private key of -client-cert. Default MERIDIAN_CLIENT_KEY, then CONSUL_CLIENT_KEY.")
	fs.StringVar(&t.serverName, "tls-server-name", "", "The name to check the agent's certificate against instead of the address's host. Default MERIDIAN_TLS_SERVER_NAME, then CONSUL_TLS_SERVER_NAME.")
}

// env returns the first of the MERIDIAN_ and CONSUL_ variables of name
// that is set.
func env(name string) string {
	if v := os.Getenv("MERIDIAN_" + name); v != "" {
		return v
	}
	return os.Getenv("CONSUL_" + name)
}

func orEnv(flagValue, name string) string {
	if flagValue != "" {
		return flagValue
	}
	return env(name)
}

// useSSL reports whether an address without a scheme means https:
// MERIDIAN_HTTP_SSL or CONSUL_HTTP_SSL is true.
func (t *httpTLSFlags) useSSL() bool {
	b, err := strconv.ParseBool(env("HTTP_SSL"))
	return err == nil && b
}

// apiConfig is the official client's TLS configuration from the flags and
// the environment. MERIDIAN_HTTP_SSL_VERIFY (or CONSUL_HTTP_SSL_VERIFY)
// false turns certificate checks off.
func (t *httpTLSFlags) apiConfig() api.TLSConfig {
	c := api.TLSConfig{
		CAFile:   orEnv(t.caFile, "CACERT"),
		CAPath:   orEnv(t.caPath, "CAPATH"),
		CertFile: orEnv(t.clientCert, "CLIENT_CERT"),
		KeyFile:  orEnv(t.clientKey, "CLIENT_KEY"),
		Address:  orEnv(t.serverName, "TLS_SERVER_NAME"),
	}
	if v, err := strconv.ParseBool(env("HTTP_SSL_VERIFY")); err == nil && !v {
		c.InsecureSkipVerify = true
	}
	return c
}
