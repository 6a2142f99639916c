package config

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strings"

	"github.com/hashicorp/hcl"
	"github.com/hashicorp/hcl/hcl/scanner"
	"github.com/hashicorp/hcl/hcl/token"
)

// Formats of configuration data.
const (
	// FormatJSON is Consul's JSON configuration syntax.
	FormatJSON = "json"
	// FormatHCL is Consul's HCL (version 1) configuration syntax.
	FormatHCL = "hcl"
)

// formatOf returns the format a file name implies by its extension, or ""
// when it implies none.
func formatOf(path string) string {
	switch filepath.Ext(path) {
	case ".json":
		return FormatJSON
	case ".hcl":
		return FormatHCL
	}
	return ""
}

// parse turns configuration text into a generic tree: maps of string to
// values, lists, strings, bools and numbers. Whitespace-only data is an
// empty tree, as Consul skips empty files.
func parse(data []byte, format string) (map[string]any, error) {
	if len(bytes.TrimSpace(data)) == 0 {
		return map[string]any{}, nil
	}
	switch format {
	case FormatJSON:
		return parseJSON(data)
	case FormatHCL:
		return parseHCL(data)
	}
	return nil, fmt.Errorf("unknown format %q (want %q or %q)", format, FormatJSON, FormatHCL)
}

// parseJSON decodes one JSON object and nothing after it. Numbers are kept
// as json.Number so that integers are exact.
func parseJSON(data []byte) (map[string]any, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, fmt.Errorf("invalid JSON: %w", jsonErrorWithLine(data, err))
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("invalid JSON: the top level must be an object, not %s", describe(v))
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("invalid JSON: unexpected data after the top-level object")
	}
	return m, nil
}

// jsonErrorWithLine adds the line number to a JSON syntax error, which
// encoding/json reports only as a byte offset.
func jsonErrorWithLine(data []byte, err error) error {
	var se *json.SyntaxError
	if errors.As(err, &se) && se.Offset <= int64(len(data)) {
		line := 1 + bytes.Count(data[:se.Offset], []byte("\n"))
		return fmt.Errorf("line %d: %w", line, err)
	}
	return err
}

// parseHCL parses HCL v1 into the same generic tree. HCL v1 represents every
// block as a list of maps; the decoder undoes that where one block is
// expected. The HCL v1 parser has panicked on some malformed inputs in the
// past, so a panic is turned into an error.
func parseHCL(data []byte) (m map[string]any, err error) {
	defer func() {
		if r := recover(); r != nil {
			m, err = nil, fmt.Errorf("invalid HCL: the parser failed: %v", r)
		}
	}()
	file, err := hcl.ParseBytes(data)
	if err != nil {
		return nil, fmt.Errorf("invalid HCL: %w", err)
	}
	if err := danglingAssign(data); err != nil {
		return nil, err
	}
	out := map[string]any{}
	if err := hcl.DecodeObject(&out, file); err != nil {
		return nil, fmt.Errorf("invalid HCL: %w", err)
	}
	return out, nil
}

// danglingAssign refuses a file whose last token is "=": the HCL v1
// parser silently drops such a key without a value.
func danglingAssign(data []byte) error {
	sc := scanner.New(data)
	var last token.Token
	for {
		tok := sc.Scan()
		if tok.Type == token.EOF || tok.Type == token.ILLEGAL {
			break
		}
		if tok.Type != token.COMMENT {
			last = tok
		}
	}
	if last.Type == token.ASSIGN {
		return fmt.Errorf("invalid HCL: at line %d, the key before \"=\" has no value", last.Pos.Line)
	}
	return nil
}

// describe names the kind of a generic value for error messages.
func describe(v any) string {
	switch x := v.(type) {
	case nil:
		return "null"
	case string:
		if len(x) > 40 {
			x = x[:40] + "..."
		}
		return fmt.Sprintf("the string %q", x)
	case bool:
		return fmt.Sprintf("the boolean %t", x)
	case json.Number:
		return "the number " + x.String()
	case int, int64, float64:
		return fmt.Sprintf("the number %v", x)
	case map[string]any:
		return "a block"
	case []map[string]any:
		if len(x) == 1 {
			return "a block"
		}
		return "several blocks"
	case []any:
		return "a list"
	}
	return strings.TrimPrefix(fmt.Sprintf("a %T", v), "a ")
}
