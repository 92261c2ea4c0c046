package schema

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
)

// scanned is a token as the scanner reports it: its type and offsets.
type scanned struct {
	ty         hclsyntax.TokenType
	start, end int
}

func (t scanned) String() string { return fmt.Sprintf("%s[%d:%d]", t.ty, t.start, t.end) }

// lexed returns the tokens hclsyntax's lexer makes of src.
func lexed(src []byte) []scanned {
	tokens, _ := hclsyntax.LexConfig(src, "t.hcl", hcl.InitialPos)
	out := make([]scanned, len(tokens))
	for i, t := range tokens {
		out[i] = scanned{t.Type, t.Range.Start.Byte, t.Range.End.Byte}
	}
	return out
}

// scannedTokens returns the tokens the scanner walks in src.
func scannedTokens(src []byte) []scanned {
	var out []scanned
	s := &scanner{src: src, emit: func(ty hclsyntax.TokenType, start, end int) bool {
		out = append(out, scanned{ty, start, end})
		return true
	}}
	s.run()
	return out
}

// checkScannerIsTheLexer fails when the scanner's tokens of src (valid
// UTF-8) differ from the lexer's, or when the bounds decide otherwise on
// the lexer's tokens than on the scanner's.
func checkScannerIsTheLexer(t *testing.T, src []byte) {
	t.Helper()
	want, got := lexed(src), scannedTokens(src)
	if !reflect.DeepEqual(got, want) {
		i := 0
		for i < len(got) && i < len(want) && got[i] == want[i] {
			i++
		}
		t.Fatalf("%q: the scanner's tokens differ from the lexer's at token %d:\nscanner: %v\nlexer:   %v",
			src, i, got[i:min(i+4, len(got))], want[i:min(i+4, len(want))])
	}
	if tokenBoundAt(src) >= 0 {
		return
	}
	_, diags := checkComplexity(src, "t.hcl", 0)
	c := &complexity{src: src, filename: "t.hcl"}
	for _, tok := range want {
		if !c.token(tok.ty, tok.start, tok.end) {
			break
		}
	}
	if describe(diags) != describe(c.diags) {
		t.Fatalf("%q: the bounds on the scan say %s, on the lexer's tokens %s", src, describe(diags), describe(c.diags))
	}
}

