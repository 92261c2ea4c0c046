package printable

import "testing"

func TestEscape(t *testing.T) {
	for in, want := range map[string]string{
		"plain text, ünïcode":      "plain text, ünïcode",
		"a\nb\tc\r":                `a\nb\tc\r`,
		"\x1b[31mred\x1b[0m":       `\x1b[31mred\x1b[0m`,
		"c1 \u009b2J":              `c1 \u009b2J`,
		"del \x7f":                 `del \x7f`,
		"rtl \u202eevil\u202c":     `rtl \u202eevil\u202c`,
		"isolate \u2066x\u2069":    `isolate \u2066x\u2069`,
		"marks \u200e\u200f\u061c": `marks \u200e\u200f\u061c`,
		"bom \ufeff sep \u2028":    `bom \ufeff sep \u2028`,
		"bad \xff\xfe utf8":        `bad \xff\xfe utf8`,
		"":                         "",
	} {
		if got := Escape(in); got != want {
			t.Errorf("Escape(%q) = %q, want %q", in, got, want)
		}
	}
}

func FuzzEscapeIsOnePrintableLine(f *testing.F) {
	f.Add("\x1b]0;title\a\u202e\n")
	f.Fuzz(func(t *testing.T, s string) {
		out := Escape(s)
		for _, r := range out {
			if IsControl(r) {
				t.Fatalf("Escape(%q) = %q keeps %U", s, out, r)
			}
		}
		if Escape(out) != out {
			t.Fatalf("Escape is not idempotent on %q", out)
		}
	})
}
