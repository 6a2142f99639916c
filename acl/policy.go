// Package acl is Meridian's access control core: the rule language of ACL
// policies (Consul's, in HCL or JSON), and the Authorizer that answers
// whether a token may read, list or write a resource.
//
// # Rules
//
// A policy is a list of rules. A rule names a resource, optionally a
// segment of it, and an access level:
//
//	key_prefix "app/" { policy = "write" }   # every key under app/
//	key "app/config"  { policy = "read" }    # exactly app/config
//	service_prefix "" { policy = "read" }    # every service
//	operator = "read"                         # resources without segments
//
// Resources with segments (exact and _prefix forms): node, service, key,
// session, agent, event, query. Resources without: keyring, operator, acl.
// Access levels are read, write and deny, and list for keys (listing a
// prefix, which ?recurse and ?keys need). Write implies list and read, list
// implies read. The same rules in JSON:
//
//	{"key_prefix": {"app/": {"policy": "write"}}, "operator": "read"}
//
// # Deciding
//
// For a resource and a name, the rule that decides is, in order: an exact
// rule on the name; else the longest prefix rule that is a prefix of the
// name. Several policies are merged first: where two of them have a rule of
// the same kind on the same segment, deny wins, otherwise the greater
// access. When no rule matches, the default policy (acl.default_policy)
// decides. These are Consul's semantics (its policy merger and radix-tree
// lookup), rewritten here.
package acl

import (
	"fmt"
	"sort"
	"strings"

	"github.com/hashicorp/hcl"
	"github.com/hashicorp/hcl/hcl/ast"
	"github.com/hashicorp/hcl/hcl/token"
)

// Access is a level of access, ordered: Deny < Read < List < Write. The
// zero value, Default, means no rule says anything.
type Access int

// Access levels.
const (
	Default Access = iota
	Deny
	Read
	List
	Write
)

// String names the level as policies spell it.
func (a Access) String() string {
	switch a {
	case Deny:
		return "deny"
	case Read:
		return "read"
	case List:
		return "list"
	case Write:
		return "write"
	}
	return "default"
}

// Resource is a kind of thing rules protect.
type Resource string

// Resources. The first group takes segments (a name or a prefix of names).
const (
	ResourceNode     Resource = "node"
	ResourceService  Resource = "service"
	ResourceKey      Resource = "key"
	ResourceSession  Resource = "session"
	ResourceAgent    Resource = "agent"
	ResourceEvent    Resource = "event"
	ResourceQuery    Resource = "query"
	ResourceKeyring  Resource = "keyring"
	ResourceOperator Resource = "operator"
	ResourceACL      Resource = "acl"
)

// segmented lists the resources that take segments, in the order rules
// are printed.
var segmented = []Resource{ResourceAgent, ResourceEvent, ResourceKey, ResourceNode, ResourceQuery, ResourceService, ResourceSession}

// scalar lists the resources that do not.
var scalar = []Resource{ResourceACL, ResourceKeyring, ResourceOperator}

func isSegmented(r Resource) bool {
	for _, s := range segmented {
		if s == r {
			return true
		}
	}
	return false
}

func isScalar(r Resource) bool {
	for _, s := range scalar {
		if s == r {
			return true
		}
	}
	return false
}

// Rule is one rule of a policy.
type Rule struct {
	Resource Resource
	// Segment is the name (exact rule) or the prefix (prefix rule); empty
	// for scalar resources.
	Segment string
	// Prefix is true for the _prefix form.
	Prefix bool
	Access Access
}

// Policy is a parsed set of rules.
type Policy struct {
	Rules []Rule
}

// ParseError is a rule that cannot be accepted: where it is and why.
type ParseError struct {
	// Line is the line of the offending rule, from 1; 0 when unknown.
	Line int
	// Reason says what is wrong.
	Reason string
}

// Error implements error.
func (e *ParseError) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("invalid ACL rules: line %d: %s", e.Line, e.Reason)
	}
	return "invalid ACL rules: " + e.Reason
}

// MaxRulesSize bounds the text of one policy's rules, in bytes.
const MaxRulesSize = 128 * 1024

