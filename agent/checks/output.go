package checks

import (
	"fmt"
	"sync"
	"unicode/utf8"
)

// TruncateOutput returns s cut to at most maxSize bytes (DefaultOutputMaxSize
// when maxSize < 1) followed by a note saying how much was kept, for example
// "... (captured 4096 of 10000 bytes)", the note Consul's TTL checks use. The
// cut never splits a UTF-8 sequence, so the kept part may be up to three
// bytes shorter than maxSize. Output that fits is returned unchanged.
func TruncateOutput(s string, maxSize int) string {
	maxSize = outputMax(maxSize)
	if len(s) <= maxSize {
		return s
	}
	return truncated(s[:maxSize], int64(len(s)))
}

// truncated formats the kept prefix of a total-byte output with the
// truncation note, first dropping a character the cut left incomplete.
func truncated(kept string, total int64) string {
	kept = trimPartialRune(kept)
	return fmt.Sprintf("%s ... (captured %d of %d bytes)", kept, len(kept), total)
}

// trimPartialRune drops a UTF-8 sequence left incomplete at the end of s.
// Bytes that are not UTF-8 at all are kept as they are.
func trimPartialRune(s string) string {
	for i := 1; i < utf8.UTFMax && i <= len(s); i++ {
		if utf8.RuneStart(s[len(s)-i]) {
			if !utf8.FullRuneInString(s[len(s)-i:]) {
				return s[:len(s)-i]
			}
			return s
		}
	}
	return s
}

// limitedBuffer is an io.Writer that keeps the first max bytes written to it
// and counts the rest. It never fails a write, so a child process writing
// into it is never blocked or killed by a full or closed pipe.
type limitedBuffer struct {
	mu    sync.Mutex
	max   int
	buf   []byte
	total int64
}

// newLimitedBuffer returns a buffer that keeps up to maxSize bytes
// (DefaultOutputMaxSize when maxSize < 1).
func newLimitedBuffer(maxSize int) *limitedBuffer {
	return &limitedBuffer{max: outputMax(maxSize)}
}

// Write keeps what fits and counts everything.
func (b *limitedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.total += int64(len(p))
	if room := b.max - len(b.buf); room > 0 {
		b.buf = append(b.buf, p[:min(room, len(p))]...)
	}
	return len(p), nil
}

// String returns what was kept, with the truncation note if anything was
// dropped.
func (b *limitedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.total <= int64(len(b.buf)) {
		return string(b.buf)
	}
	return truncated(string(b.buf), b.total)
}
