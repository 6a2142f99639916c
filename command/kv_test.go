package command

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/cli"
	"github.com/hashicorp/consul/api"

	"github.com/meridian-sd/meridian/agent"
)

// kvAgent starts a server agent for the kv verbs and returns it with its
// -http-addr flag.
func kvAgent(t *testing.T) (*agent.TestAgent, string) {
	t.Helper()
	ta := agent.StartTestAgent(t, "-server", "-bootstrap")
	ta.WaitForLeader(t)
	// Sessions (locks) need the agent's node in the catalog, which the
	// leader adds a moment after its election.
	agent.WaitFor(t, "the agent's node in the catalog", 15*time.Second, func() error {
		n, _, err := ta.Client.Catalog().Node(ta.Name, nil)
		if err != nil {
			return err
		}
		if n == nil {
			return fmt.Errorf("node %s not registered yet", ta.Name)
		}
		return nil
	})
	return ta, "-http-addr=" + ta.HTTPAddr
}

// runCmd runs a command with a fresh MockUi: exit code, stdout, stderr.
func runCmd(c cli.Command, args ...string) (int, string, string) {
	code := c.Run(args)
	var ui *cli.MockUi
	switch c := c.(type) {
	case *KVGetCommand:
		ui = c.UI.(*cli.MockUi)
	case *KVPutCommand:
		ui = c.UI.(*cli.MockUi)
	case *KVDeleteCommand:
		ui = c.UI.(*cli.MockUi)
	case *KVExportCommand:
		ui = c.UI.(*cli.MockUi)
	case *KVImportCommand:
		ui = c.UI.(*cli.MockUi)
	case *LockCommand:
		ui = c.UI.(*cli.MockUi)
	}
	return code, ui.OutputWriter.String(), ui.ErrorWriter.String()
}

func kvGetCmd() *KVGetCommand       { return &KVGetCommand{UI: cli.NewMockUi()} }
func kvPutCmd() *KVPutCommand       { return &KVPutCommand{UI: cli.NewMockUi()} }
func kvDeleteCmd() *KVDeleteCommand { return &KVDeleteCommand{UI: cli.NewMockUi()} }