// Parse reads rules in HCL or JSON. An empty text is a policy without
// rules. Any error is a *ParseError naming the line and the reason.
func Parse(rules string) (*Policy, error) {
	if len(rules) > MaxRulesSize {
		return nil, &ParseError{Reason: fmt.Sprintf("rules are %d bytes, more than the %d allowed", len(rules), MaxRulesSize)}
	}
	if strings.TrimSpace(rules) == "" {
		return &Policy{}, nil
	}
	f, err := hcl.ParseString(rules)
	if err != nil {
		return nil, syntaxError(err)
	}
	list, ok := f.Node.(*ast.ObjectList)
	if !ok {
		return nil, &ParseError{Reason: "rules must be an object of rule blocks"}
	}
	p := &Policy{}
	seen := map[ruleKey]int{}
	for _, item := range list.Items {
		if err := p.parseItem(item, seen); err != nil {
			return nil, err
		}
	}
	return p, nil
}

// syntaxError turns an HCL parse error into a ParseError with its line.
func syntaxError(err error) *ParseError {
	msg := err.Error()
	// HCL's errors read "At 3:7: reason".
	if rest, ok := strings.CutPrefix(msg, "At "); ok {
		var line, col int
		if n, _ := fmt.Sscanf(rest, "%d:%d:", &line, &col); n == 2 {
			if i := strings.Index(rest, ": "); i >= 0 {
				return &ParseError{Line: line, Reason: "syntax error: " + rest[i+2:]}
			}
		}
	}
	return &ParseError{Reason: "syntax error: " + msg}
}

type ruleKey struct {
	res    Resource
	seg    string
	prefix bool
}

func keyText(t token.Token) string {
	if v, ok := t.Value().(string); ok {
		return v
	}
	return t.Text
}

// itemLine is the line of an item. The JSON parser keeps no positions on
// keys and values, only on the colon, so a JSON item takes the line of
// its colon, or failing that of its value's opening brace, or the
// enclosing block's.
func itemLine(item *ast.ObjectItem, outer int) int {
	if l := item.Pos().Line; l > 0 {
		return l
	}
	if item.Assign.Line > 0 {
		return item.Assign.Line
	}
	switch v := item.Val.(type) {
	case *ast.ObjectType:
		if v.Lbrace.Line > 0 {
			return v.Lbrace.Line
		}
	case *ast.ListType:
		if v.Lbrack.Line > 0 {
			return v.Lbrack.Line
		}
	}
	return outer
}

func (p *Policy) parseItem(item *ast.ObjectItem, seen map[ruleKey]int) error {
	line := itemLine(item, 0)
	fail := func(format string, args ...any) error {
		return &ParseError{Line: line, Reason: fmt.Sprintf(format, args...)}
	}
	if len(item.Keys) == 0 {
		return fail("a rule without a name")
	}
	name := keyText(item.Keys[0].Token)
	res, prefix := Resource(name), false
	if base, ok := strings.CutSuffix(name, "_prefix"); ok {
		res, prefix = Resource(base), true
	}
	switch {
	case isScalar(res) && !prefix:
		if len(item.Keys) != 1 {
			return fail("%s takes a policy directly, as %s = \"read\"", name, name)
		}
		acc, err := literalAccess(item.Val, res)
		if err != nil {
			return fail("%s: %v", name, err)
		}
		return p.add(Rule{Resource: res, Access: acc}, line, seen)
	case isSegmented(res):
	default:
		return fail("unknown rule %q: expected one of %s", name, ruleNames())
	}
	switch len(item.Keys) {
	case 2:
		seg := keyText(item.Keys[1].Token)
		return p.parseBlock(res, seg, prefix, item.Val, line, seen)
	case 1:
		// JSON (and HCL written as name { "seg" { ... } }): an object of
		// segments.
		obj, ok := item.Val.(*ast.ObjectType)
		if !ok {
			return fail("%s needs a name and a block, as %s \"name\" { policy = \"read\" }", name, name)
		}
		for _, sub := range obj.List.Items {
			subLine := itemLine(sub, line)
			if len(sub.Keys) != 1 {
				return &ParseError{Line: subLine, Reason: fmt.Sprintf("%s: expected one name per block", name)}
			}
			if err := p.parseBlock(res, keyText(sub.Keys[0].Token), prefix, sub.Val, subLine, seen); err != nil {
				return err
			}
		}
		return nil
	}
	return fail("%s takes one name, got %d", name, len(item.Keys)-1)
}

