package agent

import (
	"bufio"
	"fmt"
	"os"
	"regexp"
	"sort"
	"strings"
	"testing"
)

// compatRow is one endpoint of website/api/compatibility.md.
type compatRow struct {
	line   int
	method string
	path   string
	status string
}

var compatRowRE = regexp.MustCompile("^\\| `(GET|PUT|POST|DELETE) (/[^`]*)` \\| (yes|partly|no) \\|")

// readCompatTable reads the endpoint rows of the compatibility table.
func readCompatTable(t *testing.T) []compatRow {
	t.Helper()
	f, err := os.Open("../website/api/compatibility.md")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var rows []compatRow
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		if m := compatRowRE.FindStringSubmatch(line); m != nil {
			rows = append(rows, compatRow{line: n, method: m[1], path: m[2], status: m[3]})
		} else if strings.HasPrefix(line, "| `") {
			t.Errorf("compatibility.md:%d: a row that is not `| `METHOD /path` | yes, partly or no |`: %s", n, line)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return rows
}

// routeFor is the router pattern that serves path, as http.ServeMux
// chooses it: the exact pattern, or else the longest one ending in "/"
// that is a prefix of it.
func routeFor(routes map[string]string, path string) string {
	if _, ok := routes[path]; ok {
		return path
	}
	best := ""
	for p := range routes {
		if strings.HasSuffix(p, "/") && strings.HasPrefix(path, p) && len(p) > len(best) {
			best = p
		}
	}
	return best
}

// TestCompatibilityTableMatchesRouter: website/api/compatibility.md lists
// every route and method the agent serves as supported, and nothing it
// does not serve, so the table cannot drift from the router.
func TestCompatibilityTableMatchesRouter(t *testing.T) {
	ta := StartTestAgent(t, "-server", "-bootstrap")
	routes := ta.acl.routes
	rows := readCompatTable(t)
	if len(rows) < 100 {
		t.Fatalf("only %d rows read from the table: the parser does not see it", len(rows))
	}
	covered := map[string]bool{}
	var problems []string
	for _, r := range rows {
		method := r.method
		if method == "POST" {
			method = "PUT" // PUT routes take POST too, as Consul's
		}
		pattern := routeFor(routes, r.path)
		served := pattern != "" && strings.Contains(","+routes[pattern]+",", ","+method+",")
		switch {
		case r.status == "no" && served:
			problems = append(problems, fmt.Sprintf("compatibility.md:%d says %s %s is not served, but route %s serves it: make the row yes or partly", r.line, r.method, r.path, pattern))
		case r.status != "no" && !served:
			problems = append(problems, fmt.Sprintf("compatibility.md:%d says %s %s is served, but no route serves it", r.line, r.method, r.path))
		case served:
			covered[method+" "+pattern] = true
		}
	}
	for pattern, methods := range routes {
		for _, m := range strings.Split(methods, ",") {
			if !covered[m+" "+pattern] {
				problems = append(problems, fmt.Sprintf("route %s %s has no yes or partly row in website/api/compatibility.md: add one", m, pattern))
			}
		}
	}
	sort.Strings(problems)
	for _, p := range problems {
		t.Error(p)
	}
}