func TestKVPutGetDelete(t *testing.T) {
	ta, addr := kvAgent(t)
	kv := ta.Client.KV()

	t.Run("put forms", func(t *testing.T) {
		file := filepath.Join(t.TempDir(), "value.txt")
		if err := os.WriteFile(file, []byte("from a file\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		stdinPut := &KVPutCommand{UI: cli.NewMockUi(), Stdin: strings.NewReader("from stdin")}
		tests := []struct {
			name string
			cmd  cli.Command
			args []string
			key  string
			want string
		}{
			{"inline", kvPutCmd(), []string{"cfg/inline", "hello"}, "cfg/inline", "hello"},
			{"leading slash", kvPutCmd(), []string{"/cfg/slash", "x"}, "cfg/slash", "x"},
			{"no data", kvPutCmd(), []string{"cfg/empty"}, "cfg/empty", ""},
			{"file", kvPutCmd(), []string{"cfg/file", "@" + file}, "cfg/file", "from a file\n"},
			{"stdin", stdinPut, []string{"cfg/stdin", "-"}, "cfg/stdin", "from stdin"},
			{"base64", kvPutCmd(), []string{"-base64", "cfg/b64", base64.StdEncoding.EncodeToString([]byte{0, 1, 2, 'z'})}, "cfg/b64", "\x00\x01\x02z"},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				code, out, errOut := runCmd(tt.cmd, append([]string{addr}, tt.args...)...)
				if code != 0 || out != "Success! Data written to: "+tt.key+"\n" {
					t.Fatalf("put = %d %q %q", code, out, errOut)
				}
				p, _, err := kv.Get(tt.key, nil)
				if err != nil || p == nil || string(p.Value) != tt.want {
					t.Fatalf("stored = %+v, %v, want %q", p, err, tt.want)
				}
			})
		}
	})

	t.Run("get forms", func(t *testing.T) {
		for _, k := range []string{"tree/a", "tree/b/c", "tree/b/d"} {
			if _, err := kv.Put(&api.KVPair{Key: k, Value: []byte("v:" + k), Flags: 9}, nil); err != nil {
				t.Fatal(err)
			}
		}
		p, _, err := kv.Get("tree/a", nil)
		if err != nil {
			t.Fatal(err)
		}
		tests := []struct {
			name string
			args []string
			want string
		}{
			{"value", []string{"tree/a"}, "v:tree/a\n"},
			{"base64", []string{"-base64", "tree/a"}, base64.StdEncoding.EncodeToString([]byte("v:tree/a")) + "\n"},
			{"recurse", []string{"-recurse", "tree/"}, "tree/a:v:tree/a\ntree/b/c:v:tree/b/c\ntree/b/d:v:tree/b/d\n"},
			{"keys", []string{"-keys", "tree/"}, "tree/a\ntree/b/\n"},
			{"keys without separator", []string{"-keys", "-separator=", "tree/"}, "tree/a\ntree/b/c\ntree/b/d\n"},
			{"detailed", []string{"-detailed", "tree/a"}, "CreateIndex      " + strconv.FormatUint(p.CreateIndex, 10) + "\n" +
				"Flags            9\nKey              tree/a\nLockIndex        0\n" +
				"ModifyIndex      " + strconv.FormatUint(p.ModifyIndex, 10) + "\nSession          -\nValue            v:tree/a\n"},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				code, out, errOut := runCmd(kvGetCmd(), append([]string{addr}, tt.args...)...)
				if code != 0 || out != tt.want {
					t.Fatalf("get %v = %d %q %q, want %q", tt.args, code, out, errOut, tt.want)
				}
			})
		}
		code, out, errOut := runCmd(kvGetCmd(), addr, "-recurse", "-detailed", "tree/b/")
		if code != 0 || strings.Count(out, "CreateIndex") != 2 || !strings.Contains(out, "Value            v:tree/b/d") {
			t.Fatalf("get -recurse -detailed = %d %q %q", code, out, errOut)
		}
		code, _, errOut = runCmd(kvGetCmd(), addr, "tree/none")
		if code != 1 || errOut != "Error! No key exists at: tree/none\n" {
			t.Fatalf("get of a missing key = %d %q", code, errOut)
		}
	})

	t.Run("cas", func(t *testing.T) {
		code, _, errOut := runCmd(kvPutCmd(), addr, "-cas", "-modify-index=0", "cas/k", "first")
		if code != 0 {
			t.Fatalf("create-only put = %d %q", code, errOut)
		}
		code, _, errOut = runCmd(kvPutCmd(), addr, "-cas", "-modify-index=0", "cas/k", "second")
		if code != 1 || errOut != "Error! Did not write to cas/k: CAS failed\n" {
			t.Fatalf("second create-only put = %d %q", code, errOut)
		}
		p, _, _ := kv.Get("cas/k", nil)
		idx := strconv.FormatUint(p.ModifyIndex, 10)
		if code, _, errOut := runCmd(kvPutCmd(), addr, "-cas", "-modify-index="+idx, "cas/k", "third"); code != 0 {
			t.Fatalf("cas put = %d %q", code, errOut)
		}
		if code, _, errOut := runCmd(kvDeleteCmd(), addr, "-cas", "-modify-index="+idx, "cas/k"); code != 1 ||
			errOut != "Error! Did not delete key cas/k: CAS failed\n" {
			t.Fatalf("stale cas delete = %d %q", code, errOut)
		}
		p, _, _ = kv.Get("cas/k", nil)
		if string(p.Value) != "third" {
			t.Fatalf("value = %q", p.Value)
		}
		idx = strconv.FormatUint(p.ModifyIndex, 10)
		if code, out, errOut := runCmd(kvDeleteCmd(), addr, "-cas", "-modify-index="+idx, "cas/k"); code != 0 || out != "Success! Deleted key: cas/k\n" {
			t.Fatalf("cas delete = %d %q %q", code, out, errOut)
		}
	})

	t.Run("locks", func(t *testing.T) {
		sess, _, err := ta.Client.Session().Create(nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		code, out, errOut := runCmd(kvPutCmd(), addr, "-acquire", "-session="+sess, "lk/k", "held")
		if code != 0 || out != "Success! Lock acquired on: lk/k\n" {
			t.Fatalf("acquire = %d %q %q", code, out, errOut)
		}
		other, _, err := ta.Client.Session().Create(nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		code, _, errOut = runCmd(kvPutCmd(), addr, "-acquire", "-session="+other, "lk/k", "mine")
		if code != 1 || !strings.HasPrefix(errOut, "Error! Did not acquire lock on lk/k") {
			t.Fatalf("acquire of a held lock = %d %q", code, errOut)
		}
		code, out, errOut = runCmd(kvPutCmd(), addr, "-release", "-session="+sess, "lk/k", "free")
		if code != 0 || out != "Success! Lock released on: lk/k\n" {
			t.Fatalf("release = %d %q %q", code, out, errOut)
		}
		code, _, errOut = runCmd(kvPutCmd(), addr, "-acquire", "-session=00000000-0000-0000-0000-000000000000", "lk/x", "v")
		if code != 1 || !strings.Contains(errOut, "invalid session") {
			t.Fatalf("acquire with an unknown session = %d %q", code, errOut)
		}
	})

	t.Run("delete", func(t *testing.T) {
		for _, k := range []string{"del/a", "del/b", "delx"} {
			if _, err := kv.Put(&api.KVPair{Key: k}, nil); err != nil {
				t.Fatal(err)
			}
		}
		if code, out, _ := runCmd(kvDeleteCmd(), addr, "del/a"); code != 0 || out != "Success! Deleted key: del/a\n" {
			t.Fatalf("delete = %d %q", code, out)
		}
		if code, out, _ := runCmd(kvDeleteCmd(), addr, "-recurse", "del/"); code != 0 || out != "Success! Deleted keys with prefix: del/\n" {
			t.Fatalf("delete -recurse = %d %q", code, out)
		}
		keys, _, err := kv.Keys("del", "", nil)
		if err != nil || len(keys) != 1 || keys[0] != "delx" {
			t.Fatalf("keys left = %v, %v", keys, err)
		}
	})
}

func TestKVBadInput(t *testing.T) {
	_, addr := kvAgent(t)
	tests := []struct {
		name string
		cmd  cli.Command
		args []string
		want string
	}{
		{"get without key", kvGetCmd(), nil, "Error! Missing KEY argument"},
		{"get two keys", kvGetCmd(), []string{"a", "b"}, "Too many arguments (expected 1, got 2)"},
		{"get keys and recurse", kvGetCmd(), []string{"-keys", "-recurse", "a"}, "Cannot use -keys with -recurse"},
		{"put without key", kvPutCmd(), nil, "Error! Missing KEY argument"},
		{"put three args", kvPutCmd(), []string{"a", "b", "c"}, "Too many arguments (expected 1 or 2, got 3)"},
		{"cas without index", kvPutCmd(), []string{"-cas", "a", "b"}, "Must specify -modify-index with -cas"},
		{"index without cas", kvPutCmd(), []string{"-modify-index=3", "a", "b"}, "Cannot specify -modify-index without -cas"},
		{"acquire without session", kvPutCmd(), []string{"-acquire", "a", "b"}, "Missing -session"},
		{"cas and acquire", kvPutCmd(), []string{"-cas", "-modify-index=1", "-acquire", "-session=x", "a"}, "Only one of -cas, -acquire and -release"},
		{"bad base64", kvPutCmd(), []string{"-base64", "a", "%%%"}, "Cannot parse base64 data"},
		{"missing file", kvPutCmd(), []string{"a", "@/nonexistent/file"}, "Cannot read file"},
		{"non-numeric flags", kvPutCmd(), []string{"-flags=abc", "a", "b"}, `invalid value "abc" for flag -flags`},
		{"non-numeric index", kvPutCmd(), []string{"-cas", "-modify-index=x", "a", "b"}, `invalid value "x" for flag -modify-index`},
		{"too large", kvPutCmd(), []string{"big", strings.Repeat("x", 512*1024+1)}, "Value is too large"},
		{"delete without key", kvDeleteCmd(), nil, "Error! Missing KEY argument"},
		{"delete cas and recurse", kvDeleteCmd(), []string{"-cas", "-modify-index=1", "-recurse", "a"}, "Cannot specify both -cas and -recurse"},
		{"delete cas without index", kvDeleteCmd(), []string{"-cas", "a"}, "Must specify -modify-index with -cas"},
		{"import without data", &KVImportCommand{UI: cli.NewMockUi()}, nil, "Missing DATA argument"},
		{"import bad json", &KVImportCommand{UI: cli.NewMockUi()}, []string{`[{"key":`}, "Cannot unmarshal data"},
		{"import bad value", &KVImportCommand{UI: cli.NewMockUi()}, []string{`[{"key":"a","flags":0,"value":"!!"}]`}, "Cannot base64-decode the value of key a"},
		{"import empty key", &KVImportCommand{UI: cli.NewMockUi()}, []string{`[{"key":"","flags":0,"value":""}]`}, "Entry 0 has no key"},
		{"export two prefixes", &KVExportCommand{UI: cli.NewMockUi()}, []string{"a", "b"}, "Too many arguments"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, out, errOut := runCmd(tt.cmd, append([]string{addr}, tt.args...)...)
			if code != 1 || !strings.Contains(errOut, tt.want) || out != "" {
				t.Fatalf("%v = %d, out %q, err %q; want 1 and %q", tt.args, code, out, errOut, tt.want)
			}
			if strings.Count(strings.TrimSpace(errOut), "\n") != 0 {
				t.Fatalf("error is not one line: %q", errOut)
			}
		})
	}
	// An agent that is not there.
	code, _, errOut := runCmd(kvGetCmd(), "-http-addr=127.0.0.1:1", "a")
	if code != 1 || !strings.Contains(errOut, "is it running?") {
		t.Fatalf("unreachable agent = %d %q", code, errOut)
	}
}

