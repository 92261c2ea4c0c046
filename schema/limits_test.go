package schema

import (
	"fmt"
	"math"
	"math/big"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
)

// TestHostileInputIsBounded feeds the shapes of expression that make hcl's
// recursive parser or evaluator overflow the stack when repeated enough (a
// fatal error, not a panic: the process dies; 100000 levels of "[" did,
// before the bound existed). Each must be refused with one diagnostic. n
// is just past the bounds, to keep the test fast under -race.
func TestHostileInputIsBounded(t *testing.T) {
	const n = maxOperators + 1
	tests := []struct {
		name, expr, wantSummary string
	}{
		{"nested brackets", strings.Repeat("[", n), "Nesting too deep"},
		{"nested parentheses", strings.Repeat("(", n) + "1" + strings.Repeat(")", n), "Nesting too deep"},
		{"nested calls", strings.Repeat("lower(", n) + `"a"` + strings.Repeat(")", n), "Nesting too deep"},
		{"nested interpolation", strings.Repeat(`"${`, n), "Nesting too deep"},
		{"nested template directives", `"` + strings.Repeat("%{ if true }", n) + `"`, "Nesting too deep"},
		{"chained unary operators", strings.Repeat("!", n) + "true", "Too many operators"},
		{"chained binary operators", strings.Repeat("1+", n) + "1", "Too many operators"},
		{"chained conditionals", strings.Repeat("true ? 1 : ", n) + "2", "Too many operators"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := []byte(hostBlock + "locals {\n  x = " + tt.expr + "\n}\n")
			for _, run := range []func() hcl.Diagnostics{
				func() hcl.Diagnostics { _, d := Load(src, "deep.hcl"); return d },
				func() hcl.Diagnostics { _, d := Format(src, "deep.hcl"); return d },
			} {
				diags := run()
				if len(diags) != 1 || diags[0].Summary != tt.wantSummary || diags[0].Subject.Start.Line != 5 {
					t.Errorf("diags = %s", describe(diags))
				}
			}
		})
	}
}

// TestDiagnosticsAreCapped checks that a file with a problem per line
// reports a bounded number of them and says how many were left out.
func TestDiagnosticsAreCapped(t *testing.T) {
	src := hostBlock + "guest \"a\" {\n  vmid = 100\n" + strings.Repeat("  x = 1\n", 1) + "}\n" +
		strings.Repeat("bogus {\n}\n", 200)
	_, diags := Load([]byte(src), "many.hcl")
	if len(diags) != maxDiags+1 {
		t.Fatalf("got %d diagnostics, want %d", len(diags), maxDiags+1)
	}
	last := diags[maxDiags]
	if last.Summary != "Too many problems" || !strings.Contains(last.Detail, "151 more problems") || last.Severity != hcl.DiagError {
		t.Errorf("last = %s: %s", last.Summary, last.Detail)
	}
	if diags[0].Summary != "Unsupported argument" {
		t.Errorf("first problem in the file should come first, got %q", diags[0].Summary)
	}
}

