package command

import (
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"net"
	"os"
	"strings"
	"time"

	"github.com/hashicorp/cli"

	"github.com/meridian-sd/meridian/tlsutil"
)

// TLSCertCreateCommand creates a server, client or cli certificate signed
// by the CA that tls ca create made.
type TLSCertCreateCommand struct {
	UI cli.Ui
	// Dir is where the files are read and written; "" is the current
	// directory.
	Dir string
}

var _ cli.Command = (*TLSCertCreateCommand)(nil)

// Synopsis implements cli.Command.
func (c *TLSCertCreateCommand) Synopsis() string { return "Create a new certificate" }

// maxCertIndex bounds the search for a free <prefix>-<n>.pem name.
const maxCertIndex = 10000

type tlsCertCreateFlags struct {
	fs                     *flag.FlagSet
	server, client, cliArg *bool
	dc, domain, node       *string
	days                   *int
	ca, key                *string
	dnsNames, ipAddresses  *stringList
}

func (c *TLSCertCreateCommand) flags() tlsCertCreateFlags {
	fs := newFlagSet("tls cert create")
	f := tlsCertCreateFlags{
		fs:          fs,
		server:      fs.Bool("server", false, "Create a server certificate, named server.<dc>.<domain>."),
		client:      fs.Bool("client", false, "Create a client agent certificate, named client.<dc>.<domain>."),
		cliArg:      fs.Bool("cli", false, "Create a certificate for the CLI and API callers, named cli.<dc>.<domain>; it cannot serve TLS."),
		dc:          fs.String("dc", "dc1", "The datacenter the certificate is for. Default: dc1."),
		domain:      fs.String("domain", tlsutil.DefaultDomain, "The DNS domain the agents use. Default: consul."),
		node:        fs.String("node", "", "With -server, also name the certificate <node>.server.<dc>.<domain>."),
		days:        fs.Int("days", 365, "Number of days the certificate is valid for. Default: 365."),
		ca:          fs.String("ca", "", "The CA certificate file. Default: <domain>-agent-ca.pem."),
		key:         fs.String("key", "", "The CA key file. Default: <domain>-agent-ca-key.pem."),
		dnsNames:    &stringList{},
		ipAddresses: &stringList{},
	}
	fs.Var(f.dnsNames, "additional-dnsname", "Another DNS name for the certificate; repeatable. localhost is always included.")
	fs.Var(f.ipAddresses, "additional-ipaddress", "Another IP address for the certificate; repeatable. 127.0.0.1 is always included for servers and clients.")
	return f
}

// Help implements cli.Command.
func (c *TLSCertCreateCommand) Help() string {
	return strings.TrimSpace(`
Usage: meridian tls cert create -server|-client|-cli [options]

  Creates a certificate and ECDSA P-256 key signed by the CA in the current
  directory, written to <dc>-<role>-<domain>-<n>.pem and
  <dc>-<role>-<domain>-<n>-key.pem (mode 0600), n being the first number
  not taken yet. Server and client certificates name localhost and
  127.0.0.1 too and may both serve and make TLS connections; with
  verify_server_hostname only a server certificate of the datacenter
  passes as its server.

    $ meridian tls cert create -server -dc dc1
    ==> WARNING: A server certificate lets its holder act as a server of
        the datacenter and read all of its data. Give it only to server
        hosts and keep it as safe as the CA key.
    ==> Using consul-agent-ca.pem and consul-agent-ca-key.pem
    ==> Saved dc1-server-consul-0.pem
    ==> Saved dc1-server-consul-0-key.pem

Options:

`) + "\n" + flagHelp(c.flags().fs)
}

// serverCertWarning is printed before a server certificate is made.
const serverCertWarning = `==> WARNING: A server certificate lets its holder act as a server of
    the datacenter and read all of its data. Give it only to server
    hosts and keep it as safe as the CA key.`

// Run implements cli.Command.
func (c *TLSCertCreateCommand) Run(args []string) int {
	if err := c.run(args); err != nil {
		c.UI.Error("Error: " + err.Error())
		return 1
	}
	return 0
}

