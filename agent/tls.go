package agent

import (
	"errors"
	"fmt"
	"net"
	"net/http"

	"github.com/hashicorp/go-hclog"

	"github.com/meridian-sd/meridian/agent/config"
	"github.com/meridian-sd/meridian/tlsutil"
)

// setupTLS loads the certificates of the tls stanza. The Configurator is
// made even when TLS is not configured: it then asks for plaintext
// everywhere, and a reload can turn TLS on for new connections.
func (a *Agent) setupTLS(rc *config.RuntimeConfig) error {
	c, err := tlsutil.NewConfigurator(rc.TLS, a.logger.Named("tls"))
	if err != nil {
		return fmt.Errorf("load tls configuration: %w", err)
	}
	a.tls = c
	return nil
}

// reloadTLS swaps in the certificates and settings of a reloaded
// configuration. Connections already made keep the certificates they were
// made with; new handshakes use the new ones.
func (a *Agent) reloadTLS(rc *config.RuntimeConfig) error {
	if a.tls == nil {
		return nil
	}
	// The datacenter and domain need a restart: certificates are checked
	// against the running ones until then.
	tc := rc.TLS
	cur := a.cfg().TLS
	tc.Datacenter, tc.Domain = cur.Datacenter, cur.Domain
	if err := a.tls.Update(tc); err != nil {
		return fmt.Errorf("reload tls configuration: %w", err)
	}
	return nil
}

// startHTTPS listens on every HTTPS address (ports.https) with the same
// routes as HTTP. The certificate and the client-certificate check come
// from tls.https (over tls.defaults) and follow reloads.
func (a *Agent) startHTTPS(rc *config.RuntimeConfig) error {
	if len(rc.HTTPSAddrs) == 0 {
		return nil
	}
	mux := a.routes()
	for _, ap := range rc.HTTPSAddrs {
		ln, err := net.Listen("tcp", ap.String())
		if err != nil {
			return fmt.Errorf("listen for https on %s: %w", ap, err)
		}
		// The HTTP listener's limits apply here too; its connection limit
		// per client counts both listeners together. ReadHeaderTimeout
		// also bounds the TLS handshake.
		ln = a.httpConns.listen(ln)
		srv := &http.Server{
			Handler:           mux,
			TLSConfig:         a.tls.IncomingHTTPSConfig(),
			ReadHeaderTimeout: a.httpLimits.ReadHeaderTimeout,
			IdleTimeout:       a.httpLimits.IdleTimeout,
			MaxHeaderBytes:    a.httpLimits.MaxHeaderBytes,
			ErrorLog:          a.logger.StandardLogger(&hclog.StandardLoggerOptions{InferLevels: true}),
		}
		a.httpServers = append(a.httpServers, srv)
		a.httpsAddrs = append(a.httpsAddrs, ln.Addr())
		a.wg.Add(1)
		go func() {
			defer a.wg.Done()
			if err := srv.ServeTLS(ln, "", ""); err != nil && !errors.Is(err, http.ErrServerClosed) {
				a.logger.Error("https server stopped", "addr", ln.Addr().String(), "error", err)
			}
		}()
		a.logger.Info("https api listening", "addr", ln.Addr().String())
	}
	return nil
}

// HTTPSAddrs are the addresses the HTTPS API listens on.
func (a *Agent) HTTPSAddrs() []net.Addr { return a.httpsAddrs }