// TestAmplificationIsBounded feeds small files whose expressions would
// build huge values: each doubling step of a local, or each nested loop,
// multiplies what a few bytes ask for, and an unbounded evaluation took
// 24 GiB of memory for a 1 KiB file. Each case sits just past the bounds,
// so without them it loads (and the test fails) instead of exhausting the
// machine.
func TestAmplificationIsBounded(t *testing.T) {
	doubling := func(first, step string, n int) string {
		var b strings.Builder
		b.WriteString("locals {\n  a0 = " + first + "\n")
		for i := 1; i <= n; i++ {
			prev := "local.a" + strconv.Itoa(i-1)
			b.WriteString("  a" + strconv.Itoa(i) + " = " + strings.ReplaceAll(step, "PREV", prev) + "\n")
		}
		return b.String() + "}\n"
	}
	list100 := "[" + strings.Repeat("1, ", 99) + "1]"
	manyRefs := "locals {\n  big = \"" + strings.Repeat("x", 512<<10) + "\"\n"
	for i := range 70 {
		manyRefs += "  r" + strconv.Itoa(i) + " = local.big\n"
	}
	manyRefs += "}\n"
	tests := []struct {
		name, src, wantSummary string
	}{
		{"template doubling through locals", doubling(`"`+strings.Repeat("x", 64)+`"`, `"${PREV}${PREV}"`, 15), "Value too large"},
		{"concat doubling through locals", doubling("[1, 2, 3, 4]", "concat(PREV, PREV)", 15), "Value too large"},
		{"nested for expressions", "locals {\n  l = " + list100 + "\n  x = [for a in local.l : [for b in local.l : [for c in local.l : \"xxxxxxxx\"]]]\n}\n", "Value too large"},
		{"nested template loops", "locals {\n  l = " + list100 + "\n  x = \"%{for a in local.l}%{for b in local.l}%{for c in local.l}x%{endfor}%{endfor}%{endfor}\"\n}\n", "Value too large"},
		{"join with a long separator", "locals {\n  sep = \"" + strings.Repeat("x", 1024) + "\"\n  l = " + list100 + "\n  x = join(local.sep, [for i in local.l : [for j in local.l : \"y\"]][0])\n  y = join(local.sep, concat(local.l, local.l, local.l, local.l, local.l, local.l, local.l, local.l, local.l, local.l))\n}\n", "Value too large"},
		{"format padding", "locals {\n  x = format(\"%2000000d\", 1)\n}\n", "Value too large"},
		{"a computed format string", "locals {\n  f = \"%d\"\n  x = format(local.f, 1)\n}\n", "Value too large"},
		{"many references to one large local", manyRefs, "Values too large"},
		// The bound itself must be cheap: a bound taken twice per loop
		// level would take 2^30 steps here.
		// Each join's separator is another join: bounding it twice per
		// level would take 2^30 steps.
		{"deeply nested joins", "locals {\n  x = " + strings.Repeat("join(", 30) + `"a"` + strings.Repeat(`, ["b", "c"])`, 30) + "\n}\n", "Value too large"},
		{"deeply nested for expressions", "locals {\n  l = " + list100 + "\n  x = " + strings.Repeat("[for v in local.l : ", 30) + "1" + strings.Repeat("]", 30) + "\n}\n", "Value too large"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, diags := Load([]byte(hostBlock+tt.src), "amp.hcl")
			if h != nil || !diags.HasErrors() {
				t.Fatalf("loaded; want %q", tt.wantSummary)
			}
			var found bool
			for _, d := range diags {
				found = found || d.Summary == tt.wantSummary
			}
			if !found {
				t.Errorf("diags = %s, want %q", describe(diags), tt.wantSummary)
			}
		})
	}
}

// TestOrdinaryExpressionsAreNotBounded checks that the bounds leave room
// for what real files do: a local used by every guest, loops over a short
// list, a formatted description.
func TestOrdinaryExpressionsAreNotBounded(t *testing.T) {
	var b strings.Builder
	names := make([]string, 100)
	for i := range names {
		names[i] = fmt.Sprintf("%q", strings.Repeat("n", 100))
	}
	b.WriteString(hostBlock + "locals {\n  mem = \"2G\"\n  tags = [\"prod\", \"office\"]\n  desc = \"" + strings.Repeat("d", 8000) + "\"\n")
	// A loop over a hundred longer strings: its bound must not count every
	// element as large as the whole list.
	b.WriteString("  names = [" + strings.Join(names, ", ") + "]\n  upper = [for n in local.names : upper(n)]\n}\n")
	for i := range 500 {
		fmt.Fprintf(&b, "guest \"g%d\" {\n  vmid = %d\n  memory = local.mem\n  tags = [for t in local.tags : upper(t)]\n  description = format(\"%%s (%%d)\", local.desc, %d)\n}\n", i, 100+i, i)
	}
	if _, diags := Load([]byte(b.String()), "ok.hcl"); diags.HasErrors() {
		t.Fatalf("diags = %s", describe(diags))
	}
}

