package schema

import (
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"
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
