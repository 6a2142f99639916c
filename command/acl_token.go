package command

import (
	"flag"
	"strings"

	"github.com/hashicorp/cli"
	"github.com/hashicorp/consul/api"
)

// The acl token verbs: create, read, update, clone, delete, list.

func newACLTokenCreate(ui cli.Ui) *aclVerb {
	var desc, accessor, secret, ttl string
	var local bool
	var pids, pnames, rids, rnames stringList
	v := &aclVerb{UI: ui, name: "token create", synopsis: "Create an ACL token",
		usage: `
Usage: meridian acl token create [options]

  Creates a token linking the given policies and roles:

    $ meridian acl token create -description "app" -policy-name app
    $ meridian acl token create -role-name readers -expires-ttl 8h`}
	v.define = func(fs *flag.FlagSet) {
		fs.StringVar(&desc, "description", "", "A description of the token.")
		fs.Var(&pids, "policy-id", "The ID of a policy to link (repeatable).")
		fs.Var(&pnames, "policy-name", "The name of a policy to link (repeatable).")
		fs.Var(&rids, "role-id", "The ID of a role to link (repeatable).")
		fs.Var(&rnames, "role-name", "The name of a role to link (repeatable).")
		fs.BoolVar(&local, "local", false, "Make the token local to this datacenter.")
		fs.StringVar(&ttl, "expires-ttl", "", "How long the token lives, such as 8h (1m to 24h); default forever.")
		fs.StringVar(&accessor, "accessor", "", "The AccessorID to use (a UUID); default a random one.")
		fs.StringVar(&secret, "secret", "", "The SecretID to use (a UUID); default a random one.")
	}
	v.do = func(c *api.Client, args []string) (string, error) {
		if err := noArgs(args); err != nil {
			return "", err
		}
		d, err := parseTTL(ttl)
		if err != nil {
			return "", err
		}
		tok := &api.ACLToken{Description: desc, AccessorID: accessor, SecretID: secret, Local: local,
			Policies: policyLinks(pids, pnames), Roles: policyLinks(rids, rnames), ExpirationTTL: d}
		out, _, err := c.ACL().TokenCreate(tok, nil)
		if err != nil {
			return "", err
		}
		return v.render(out, func() string { return formatToken(out) })
	}
	return v
}

func newACLTokenRead(ui cli.Ui) *aclVerb {
	var id string
	var self bool
	v := &aclVerb{UI: ui, name: "token read", synopsis: "Read an ACL token",
		usage: `
Usage: meridian acl token read (-id ACCESSOR | -self) [options]

  Prints a token. -id takes a unique prefix of the AccessorID, or
  "anonymous"; -self reads the token the request is made with.`}
	v.define = func(fs *flag.FlagSet) {
		fs.StringVar(&id, "id", "", "The token's AccessorID, or a unique prefix of it.")
		fs.BoolVar(&self, "self", false, "Read the token this command uses.")
	}
	v.do = func(c *api.Client, args []string) (string, error) {
		if err := noArgs(args); err != nil {
			return "", err
		}
		var (
			tok *api.ACLToken
			err error
		)
		if self {
			if id != "" {
				return "", usagef("give -id or -self, not both")
			}
			tok, _, err = c.ACL().TokenReadSelf(nil)
		} else {
			var full string
			if full, err = resolveID("token", id, tokenIDs(c)); err != nil {
				return "", err
			}
			tok, _, err = c.ACL().TokenRead(full, nil)
		}
		if err != nil {
			return "", err
		}
		return v.render(tok, func() string { return formatToken(tok) })
	}
	return v
}

