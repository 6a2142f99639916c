// Package snapshot is the archive format of Meridian's state snapshots,
// what GET /v1/snapshot answers, PUT /v1/snapshot takes and `meridian
// snapshot` saves, restores and inspects.
//
// # Format
//
// An archive is a gzip-compressed tar stream of three files, in order:
//
//	meta.json   the Raft snapshot metadata (raft.SnapshotMeta as JSON):
//	            ID, Index, Term, Version, Size of state.bin, the Raft
//	            configuration at the time
//	state.bin   the state store as the FSM writes its snapshots (see
//	            package state: a header, typed records, an end record)
//	SHA256SUMS  the SHA-256 of the two files above, one "<hex>  <name>"
//	            line each, as sha256sum prints them
//
// Reading an archive checks everything before the caller uses any of it:
// the gzip and tar framing (a truncated file fails), the size of each
// file against a cap given by the caller (so a small archive cannot
// inflate into an unbounded file), that no file is missing, repeated or
// unknown, and every checksum. Verify then decodes every record of the
// state, with the same checks a server applies when it installs it.
package snapshot

import (
	"archive/tar"
	"bufio"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"strings"
	"time"

	"github.com/hashicorp/raft"

	"github.com/meridian-sd/meridian/state"
)

// Names of the files in an archive.
const (
	metaFile  = "meta.json"
	stateFile = "state.bin"
	sumsFile  = "SHA256SUMS"
)

// Bounds of the small files, in bytes. The metadata holds the Raft
// configuration, a few hundred bytes per server.
const (
	maxMetaSize = 1 << 20
	maxSumsSize = 4 << 10
	// maxTrailing bounds what may follow the tar stream inside the gzip
	// stream (tar's own padding), read to reach gzip's checksum.
	maxTrailing = 1 << 20
)

// ErrInvalid is wrapped by every error about the content of an archive
// (rather than about reading or writing it).
var ErrInvalid = errors.New("invalid snapshot archive")

// invalid formats an ErrInvalid error.
func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalid, fmt.Sprintf(format, args...))
}

// Write writes an archive of the state read from st, whose metadata is
// meta, to w. st must yield exactly meta.Size bytes.
func Write(w io.Writer, meta *raft.SnapshotMeta, st io.Reader) error {
	gz := gzip.NewWriter(w)
	tw := tar.NewWriter(gz)
	now := time.Now()
	metaJSON, err := json.Marshal(meta)
	if err != nil {
		return fmt.Errorf("encode snapshot metadata: %w", err)
	}
	var sums bytes.Buffer
	put := func(name string, size int64, r io.Reader) error {
		hdr := &tar.Header{Name: name, Mode: 0o600, Size: size, ModTime: now, Typeflag: tar.TypeReg}
		if err := tw.WriteHeader(hdr); err != nil {
			return fmt.Errorf("write %s header: %w", name, err)
		}
		h := sha256.New()
		n, err := io.CopyN(io.MultiWriter(tw, h), r, size)
		if err != nil {
			return fmt.Errorf("write %s: %d of %d bytes: %w", name, n, size, err)
		}
		fmt.Fprintf(&sums, "%x  %s\n", h.Sum(nil), name)
		return nil
	}
	if err := put(metaFile, int64(len(metaJSON)), bytes.NewReader(metaJSON)); err != nil {
		return err
	}
	if err := put(stateFile, meta.Size, st); err != nil {
		return err
	}
	var extra [1]byte
	if n, _ := st.Read(extra[:]); n > 0 {
		return fmt.Errorf("write %s: the state is longer than the %d bytes its metadata says", stateFile, meta.Size)
	}
	sumsBytes := sums.Bytes()
	hdr := &tar.Header{Name: sumsFile, Mode: 0o600, Size: int64(len(sumsBytes)), ModTime: now, Typeflag: tar.TypeReg}
	if err := tw.WriteHeader(hdr); err != nil {
		return fmt.Errorf("write %s header: %w", sumsFile, err)
	}
	if _, err := tw.Write(sumsBytes); err != nil {
		return fmt.Errorf("write %s: %w", sumsFile, err)
	}
	if err := tw.Close(); err != nil {
		return fmt.Errorf("close snapshot archive: %w", err)
	}
	if err := gz.Close(); err != nil {
		return fmt.Errorf("close snapshot compression: %w", err)
	}
	return nil
}

