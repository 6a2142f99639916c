package command

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/hashicorp/cli"
)

// TLSCommand is the parent of the tls verbs.
type TLSCommand struct{}

var _ cli.Command = (*TLSCommand)(nil)

// Synopsis implements cli.Command.
func (c *TLSCommand) Synopsis() string {
	return "Builtin helpers for creating CAs and certificates"
}

// Help implements cli.Command.
func (c *TLSCommand) Help() string {
	return strings.TrimSpace(`
Usage: meridian tls <subcommand> <subcommand> [options]

  Creates a certificate authority and the agent certificates signed by it,
  in the current directory, with the file names Consul's tls command uses:

    $ meridian tls ca create
    ==> Saved consul-agent-ca.pem
    ==> Saved consul-agent-ca-key.pem
    $ meridian tls cert create -server -dc dc1
    $ meridian tls cert create -client -dc dc1
    $ meridian tls cert create -cli -dc dc1
`)
}

// Run implements cli.Command.
func (c *TLSCommand) Run(args []string) int { return cli.RunResultHelp }

// TLSCACommand is the parent of the tls ca verbs.
type TLSCACommand struct{}

var _ cli.Command = (*TLSCACommand)(nil)

// Synopsis implements cli.Command.
func (c *TLSCACommand) Synopsis() string { return "Helpers for CAs" }

// Help implements cli.Command.
func (c *TLSCACommand) Help() string {
	return strings.TrimSpace(`
Usage: meridian tls ca <subcommand> [options]

    meridian tls ca create [-days=1825] [-domain=consul] [-name-constraint]
`)
}

// Run implements cli.Command.
func (c *TLSCACommand) Run(args []string) int { return cli.RunResultHelp }

// TLSCertCommand is the parent of the tls cert verbs.
type TLSCertCommand struct{}

var _ cli.Command = (*TLSCertCommand)(nil)

// Synopsis implements cli.Command.
func (c *TLSCertCommand) Synopsis() string { return "Helpers for certificates" }

// Help implements cli.Command.
func (c *TLSCertCommand) Help() string {
	return strings.TrimSpace(`
Usage: meridian tls cert <subcommand> [options]

    meridian tls cert create -server|-client|-cli [-dc=dc1] [-domain=consul]
`)
}

// Run implements cli.Command.
func (c *TLSCertCommand) Run(args []string) int { return cli.RunResultHelp }

var (
	// dnsLabelRE matches one DNS label; tls names certificates and files
	// after the domain, datacenter and node, so each must be one.
	dnsLabelRE = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`)
	// tlsDatacenterRE is the agent's rule for datacenter names.
	tlsDatacenterRE = regexp.MustCompile(`^[a-z0-9_-]+$`)
	// sanDNSRE is what an additional DNS name may hold: labels, dots and
	// a leading wildcard.
	sanDNSRE = regexp.MustCompile(`^(\*\.)?[a-z0-9_]([a-z0-9_-]*[a-z0-9_])?(\.[a-z0-9_]([a-z0-9_-]*[a-z0-9_])?)*$`)
)

// tlsDomain lower-cases a -domain value, drops a trailing dot and checks
// it is a DNS name.
func tlsDomain(s string) (string, error) {
	d := strings.TrimSuffix(strings.ToLower(strings.TrimSpace(s)), ".")
	if d == "" {
		return "", errors.New("-domain must not be empty")
	}
	for _, l := range strings.Split(d, ".") {
		if !dnsLabelRE.MatchString(l) {
			return "", fmt.Errorf("-domain %q is not a DNS name: use labels of letters, digits and '-' separated by dots", s)
		}
	}
	return d, nil
}

// tlsDC lower-cases a -dc value, as the agent does, and checks it.
func tlsDC(s string) (string, error) {
	dc := strings.ToLower(strings.TrimSpace(s))
	if !tlsDatacenterRE.MatchString(dc) {
		return "", fmt.Errorf("-dc %q is not a valid datacenter name: use only letters, digits, '-' and '_'", s)
	}
	return dc, nil
}

// maxTLSDays bounds -days (100 years) so the lifetime cannot overflow.
const maxTLSDays = 36500

// tlsDays checks a -days value.
func tlsDays(days int) error {
	if days <= 0 || days > maxTLSDays {
		return fmt.Errorf("-days must be between 1 and %d, not %d", maxTLSDays, days)
	}
	return nil
}

// tlsPath resolves name against dir ("" is the current directory).
func tlsPath(dir, name string) string {
	if dir == "" || filepath.IsAbs(name) {
		return name
	}
	return filepath.Join(dir, name)
}

// tlsExists reports whether path exists (or cannot be checked, which
// counts as taken so nothing is overwritten).
func tlsExists(path string) bool {
	_, err := os.Lstat(path)
	return !errors.Is(err, fs.ErrNotExist)
}

// writeNewFile creates path with perm and writes data, refusing to
// replace an existing file; a partly written file is removed.
func writeNewFile(path string, data []byte, perm os.FileMode) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
	if errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("%s already exists; it was not overwritten", path)
	}
	if err != nil {
		return fmt.Errorf("create %s: %w", path, err)
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(path)
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// writePair writes a certificate (mode 0644) and its key (mode 0600) as
// new files, removing the certificate again if the key cannot be written.
func writePair(ui cli.Ui, dir, certName, certPEM, keyName, keyPEM string) error {
	certPath, keyPath := tlsPath(dir, certName), tlsPath(dir, keyName)
	if err := writeNewFile(certPath, []byte(certPEM), 0o644); err != nil {
		return err
	}
	if err := writeNewFile(keyPath, []byte(keyPEM), 0o600); err != nil {
		os.Remove(certPath)
		return err
	}
	ui.Output("==> Saved " + certName)
	ui.Output("==> Saved " + keyName)
	return nil
}
