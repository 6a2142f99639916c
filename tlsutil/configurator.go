package tlsutil

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"sync/atomic"

	"github.com/hashicorp/go-hclog"
)

// Configurator hands out the *tls.Config of every TLS endpoint of the
// agent: the server port's accepting side, the dialling side of RPC and
// Raft, and the HTTPS listener. Certificates and CAs live in one state that
// Update swaps atomically (SIGHUP): the tls.Configs read the current state
// on every handshake, through GetConfigForClient on the accepting side and
// per dial on the dialling side, so a reload takes effect for new
// connections while established ones carry on undisturbed.
type Configurator struct {
	logger hclog.Logger
	cur    atomic.Pointer[tlsState]

	incomingRPC   *tls.Config
	incomingHTTPS *tls.Config
}

// tlsState is one loaded configuration; it is never modified once stored.
type tlsState struct {
	cfg   Config
	rpc   *protoState
	https *protoState
}

// protoState is one protocol block with its files loaded.
type protoState struct {
	cfg        ProtocolConfig
	cert       *tls.Certificate
	pool       *x509.CertPool
	minVersion uint16
	ciphers    []uint16
	// server is the accepting side's config; nil when there is no
	// certificate to present.
	server *tls.Config
}

// NewConfigurator loads cfg's files and checks that they fit together.
// logger may be nil.
func NewConfigurator(cfg Config, logger hclog.Logger) (*Configurator, error) {
	if logger == nil {
		logger = hclog.NewNullLogger()
	}
	c := &Configurator{logger: logger}
	st, err := loadState(cfg)
	if err != nil {
		return nil, err
	}
	c.cur.Store(st)
	c.incomingRPC = &tls.Config{
		GetConfigForClient: func(*tls.ClientHelloInfo) (*tls.Config, error) {
			p := c.cur.Load().rpc
			if p.server == nil {
				return nil, errors.New("this server has no TLS certificate: set cert_file and key_file in tls.internal_rpc or tls.defaults")
			}
			return p.server, nil
		},
	}
	c.incomingHTTPS = &tls.Config{
		GetConfigForClient: func(*tls.ClientHelloInfo) (*tls.Config, error) {
			p := c.cur.Load().https
			if p.server == nil {
				return nil, errors.New("no TLS certificate for HTTPS: set cert_file and key_file in tls.https or tls.defaults")
			}
			return p.server, nil
		},
	}
	return c, nil
}

// Update loads a new configuration (a reload) and, when it is valid,
// makes it the one every new handshake uses. On error the running
// configuration stays.
func (c *Configurator) Update(cfg Config) error {
	st, err := loadState(cfg)
	if err != nil {
		return err
	}
	c.cur.Store(st)
	c.logger.Info("tls configuration loaded", "rpc_cert", certSubject(st.rpc.cert), "https_cert", certSubject(st.https.cert))
	return nil
}

func certSubject(c *tls.Certificate) string {
	if c == nil || c.Leaf == nil {
		return ""
	}
	return fmt.Sprintf("%s (serial %s)", c.Leaf.Subject.CommonName, c.Leaf.SerialNumber)
}

// loadState loads and checks both protocol blocks.
func loadState(cfg Config) (*tlsState, error) {
	rpc, err := loadProto(cfg.InternalRPC, true)
	if err != nil {
		return nil, fmt.Errorf("tls.internal_rpc: %w", err)
	}
	https, err := loadProto(cfg.HTTPS, false)
	if err != nil {
		return nil, fmt.Errorf("tls.https: %w", err)
	}
	return &tlsState{cfg: cfg, rpc: rpc, https: https}, nil
}

// loadProto loads one protocol block and checks what Consul checks: a CA
// for verify_incoming and verify_outgoing, a certificate for
// verify_incoming, a known version and known cipher suites.
func loadProto(p ProtocolConfig, rpc bool) (*protoState, error) {
	ps := &protoState{cfg: p}
	var err error
	if ps.minVersion, err = ParseMinVersion(p.TLSMinVersion); err != nil {
		return nil, fmt.Errorf("tls_min_version: %w", err)
	}
	if ps.ciphers, err = ParseCipherSuites(p.CipherSuites, ps.minVersion); err != nil {
		return nil, fmt.Errorf("tls_cipher_suites: %w", err)
	}
	if ps.cert, err = LoadKeyPair(p.CertFile, p.KeyFile); err != nil {
		return nil, err
	}
	if ps.pool, err = LoadCAs(p.CAFile, p.CAPath); err != nil {
		return nil, err
	}
	if p.VerifyIncoming && ps.pool == nil {
		return nil, errors.New("verify_incoming needs a CA to check client certificates against: set ca_file or ca_path")
	}
	if p.VerifyIncoming && ps.cert == nil {
		return nil, errors.New("verify_incoming needs a certificate to present: set cert_file and key_file")
	}
	if rpc && p.VerifyServerHostname && ps.pool == nil {
		return nil, errors.New("verify_server_hostname (which implies verify_outgoing) needs a CA to check servers against: set ca_file or ca_path")
	}
	if rpc && p.VerifyOutgoing && ps.pool == nil {
		return nil, errors.New("verify_outgoing needs a CA to check servers against: set ca_file or ca_path")
	}
	if ps.cert != nil {
		sc := &tls.Config{
			MinVersion:   ps.minVersion,
			CipherSuites: ps.ciphers,
			Certificates: []tls.Certificate{*ps.cert},
			ClientCAs:    ps.pool,
		}
		switch {
		case p.VerifyIncoming:
			sc.ClientAuth = tls.RequireAndVerifyClientCert
		case ps.pool != nil:
			sc.ClientAuth = tls.VerifyClientCertIfGiven
		}
		if !rpc {
			sc.NextProtos = []string{"http/1.1"}
		}
		ps.server = sc
	}
	return ps, nil
}

