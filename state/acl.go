package state

import (
	"fmt"
	"strings"

	memdb "github.com/hashicorp/go-memdb"

	"github.com/meridian-sd/meridian/structs"
)

// ACL state: tokens, policies, roles and the bootstrap marker.
//
// Links from tokens and roles to policies (and from tokens to roles) are
// by ID. A policy or role that is deleted leaves its links behind, as in
// Consul; reads drop links to things that no longer exist and fill in the
// current names, so a renamed policy shows its new name everywhere.

// errACL builds a validation error; its text starts with "invalid" so the
// HTTP layer answers 400.
func errACL(format string, args ...any) error {
	return structs.BadRequest("invalid "+format, args...)
}

// ACLIndex is the highest index of any ACL table: a token's rights can
// only have changed when it moves.
func (s *Store) ACLIndex() uint64 {
	return s.MaxIndex(tableACLTokens, tableACLPolicies, tableACLRoles)
}

// ACLBootstrapIndex returns the index at which ACLs were bootstrapped, 0
// when they never were.
func (s *Store) ACLBootstrapIndex() uint64 {
	tx := s.db.Txn(false)
	defer tx.Abort()
	return indexValueTxn(tx, indexACLBootstrap)
}

// ACLBootstrap stores the first management token and, when missing, the
// built-in policy it links. It is allowed once: afterwards only with
// resetIndex equal to the index of the earlier bootstrap, and otherwise
// refused with structs.ACLBootstrapNotAllowed.
func (s *Store) ACLBootstrap(idx, resetIndex uint64, token *structs.ACLToken, builtin *structs.ACLPolicy) error {
	return s.update(func(tx *memdb.Txn) error {
		if prev := indexValueTxn(tx, indexACLBootstrap); prev > 0 && resetIndex != prev {
			return structs.ACLBootstrapNotAllowed(prev)
		}
		if builtin != nil {
			raw, err := tx.First(tableACLPolicies, indexID, builtin.ID)
			if err != nil {
				return fmt.Errorf("read policy %q: %w", builtin.ID, err)
			}
			if raw == nil {
				if err := aclPolicySetTxn(tx, idx, builtin.Clone()); err != nil {
					return err
				}
			}
		}
		if err := aclTokenSetTxn(tx, idx, token.Clone(), false); err != nil {
			return err
		}
		return tx.Insert(tableIndex, &indexEntry{Key: indexACLBootstrap, Value: idx})
	})
}

// ACLTokenSet stores tokens in one transaction: a new AccessorID is
// created, a known one replaced (keeping its CreateIndex). A SecretID in
// use by another token is refused, and so is a link to a policy or role
// that does not exist unless allowMissing.
func (s *Store) ACLTokenSet(idx uint64, tokens structs.ACLTokens, allowMissing bool) error {
	return s.update(func(tx *memdb.Txn) error {
		for _, t := range tokens {
			if t == nil {
				return errACL("token: empty entry")
			}
			if err := aclTokenSetTxn(tx, idx, t.Clone(), allowMissing); err != nil {
				return err
			}
		}
		return nil
	})
}

func aclTokenSetTxn(tx *memdb.Txn, idx uint64, t *structs.ACLToken, allowMissing bool) error {
	if t.AccessorID == "" || t.SecretID == "" {
		return errACL("token: AccessorID and SecretID are required")
	}
	existing, err := tx.First(tableACLTokens, indexID, t.AccessorID)
	if err != nil {
		return fmt.Errorf("read token: %w", err)
	}
	bySecret, err := tx.First(tableACLTokens, indexSecret, t.SecretID)
	if err != nil {
		return fmt.Errorf("read token: %w", err)
	}
	if bySecret != nil && !strings.EqualFold(bySecret.(*structs.ACLToken).AccessorID, t.AccessorID) {
		return errACL("token: its SecretID is already used by another token")
	}
	if existing != nil {
		old := existing.(*structs.ACLToken)
		if old.SecretID != t.SecretID {
			return errACL("token %s: its SecretID cannot be changed", t.AccessorID)
		}
		t.CreateIndex = old.CreateIndex
		if t.CreateTime.IsZero() {
			t.CreateTime = old.CreateTime
		}
	} else {
		t.CreateIndex = idx
	}
	t.ModifyIndex = idx
	for i, l := range t.Policies {
		p, err := aclPolicyByIDTxn(tx, l.ID)
		if err != nil {
			return err
		}
		if p == nil {
			if !allowMissing {
				return errACL("token: policy %q does not exist", l.ID)
			}
			continue
		}
		t.Policies[i] = structs.ACLLink{ID: p.ID, Name: p.Name}
	}
	for i, l := range t.Roles {
		r, err := aclRoleByIDTxn(tx, l.ID)
		if err != nil {
			return err
		}
		if r == nil {
			if !allowMissing {
				return errACL("token: role %q does not exist", l.ID)
			}
			continue
		}
		t.Roles[i] = structs.ACLLink{ID: r.ID, Name: r.Name}
	}
	if err := tx.Insert(tableACLTokens, t); err != nil {
		return fmt.Errorf("store token: %w", err)
	}
	return indexUpdateMaxTxn(tx, idx, tableACLTokens)
}

