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
	s := &scanner{src: src, out: func(ty hclsyntax.TokenType, start, end int) bool {
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
	if diagText(diags, true) != diagText(c.diags, true) {
		t.Fatalf("%q: the bounds on the scan say %s, on the lexer's tokens %s", src, diagText(diags, true), diagText(c.diags, true))
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
	cases = append(cases, exampleFiles(t)...)
	corpus, _ := filepath.Glob("testdata/fuzz/FuzzLoad/*")
	for _, name := range corpus {
		src, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		cases = append(cases, string(corpusBytes(t, src)))
	}
	for _, c := range cases {
		if utf8.ValidString(c) {
			checkScannerIsTheLexer(t, []byte(c))
		}
	}
}

// exampleFiles returns the text of every example desired state.
func exampleFiles(t *testing.T) []string {
	t.Helper()
	names, _ := filepath.Glob("../examples/*.hcl")
	var out []string
	for _, name := range names {
		src, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, string(src))
	}
	return out
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

// diagText spells out diagnostics: severity, summary, the exact range of
// the subject and, withDetail, the detail (hcl's "did you mean" for a
// function name picks among equally close names in map order).
func diagText(diags hcl.Diagnostics, withDetail bool) string {
	var b strings.Builder
	for _, d := range diags {
		fmt.Fprintf(&b, "%d %s", d.Severity, d.Summary)
		if withDetail {
			fmt.Fprintf(&b, ": %s", d.Detail)
		}
		if d.Subject != nil {
			fmt.Fprintf(&b, " @%s %#v %#v", d.Subject.Filename, d.Subject.Start, d.Subject.End)
		}
		b.WriteString("\n")
	}
	return b.String()
}

// checkPartsAreTheWhole fails when loading src in parts as small as they
// come (a cut after every top-level item) gives another host, other
// diagnostics or another cost than loading it whole, or when a file the
// parser has nothing to say about is not loaded in parts.
func checkPartsAreTheWhole(t *testing.T, src []byte) {
	t.Helper()
	if layout, diags := checkComplexity(src, "t.hcl", 1); !diags.HasErrors() && utf8.Valid(src) {
		_, pdiags := hclsyntax.ParseConfig(src, "t.hcl", hcl.InitialPos)
		if len(pdiags) == 0 && !parseParts(src, "t.hcl", layout.cuts, newLoader(layout.lastLocals).part) {
			t.Fatalf("%q: parses, but was not loaded in parts (%+v)", src, layout)
		}
	}
	h1, diags1, spent1 := loadInParts(src, "t.hcl", 1)
	h0, diags0, spent0 := loadInParts(src, "t.hcl", 0)
	if !reflect.DeepEqual(h1, h0) || diagText(diags1, false) != diagText(diags0, false) || spent1 != spent0 {
		t.Fatalf("%q: loaded in parts:\n%s(%d spent) %+v\nloaded whole:\n%s(%d spent) %+v", src, diagText(diags1, true), spent1, h1, diagText(diags0, true), spent0, h0)
	}
}

// TestPartsAreTheWhole loads files in parts as small as they come and
// checks each loads as it does whole: the local values wherever they are
// (guests wait for the last locals block), problems in parts, top-level
// attributes set twice, files that do not parse.
func TestPartsAreTheWhole(t *testing.T) {
	guest := func(name string, vmid int, mem string) string {
		return fmt.Sprintf("guest %q {\n  vmid = %d\n  memory = %s\n}\n", name, vmid, mem)
	}
	cases := []string{
		hostBlock + guest("a", 100, "512"),
		"locals {\n  m = 1024\n}\n" + hostBlock + guest("a", 100, "local.m") + guest("b", 101, "local.m"),
		hostBlock + guest("a", 100, "local.m") + "locals {\n  m = 1024\n}\n" + guest("b", 101, "local.m"),
		guest("a", 100, "local.m") + "locals {\n  m = local.n\n}\n" + guest("b", 101, "local.n") + "locals {\n  n = 64\n}\n" + hostBlock,
		hostBlock + guest("a", 100, "local.missing") + guest("a", 100, "\"1G\"") + guest("c", 100, "8") + "bogus {\n}\n",
		"\ufeff# lead\n\n" + hostBlock + "x = 1\ny = <<EOT\n  a\nEOT\n\nz = [\n  1,\n]\n/* c */\nw = { a = \"${b}\" }\n",
		hostBlock + "x = 1\nx = 2\n",
		hostBlock + "x = 1\n}\ny = 2\n",
		hostBlock + "guest \"a\" {\n",
		hostBlock + "a = b\n(\nc = d\n)\n",
		"x = 1\r\ny = 2\r\n",
		"",
		hostBlock + hostBlock,
	}
	cases = append(cases, exampleFiles(t)...)
	for _, c := range cases {
		checkPartsAreTheWhole(t, []byte(c))
	}
	l, _ := checkComplexity([]byte(cases[2]), "t.hcl", 1)
	if len(l.cuts) != 3 || l.lastLocals != strings.Index(cases[2], "locals") {
		t.Errorf("layout = %+v, want 3 cuts and the locals block at %d", l, strings.Index(cases[2], "locals"))
	}
}

// TestLoaderDecodesGuestsAsTheyCome feeds the loader parts by hand: a
// guest is decoded as soon as its part is read once the local values are
// evaluated, and waits for them otherwise; a part that holds a locals
// block after they were evaluated (the scan missed it) is refused, and
// the file is then loaded whole.
func TestLoaderDecodesGuestsAsTheyCome(t *testing.T) {
	body := func(src string) *hclsyntax.Body {
		file, diags := hclsyntax.ParseConfig([]byte(src), "t.hcl", hcl.InitialPos)
		if diags.HasErrors() {
			t.Fatal(describe(diags))
		}
		return file.Body.(*hclsyntax.Body)
	}
	guest := body("guest \"a\" {\n  vmid = 100\n}\n")
	locals := body("locals {\n  m = 1\n}\n")

	l := newLoader(-1)
	if !l.part(guest, 30) || len(l.h.Guests) != 1 {
		t.Errorf("without locals, the guest was not decoded at once: %d guests", len(l.h.Guests))
	}
	if l.part(locals, 50) {
		t.Error("a locals block after the local values were evaluated was taken")
	}

	l = newLoader(40)
	if !l.part(guest, 30) || len(l.h.Guests) != 0 || len(l.waiting) != 1 {
		t.Errorf("before the last locals block, the guest did not wait: %d guests, %d waiting", len(l.h.Guests), len(l.waiting))
	}
	if !l.part(locals, 50) || len(l.h.Guests) != 1 || len(l.waiting) != 0 || l.d.ctx == nil {
		t.Errorf("after the last locals block, the guest was not decoded: %d guests, %d waiting", len(l.h.Guests), len(l.waiting))
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