// TestManyLocalsLoadInLinearTime loads twenty thousand local values, each
// using the next, declared in the worst order for a pass-until-done
// evaluator (which took minutes: one pass per value). Dependency order
// makes it linear.
func TestManyLocalsLoadInLinearTime(t *testing.T) {
	const n = 20000
	var b strings.Builder
	b.WriteString(hostBlock + "locals {\n")
	for i := 1; i < n; i++ {
		fmt.Fprintf(&b, "  a%d = local.a%d\n", i, i+1)
	}
	fmt.Fprintf(&b, "  a%d = 1\n  whole = local\n}\n", n)
	done := make(chan hcl.Diagnostics, 1)
	go func() { _, diags := Load([]byte(b.String()), "many.hcl"); done <- diags }()
	select {
	case diags := <-done:
		if len(diags) != 0 {
			t.Errorf("diags = %s", describe(diags))
		}
	case <-time.After(20 * time.Second):
		t.Fatal("loading 20000 chained locals took over 20s")
	}
}

// TestNumberLiterals checks the bound on number literals, which is applied
// to their text before anything parses them: a literal such as
// 1e600000000 parsed quickly but took hours to print.
func TestNumberLiterals(t *testing.T) {
	for _, ok := range []string{"0", "102", "0.5", "1e6", "1.5e3", "0.000001", "1e-6", "9223372036854775808", "9.223372036854775808e18", "000000000000000000000000000001", "1000000e-6"} {
		if detail := checkNumberLiteral(ok); detail != "" {
			t.Errorf("%s refused: %s", ok, detail)
		}
	}
	for _, bad := range []string{"1e600000000", "1e-1000000", "1e1000000", "9223372036854775809", "1e19", "0.0000001", "1e-7", "12345678901234567890123456789012345", "9223372036854775808.5", "1e00000000000000019"} {
		if checkNumberLiteral(bad) == "" {
			t.Errorf("%s accepted", bad)
		}
	}
}