// parseBlock reads { policy = "..." [intentions = "..."] } for one segment.
func (p *Policy) parseBlock(res Resource, seg string, prefix bool, val ast.Node, line int, seen map[ruleKey]int) error {
	name := string(res)
	if prefix {
		name += "_prefix"
	}
	fail := func(l int, format string, args ...any) error {
		return &ParseError{Line: l, Reason: fmt.Sprintf(format, args...)}
	}
	obj, ok := val.(*ast.ObjectType)
	if ok && obj.Lbrace.Line > 0 && line == 0 {
		line = obj.Lbrace.Line
	}
	if !ok {
		return fail(line, "%s %q: expected a block such as { policy = \"read\" }", name, seg)
	}
	var acc Access
	found := false
	for _, f := range obj.List.Items {
		fl := itemLine(f, line)
		if len(f.Keys) != 1 {
			return fail(fl, "%s %q: unexpected block", name, seg)
		}
		switch k := keyText(f.Keys[0].Token); k {
		case "policy":
			if found {
				return fail(fl, "%s %q: policy is given twice", name, seg)
			}
			a, err := literalAccess(f.Val, res)
			if err != nil {
				return fail(fl, "%s %q: %v", name, seg, err)
			}
			acc, found = a, true
		case "intentions":
			// Consul's service mesh intentions: checked, not used.
			if res != ResourceService {
				return fail(fl, "%s %q: intentions apply to service rules only", name, seg)
			}
			if _, err := literalAccess(f.Val, ResourceService); err != nil {
				return fail(fl, "%s %q: intentions: %v", name, seg, err)
			}
		default:
			return fail(fl, "%s %q: unknown field %q: expected policy", name, seg, k)
		}
	}
	if !found {
		return fail(line, "%s %q: missing policy", name, seg)
	}
	return p.add(Rule{Resource: res, Segment: seg, Prefix: prefix, Access: acc}, line, seen)
}

func (p *Policy) add(r Rule, line int, seen map[ruleKey]int) error {
	k := ruleKey{r.Resource, r.Segment, r.Prefix}
	if prev, dup := seen[k]; dup {
		what := string(r.Resource)
		if r.Prefix {
			what += "_prefix"
		}
		if isSegmented(r.Resource) {
			what += fmt.Sprintf(" %q", r.Segment)
		}
		return &ParseError{Line: line, Reason: fmt.Sprintf("%s is already defined on line %d", what, prev)}
	}
	seen[k] = line
	p.Rules = append(p.Rules, r)
	return nil
}

// literalAccess reads a policy string.
func literalAccess(n ast.Node, res Resource) (Access, error) {
	lit, ok := n.(*ast.LiteralType)
	if !ok || lit.Token.Type != token.STRING {
		return Default, fmt.Errorf("the policy must be a string: \"read\", \"write\" or \"deny\"")
	}
	s, _ := lit.Token.Value().(string)
	switch s {
	case "read":
		return Read, nil
	case "write":
		return Write, nil
	case "deny":
		return Deny, nil
	case "list":
		if res == ResourceKey {
			return List, nil
		}
		return Default, fmt.Errorf("policy \"list\" applies to key rules only")
	}
	if res == ResourceKey {
		return Default, fmt.Errorf("invalid policy %q: must be \"read\", \"list\", \"write\" or \"deny\"", s)
	}
	return Default, fmt.Errorf("invalid policy %q: must be \"read\", \"write\" or \"deny\"", s)
}

func ruleNames() string {
	var names []string
	for _, r := range segmented {
		names = append(names, string(r), string(r)+"_prefix")
	}
	for _, r := range scalar {
		names = append(names, string(r))
	}
	sort.Strings(names)
	return strings.Join(names, ", ")
}
