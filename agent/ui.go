package agent

import (
	"bytes"
	"fmt"
	"io/fs"
	"net/http"
	"path"
	"strings"
	"time"

	"github.com/meridian-sd/meridian/agent/uiassets"
)

// The web UI (website/docs/ui.md): a single-page application embedded in
// the binary and served at /ui/ when ui_config.enabled (or -ui) is set.
// Every /ui/... path that is not one of its files answers with the page
// itself, so that the application's routes (/ui/dc1/services, ...) can be
// loaded and reloaded directly; the page reads everything it shows from
// the HTTP API with ?dc=. With the UI off, /ui/ is an unknown endpoint, as
// before, and / redirects to /v1/agent/self.

// uiAssetPrefix is where the UI's own files are served.
const uiAssetPrefix = "/ui/assets/"

// uiContentSecurityPolicy lets the page load only its own files and talk
// only to this agent: the UI has no inline script or style.
const uiContentSecurityPolicy = "default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; frame-ancestors 'none'"

// uiRoutes registers the UI's routes on the API's mux.
func (a *Agent) uiRoutes(mux *http.ServeMux) {
	files := uiassets.Files()
	index, err := fs.ReadFile(files, "index.html")
	if err != nil {
		// The page is embedded; failing to read it is a broken build.
		panic(fmt.Sprintf("ui: read embedded index.html: %v", err))
	}
	modTime := time.Now()
	mux.HandleFunc("/{$}", func(w http.ResponseWriter, r *http.Request) {
		if a.cfg().UIEnabled {
			http.Redirect(w, r, "/ui/", http.StatusMovedPermanently)
			return
		}
		http.Redirect(w, r, "/v1/agent/self", http.StatusTemporaryRedirect)
	})
	mux.HandleFunc("/ui/", func(w http.ResponseWriter, r *http.Request) {
		if !a.cfg().UIEnabled {
			writeText(w, http.StatusNotFound, fmt.Sprintf("no such endpoint: %s %s", r.Method, r.URL.Path))
			return
		}
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			writeText(w, http.StatusMethodNotAllowed, fmt.Sprintf("method %s not allowed", r.Method))
			return
		}
		h := w.Header()
		h.Set("Content-Security-Policy", uiContentSecurityPolicy)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		if name, ok := strings.CutPrefix(r.URL.Path, uiAssetPrefix); ok {
			name = path.Clean("/" + name)[1:]
			data, err := fs.ReadFile(files, name)
			if err != nil || name == "" || name == "index.html" {
				writeText(w, http.StatusNotFound, fmt.Sprintf("no such UI file: %s", r.URL.Path))
				return
			}
			h.Set("Cache-Control", "no-cache")
			http.ServeContent(w, r, name, modTime, bytes.NewReader(data))
			return
		}
		h.Set("Cache-Control", "no-store")
		h.Set("Content-Type", "text/html; charset=utf-8")
		http.ServeContent(w, r, "index.html", modTime, bytes.NewReader(index))
	})
}
