package state

import (
	"fmt"
	"strings"

	memdb "github.com/hashicorp/go-memdb"

	"github.com/meridian-sd/meridian/structs"
)

// ACL tables. Tokens are stored by AccessorID with a unique SecretID
// index, and indexed by the policies and roles they link so that list
// filters and deletions find them; policies and roles have unique names
// (case-insensitive, as Consul's).
const (
	tableACLTokens   = "acl-tokens"
	tableACLPolicies = "acl-policies"
	tableACLRoles    = "acl-roles"

	indexSecret   = "secret"
	indexName     = "name"
	indexPolicies = "policies"
	indexRoles    = "roles"

	// indexACLBootstrap is the index-table row holding the index at which
	// ACLs were bootstrapped; 0 (absent) means never.
	indexACLBootstrap = "acl-token-bootstrap"
)

func aclTokensTableSchema() *memdb.TableSchema {
	return &memdb.TableSchema{
		Name: tableACLTokens,
		Indexes: map[string]*memdb.IndexSchema{
			indexID: {
				Name:    indexID,
				Unique:  true,
				Indexer: &memdb.StringFieldIndex{Field: "AccessorID", Lowercase: true},
			},
			indexSecret: {
				Name:    indexSecret,
				Unique:  true,
				Indexer: &memdb.StringFieldIndex{Field: "SecretID"},
			},
			indexPolicies: {
				Name:         indexPolicies,
				AllowMissing: true,
				Indexer:      linkIDsIndexer{field: "Policies"},
			},
			indexRoles: {
				Name:         indexRoles,
				AllowMissing: true,
				Indexer:      linkIDsIndexer{field: "Roles"},
			},
		},
	}
}

func aclPoliciesTableSchema() *memdb.TableSchema {
	return &memdb.TableSchema{
		Name: tableACLPolicies,
		Indexes: map[string]*memdb.IndexSchema{
			indexID: {
				Name:    indexID,
				Unique:  true,
				Indexer: &memdb.StringFieldIndex{Field: "ID", Lowercase: true},
			},
			indexName: {
				Name:    indexName,
				Unique:  true,
				Indexer: &memdb.StringFieldIndex{Field: "Name", Lowercase: true},
			},
		},
	}
}

func aclRolesTableSchema() *memdb.TableSchema {
	return &memdb.TableSchema{
		Name: tableACLRoles,
		Indexes: map[string]*memdb.IndexSchema{
			indexID: {
				Name:    indexID,
				Unique:  true,
				Indexer: &memdb.StringFieldIndex{Field: "ID", Lowercase: true},
			},
			indexName: {
				Name:    indexName,
				Unique:  true,
				Indexer: &memdb.StringFieldIndex{Field: "Name", Lowercase: true},
			},
			indexPolicies: {
				Name:         indexPolicies,
				AllowMissing: true,
				Indexer:      linkIDsIndexer{field: "Policies"},
			},
		},
	}
}

// linkIDsIndexer indexes the IDs of a []structs.ACLLink field (a token's
// or role's Policies or Roles), lower-cased, one entry per link.
type linkIDsIndexer struct {
	field string
}

func (l linkIDsIndexer) links(obj any) ([]structs.ACLLink, error) {
	switch o := obj.(type) {
	case *structs.ACLToken:
		if l.field == "Roles" {
			return o.Roles, nil
		}
		return o.Policies, nil
	case *structs.ACLRole:
		return o.Policies, nil
	}
	return nil, fmt.Errorf("link index on %T", obj)
}

// FromObject implements memdb.MultiIndexer.
func (l linkIDsIndexer) FromObject(obj any) (bool, [][]byte, error) {
	links, err := l.links(obj)
	if err != nil {
		return false, nil, err
	}
	var vals [][]byte
	seen := map[string]bool{}
	for _, link := range links {
		id := strings.ToLower(link.ID)
		if id == "" || seen[id] {
			continue
		}
		seen[id] = true
		vals = append(vals, []byte(id+"\x00"))
	}
	return len(vals) > 0, vals, nil
}

// FromArgs implements memdb.Indexer.
func (l linkIDsIndexer) FromArgs(args ...any) ([]byte, error) {
	if len(args) != 1 {
		return nil, fmt.Errorf("link index takes one argument, got %d", len(args))
	}
	s, ok := args[0].(string)
	if !ok {
		return nil, fmt.Errorf("link index argument must be a string, got %T", args[0])
	}
	return []byte(strings.ToLower(s) + "\x00"), nil
}
