package command

import (
	"flag"
	"strings"

	"github.com/hashicorp/cli"
	"github.com/hashicorp/consul/api"
)

// The acl role verbs: create, read, update, delete, list.

// roleByFlags reads the role named by -id or -name.
func roleByFlags(c *api.Client, id, name string) (*api.ACLRole, error) {
	var (
		r   *api.ACLRole
		err error
	)
	switch {
	case id != "" && name != "":
		return nil, usagef("give -id or -name, not both")
	case name != "":
		r, _, err = c.ACL().RoleReadByName(name, nil)
	default:
		var full string
		if full, err = resolveID("role", id, roleIDs(c)); err != nil {
			return nil, err
		}
		r, _, err = c.ACL().RoleRead(full, nil)
	}
	if err != nil {
		return nil, err
	}
	if r == nil {
		return nil, usagef("no such role")
	}
	return r, nil
}

func newACLRoleCreate(ui cli.Ui) *aclVerb {
	var name, desc string
	var pids, pnames stringList
	v := &aclVerb{UI: ui, name: "role create", synopsis: "Create an ACL role",
		usage: `
Usage: meridian acl role create -name NAME [options]

  Creates a role: a named set of policies that tokens link.

    $ meridian acl role create -name readers -policy-name node-read`}
	v.define = func(fs *flag.FlagSet) {
		fs.StringVar(&name, "name", "", "The role's name (letters, digits, '-' and '_').")
		fs.StringVar(&desc, "description", "", "A description of the role.")
		fs.Var(&pids, "policy-id", "The ID of a policy to link (repeatable).")
		fs.Var(&pnames, "policy-name", "The name of a policy to link (repeatable).")
	}
	v.do = func(c *api.Client, args []string) (string, error) {
		if err := noArgs(args); err != nil {
			return "", err
		}
		if name == "" {
			return "", usagef("missing -name: a role needs a name")
		}
		r, _, err := c.ACL().RoleCreate(&api.ACLRole{Name: name, Description: desc, Policies: policyLinks(pids, pnames)}, nil)
		if err != nil {
			return "", err
		}
		return v.render(r, func() string { return formatRole(r) })
	}
	return v
}

func newACLRoleRead(ui cli.Ui) *aclVerb {
	var id, name string
	v := &aclVerb{UI: ui, name: "role read", synopsis: "Read an ACL role",
		usage: `
Usage: meridian acl role read (-id ID | -name NAME) [options]

  Prints a role and its policies.`}
	v.define = func(fs *flag.FlagSet) {
		fs.StringVar(&id, "id", "", "The role's ID, or a unique prefix of it.")
		fs.StringVar(&name, "name", "", "The role's name.")
	}
	v.do = func(c *api.Client, args []string) (string, error) {
		if err := noArgs(args); err != nil {
			return "", err
		}
		r, err := roleByFlags(c, id, name)
		if err != nil {
			return "", err
		}
		return v.render(r, func() string { return formatRole(r) })
	}
	return v
}

func newACLRoleUpdate(ui cli.Ui) *aclVerb {
	var id, name, desc string
	var pids, pnames stringList
	var noMerge bool
	v := &aclVerb{UI: ui, name: "role update", synopsis: "Update an ACL role",
		usage: `
Usage: meridian acl role update -id ID [options]

  Changes a role. Policies given are added to the role's, unless
  -no-merge is set, which replaces the role with exactly what the flags
  say.`}
	v.define = func(fs *flag.FlagSet) {
		fs.StringVar(&id, "id", "", "The role's ID, or a unique prefix of it.")
		fs.StringVar(&name, "name", "", "A new name for the role.")
		fs.StringVar(&desc, "description", "", "A new description.")
		fs.Var(&pids, "policy-id", "The ID of a policy to link (repeatable).")
		fs.Var(&pnames, "policy-name", "The name of a policy to link (repeatable).")
		fs.BoolVar(&noMerge, "no-merge", false, "Replace the role instead of adding to it.")
	}
	v.do = func(c *api.Client, args []string) (string, error) {
		if err := noArgs(args); err != nil {
			return "", err
		}
		r, err := roleByFlags(c, id, "")
		if err != nil {
			return "", err
		}
		upd := *r
		if noMerge {
			upd = api.ACLRole{ID: r.ID, Name: name, Description: desc, Policies: policyLinks(pids, pnames)}
		} else {
			if name != "" {
				upd.Name = name
			}
			if desc != "" {
				upd.Description = desc
			}
			upd.Policies = append(upd.Policies, policyLinks(pids, pnames)...)
		}
		out, _, err := c.ACL().RoleUpdate(&upd, nil)
		if err != nil {
			return "", err
		}
		return v.render(out, func() string { return formatRole(out) })
	}
	return v
}

func newACLRoleDelete(ui cli.Ui) *aclVerb {
	var id, name string
	v := &aclVerb{UI: ui, name: "role delete", synopsis: "Delete an ACL role",
		usage: `
Usage: meridian acl role delete (-id ID | -name NAME)

  Deletes a role. Tokens that linked it lose it.`}
	v.define = func(fs *flag.FlagSet) {
		fs.StringVar(&id, "id", "", "The role's ID, or a unique prefix of it.")
		fs.StringVar(&name, "name", "", "The role's name.")
	}
	v.do = func(c *api.Client, args []string) (string, error) {
		if err := noArgs(args); err != nil {
			return "", err
		}
		r, err := roleByFlags(c, id, name)
		if err != nil {
			return "", err
		}
		if _, err := c.ACL().RoleDelete(r.ID, nil); err != nil {
			return "", err
		}
		return "Role \"" + r.ID + "\" deleted successfully", nil
	}
	return v
}

func newACLRoleList(ui cli.Ui) *aclVerb {
	v := &aclVerb{UI: ui, name: "role list", synopsis: "List ACL roles",
		usage: `
Usage: meridian acl role list [options]

  Lists every role with its policies.`}
	v.do = func(c *api.Client, args []string) (string, error) {
		if err := noArgs(args); err != nil {
			return "", err
		}
		list, _, err := c.ACL().RoleList(nil)
		if err != nil {
			return "", err
		}
		return v.render(list, func() string { return strings.TrimRight(formatRoleList(list), "\n") })
	}
	return v
}
