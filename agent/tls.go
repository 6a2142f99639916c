package agent

import (
	"fmt"

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
	if err := a.tls.Update(rc.TLS); err != nil {
		return fmt.Errorf("reload tls configuration: %w", err)
	}
	return nil
}