func (c *TLSCertCreateCommand) run(args []string) error {
	f := c.flags()
	if err := f.fs.Parse(args); err != nil {
		return err
	}
	if f.fs.NArg() > 0 {
		return errors.New("tls cert create takes no arguments")
	}
	var role tlsutil.Role
	n := 0
	for _, r := range []struct {
		set  bool
		role tlsutil.Role
	}{{*f.server, tlsutil.RoleServer}, {*f.client, tlsutil.RoleClient}, {*f.cliArg, tlsutil.RoleCLI}} {
		if r.set {
			role = r.role
			n++
		}
	}
	if n != 1 {
		return errors.New("give exactly one of -server, -client or -cli")
	}
	if *f.node != "" && role != tlsutil.RoleServer {
		return errors.New("-node requires -server")
	}
	if err := tlsDays(*f.days); err != nil {
		return err
	}
	dc, err := tlsDC(*f.dc)
	if err != nil {
		return err
	}
	domain, err := tlsDomain(*f.domain)
	if err != nil {
		return err
	}
	node := strings.ToLower(strings.TrimSpace(*f.node))
	if node != "" && !dnsLabelRE.MatchString(node) {
		return fmt.Errorf("-node %q is not a DNS label: use only letters, digits and '-'", *f.node)
	}

	opts := tlsutil.AgentCertOpts(role, dc, domain, node)
	opts.Lifetime = time.Duration(*f.days) * 24 * time.Hour
	for _, d := range *f.dnsNames {
		name := strings.ToLower(strings.TrimSpace(d))
		if name == "" {
			continue
		}
		if !sanDNSRE.MatchString(name) {
			return fmt.Errorf("-additional-dnsname %q is not a DNS name", d)
		}
		opts.DNSNames = append(opts.DNSNames, name)
	}
	for _, s := range *f.ipAddresses {
		s = strings.TrimSpace(s)
		if s == "" {
			continue
		}
		ip := net.ParseIP(s)
		if ip == nil {
			return fmt.Errorf("-additional-ipaddress %q is not an IP address", s)
		}
		opts.IPAddresses = append(opts.IPAddresses, ip)
	}

	caName, keyName := *f.ca, *f.key
	if caName == "" {
		caName = domain + "-agent-ca.pem"
	}
	if keyName == "" {
		keyName = domain + "-agent-ca-key.pem"
	}
	caPEM, err := readCAFile(c.Dir, caName, "CA certificate")
	if err != nil {
		return err
	}
	caKeyPEM, err := readCAFile(c.Dir, keyName, "CA key")
	if err != nil {
		return err
	}
	opts.CACert, opts.CAKey = caPEM, caKeyPEM

	prefix := fmt.Sprintf("%s-%s-%s", dc, role, domain)
	certName, certKeyName := "", ""
	for i := 0; i < maxCertIndex; i++ {
		cn, kn := fmt.Sprintf("%s-%d.pem", prefix, i), fmt.Sprintf("%s-%d-key.pem", prefix, i)
		if !tlsExists(tlsPath(c.Dir, cn)) && !tlsExists(tlsPath(c.Dir, kn)) {
			certName, certKeyName = cn, kn
			break
		}
	}
	if certName == "" {
		return fmt.Errorf("%s-0.pem to %s-%d.pem all exist; move some away", prefix, prefix, maxCertIndex-1)
	}

	if role == tlsutil.RoleServer {
		c.UI.Info(serverCertWarning)
	}
	c.UI.Info("==> Using " + caName + " and " + keyName)
	certPEM, keyPEM, err := tlsutil.GenerateCert(opts)
	if err != nil {
		return fmt.Errorf("with CA %s and key %s: %w", caName, keyName, err)
	}
	return writePair(c.UI, c.Dir, certName, certPEM, certKeyName, keyPEM)
}

// readCAFile reads the CA certificate or key, saying in one sentence
// what to do when it is missing.
func readCAFile(dir, name, what string) (string, error) {
	b, err := os.ReadFile(tlsPath(dir, name))
	if errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Errorf("%s %s not found: run \"meridian tls ca create\" here first, or give its path with -ca and -key", what, name)
	}
	if err != nil {
		return "", fmt.Errorf("read %s: %w", what, err)
	}
	return string(b), nil
}