// TestHostileNumbersAndStrings feeds the classes of input that cost hours
// of CPU or gigabytes before their bounds existed. Each must be refused
// with the named problem, fast.
func TestHostileNumbersAndStrings(t *testing.T) {
	guest := func(body string) string { return hostBlock + "guest \"a\" {\n  vmid = 100\n" + body + "\n}\n" }
	squares := "locals {\n  a0 = 1e18\n"
	for i := 1; i <= 20; i++ {
		squares += fmt.Sprintf("  a%d = local.a%d * local.a%d\n", i, i-1, i-1)
	}
	squares += "}\n"
	tests := []struct {
		name, src, wantSummary string
	}{
		{"huge exponent", guest("  cores = 1e600000000"), "Number out of range"},
		{"tiny exponent", guest("  memory = 1e-1000000"), "Number out of range"},
		{"huge number in a template", guest(`  description = "x${1e30000000}"`), "Number out of range"},
		{"long number", guest("  cores = " + strings.Repeat("1", 40)), "Number out of range"},
		{"squaring through locals", hostBlock + squares, "Number too large"},
		{"a string of a huge number in arithmetic", guest(`  cores = "1e600000000" + 0`), "String used as a number"},
		{"a built string in arithmetic", guest(`  cores = "${"1e"}${"600000000"}" * 1`), "String used as a number"},
		{"a local string in arithmetic", hostBlock + "locals {\n  s = \"" + strings.Repeat("7", 100000) + "\"\n  n = local.s + 1\n}\n", "String used as a number"},
		{"a long string compared", hostBlock + "locals {\n  s = \"" + strings.Repeat("7", 100000) + "\"\n  n = local.s < 1\n}\n", "String used as a number"},
		{"a string through min", guest(`  cores = min("1e600000000", 1)`), "String used as a number"},
		{"a string through format %d", guest(`  description = format("%d", "1e600000000")`), "String used as a number"},
		{"a string as a list index", hostBlock + "locals {\n  l = [1]\n  s = \"1e600000000\"\n  x = local.l[local.s]\n}\n", "String used as a number"},
		{"a looped string in arithmetic", hostBlock + "locals {\n  l = [\"1e600000000\"]\n  x = [for v in local.l : v + 1]\n}\n", "String used as a number"},
		{"format re-using an argument", hostBlock + "locals {\n  s = \"" + strings.Repeat("x", 4000) + "\"\n  x = format(\"" + strings.Repeat("%[1]s", 300) + "\", local.s)\n}\n", "Value too large"},
		{"format %v escapes", hostBlock + "locals {\n  s = [\"" + strings.Repeat("<", 200000) + "\"]\n  x = format(\"%v\", local.s)\n}\n", "Value too large"},
		{"many heredoc lines", hostBlock + "locals {\n  x = <<EOT\n" + strings.Repeat("line\n", maxTemplateParts+1) + "EOT\n}\n", "String too complex"},
		{"many escapes", hostBlock + "locals {\n  x = \"" + strings.Repeat("$${", maxTemplateParts+1) + "\"\n}\n", "String too complex"},
		{"long lines times many", hostBlock + "locals {\n  x = <<EOT\n" + strings.Repeat(strings.Repeat("y", 40<<10)+"\n", 100) + "EOT\n}\n", "String too complex"},
		{"too many tokens", hostBlock + strings.Repeat("\n", maxTokens), "Too many tokens"},
		{"too many carriage returns", hostBlock + strings.Repeat("\r", maxTokens), "Too many tokens"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			start := time.Now()
			h, diags := Load([]byte(tt.src), "hostile.hcl")
			if h != nil || !diags.HasErrors() {
				t.Fatalf("loaded; want %q", tt.wantSummary)
			}
			if len(diags) != 1 || diags[0].Summary != tt.wantSummary || diags[0].Subject == nil {
				t.Errorf("diags = %s, want one %q", describe(diags), tt.wantSummary)
			}
			for _, d := range diags {
				if len(d.Detail) > 1000 {
					t.Errorf("a detail of %d bytes", len(d.Detail))
				}
			}
			if elapsed := time.Since(start); elapsed > 10*time.Second {
				t.Errorf("took %s", elapsed)
			}
		})
	}
}

// TestOrdinaryNumbersAndStrings checks what the number and string bounds
// leave alone: arithmetic on numbers and short number strings, formats
// that use each argument once, an ordinary heredoc.
func TestOrdinaryNumbersAndStrings(t *testing.T) {
	src := hostBlock + `locals {
  base = 512
  nums = [1, 2, 3]
  doubled = [for n in local.nums : n * 2]
  desc = <<EOT
    A guest.
    Second line, $${not interpolated}.
EOT
}
guest "a" {
  vmid        = "100" + 2
  cores       = max(local.nums...) - 1
  memory      = local.base * 4
  swap        = 2 * 1024 * 1024 * 1024 / 1024 / 1024 / 1024 * 256
  description = format("%s %d %[1]s %.1[3]f", local.desc, 3, 2.5)
}
`
	h, diags := Load([]byte(src), "ok.hcl")
	if diags.HasErrors() {
		t.Fatalf("diags = %s", describe(diags))
	}
	g := h.Guests[0]
	if g.VMID != 102 || g.Memory != 2048 {
		t.Errorf("guest = %+v", g)
	}
}

// TestNumberTextIsBounded checks what a diagnostic prints for a number.
func TestNumberTextIsBounded(t *testing.T) {
	big10 := func(s string) *big.Float {
		f, _, err := big.ParseFloat(s, 10, 512, big.ToNearestEven)
		if err != nil {
			t.Fatal(err)
		}
		return f
	}
	for in, want := range map[string]string{
		"105":          "105",
		"105.5":        "105.5",
		"1e30":         "1e+30",
		"1e-30":        "1e-30",
		"1e600000":     "a number too large to use",
		"1e-600000":    "a number too small to use",
		"123456789e20": "1.23457e+28",
	} {
		if got := numberText(big10(in)); got != want {
			t.Errorf("numberText(%s) = %q, want %q", in, got, want)
		}
	}
}