// Archive is an archive that was read and whose checksums matched: its
// metadata, and its state in a temporary file. Close removes the file.
type Archive struct {
	// Meta is the archive's Raft snapshot metadata.
	Meta *raft.SnapshotMeta
	// State holds the state, Meta.Size bytes, positioned at its start.
	State *os.File
}

// Close closes and removes the state file.
func (a *Archive) Close() error {
	err := a.State.Close()
	if rmErr := os.Remove(a.State.Name()); rmErr != nil && err == nil {
		err = rmErr
	}
	return err
}

// Rewind positions the state file at its start.
func (a *Archive) Rewind() error {
	if _, err := a.State.Seek(0, io.SeekStart); err != nil {
		return fmt.Errorf("rewind snapshot state: %w", err)
	}
	return nil
}

// Verify decodes every record of the state and checks it as a restore
// does (references between records, duplicates, the end record), without
// installing anything. The state file is rewound before and after.
func (a *Archive) Verify() error {
	if err := a.Rewind(); err != nil {
		return err
	}
	if _, err := state.Restore(bufio.NewReaderSize(a.State, 64<<10)); err != nil {
		if errors.Is(err, state.ErrCorruptSnapshot) {
			return fmt.Errorf("%w: %w", ErrInvalid, err)
		}
		return fmt.Errorf("verify snapshot state: %w", err)
	}
	return a.Rewind()
}

// Stats lists the state's records by type, the largest first. The state
// file is rewound before and after.
func (a *Archive) Stats() ([]state.RecordStat, error) {
	if err := a.Rewind(); err != nil {
		return nil, err
	}
	stats, err := state.RecordStats(bufio.NewReaderSize(a.State, 64<<10))
	if err != nil {
		if errors.Is(err, state.ErrCorruptSnapshot) {
			return nil, fmt.Errorf("%w: %w", ErrInvalid, err)
		}
		return nil, err
	}
	return stats, a.Rewind()
}

// Read reads an archive from r: the state, at most maxState bytes, goes
// to a temporary file in dir (the system's temporary directory when
// empty). It fails, leaving nothing behind, when the archive is
// truncated, malformed, larger than allowed, or a checksum does not match.
func Read(r io.Reader, dir string, maxState int64) (*Archive, error) {
	f, err := os.CreateTemp(dir, "meridian-snapshot-*.bin")
	if err != nil {
		return nil, fmt.Errorf("create snapshot state file: %w", err)
	}
	a := &Archive{State: f}
	meta, err := read(r, f, maxState)
	if err == nil {
		err = f.Sync()
	}
	if err != nil {
		a.Close()
		return nil, err
	}
	a.Meta = meta
	if err := a.Rewind(); err != nil {
		a.Close()
		return nil, err
	}
	return a, nil
}