// aclReadIndex is the index of ACL reads: links make a token's answer
// depend on policies and roles too.
func aclReadIndex(tx *memdb.Txn) uint64 {
	return nonZero(maxIndexTxn(tx, tableACLTokens, tableACLPolicies, tableACLRoles))
}

// ACLTokenGetByAccessor returns one token, nil when unknown.
func (s *Store) ACLTokenGetByAccessor(ws memdb.WatchSet, id string) (uint64, *structs.ACLToken, error) {
	return s.aclTokenGet(ws, indexID, id)
}

// ACLTokenGetBySecret returns the token with that SecretID, nil when
// unknown.
func (s *Store) ACLTokenGetBySecret(ws memdb.WatchSet, secret string) (uint64, *structs.ACLToken, error) {
	return s.aclTokenGet(ws, indexSecret, secret)
}

func (s *Store) aclTokenGet(ws memdb.WatchSet, index, val string) (uint64, *structs.ACLToken, error) {
	tx := s.db.Txn(false)
	defer tx.Abort()
	idx := aclReadIndex(tx)
	if val == "" {
		return idx, nil, nil
	}
	ch, raw, err := tx.FirstWatch(tableACLTokens, index, val)
	if err != nil {
		return 0, nil, fmt.Errorf("read token: %w", err)
	}
	ws.Add(ch)
	ws.Add(tableWatch(tx, tableACLPolicies))
	ws.Add(tableWatch(tx, tableACLRoles))
	if raw == nil {
		return idx, nil, nil
	}
	t, err := fixTokenLinks(tx, raw.(*structs.ACLToken))
	return idx, t, err
}

// fixTokenLinks returns a copy of t whose links name existing policies
// and roles by their current names.
func fixTokenLinks(tx *memdb.Txn, t *structs.ACLToken) (*structs.ACLToken, error) {
	c := t.Clone()
	var err error
	if c.Policies, err = fixLinks(tx, c.Policies, aclPolicyName); err != nil {
		return nil, err
	}
	if c.Roles, err = fixLinks(tx, c.Roles, aclRoleName); err != nil {
		return nil, err
	}
	return c, nil
}

func fixLinks(tx *memdb.Txn, links []structs.ACLLink, name func(*memdb.Txn, string) (string, bool, error)) ([]structs.ACLLink, error) {
	if len(links) == 0 {
		return nil, nil
	}
	out := links[:0]
	for _, l := range links {
		n, ok, err := name(tx, l.ID)
		if err != nil {
			return nil, err
		}
		if ok {
			out = append(out, structs.ACLLink{ID: l.ID, Name: n})
		}
	}
	if len(out) == 0 {
		return nil, nil
	}
	return out, nil
}

func aclPolicyName(tx *memdb.Txn, id string) (string, bool, error) {
	p, err := aclPolicyByIDTxn(tx, id)
	if err != nil || p == nil {
		return "", false, err
	}
	return p.Name, true, nil
}

func aclRoleName(tx *memdb.Txn, id string) (string, bool, error) {
	r, err := aclRoleByIDTxn(tx, id)
	if err != nil || r == nil {
		return "", false, err
	}
	return r.Name, true, nil
}

