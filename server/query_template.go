package server

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"github.com/meridian-sd/meridian/structs"
)

// Query templates, as Consul's name_prefix_match templates: a template
// answers every name that its own name is a prefix of, and the strings of
// its Service part may interpolate:
//
//	${name.full}    the name executed
//	${name.prefix}  the template's name
//	${name.suffix}  the rest of the executed name
//	${match(N)}     group N of Template.Regexp matched against the name ("" when none)
//	${agent.segment} the network segment: always "" (Meridian has none)
//
// RemoveEmptyTags drops the tags that render to "".

// queryTemplate is a compiled template.
type queryTemplate struct {
	query *structs.PreparedQuery
	re    *regexp.Regexp
}

// compileTemplate checks a template and compiles its regexp; the texts
// follow Consul's. It renders once with a sample name, so that a bad
// interpolation is refused when the query is stored, not when it runs.
func compileTemplate(q *structs.PreparedQuery) (*queryTemplate, error) {
	if q.Template.Type != structs.QueryTemplateTypeNamePrefixMatch {
		return nil, structs.BadRequest("Bad Template.Type '%s'", q.Template.Type)
	}
	t := &queryTemplate{query: q.Clone()}
	if q.Template.Regexp != "" {
		re, err := regexp.Compile(q.Template.Regexp)
		if err != nil {
			return nil, structs.BadRequest("Bad Regexp: %v", err)
		}
		t.re = re
	}
	if _, err := t.render(q.Name); err != nil {
		return nil, err
	}
	return t, nil
}

// render returns the query as it runs for name.
func (t *queryTemplate) render(name string) (*structs.PreparedQuery, error) {
	q := t.query.Clone()
	var matches []string
	if t.re != nil {
		matches = t.re.FindStringSubmatch(name)
	}
	vars := map[string]string{
		"name.full":     name,
		"name.prefix":   t.query.Name,
		"name.suffix":   strings.TrimPrefix(name, t.query.Name),
		"agent.segment": "",
	}
	var err error
	do := func(s *string) {
		if err != nil {
			return
		}
		*s, err = interpolate(*s, vars, matches)
	}
	s := &q.Service
	do(&s.Service)
	do(&s.Near)
	for i := range s.Tags {
		do(&s.Tags[i])
	}
	for i := range s.IgnoreCheckIDs {
		do(&s.IgnoreCheckIDs[i])
	}
	for i := range s.Failover.Datacenters {
		do(&s.Failover.Datacenters[i])
	}
	for i := range s.Failover.Targets {
		do(&s.Failover.Targets[i].Datacenter)
	}
	for _, m := range []map[string]string{s.NodeMeta, s.ServiceMeta} {
		for k, v := range m {
			do(&v)
			m[k] = v
		}
	}
	if err != nil {
		return nil, err
	}
	if q.Template.RemoveEmptyTags && s.Tags != nil {
		kept := s.Tags[:0]
		for _, tag := range s.Tags {
			if tag != "" {
				kept = append(kept, tag)
			}
		}
		s.Tags = kept
	}
	return q, nil
}

// interpolate replaces every ${...} in s. What it renders is bounded as a
// name: a field that repeats ${name.full} would otherwise multiply the
// executed name (which any caller chooses) into megabytes per field.
func interpolate(s string, vars map[string]string, matches []string) (string, error) {
	if !strings.Contains(s, "${") {
		return s, nil
	}
	var b strings.Builder
	rest := s
	for {
		i := strings.Index(rest, "${")
		if i < 0 {
			b.WriteString(rest)
			if b.Len() > structs.MaxNameLen {
				return "", structs.BadRequest("Bad format: %q renders to more than %d bytes", truncate(s, 64), structs.MaxNameLen)
			}
			return b.String(), nil
		}
		b.WriteString(rest[:i])
		j := strings.IndexByte(rest[i:], '}')
		if j < 0 {
			return "", structs.BadRequest("Bad format: unterminated interpolation in %q", s)
		}
		expr := strings.TrimSpace(rest[i+2 : i+j])
		val, err := evalInterpolation(expr, vars, matches)
		if err != nil {
			return "", err
		}
		b.WriteString(val)
		if b.Len() > structs.MaxNameLen {
			return "", structs.BadRequest("Bad format: %q renders to more than %d bytes", truncate(s, 64), structs.MaxNameLen)
		}
		rest = rest[i+j+1:]
	}
}

// evalInterpolation evaluates one ${...} expression.
func evalInterpolation(expr string, vars map[string]string, matches []string) (string, error) {
	if v, ok := vars[expr]; ok {
		return v, nil
	}
	if arg, ok := strings.CutPrefix(expr, "match("); ok {
		arg, ok = strings.CutSuffix(arg, ")")
		n, err := strconv.Atoi(strings.TrimSpace(arg))
		if !ok || err != nil || n < 0 {
			return "", structs.BadRequest("Bad format: match() takes a non-negative group number, not %q", expr)
		}
		if n < len(matches) {
			return matches[n], nil
		}
		return "", nil
	}
	return "", structs.BadRequest("Bad format: unknown variable %q in a query template", expr)
}

// renderQuery returns q as it runs for the name asked: a template
// rendered, any other query as it is.
func renderQuery(q *structs.PreparedQuery, asked string) (*structs.PreparedQuery, error) {
	if !q.IsTemplate() {
		return q, nil
	}
	t, err := compileTemplate(q)
	if err != nil {
		return nil, fmt.Errorf("render query template %q: %w", q.Name, err)
	}
	return t.render(asked)
}

// truncate shortens s to at most n bytes for an error text.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}