// read reads the archive, writing the state to st.
func read(r io.Reader, st io.Writer, maxState int64) (*raft.SnapshotMeta, error) {
	gz, err := gzip.NewReader(r)
	if err != nil {
		return nil, invalid("not a gzip-compressed archive (%v)", truncated(err))
	}
	gz.Multistream(false)
	tr := tar.NewReader(gz)
	hashes := map[string][]byte{}
	var metaJSON, sums []byte
	var stateSize int64
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, invalid("cannot read the archive (%v)", truncated(err))
		}
		if _, dup := hashes[hdr.Name]; dup {
			return nil, invalid("the file %q appears twice", hdr.Name)
		}
		if hdr.Typeflag != tar.TypeReg {
			return nil, invalid("the entry %q is not a regular file", hdr.Name)
		}
		var limit int64
		switch hdr.Name {
		case metaFile:
			limit = maxMetaSize
		case stateFile:
			limit = maxState
		case sumsFile:
			limit = maxSumsSize
		default:
			return nil, invalid("unexpected file %q", hdr.Name)
		}
		if hdr.Size < 0 || hdr.Size > limit {
			return nil, invalid("the file %q is %d bytes, over the limit of %d", hdr.Name, hdr.Size, limit)
		}
		h := sha256.New()
		var dst io.Writer
		var buf bytes.Buffer
		if hdr.Name == stateFile {
			dst = errWriter{st}
		} else {
			dst = &buf
		}
		if _, err := io.Copy(io.MultiWriter(dst, h), tr); err != nil {
			var werr *writeError
			if errors.As(err, &werr) {
				return nil, werr.err
			}
			return nil, invalid("cannot read %s (%v)", hdr.Name, truncated(err))
		}
		hashes[hdr.Name] = sumOf(h)
		switch hdr.Name {
		case metaFile:
			metaJSON = buf.Bytes()
		case sumsFile:
			sums = buf.Bytes()
		case stateFile:
			stateSize = hdr.Size
		}
	}
	// Read to the end of the gzip stream, so that its own checksum is
	// checked too.
	if n, err := io.Copy(io.Discard, io.LimitReader(gz, maxTrailing)); err != nil {
		return nil, invalid("cannot read the archive (%v)", truncated(err))
	} else if n == maxTrailing {
		return nil, invalid("unexpected data after the archive's files")
	}
	for _, name := range []string{metaFile, stateFile, sumsFile} {
		if _, ok := hashes[name]; !ok {
			return nil, invalid("the file %s is missing", name)
		}
	}
	if err := checkSums(sums, hashes); err != nil {
		return nil, err
	}
	var meta raft.SnapshotMeta
	if err := json.Unmarshal(metaJSON, &meta); err != nil {
		return nil, invalid("cannot decode %s (%v)", metaFile, err)
	}
	switch {
	case meta.Size != stateSize:
		return nil, invalid("%s says the state is %d bytes, but it is %d", metaFile, meta.Size, stateSize)
	case meta.Index == 0:
		return nil, invalid("%s has no Raft index", metaFile)
	case meta.Version < raft.SnapshotVersionMin || meta.Version > raft.SnapshotVersionMax:
		return nil, invalid("unsupported snapshot version %d", meta.Version)
	}
	return &meta, nil
}

// checkSums compares the SHA256SUMS file with the hashes computed.
func checkSums(sums []byte, hashes map[string][]byte) error {
	listed := map[string]bool{}
	for _, line := range strings.Split(strings.TrimRight(string(sums), "\n"), "\n") {
		sum, name, ok := strings.Cut(line, "  ")
		if !ok {
			return invalid("malformed line %q in %s", line, sumsFile)
		}
		want, err := hex.DecodeString(sum)
		if err != nil || len(want) != sha256.Size {
			return invalid("malformed checksum for %q in %s", name, sumsFile)
		}
		got, known := hashes[name]
		if !known || name == sumsFile || listed[name] {
			return invalid("unexpected entry %q in %s", name, sumsFile)
		}
		listed[name] = true
		if !bytes.Equal(got, want) {
			return invalid("the checksum of %s does not match: the file was altered or damaged", name)
		}
	}
	for _, name := range []string{metaFile, stateFile} {
		if !listed[name] {
			return invalid("%s lists no checksum for %s", sumsFile, name)
		}
	}
	return nil
}

func sumOf(h hash.Hash) []byte { return h.Sum(nil) }

// truncated rewords a premature end of the stream.
func truncated(err error) error {
	if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
		return errors.New("the archive is truncated")
	}
	return err
}

// writeError marks a failure to write the state out (a full disk), which
// says nothing about the archive.
type writeError struct{ err error }

func (e *writeError) Error() string { return e.err.Error() }

// errWriter wraps the state's destination so that its errors are told
// apart from the archive's.
type errWriter struct{ w io.Writer }

func (e errWriter) Write(p []byte) (int, error) {
	n, err := e.w.Write(p)
	if err != nil {
		return n, &writeError{fmt.Errorf("write snapshot state: %w", err)}
	}
	return n, nil
}
