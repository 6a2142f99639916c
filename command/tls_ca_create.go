package command

import (
	"flag"
	"fmt"
	"strings"
	"time"

	"github.com/hashicorp/cli"

	"github.com/meridian-sd/meridian/tlsutil"
)

// TLSCACreateCommand creates a certificate authority for agent TLS.
type TLSCACreateCommand struct {
	UI cli.Ui
	// Dir is where the files are written; "" is the current directory.
	Dir string
}

var _ cli.Command = (*TLSCACreateCommand)(nil)

// Synopsis implements cli.Command.
func (c *TLSCACreateCommand) Synopsis() string { return "Create a new CA for agent TLS" }

type tlsCACreateFlags struct {
	fs                   *flag.FlagSet
	days                 *int
	domain               *string
	nameConstraint       *bool
	additionalConstraint *stringList
	commonName           *string
}

func (c *TLSCACreateCommand) flags() tlsCACreateFlags {
	fs := newFlagSet("tls ca create")
	f := tlsCACreateFlags{
		fs:                   fs,
		days:                 fs.Int("days", 1825, "Number of days the CA is valid for. Default: 1825 (about 5 years)."),
		domain:               fs.String("domain", tlsutil.DefaultDomain, "The DNS domain the agents use; names the files, and with -name-constraint the CA only signs names under it and localhost. Default: consul."),
		nameConstraint:       fs.Bool("name-constraint", false, "Add critical X.509 name constraints: the CA then only signs certificates for localhost, -domain and -additional-name-constraint. Name an HTTPS UI's DNS name here: it cannot be added later."),
		additionalConstraint: &stringList{},
		commonName:           fs.String("common-name", "", "Common name of the CA. Default: Meridian Agent CA <serial>."),
	}
	fs.Var(f.additionalConstraint, "additional-name-constraint", "Another domain the CA may sign names under; repeatable. Only with -name-constraint.")
	return f
}

// Help implements cli.Command.
func (c *TLSCACreateCommand) Help() string {
	return strings.TrimSpace(`
Usage: meridian tls ca create [options]

  Creates a self-signed certificate authority for agent TLS: an ECDSA P-256
  key and certificate, written to <domain>-agent-ca.pem and
  <domain>-agent-ca-key.pem (mode 0600) in the current directory. Existing
  files are never overwritten.

    $ meridian tls ca create
    ==> Saved consul-agent-ca.pem
    ==> Saved consul-agent-ca-key.pem

  Keep the key private: anyone holding it can make server certificates.

Options:

`) + "\n" + flagHelp(c.flags().fs)
}

// Run implements cli.Command.
func (c *TLSCACreateCommand) Run(args []string) int {
	f := c.flags()
	if err := f.fs.Parse(args); err != nil {
		c.UI.Error("Error: " + err.Error())
		return 1
	}
	if f.fs.NArg() > 0 {
		c.UI.Error("Error: tls ca create takes no arguments")
		return 1
	}
	if err := tlsDays(*f.days); err != nil {
		c.UI.Error("Error: " + err.Error())
		return 1
	}
	domain, err := tlsDomain(*f.domain)
	if err != nil {
		c.UI.Error("Error: " + err.Error())
		return 1
	}
	if len(*f.additionalConstraint) > 0 && !*f.nameConstraint {
		c.UI.Error("Error: -additional-name-constraint requires -name-constraint")
		return 1
	}
	var constraints []string
	if *f.nameConstraint {
		for _, a := range *f.additionalConstraint {
			if _, err := tlsDomain(a); err != nil {
				c.UI.Error(fmt.Sprintf("Error: -additional-name-constraint %q is not a DNS name", a))
				return 1
			}
		}
		constraints = tlsutil.NameConstraints(domain, *f.additionalConstraint...)
	}

	certName := domain + "-agent-ca.pem"
	keyName := domain + "-agent-ca-key.pem"
	for _, n := range []string{certName, keyName} {
		if tlsExists(tlsPath(c.Dir, n)) {
			c.UI.Error(fmt.Sprintf("Error: %s already exists; move it away or run in another directory to make a new CA", n))
			return 1
		}
	}

	certPEM, keyPEM, err := tlsutil.GenerateCA(tlsutil.CAOpts{
		CommonName:          *f.commonName,
		Lifetime:            time.Duration(*f.days) * 24 * time.Hour,
		PermittedDNSDomains: constraints,
	})
	if err != nil {
		c.UI.Error("Error: " + err.Error())
		return 1
	}
	if err := writePair(c.UI, c.Dir, certName, certPEM, keyName, keyPEM); err != nil {
		c.UI.Error("Error: " + err.Error())
		return 1
	}
	return 0
}