// TestDiagnosticTextIsBounded loads values of a megabyte where a
// diagnostic quotes them: the diagnostic stays short.
func TestDiagnosticTextIsBounded(t *testing.T) {
	long := strings.Repeat("é", 500_000)
	src := "host \"" + long + "\" {\n  node = \"" + long + "\"\n}\n"
	_, diags := Load([]byte(src), "long.hcl")
	if !diags.HasErrors() {
		t.Fatal("loaded")
	}
	for _, d := range diags {
		if len(d.Summary) > maxSummaryText || len(d.Detail) > maxDetailText || !utf8.ValidString(d.Detail) {
			t.Errorf("diagnostic of %d+%d bytes: %.100s", len(d.Summary), len(d.Detail), d.Detail)
		}
	}
}

// TestTokenScanBoundsTheLexer checks the scan that bounds a file's tokens
// before parsing against the lexer, on the places where a comment-looking
// line is not a comment: in strings, heredocs, interpolations and block
// comments. FuzzLoad checks the same on whatever it finds.
func TestTokenScanBoundsTheLexer(t *testing.T) {
	for _, src := range []string{
		"x = \"a # ${1+1+1+1}\"\n",
		"x = \"\n# ${1+1+1+1+1+1}\n\"\n",
		"x = \"\n# a b c d\" + 1 + 1 + 1\n",
		"/* a\n# b */ x = 1 + 1 + 1 + 1\n",
		"x = <<EOT\n# 100% $5 %% $$ %{ if true }a%{ endif }\n# plain\nEOT\n",
		"x = [\n  # a comment\n  1, 2, 3, # another\n  // and another\n]\n",
		"x = \"${\n# inside an interpolation\n1 + 2}\"\n",
		"# a\r\n# b\r\nx = 1\r\n",
		"#\n#\n#",
		"x = 1e5 + 0x1 + 1a + a1 + é + \u2192\u2192\n",
		"\r\r", "x = 1\r\r\r\n\r \r",
	} {
		counted, _ := countTokens([]byte(src), math.MaxInt)
		tokens, _ := hclsyntax.LexConfig([]byte(src), "t.hcl", hcl.InitialPos)
		if len(tokens) > counted {
			t.Errorf("%q: the lexer made %d tokens, the scan counted %d", src, len(tokens), counted)
		}
	}
	// Comments are cheap: a 4 MiB file of them is within the bound.
	comments := []byte(strings.Repeat("# padding padding padding padding padding padding\n", 4<<20/52))
	if at := tokenBoundAt(comments); at >= 0 {
		t.Errorf("4 MiB of comments refused at %d", at)
	}
}

// TestSuggestionsAreBounded checks the per-file budget of "did you mean"
// over the file's guests: thousands of jobs naming undeclared guests among
// thousands of guests took minutes, each compared with every guest.
func TestSuggestionsAreBounded(t *testing.T) {
	guests := make([]Guest, 5000)
	for i := range guests {
		guests[i].Name = fmt.Sprintf("guest-%d", i)
	}
	d := &decoder{}
	if got := d.didYouMeanGuest("guest-7x", guests); got != ` Did you mean "guest-7"?` {
		t.Errorf("first suggestion = %q", got)
	}
	calls := 0
	for d.didYouMeanGuest("guest-7x", guests) != "" {
		if calls++; calls > 10000 {
			t.Fatal("suggestions never stop")
		}
	}
	if work := int64(calls+2) * int64(len(guests)) * 9 * 12; work < maxSuggestWork/2 {
		t.Errorf("stopped after %d calls, well before the budget", calls)
	}
}
