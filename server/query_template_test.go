package server

import (
	"strings"
	"testing"

	"github.com/meridian-sd/meridian/structs"
)

// TestQueryTemplateBounds: what a template renders is bounded per field,
// so that a field repeating ${name.full} cannot multiply the name a caller
// executes into megabytes; the template's regexp, compiled at every
// execution, is bounded as a name.
func TestQueryTemplateBounds(t *testing.T) {
	q := &structs.PreparedQuery{
		Name:     "t-",
		Template: structs.QueryTemplateOptions{Type: structs.QueryTemplateTypeNamePrefixMatch, Regexp: "^t-(.*)$"},
		Service: structs.ServiceQuery{
			Service: "${match(1)}",
			Tags:    []string{strings.Repeat("${name.full}", 300)},
		},
	}
	tmpl, err := compileTemplate(q)
	if err != nil {
		t.Fatalf("compile: %v", err)
	}
	got, err := tmpl.render("t-web")
	if err != nil || got.Service.Service != "web" || len(got.Service.Tags[0]) != 300*len("t-web") {
		t.Fatalf("render a short name: %v %v", got, err)
	}
	long := "t-" + strings.Repeat("x", 4000)
	if got, err := tmpl.render(long); err == nil || !strings.Contains(err.Error(), "renders to more than") {
		n := 0
		if got != nil {
			n = len(got.Service.Tags[0])
		}
		t.Fatalf("render a 4 KB name into a 300-fold tag: %d bytes, err %v", n, err)
	}

	req := &structs.PreparedQueryRequest{Datacenter: "dc1", Op: structs.PreparedQueryCreate, Query: q.Clone()}
	req.Query.Template.Regexp = strings.Repeat("a", structs.MaxNameLen+1)
	if err := req.Validate(); err == nil || !strings.Contains(err.Error(), "query template regexp") {
		t.Fatalf("a %d-byte template regexp: %v", len(req.Query.Template.Regexp), err)
	}
}