func TestKVExportImport(t *testing.T) {
	ta, addr := kvAgent(t)
	kv := ta.Client.KV()
	in := map[string]struct {
		value string
		flags uint64
	}{
		"app/a":     {"alpha", 0},
		"app/b/c":   {"\x00binary\xff", 42},
		"app/empty": {"", 1},
		"other":     {"not exported", 0},
	}
	for k, v := range in {
		if _, err := kv.Put(&api.KVPair{Key: k, Value: []byte(v.value), Flags: v.flags}, nil); err != nil {
			t.Fatal(err)
		}
	}
	code, out, errOut := runCmd(&KVExportCommand{UI: cli.NewMockUi()}, addr, "app/")
	if code != 0 {
		t.Fatalf("export = %d %q", code, errOut)
	}
	var exported []map[string]any
	if err := json.Unmarshal([]byte(out), &exported); err != nil {
		t.Fatalf("export output is not JSON: %v\n%s", err, out)
	}
	if len(exported) != 3 || exported[0]["key"] != "app/a" || exported[1]["flags"] != float64(42) ||
		exported[1]["value"] != base64.StdEncoding.EncodeToString([]byte("\x00binary\xff")) {
		t.Fatalf("exported = %v", exported)
	}
	if !strings.Contains(out, "\n\t{\n\t\t\"key\": \"app/a\",") {
		t.Fatalf("export is not tab-indented as Consul's:\n%s", out)
	}

	// Import into another prefix from stdin, and from a file.
	imp := &KVImportCommand{UI: cli.NewMockUi(), Stdin: strings.NewReader(out)}
	code, impOut, errOut := runCmd(imp, addr, "-prefix=copy/", "-")
	if code != 0 || impOut != "Imported: copy/app/a\nImported: copy/app/b/c\nImported: copy/app/empty\n" {
		t.Fatalf("import from stdin = %d %q %q", code, impOut, errOut)
	}
	file := filepath.Join(t.TempDir(), "export.json")
	if err := os.WriteFile(file, []byte(out), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := kv.DeleteTree("app/", nil); err != nil {
		t.Fatal(err)
	}
	if code, _, errOut := runCmd(&KVImportCommand{UI: cli.NewMockUi()}, addr, "@"+file); code != 0 {
		t.Fatalf("import from a file = %d %q", code, errOut)
	}
	for _, prefix := range []string{"", "copy/"} {
		for k, v := range in {
			if k == "other" {
				continue
			}
			p, _, err := kv.Get(prefix+k, nil)
			if err != nil || p == nil || string(p.Value) != v.value || p.Flags != v.flags {
				t.Fatalf("%s%s after import = %+v, %v", prefix, k, p, err)
			}
		}
	}
}