// ACLTokenList lists tokens; a non-empty policy or role keeps only the
// tokens linking that policy ID or role ID.
func (s *Store) ACLTokenList(ws memdb.WatchSet, policy, role string) (uint64, structs.ACLTokens, error) {
	tx := s.db.Txn(false)
	defer tx.Abort()
	idx := aclReadIndex(tx)
	var (
		it  memdb.ResultIterator
		err error
	)
	switch {
	case policy != "" && role != "":
		return 0, nil, errACL("token list: filter by a policy or by a role, not both")
	case policy != "":
		it, err = tx.Get(tableACLTokens, indexPolicies, policy)
	case role != "":
		it, err = tx.Get(tableACLTokens, indexRoles, role)
	default:
		it, err = tx.Get(tableACLTokens, indexID)
	}
	if err != nil {
		return 0, nil, fmt.Errorf("list tokens: %w", err)
	}
	ws.Add(it.WatchCh())
	ws.Add(tableWatch(tx, tableACLPolicies))
	ws.Add(tableWatch(tx, tableACLRoles))
	out := structs.ACLTokens{}
	for raw := it.Next(); raw != nil; raw = it.Next() {
		t, err := fixTokenLinks(tx, raw.(*structs.ACLToken))
		if err != nil {
			return 0, nil, err
		}
		out = append(out, t)
	}
	return idx, out, nil
}

// ACLTokenDelete deletes tokens by AccessorID; unknown ones are skipped.
func (s *Store) ACLTokenDelete(idx uint64, ids []string) error {
	return s.update(func(tx *memdb.Txn) error {
		for _, id := range ids {
			raw, err := tx.First(tableACLTokens, indexID, id)
			if err != nil {
				return fmt.Errorf("read token: %w", err)
			}
			if raw == nil {
				continue
			}
			if err := tx.Delete(tableACLTokens, raw); err != nil {
				return fmt.Errorf("delete token: %w", err)
			}
		}
		return indexUpdateMaxTxn(tx, idx, tableACLTokens)
	})
}

// ACLPolicySet stores policies: new IDs are created, known ones replaced.
// A name used by another policy is refused.
func (s *Store) ACLPolicySet(idx uint64, policies structs.ACLPolicies) error {
	return s.update(func(tx *memdb.Txn) error {
		for _, p := range policies {
			if p == nil {
				return errACL("policy: empty entry")
			}
			if err := aclPolicySetTxn(tx, idx, p.Clone()); err != nil {
				return err
			}
		}
		return nil
	})
}

func aclPolicySetTxn(tx *memdb.Txn, idx uint64, p *structs.ACLPolicy) error {
	if p.ID == "" || p.Name == "" {
		return errACL("policy: ID and Name are required")
	}
	byName, err := tx.First(tableACLPolicies, indexName, p.Name)
	if err != nil {
		return fmt.Errorf("read policy: %w", err)
	}
	if byName != nil && !strings.EqualFold(byName.(*structs.ACLPolicy).ID, p.ID) {
		return errACL("policy: a policy named %q already exists", p.Name)
	}
	existing, err := aclPolicyByIDTxn(tx, p.ID)
	if err != nil {
		return err
	}
	if existing != nil {
		p.CreateIndex = existing.CreateIndex
	} else {
		p.CreateIndex = idx
	}
	p.ModifyIndex = idx
	if err := tx.Insert(tableACLPolicies, p); err != nil {
		return fmt.Errorf("store policy: %w", err)
	}
	return indexUpdateMaxTxn(tx, idx, tableACLPolicies)
}

func aclPolicyByIDTxn(tx *memdb.Txn, id string) (*structs.ACLPolicy, error) {
	return firstByIDTxn[structs.ACLPolicy](tx, tableACLPolicies, "policy", id)
}

// firstByIDTxn returns the row of table whose ID is id, nil when there is
// none or id is empty; what names the kind in errors.
func firstByIDTxn[T any](tx *memdb.Txn, table, what, id string) (*T, error) {
	if id == "" {
		return nil, nil
	}
	raw, err := tx.First(table, indexID, id)
	if err != nil {
		return nil, fmt.Errorf("read %s %q: %w", what, id, err)
	}
	if raw == nil {
		return nil, nil
	}
	return raw.(*T), nil
}

// ACLPolicyGetByID returns one policy, nil when unknown.
func (s *Store) ACLPolicyGetByID(ws memdb.WatchSet, id string) (uint64, *structs.ACLPolicy, error) {
	return s.aclPolicyGet(ws, indexID, id)
}

// ACLPolicyGetByName returns one policy by name, nil when unknown.
func (s *Store) ACLPolicyGetByName(ws memdb.WatchSet, name string) (uint64, *structs.ACLPolicy, error) {
	return s.aclPolicyGet(ws, indexName, name)
}