func newACLTokenUpdate(ui cli.Ui) *aclVerb {
	var id, desc string
	var pids, pnames, rids, rnames, apids, apnames, arids, arnames stringList
	v := &aclVerb{UI: ui, name: "token update", synopsis: "Update an ACL token",
		usage: `
Usage: meridian acl token update -id ACCESSOR [options]

  Changes a token's description, policies and roles; its IDs, locality
  and expiry never change. -policy-* and -role-* replace the token's
  links; -append-policy-* and -append-role-* add to them.`}
	v.define = func(fs *flag.FlagSet) {
		fs.StringVar(&id, "id", "", `The token's AccessorID, a unique prefix of it, or "anonymous".`)
		fs.StringVar(&desc, "description", "", "A new description.")
		fs.Var(&pids, "policy-id", "A policy ID to link; replaces the token's policies (repeatable).")
		fs.Var(&pnames, "policy-name", "A policy name to link; replaces the token's policies (repeatable).")
		fs.Var(&rids, "role-id", "A role ID to link; replaces the token's roles (repeatable).")
		fs.Var(&rnames, "role-name", "A role name to link; replaces the token's roles (repeatable).")
		fs.Var(&apids, "append-policy-id", "A policy ID to add to the token's policies (repeatable).")
		fs.Var(&apnames, "append-policy-name", "A policy name to add to the token's policies (repeatable).")
		fs.Var(&arids, "append-role-id", "A role ID to add to the token's roles (repeatable).")
		fs.Var(&arnames, "append-role-name", "A role name to add to the token's roles (repeatable).")
	}
	v.do = func(c *api.Client, args []string) (string, error) {
		if err := noArgs(args); err != nil {
			return "", err
		}
		full, err := resolveID("token", id, tokenIDs(c))
		if err != nil {
			return "", err
		}
		tok, _, err := c.ACL().TokenRead(full, nil)
		if err != nil {
			return "", err
		}
		if desc != "" {
			tok.Description = desc
		}
		if len(pids)+len(pnames) > 0 {
			tok.Policies = policyLinks(pids, pnames)
		}
		tok.Policies = append(tok.Policies, policyLinks(apids, apnames)...)
		if len(rids)+len(rnames) > 0 {
			tok.Roles = policyLinks(rids, rnames)
		}
		tok.Roles = append(tok.Roles, policyLinks(arids, arnames)...)
		// The secret may be hidden from this caller; the server keeps it.
		tok.SecretID = ""
		out, _, err := c.ACL().TokenUpdate(tok, nil)
		if err != nil {
			return "", err
		}
		return v.render(out, func() string { return formatToken(out) })
	}
	return v
}

func newACLTokenClone(ui cli.Ui) *aclVerb {
	var id, desc string
	v := &aclVerb{UI: ui, name: "token clone", synopsis: "Clone an ACL token",
		usage: `
Usage: meridian acl token clone -id ACCESSOR [-description TEXT]

  Creates a token with the policies, roles and locality of another, and
  new IDs.`}
	v.define = func(fs *flag.FlagSet) {
		fs.StringVar(&id, "id", "", "The AccessorID of the token to clone, or a unique prefix of it.")
		fs.StringVar(&desc, "description", "", "The new token's description.")
	}
	v.do = func(c *api.Client, args []string) (string, error) {
		if err := noArgs(args); err != nil {
			return "", err
		}
		full, err := resolveID("token", id, tokenIDs(c))
		if err != nil {
			return "", err
		}
		out, _, err := c.ACL().TokenClone(full, desc, nil)
		if err != nil {
			return "", err
		}
		return v.render(out, func() string { return formatToken(out) })
	}
	return v
}

func newACLTokenDelete(ui cli.Ui) *aclVerb {
	var id string
	v := &aclVerb{UI: ui, name: "token delete", synopsis: "Delete an ACL token",
		usage: `
Usage: meridian acl token delete -id ACCESSOR

  Deletes a token; its secret stops working at once.`}
	v.define = func(fs *flag.FlagSet) {
		fs.StringVar(&id, "id", "", "The token's AccessorID, or a unique prefix of it.")
	}
	v.do = func(c *api.Client, args []string) (string, error) {
		if err := noArgs(args); err != nil {
			return "", err
		}
		full, err := resolveID("token", id, tokenIDs(c))
		if err != nil {
			return "", err
		}
		if _, err := c.ACL().TokenDelete(full, nil); err != nil {
			return "", err
		}
		return "Token \"" + full + "\" deleted successfully", nil
	}
	return v
}

func newACLTokenList(ui cli.Ui) *aclVerb {
	var policy, role string
	v := &aclVerb{UI: ui, name: "token list", synopsis: "List ACL tokens",
		usage: `
Usage: meridian acl token list [options]

  Lists tokens, every one or those linking one policy or one role.`}
	v.define = func(fs *flag.FlagSet) {
		fs.StringVar(&policy, "policy-id", "", "List only the tokens linking this policy ID.")
		fs.StringVar(&role, "role-id", "", "List only the tokens linking this role ID.")
	}
	v.do = func(c *api.Client, args []string) (string, error) {
		if err := noArgs(args); err != nil {
			return "", err
		}
		list, _, err := c.ACL().TokenListFiltered(api.ACLTokenFilterOptions{Policy: policy, Role: role}, nil)
		if err != nil {
			return "", err
		}
		return v.render(list, func() string {
			parts := make([]string, len(list))
			for i, t := range list {
				parts[i] = strings.TrimRight(formatTokenListEntry(t), "\n")
			}
			return strings.Join(parts, "\n\n")
		})
	}
	return v
}
