// Package uiassets holds the web UI's files (static/: one HTML page, its
// stylesheet and its JavaScript modules), embedded in the binary. They are
// plain files written by hand: building Meridian needs no JavaScript
// toolchain. The agent serves them at /ui/ (agent/ui.go).
package uiassets

import (
	"embed"
	"io/fs"
)

//go:embed static
var static embed.FS

// Files returns the UI's files, rooted at static/.
func Files() fs.FS {
	sub, err := fs.Sub(static, "static")
	if err != nil {
		// static is embedded above; Sub fails only on an invalid name.
		panic(err)
	}
	return sub
}