// TestScannerIsTheLexer compares the scanner with hclsyntax's lexer on
// the places where the lexer is intricate: templates and their escapes,
// heredocs (whose lines the lexer splits at $ and % signs in its own
// way), comments, numbers, identifiers beyond ASCII and unfinished input.
// FuzzLoad compares them on whatever it finds.
func TestScannerIsTheLexer(t *testing.T) {
	cases := []string{
		"",
		"x = 1\n",
		"\ufeffx = 1",
		`x = "a$b$$c$${d%e%%{f%{ if x }y%{ endif }"`,
		`x = "a$"`, `x = "a%"`, "x = \"a$", "x = \"a%", "x = \"a\\", "x = \"a\\\nb\"", "x = \"a\r\nb\"",
		"\"$é\"", "\"$$$${\"", "\"\\$\\\"\\x\"", "\"a\n\"", "\"a\r\"", "\"\r\r\n\nb\"", "\"$\r\n\"",
		"\"$$\"", "\"$\"", "\"%\"", "\"\\\"", "\"\\", "\"$", "\"$${", "\"$$", "\"$$$", "\"${", "\"${~", "\"$${~}\"",
		"x = <<EOT\nabc$x\n$\n%\n$${\n  EOT\nEOT\n",
		"x = <<EOT\nabc\n$", "x = <<EOT\nabc\n$x", "x = <<EOT\n${a}EOT\nEOT\n", "x = <<EOT\r\nabc\r\nEOT\r\n",
		"x = <<EOT\na$\n%\nEOT", "x = <<EOT\nEOT", "x=<<EOT\n\n\nEOT\n", "x = <<EOT\n  $${a}\n EOT \nEOT\n",
		"<<EOT\n$xy\n$x$y\n$$\n$%{\n%$\n$é\n$\"\n$$x\n$ \n$\r\n$x\r\n$${~\n$${ab\n%%{\n%x\nEOT\n",
		"<<EOT\n$x", "<<EOT\n$", "<<EOT\nab", "<<EOT\n$$", "<<EOT\n$${", "<<EOT\n$\n", "<<EOT\n$x\nEOT\n",
		"<<EOT\n  EOT  \n", "<<EOT\nEOT\u00a0\n", "<<EOT\n$xEOT\nEOT\n", "<<EOT\nEOT$x\nEOT\n",
		"<<EOT\n${a}\nEOT\n", "<<EOT\nx${a}\nEOT\n", "<<EOT\n$${ab\nEOT\n", "<<EOT\n$\r\nEOT\n",
		"<<EOT\n$\n\nEOT\n", "<<EOT\n%$\nEOT\n", "<<EOT\n%xy\nEOT\n", "<<EOT\n$\rx\nEOT\n", "<<EOT\n$x\rEOT\n",
		"<<EOT\n%%{~x\nEOT\n", "<<EOT\n$${~\nEOT\n", "<<EOT\n$$${\nEOT\n", "<<EOT\n$%x\nEOT\n", "<<EOT\n$$$\nEOT\n",
		"<<EOT\n$\"x\nEOT\n", "<<EOT\n $x\n EOT\n", "<<EOT\nEOT\r\n", "<<EOT\nEOT\r", "<<EOT\n$\r", "<<EOT\nx\r",
		"<<EOT\n\r\nEOT\r\n", "<<EOT\n\rEOT\n", "<<EOT\n%", "<<A\n<<B\n", "<<-EOT\n  a\n  EOT\n", "<<EOT x\n",
		"<<EOT", "<<", "<", "<<-", "<<-E\n", "<<é\nx\né\n", "<<aé-1\nx\naé-1\n", "<<\u00b7\n",
		"x = \"${<<EOT\na\nEOT\n}\"", "<<EOT\n${\"a\"}\nEOT\n", "<<EOT\n${\n<<X\nin\nX\n}\nEOT\n", "<<EOT\n%{if}\nEOT\n",
		"/* a", "/* a */ b", "/*/ c", "/* a */ /* b", "/**/", "// c\r\nx", "# c", "x = \"a\" # c\r\n", "/ / * *",
		"a\rb", "1.e5 1..5 1. 1e+ 1e+5x 0x10 a-1 a.0.1 1E-7 9e 9e-", "~} x ~ }", "x = \"${a ~}\"", "x = \"${ {} }\"",
		"${", "}", "}}{{", "x = \"${ { ~} }\"", "x = \"${ { ~} } }\"", "x = \"%{~ if a ~}\"", "é1 _a é-1 \u00b7a a\u00b7 \u0301", "a\u200db",
		"a == b != c <= d >= e && f || g => h :: i ... j ** k & l | m ^ n ; o ` p ' q @ r $ s \\ t \x00 \x7f \f",
		"x = [for a, b in c : a => b...]\ny = a ? b : c\nz = !a && -b\n",
		"guest \"a\" {\n  x = 1\n}\n\nguest \"b\" {\n  y = [\n    1,\n  ]\n}\n",
		"x = \"${\"${\"${1}\"}\"}\"\n",
	}
	examples, _ := filepath.Glob("../examples/*.hcl")
	corpus, _ := filepath.Glob("testdata/fuzz/FuzzLoad/*")
	for _, name := range append(examples, corpus...) {
		src, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		if strings.HasPrefix(name, "testdata/") {
			src = corpusBytes(t, src)
		}
		cases = append(cases, string(src))
	}
	for _, c := range cases {
		if utf8.ValidString(c) {
			checkScannerIsTheLexer(t, []byte(c))
		}
	}
}