func (s *Store) aclPolicyGet(ws memdb.WatchSet, index, val string) (uint64, *structs.ACLPolicy, error) {
	tx := s.db.Txn(false)
	defer tx.Abort()
	idx := nonZero(maxIndexTxn(tx, tableACLPolicies))
	if val == "" {
		return idx, nil, nil
	}
	ch, raw, err := tx.FirstWatch(tableACLPolicies, index, val)
	if err != nil {
		return 0, nil, fmt.Errorf("read policy: %w", err)
	}
	ws.Add(ch)
	if raw == nil {
		return idx, nil, nil
	}
	return idx, raw.(*structs.ACLPolicy).Clone(), nil
}

// ACLPoliciesByID returns the policies with the given IDs that exist, in
// the order asked, without repeats.
func (s *Store) ACLPoliciesByID(ids []string) (structs.ACLPolicies, error) {
	tx := s.db.Txn(false)
	defer tx.Abort()
	var out structs.ACLPolicies
	seen := map[string]bool{}
	for _, id := range ids {
		k := strings.ToLower(id)
		if seen[k] {
			continue
		}
		seen[k] = true
		p, err := aclPolicyByIDTxn(tx, id)
		if err != nil {
			return nil, err
		}
		if p != nil {
			out = append(out, p.Clone())
		}
	}
	return out, nil
}

// ACLPolicyList lists every policy.
func (s *Store) ACLPolicyList(ws memdb.WatchSet) (uint64, structs.ACLPolicies, error) {
	tx := s.db.Txn(false)
	defer tx.Abort()
	idx := nonZero(maxIndexTxn(tx, tableACLPolicies))
	it, err := tx.Get(tableACLPolicies, indexID)
	if err != nil {
		return 0, nil, fmt.Errorf("list policies: %w", err)
	}
	ws.Add(it.WatchCh())
	out := structs.ACLPolicies{}
	for raw := it.Next(); raw != nil; raw = it.Next() {
		out = append(out, raw.(*structs.ACLPolicy).Clone())
	}
	return idx, out, nil
}

// ACLPolicyDelete deletes policies by ID; unknown ones are skipped. Links
// to them are left in tokens and roles and dropped on read.
func (s *Store) ACLPolicyDelete(idx uint64, ids []string) error {
	return s.update(func(tx *memdb.Txn) error {
		for _, id := range ids {
			p, err := aclPolicyByIDTxn(tx, id)
			if err != nil {
				return err
			}
			if p == nil {
				continue
			}
			if err := tx.Delete(tableACLPolicies, p); err != nil {
				return fmt.Errorf("delete policy: %w", err)
			}
		}
		return indexUpdateMaxTxn(tx, idx, tableACLPolicies)
	})
}

// ACLRoleSet stores roles: new IDs are created, known ones replaced. A
// name used by another role, or a link to a policy that does not exist,
// is refused.
func (s *Store) ACLRoleSet(idx uint64, roles structs.ACLRoles) error {
	return s.update(func(tx *memdb.Txn) error {
		for _, r := range roles {
			if r == nil {
				return errACL("role: empty entry")
			}
			if err := aclRoleSetTxn(tx, idx, r.Clone()); err != nil {
				return err
			}
		}
		return nil
	})
}

func aclRoleSetTxn(tx *memdb.Txn, idx uint64, r *structs.ACLRole) error {
	if r.ID == "" || r.Name == "" {
		return errACL("role: ID and Name are required")
	}
	byName, err := tx.First(tableACLRoles, indexName, r.Name)
	if err != nil {
		return fmt.Errorf("read role: %w", err)
	}
	if byName != nil && !strings.EqualFold(byName.(*structs.ACLRole).ID, r.ID) {
		return errACL("role: a role named %q already exists", r.Name)
	}
	for i, l := range r.Policies {
		p, err := aclPolicyByIDTxn(tx, l.ID)
		if err != nil {
			return err
		}
		if p == nil {
			return errACL("role: policy %q does not exist", l.ID)
		}
		r.Policies[i] = structs.ACLLink{ID: p.ID, Name: p.Name}
	}
	existing, err := aclRoleByIDTxn(tx, r.ID)
	if err != nil {
		return err
	}
	if existing != nil {
		r.CreateIndex = existing.CreateIndex
	} else {
		r.CreateIndex = idx
	}
	r.ModifyIndex = idx
	if err := tx.Insert(tableACLRoles, r); err != nil {
		return fmt.Errorf("store role: %w", err)
	}
	return indexUpdateMaxTxn(tx, idx, tableACLRoles)
}

