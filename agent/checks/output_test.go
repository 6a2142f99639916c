package checks

import (
	"fmt"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestTruncateOutput(t *testing.T) {
	tests := []struct {
		name string
		in   string
		max  int
		want string
	}{
		{"fits", "hello", 10, "hello"},
		{"exactly", "0123456789", 10, "0123456789"},
		{"cut", "0123456789abcdef", 10, "0123456789 ... (captured 10 of 16 bytes)"},
		{"empty", "", 10, ""},
		// "é" is two bytes: a cut after its first byte drops it whole.
		{"utf8 boundary", "abcdé", 5, "abcd ... (captured 4 of 6 bytes)"},
		// "€" is three bytes; the cut falls after two of them.
		{"utf8 three bytes", "ab€cd", 4, "ab ... (captured 2 of 7 bytes)"},
		{"binary kept", "ab\xff\xfecd", 4, "ab\xff\xfe ... (captured 4 of 6 bytes)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := TruncateOutput(tt.in, tt.max); got != tt.want {
				t.Errorf("TruncateOutput(%q, %d) = %q, want %q", tt.in, tt.max, got, tt.want)
			}
		})
	}
}

func TestTruncateOutputDefault(t *testing.T) {
	in := strings.Repeat("x", DefaultOutputMaxSize+100)
	for _, max := range []int{0, -1} {
		got := TruncateOutput(in, max)
		want := fmt.Sprintf("%s ... (captured %d of %d bytes)",
			in[:DefaultOutputMaxSize], DefaultOutputMaxSize, len(in))
		if got != want {
			t.Errorf("max %d: got %d bytes ending %q, want the default 4 KiB cut", max, len(got), got[len(got)-40:])
		}
	}
}

func TestLimitedBuffer(t *testing.T) {
	tests := []struct {
		name   string
		max    int
		writes []string
		want   string
	}{
		{"under", 8, []string{"abc", "def"}, "abcdef"},
		{"at", 6, []string{"abc", "def"}, "abcdef"},
		{"over in one write", 4, []string{"abcdef"}, "abcd ... (captured 4 of 6 bytes)"},
		{"over across writes", 4, []string{"ab", "cd", "ef", "gh"}, "abcd ... (captured 4 of 8 bytes)"},
		{"partial rune dropped", 4, []string{"abc", "é!"}, "abc ... (captured 3 of 6 bytes)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := newLimitedBuffer(tt.max)
			for _, w := range tt.writes {
				n, err := b.Write([]byte(w))
				if n != len(w) || err != nil {
					t.Fatalf("Write(%q) = %d, %v; want %d, nil", w, n, err, len(w))
				}
			}
			got := b.String()
			if got != tt.want {
				t.Errorf("String() = %q, want %q", got, tt.want)
			}
			if !utf8.ValidString(got) {
				t.Errorf("String() = %q is not valid UTF-8", got)
			}
		})
	}
}
