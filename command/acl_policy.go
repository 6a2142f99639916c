package command

import (
	"flag"
	"os"
	"strings"

	"github.com/hashicorp/cli"
	"github.com/hashicorp/consul/api"
)

// The acl policy verbs: create, read, update, delete, list.

// readRules resolves -rules: inline text, @file, or - for stdin.
func readRules(arg string) (string, error) {
	if arg == "" {
		return "", nil
	}
	b, err := readData(arg, os.Stdin)
	if err != nil {
		return "", usagef("%v", err)
	}
	return string(b), nil
}

// policyByFlags reads the policy named by -id or -name.
func policyByFlags(c *api.Client, id, name string) (*api.ACLPolicy, error) {
	switch {
	case id != "" && name != "":
		return nil, usagef("give -id or -name, not both")
	case name != "":
		p, _, err := c.ACL().PolicyReadByName(name, nil)
		if err != nil {
			return nil, err
		}
		if p == nil {
			return nil, usagef("no policy named %q", name)
		}
		return p, nil
	}
	full, err := resolveID("policy", id, policyIDs(c))
	if err != nil {
		return nil, err
	}
	p, _, err := c.ACL().PolicyRead(full, nil)
	return p, err
}

func newACLPolicyCreate(ui cli.Ui) *aclVerb {
	var name, desc, rules string
	var dcs stringList
	v := &aclVerb{UI: ui, name: "policy create", synopsis: "Create an ACL policy",
		usage: `
Usage: meridian acl policy create -name NAME [options]

  Creates a policy. -rules takes the rules inline, from a file with @file,
  or from stdin with -:

    $ meridian acl policy create -name app -rules 'key_prefix "app/" { policy = "write" }'
    $ meridian acl policy create -name ops -rules @ops.hcl -valid-datacenter dc1`}
	v.define = func(fs *flag.FlagSet) {
		fs.StringVar(&name, "name", "", "The policy's name (letters, digits, '-' and '_').")
		fs.StringVar(&desc, "description", "", "A description of the policy.")
		fs.StringVar(&rules, "rules", "", "The rules, in HCL or JSON: inline, @file, or - for stdin.")
		fs.Var(&dcs, "valid-datacenter", "A datacenter where the policy applies (repeatable); none means everywhere.")
	}
	v.do = func(c *api.Client, args []string) (string, error) {
		if err := noArgs(args); err != nil {
			return "", err
		}
		if name == "" {
			return "", usagef("missing -name: a policy needs a name")
		}
		r, err := readRules(rules)
		if err != nil {
			return "", err
		}
		p, _, err := c.ACL().PolicyCreate(&api.ACLPolicy{Name: name, Description: desc, Rules: r, Datacenters: dcs}, nil)
		if err != nil {
			return "", err
		}
		return v.render(p, func() string { return formatPolicy(p) })
	}
	return v
}

func newACLPolicyRead(ui cli.Ui) *aclVerb {
	var id, name string
	v := &aclVerb{UI: ui, name: "policy read", synopsis: "Read an ACL policy",
		usage: `
Usage: meridian acl policy read (-id ID | -name NAME) [options]

  Prints a policy and its rules. -id takes a unique prefix of the ID too.`}
	v.define = func(fs *flag.FlagSet) {
		fs.StringVar(&id, "id", "", "The policy's ID, or a unique prefix of it.")
		fs.StringVar(&name, "name", "", "The policy's name.")
	}
	v.do = func(c *api.Client, args []string) (string, error) {
		if err := noArgs(args); err != nil {
			return "", err
		}
		p, err := policyByFlags(c, id, name)
		if err != nil {
			return "", err
		}
		return v.render(p, func() string { return formatPolicy(p) })
	}
	return v
}

func newACLPolicyUpdate(ui cli.Ui) *aclVerb {
	var id, name, desc, rules string
	var dcs stringList
	var noMerge bool
	v := &aclVerb{UI: ui, name: "policy update", synopsis: "Update an ACL policy",
		usage: `
Usage: meridian acl policy update -id ID [options]

  Changes a policy. Fields not given keep their values, unless -no-merge
  is set, which replaces the policy with exactly what the flags say.`}
	v.define = func(fs *flag.FlagSet) {
		fs.StringVar(&id, "id", "", "The policy's ID, or a unique prefix of it.")
		fs.StringVar(&name, "name", "", "A new name for the policy.")
		fs.StringVar(&desc, "description", "", "A new description.")
		fs.StringVar(&rules, "rules", "", "New rules: inline, @file, or - for stdin.")
		fs.Var(&dcs, "valid-datacenter", "A datacenter where the policy applies (repeatable); replaces the list.")
		fs.BoolVar(&noMerge, "no-merge", false, "Replace the policy instead of changing only the given fields.")
	}
	v.do = func(c *api.Client, args []string) (string, error) {
		if err := noArgs(args); err != nil {
			return "", err
		}
		p, err := policyByFlags(c, id, "")
		if err != nil {
			return "", err
		}
		r, err := readRules(rules)
		if err != nil {
			return "", err
		}
		upd := *p
		if noMerge {
			upd = api.ACLPolicy{ID: p.ID, Name: name, Description: desc, Rules: r, Datacenters: dcs}
		} else {
			if name != "" {
				upd.Name = name
			}
			if desc != "" {
				upd.Description = desc
			}
			if rules != "" {
				upd.Rules = r
			}
			if len(dcs) > 0 {
				upd.Datacenters = dcs
			}
		}
		out, _, err := c.ACL().PolicyUpdate(&upd, nil)
		if err != nil {
			return "", err
		}
		return v.render(out, func() string { return formatPolicy(out) })
	}
	return v
}

func newACLPolicyDelete(ui cli.Ui) *aclVerb {
	var id, name string
	v := &aclVerb{UI: ui, name: "policy delete", synopsis: "Delete an ACL policy",
		usage: `
Usage: meridian acl policy delete (-id ID | -name NAME)

  Deletes a policy. Tokens and roles that linked it lose it.`}
	v.define = func(fs *flag.FlagSet) {
		fs.StringVar(&id, "id", "", "The policy's ID, or a unique prefix of it.")
		fs.StringVar(&name, "name", "", "The policy's name.")
	}
	v.do = func(c *api.Client, args []string) (string, error) {
		if err := noArgs(args); err != nil {
			return "", err
		}
		p, err := policyByFlags(c, id, name)
		if err != nil {
			return "", err
		}
		if _, err := c.ACL().PolicyDelete(p.ID, nil); err != nil {
			return "", err
		}
		return "Policy \"" + p.ID + "\" deleted successfully", nil
	}
	return v
}

func newACLPolicyList(ui cli.Ui) *aclVerb {
	v := &aclVerb{UI: ui, name: "policy list", synopsis: "List ACL policies",
		usage: `
Usage: meridian acl policy list [options]

  Lists every policy, by name, without their rules.`}
	v.do = func(c *api.Client, args []string) (string, error) {
		if err := noArgs(args); err != nil {
			return "", err
		}
		list, _, err := c.ACL().PolicyList(nil)
		if err != nil {
			return "", err
		}
		return v.render(list, func() string { return strings.TrimRight(formatPolicyList(list), "\n") })
	}
	return v
}
