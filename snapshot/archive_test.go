package snapshot

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"testing"

	"github.com/hashicorp/raft"

	"github.com/meridian-sd/meridian/state"
	"github.com/meridian-sd/meridian/structs"
)

// testState builds a store with a node, a service, a session and n keys
// and returns its snapshot bytes.
func testState(t testing.TB, n int) []byte {
	t.Helper()
	st, err := state.NewStore()
	if err != nil {
		t.Fatal(err)
	}
	idx := uint64(1)
	if err := st.EnsureRegistration(idx, &structs.RegisterRequest{
		Node: "n1", Address: "10.0.0.1",
		Service: &structs.NodeService{ID: "web", Service: "web", Port: 80},
	}); err != nil {
		t.Fatal(err)
	}
	for i := range n {
		idx++
		if err := st.KVSSet(idx, &structs.DirEntry{Key: fmt.Sprintf("k/%05d", i), Value: []byte("value")}); err != nil {
			t.Fatal(err)
		}
	}
	snap := st.Snapshot()
	defer snap.Close()
	var buf bytes.Buffer
	if err := snap.Persist(&buf); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func testMeta(size int) *raft.SnapshotMeta {
	return &raft.SnapshotMeta{Version: 1, ID: "2-42-1", Index: 42, Term: 2, Size: int64(size)}
}

func testArchive(t testing.TB, stateBytes []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := Write(&buf, testMeta(len(stateBytes)), bytes.NewReader(stateBytes)); err != nil {
		t.Fatalf("write archive: %v", err)
	}
	return buf.Bytes()
}

func TestArchiveRoundTrip(t *testing.T) {
	st := testState(t, 10)
	arch, err := Read(bytes.NewReader(testArchive(t, st)), t.TempDir(), 1<<20)
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	defer arch.Close()
	if arch.Meta.Index != 42 || arch.Meta.Term != 2 || arch.Meta.ID != "2-42-1" || arch.Meta.Size != int64(len(st)) {
		t.Fatalf("meta = %+v", arch.Meta)
	}
	if err := arch.Verify(); err != nil {
		t.Fatalf("verify: %v", err)
	}
	got, err := io.ReadAll(arch.State)
	if err != nil || !bytes.Equal(got, st) {
		t.Fatalf("state differs after the round trip (%v)", err)
	}
	stats, err := arch.Stats()
	if err != nil {
		t.Fatalf("stats: %v", err)
	}
	counts := map[string]int{}
	for _, s := range stats {
		counts[s.Name] = s.Count
	}
	if counts["KVS"] != 10 || counts["Node"] != 1 || counts["Service"] != 1 {
		t.Fatalf("stats = %+v", stats)
	}
}

// rawArchive builds an archive by hand: files in order, each with the
// content given; sums, when nil, are computed over the files.
func rawArchive(t *testing.T, files [][2]string) []byte {
	t.Helper()
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	tw := tar.NewWriter(gz)
	for _, f := range files {
		if err := tw.WriteHeader(&tar.Header{Name: f[0], Mode: 0o600, Size: int64(len(f[1])), Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write([]byte(f[1])); err != nil {
			t.Fatal(err)
		}
	}
	tw.Close()
	gz.Close()
	return buf.Bytes()
}

// unpack returns the files of a good archive.
func unpack(t *testing.T, a []byte) map[string]string {
	t.Helper()
	gz, err := gzip.NewReader(bytes.NewReader(a))
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(gz)
	out := map[string]string{}
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(tr)
		out[h.Name] = string(b)
	}
}

func TestArchiveRefusesBadInput(t *testing.T) {
	st := testState(t, 5)
	good := testArchive(t, st)
	files := unpack(t, good)
	altered := []byte(files[stateFile])
	altered[len(altered)/2] ^= 0x01
	var gzGarbage bytes.Buffer
	gw := gzip.NewWriter(&gzGarbage)
	gw.Write([]byte("hello"))
	gw.Close()

	cases := []struct {
		name    string
		archive []byte
		max     int64
		want    string
	}{
		{"empty", nil, 1 << 20, "not a gzip-compressed archive"},
		{"not gzip", []byte("plain text"), 1 << 20, "not a gzip-compressed archive"},
		{"gzip of garbage", gzGarbage.Bytes(), 1 << 20, "cannot read the archive"},
		{"truncated at half", good[:len(good)/2], 1 << 20, "truncated"},
		{"truncated at the end", good[:len(good)-3], 1 << 20, "truncated"},
		{"state over the cap", good, int64(len(st) - 1), "over the limit"},
		{"altered state", rawArchive(t, [][2]string{{metaFile, files[metaFile]}, {stateFile, string(altered)}, {sumsFile, files[sumsFile]}}), 1 << 20,
			"the checksum of state.bin does not match"},
		{"missing sums", rawArchive(t, [][2]string{{metaFile, files[metaFile]}, {stateFile, files[stateFile]}}), 1 << 20, "SHA256SUMS is missing"},
		{"unknown file", rawArchive(t, [][2]string{{"evil.sh", "x"}}), 1 << 20, `unexpected file "evil.sh"`},
		{"file twice", rawArchive(t, [][2]string{{metaFile, files[metaFile]}, {metaFile, files[metaFile]}}), 1 << 20, "appears twice"},
		{"sums without state", rawArchive(t, [][2]string{{metaFile, files[metaFile]}, {stateFile, files[stateFile]},
			{sumsFile, strings.SplitAfter(files[sumsFile], "\n")[0]}}), 1 << 20, "lists no checksum for state.bin"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			arch, err := Read(bytes.NewReader(tc.archive), dir, tc.max)
			if err == nil {
				arch.Close()
				t.Fatal("read: no error")
			}
			if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("read: got %v, want ErrInvalid containing %q", err, tc.want)
			}
			if left, _ := filesIn(dir); left != 0 {
				t.Fatalf("%d files left behind", left)
			}
		})
	}
}

// TestArchiveVerifyDecodesRecords: an archive whose checksums match but
// whose state does not decode passes Read and fails Verify.
func TestArchiveVerifyDecodesRecords(t *testing.T) {
	st := testState(t, 3)
	// Cut the end record off: the checksums are computed over the result.
	bad := st[:len(st)-2]
	arch, err := Read(bytes.NewReader(testArchive(t, bad)), t.TempDir(), 1<<20)
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	defer arch.Close()
	if err := arch.Verify(); !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "corrupt snapshot") {
		t.Fatalf("verify: got %v, want a corrupt snapshot", err)
	}
}

func TestWriteRefusesWrongSize(t *testing.T) {
	st := testState(t, 1)
	var buf bytes.Buffer
	if err := Write(&buf, testMeta(len(st)+10), bytes.NewReader(st)); err == nil {
		t.Fatal("short state: no error")
	}
	if err := Write(&buf, testMeta(len(st)-10), bytes.NewReader(st)); err == nil {
		t.Fatal("long state: no error")
	}
}

func filesIn(dir string) (int, error) {
	entries, err := os.ReadDir(dir)
	return len(entries), err
}
