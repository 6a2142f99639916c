package agent

import (
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
)

// noRedirect is an HTTP client that reports redirects instead of following
// them.
var noRedirect = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

func get(t *testing.T, url string) (*http.Response, string) {
	t.Helper()
	resp, err := noRedirect.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, string(body)
}

// TestUIOffByDefault: without -ui, /ui/ is an unknown endpoint and /
// redirects to /v1/agent/self, as before the UI existed.
func TestUIOffByDefault(t *testing.T) {
	a := StartTestAgent(t, "-server", "-bootstrap")
	base := "http://" + a.HTTPAddr
	for _, p := range []string{"/ui/", "/ui/dc1/services", "/ui/assets/app.js"} {
		resp, body := get(t, base+p)
		if resp.StatusCode != http.StatusNotFound || !strings.Contains(body, "no such endpoint") {
			t.Errorf("GET %s = %d %q, want 404 no such endpoint", p, resp.StatusCode, body)
		}
	}
	resp, _ := get(t, base+"/")
	if loc := resp.Header.Get("Location"); resp.StatusCode != http.StatusTemporaryRedirect || loc != "/v1/agent/self" {
		t.Errorf("GET / = %d Location %q, want 307 /v1/agent/self", resp.StatusCode, loc)
	}
}

// TestUIServesApp: with -ui, every /ui/ path answers with the page (the
// application routes itself), its files are served with their types, and
// / redirects to /ui/.
func TestUIServesApp(t *testing.T) {
	a := StartTestAgent(t, "-server", "-bootstrap", "-ui")
	base := "http://" + a.HTTPAddr
	for _, p := range []string{"/ui/", "/ui/dc1/services", "/ui/dc2/kv/a/b/", "/ui/dc1/federation"} {
		resp, body := get(t, base+p)
		if resp.StatusCode != http.StatusOK || !strings.Contains(body, `src="/ui/assets/app.js"`) {
			t.Errorf("GET %s = %d, body without the app's script", p, resp.StatusCode)
		}
		if ct := resp.Header.Get("Content-Type"); ct != "text/html; charset=utf-8" {
			t.Errorf("GET %s Content-Type = %q", p, ct)
		}
		if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'self'") {
			t.Errorf("GET %s Content-Security-Policy = %q", p, csp)
		}
	}
	for file, ctype := range map[string]string{
		"app.js": "text/javascript; charset=utf-8", "api.js": "text/javascript; charset=utf-8", "style.css": "text/css; charset=utf-8",
	} {
		resp, body := get(t, base+"/ui/assets/"+file)
		if resp.StatusCode != http.StatusOK || body == "" || resp.Header.Get("Content-Type") != ctype {
			t.Errorf("GET %s = %d %q, %d bytes; want 200 %q", file, resp.StatusCode, resp.Header.Get("Content-Type"), len(body), ctype)
		}
	}
	for _, p := range []string{"/ui/assets/nope.js", "/ui/assets/", "/ui/assets/index.html"} {
		if resp, _ := get(t, base+p); resp.StatusCode != http.StatusNotFound {
			t.Errorf("GET %s = %d, want 404", p, resp.StatusCode)
		}
	}
	resp, _ := get(t, base+"/")
	if loc := resp.Header.Get("Location"); resp.StatusCode != http.StatusMovedPermanently || loc != "/ui/" {
		t.Errorf("GET / = %d Location %q, want 301 /ui/", resp.StatusCode, loc)
	}
	req, err := http.NewRequest(http.MethodPost, base+"/ui/dc1/services", nil)
	if err != nil {
		t.Fatal(err)
	}
	post, err := noRedirect.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	post.Body.Close()
	if post.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("POST /ui/dc1/services = %d, want 405", post.StatusCode)
	}
	// The API is untouched by the UI's routes.
	if _, err := a.Client.Agent().Self(); err != nil {
		t.Errorf("agent self with the UI on: %v", err)
	}
}

// TestUIReload: a reload turns the UI on and off.
func TestUIReload(t *testing.T) {
	path := filepath.Join(t.TempDir(), "agent.hcl")
	writeConfig(t, path, "ui_config { enabled = false }")
	a := StartTestAgent(t, "-server", "-bootstrap", "-config-file="+path)
	base := "http://" + a.HTTPAddr
	for _, c := range []struct {
		config string
		want   int
	}{
		{"ui_config { enabled = false }", http.StatusNotFound},
		{"ui_config { enabled = true }", http.StatusOK},
		{"ui = true\nui_config { enabled = false }", http.StatusNotFound},
	} {
		writeConfig(t, path, c.config)
		if err := a.Client.Agent().Reload(); err != nil {
			t.Fatalf("reload: %v", err)
		}
		if resp, _ := get(t, base+"/ui/dc1/nodes"); resp.StatusCode != c.want {
			t.Errorf("after a reload with %q: GET /ui/dc1/nodes = %d, want %d", c.config, resp.StatusCode, c.want)
		}
	}
}