// corpusBytes decodes a file of the fuzzing engine's corpus (one []byte).
func corpusBytes(t *testing.T, file []byte) []byte {
	t.Helper()
	_, rest, ok := strings.Cut(string(file), "\n[]byte(")
	if !ok {
		t.Fatalf("not a corpus file: %.40q", file)
	}
	var s string
	if _, err := fmt.Sscanf(strings.TrimSuffix(strings.TrimSpace(rest), ")"), "%q", &s); err != nil {
		t.Fatalf("corpus file: %v", err)
	}
	return []byte(s)
}

// checkPartsAreTheWhole fails when parsing src in parts gives another
// body than parsing it whole, or parses in parts a file the parser has
// diagnostics for.
func checkPartsAreTheWhole(t *testing.T, src []byte, cutEvery int) {
	t.Helper()
	cuts, diags := checkComplexity(src, "t.hcl", cutEvery)
	if diags.HasErrors() {
		return
	}
	whole, wdiags := hclsyntax.ParseConfig(src, "t.hcl", hcl.InitialPos)
	parts := parseInParts(src, "t.hcl", cuts)
	switch {
	case parts == nil:
		return
	case len(wdiags) > 0:
		t.Fatalf("%q: parsed in %d parts, but the parser says %s", src, len(cuts)+1, describe(wdiags))
	case !reflect.DeepEqual(parts.Body, whole.Body):
		t.Fatalf("%q: parsed in %d parts (at %v), the body differs from the whole file's", src, len(cuts)+1, cuts)
	}
}

// TestPartsAreTheWhole parses files in parts as small as they come (a cut
// after every top-level item) and checks each gives the body of the whole.
func TestPartsAreTheWhole(t *testing.T) {
	cases := []string{
		"host \"h\" {\n  node = \"pve\"\n}\nguest \"a\" {\n  vmid = 100\n}\n",
		"\ufeff# lead\n\nx = 1\ny = <<EOT\n  a\nEOT\n\nz = [\n  1,\n]\n/* c */\nw = { a = \"${b}\" }\n",
		"x = 1\nx = 2\n",
		"x = 1\n}\ny = 2\n",
		"guest \"a\" {\n",
		"a = b\n(\nc = d\n)\n",
		"x = 1\r\ny = 2\r\n",
	}
	examples, _ := filepath.Glob("../examples/*.hcl")
	for _, name := range examples {
		src, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		cases = append(cases, string(src))
	}
	for _, c := range cases {
		checkPartsAreTheWhole(t, []byte(c), 1)
	}
	if cuts, _ := checkComplexity([]byte(cases[0]), "t.hcl", 1); !reflect.DeepEqual(cuts, []int{28}) {
		t.Errorf("cuts of two items = %v, want [28] (after the first)", cuts)
	}
}

// TestScannerIsTheLexerOnFragments compares the scanner with the lexer on
// random strings of the fragments where the lexer's modes change and its
// rules meet: signs, braces, quotes, heredoc markers, line breaks,
// escapes and comments. The seed is fixed, so a failure repeats.
func TestScannerIsTheLexerOnFragments(t *testing.T) {
	fragments := []string{
		"$", "%", "{", "}", "~", "\"", "\n", "\r", "\r\n", "<<EOT\n", "<<-EOT\n", "EOT", " EOT ", "${", "%{",
		"\\", "#", "//", "/*", "*/", " ", "\t", "a", "1", "e", "-", "+", ".", "[", "]", "(", ")", "=", "!", "<", ">",
		"é", "\u00b7", "if", "endif", "for", "x = ", "<<", ":", "?", "&", "|",
	}
	rng := rand.New(rand.NewPCG(20, 26))
	n := 20000
	if testing.Short() {
		n = 2000
	}
	var b strings.Builder
	for range n {
		b.Reset()
		for range 1 + rng.IntN(24) {
			b.WriteString(fragments[rng.IntN(len(fragments))])
		}
		checkScannerIsTheLexer(t, []byte(b.String()))
	}
}
