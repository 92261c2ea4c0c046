// Package printable makes text from an untrusted source (a hub's answer, a
// host's bundle, a file name) safe to print on a terminal or to store as
// one line: it escapes what could move the cursor, recolour or retitle the
// terminal, forge a line, or reorder what a reader sees.
package printable

import (
	"strconv"
	"strings"
	"unicode/utf8"
)

// IsControl reports whether r is escaped by Escape: C0 controls (newline
// and tab included), DEL, C1 controls, the Unicode line and paragraph
// separators, the bidirectional marks, embeddings, overrides and isolates,
// and the byte order mark.
func IsControl(r rune) bool {
	switch {
	case r < 0x20, r >= 0x7f && r < 0xa0:
		return true
	case r == 0x061c, r == 0x200e, r == 0x200f, r == 0x2028, r == 0x2029, r == 0xfeff:
		return true
	case r >= 0x202a && r <= 0x202e, r >= 0x2066 && r <= 0x2069:
		return true
	}
	return false
}

// Escape returns s with every control character (IsControl) written as a
// Go escape (\n, \t, \x1b, \u202e) and every byte that is not UTF-8 as
// \xNN; other text, non-ASCII letters included, is kept as it is. The
// result is one line.
func Escape(s string) string {
	if utf8.ValidString(s) && !strings.ContainsFunc(s, IsControl) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			b.WriteString(`\x` + strconv.FormatUint(uint64(s[i])|0x100, 16)[1:])
		case IsControl(r):
			q := strconv.QuoteRuneToASCII(r)
			b.WriteString(q[1 : len(q)-1])
		default:
			b.WriteString(s[i : i+size])
		}
		i += size
	}
	return b.String()
}