// IncomingRPCConfig is the accepting side of the server port. It answers
// every handshake with the current state: the current certificate, and a
// client certificate required (verify_incoming) or checked if given.
func (c *Configurator) IncomingRPCConfig() *tls.Config { return c.incomingRPC }

// IncomingHTTPSConfig is the HTTPS listener's config, reading the current
// state on every handshake like IncomingRPCConfig.
func (c *Configurator) IncomingHTTPSConfig() *tls.Config { return c.incomingHTTPS }

// RPCRequireTLS reports whether the server port refuses plaintext RPC and
// Raft (tls.internal_rpc.verify_incoming).
func (c *Configurator) RPCRequireTLS() bool { return c.cur.Load().rpc.cfg.VerifyIncoming }

// RPCServerTLS reports whether the server port can accept TLS: it has a
// certificate to present.
func (c *Configurator) RPCServerTLS() bool { return c.cur.Load().rpc.server != nil }

// OutgoingRPCTLS reports whether RPC and Raft dials use TLS
// (tls.internal_rpc.verify_outgoing, or verify_server_hostname, which
// implies it).
func (c *Configurator) OutgoingRPCTLS() bool {
	p := c.cur.Load().rpc.cfg
	return p.VerifyOutgoing || p.VerifyServerHostname
}

// VerifyServerHostname reports whether servers must prove
// server.<dc>.<domain> (tls.internal_rpc.verify_server_hostname).
func (c *Configurator) VerifyServerHostname() bool {
	return c.cur.Load().rpc.cfg.VerifyServerHostname
}

// HTTPSEnabled reports whether there is a certificate for HTTPS.
func (c *Configurator) HTTPSEnabled() bool { return c.cur.Load().https.server != nil }

// OutgoingRPCConfig returns the dialling side's config for a server of
// datacenter dc, from the current state. The server's certificate must
// chain to the CA; with verify_server_hostname it must also name
// server.<dc>.<domain>, so that neither a client certificate nor another
// datacenter's server can stand in for a server of dc. The client
// certificate presented is the current one at the time of the handshake.
func (c *Configurator) OutgoingRPCConfig(dc string) *tls.Config {
	st := c.cur.Load()
	p := st.rpc
	cfg := &tls.Config{
		MinVersion:   p.minVersion,
		CipherSuites: p.ciphers,
		RootCAs:      p.pool,
		GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
			if cert := c.cur.Load().rpc.cert; cert != nil {
				return cert, nil
			}
			// No certificate: the server decides whether that will do.
			return &tls.Certificate{}, nil
		},
	}
	name := ServerName(dc, st.cfg.Domain)
	if p.cfg.VerifyServerHostname {
		cfg.ServerName = name
		return cfg
	}
	// The chain is checked against the CA, but not the name, as Consul
	// does without verify_server_hostname.
	pool := p.pool
	cfg.InsecureSkipVerify = true
	cfg.VerifyConnection = func(cs tls.ConnectionState) error {
		return verifyChain(cs.PeerCertificates, pool, "", x509.ExtKeyUsageServerAuth)
	}
	return cfg
}

// WrapOutgoingRPC runs the TLS handshake, as the client, on conn to a
// server of datacenter dc, within ctx. On error conn is closed.
func (c *Configurator) WrapOutgoingRPC(ctx context.Context, dc string, conn net.Conn) (net.Conn, error) {
	tc := tls.Client(conn, c.OutgoingRPCConfig(dc))
	if err := tc.HandshakeContext(ctx); err != nil {
		_ = conn.Close()
		return nil, fmt.Errorf("TLS handshake with %s (a server of %s): %w", conn.RemoteAddr(), dc, err)
	}
	return tc, nil
}

// CheckRaftPeer checks the certificate of an incoming Raft connection over
// TLS: with verify_server_hostname it must be valid for
// server.<own dc>.<domain>, so that only this datacenter's servers take
// part in its Raft; otherwise any certificate the handshake accepted will
// do.
func (c *Configurator) CheckRaftPeer(cs tls.ConnectionState) error {
	st := c.cur.Load()
	if !st.rpc.cfg.VerifyServerHostname {
		return nil
	}
	name := ServerName(st.cfg.Datacenter, st.cfg.Domain)
	if err := verifyChain(cs.PeerCertificates, st.rpc.pool, name, x509.ExtKeyUsageClientAuth); err != nil {
		return fmt.Errorf("raft peer is not a server of %s (verify_server_hostname): %w", st.cfg.Datacenter, err)
	}
	return nil
}

// verifyChain checks that the first certificate chains to pool, through
// the others, for usage, and names name when name is not empty.
func verifyChain(certs []*x509.Certificate, pool *x509.CertPool, name string, usage x509.ExtKeyUsage) error {
	if len(certs) == 0 {
		return errors.New("no certificate presented")
	}
	if pool == nil {
		return errors.New("no CA configured to check the certificate against")
	}
	opts := x509.VerifyOptions{
		Roots:         pool,
		DNSName:       name,
		Intermediates: x509.NewCertPool(),
		KeyUsages:     []x509.ExtKeyUsage{usage},
	}
	for _, ic := range certs[1:] {
		opts.Intermediates.AddCert(ic)
	}
	_, err := certs[0].Verify(opts)
	return err
}

// CheckProtocol loads one protocol block's files and checks the block as
// NewConfigurator does, so that package config can report a problem when
// the configuration is loaded, naming its key. internalRPC selects the
// checks of tls.internal_rpc (verify_outgoing and verify_server_hostname
// need a CA).
func CheckProtocol(p ProtocolConfig, internalRPC bool) error {
	_, err := loadProto(p, internalRPC)
	return err
}