func aclRoleByIDTxn(tx *memdb.Txn, id string) (*structs.ACLRole, error) {
	return firstByIDTxn[structs.ACLRole](tx, tableACLRoles, "role", id)
}

// ACLRoleGetByID returns one role, nil when unknown.
func (s *Store) ACLRoleGetByID(ws memdb.WatchSet, id string) (uint64, *structs.ACLRole, error) {
	return s.aclRoleGet(ws, indexID, id)
}

// ACLRoleGetByName returns one role by name, nil when unknown.
func (s *Store) ACLRoleGetByName(ws memdb.WatchSet, name string) (uint64, *structs.ACLRole, error) {
	return s.aclRoleGet(ws, indexName, name)
}

func (s *Store) aclRoleGet(ws memdb.WatchSet, index, val string) (uint64, *structs.ACLRole, error) {
	tx := s.db.Txn(false)
	defer tx.Abort()
	idx := nonZero(maxIndexTxn(tx, tableACLRoles, tableACLPolicies))
	if val == "" {
		return idx, nil, nil
	}
	ch, raw, err := tx.FirstWatch(tableACLRoles, index, val)
	if err != nil {
		return 0, nil, fmt.Errorf("read role: %w", err)
	}
	ws.Add(ch)
	ws.Add(tableWatch(tx, tableACLPolicies))
	if raw == nil {
		return idx, nil, nil
	}
	r := raw.(*structs.ACLRole).Clone()
	if r.Policies, err = fixLinks(tx, r.Policies, aclPolicyName); err != nil {
		return 0, nil, err
	}
	return idx, r, nil
}

// ACLRolesByID returns the roles with the given IDs that exist, in the
// order asked, without repeats, their links fixed.
func (s *Store) ACLRolesByID(ids []string) (structs.ACLRoles, error) {
	tx := s.db.Txn(false)
	defer tx.Abort()
	var out structs.ACLRoles
	seen := map[string]bool{}
	for _, id := range ids {
		k := strings.ToLower(id)
		if seen[k] {
			continue
		}
		seen[k] = true
		r, err := aclRoleByIDTxn(tx, id)
		if err != nil {
			return nil, err
		}
		if r == nil {
			continue
		}
		c := r.Clone()
		if c.Policies, err = fixLinks(tx, c.Policies, aclPolicyName); err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, nil
}

// ACLRoleList lists roles; a non-empty policy keeps those linking it.
func (s *Store) ACLRoleList(ws memdb.WatchSet, policy string) (uint64, structs.ACLRoles, error) {
	tx := s.db.Txn(false)
	defer tx.Abort()
	idx := nonZero(maxIndexTxn(tx, tableACLRoles, tableACLPolicies))
	var (
		it  memdb.ResultIterator
		err error
	)
	if policy != "" {
		it, err = tx.Get(tableACLRoles, indexPolicies, policy)
	} else {
		it, err = tx.Get(tableACLRoles, indexID)
	}
	if err != nil {
		return 0, nil, fmt.Errorf("list roles: %w", err)
	}
	ws.Add(it.WatchCh())
	ws.Add(tableWatch(tx, tableACLPolicies))
	out := structs.ACLRoles{}
	for raw := it.Next(); raw != nil; raw = it.Next() {
		r := raw.(*structs.ACLRole).Clone()
		if r.Policies, err = fixLinks(tx, r.Policies, aclPolicyName); err != nil {
			return 0, nil, err
		}
		out = append(out, r)
	}
	return idx, out, nil
}

// ACLRoleDelete deletes roles by ID; unknown ones are skipped.
func (s *Store) ACLRoleDelete(idx uint64, ids []string) error {
	return s.update(func(tx *memdb.Txn) error {
		for _, id := range ids {
			r, err := aclRoleByIDTxn(tx, id)
			if err != nil {
				return err
			}
			if r == nil {
				continue
			}
			if err := tx.Delete(tableACLRoles, r); err != nil {
				return fmt.Errorf("delete role: %w", err)
			}
		}
		return indexUpdateMaxTxn(tx, idx, tableACLRoles)
	})
}
