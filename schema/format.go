package schema

import (
	"bytes"
	"fmt"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclwrite"
)

// Format returns src in canonical form (hclwrite's layout: indentation,
// aligned equals signs, spacing). It refuses input that does not parse, so
// a broken file is reported rather than reshuffled. Formatting canonical
// input returns it unchanged.
func Format(src []byte, filename string) ([]byte, hcl.Diagnostics) {
	if _, diags := parse(src, filename); diags.HasErrors() {
		return nil, tidyDiags(diags)
	}
	return hclwrite.Format(src), nil
}

// Diff returns a unified diff from a to b, labelled with name, or "" when
// they are equal. It is meant for showing what Format changes, so it works
// on lines and keeps three lines of context.
func Diff(name string, a, b []byte) string {
	if bytes.Equal(a, b) {
		return ""
	}
	x, y := splitLines(a), splitLines(b)
	edits := lcsEdits(x, y)
	var out strings.Builder
	fmt.Fprintf(&out, "--- %s\n+++ %s (formatted)\n", name, name)
	const context = 3
	for i := 0; i < len(edits); {
		// Find the next change.
		for i < len(edits) && edits[i].op == ' ' {
			i++
		}
		if i == len(edits) {
			break
		}
		start := max(i-context, 0)
		// Extend the hunk while changes are within 2*context lines.
		end := i
		for end < len(edits) {
			if edits[end].op != ' ' {
				end++
				continue
			}
			run := end
			for run < len(edits) && edits[run].op == ' ' {
				run++
			}
			if run == len(edits) || run-end > 2*context {
				end = min(end+context, len(edits))
				break
			}
			end = run
		}
		h := edits[start:end]
		fmt.Fprintf(&out, "@@ -%s +%s @@\n", hunkRange(h[0].ai, count(h, '-')), hunkRange(h[0].bi, count(h, '+')))
		for _, e := range h {
			out.WriteByte(e.op)
			out.WriteString(e.text)
			if !strings.HasSuffix(e.text, "\n") {
				out.WriteString("\n\\ No newline at end of file\n")
			}
		}
		i = end
	}
	return out.String()
}

type edit struct {
	op     byte // ' ', '-' or '+'
	text   string
	ai, bi int // line index in a and b where this edit sits
}

func count(edits []edit, op byte) int {
	n := 0
	for _, e := range edits {
		if e.op == ' ' || e.op == op {
			n++
		}
	}
	return n
}

func hunkRange(start, n int) string {
	if n == 0 {
		return fmt.Sprintf("%d,0", start)
	}
	return fmt.Sprintf("%d,%d", start+1, n)
}

func splitLines(b []byte) []string {
	if len(b) == 0 {
		return nil
	}
	return strings.SplitAfter(string(b), "\n")[:strings.Count(string(b), "\n")+boolInt(!bytes.HasSuffix(b, []byte("\n")))]
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// lcsEdits computes a line edit script from x to y by longest common
// subsequence. It is quadratic, which is fine for files under MaxFileSize
// that a formatter changes; for very large inputs it falls back to
// replacing everything.
func lcsEdits(x, y []string) []edit {
	var out []edit
	if len(x)*len(y) > 16<<20 {
		for i, l := range x {
			out = append(out, edit{'-', l, i, 0})
		}
		for j, l := range y {
			out = append(out, edit{'+', l, len(x), j})
		}
		return out
	}
	// lcs[i][j] is the LCS length of x[i:] and y[j:].
	lcs := make([][]int, len(x)+1)
	for i := range lcs {
		lcs[i] = make([]int, len(y)+1)
	}
	for i := len(x) - 1; i >= 0; i-- {
		for j := len(y) - 1; j >= 0; j-- {
			if x[i] == y[j] {
				lcs[i][j] = lcs[i+1][j+1] + 1
			} else {
				lcs[i][j] = max(lcs[i+1][j], lcs[i][j+1])
			}
		}
	}
	i, j := 0, 0
	for i < len(x) || j < len(y) {
		switch {
		case i < len(x) && j < len(y) && x[i] == y[j]:
			out = append(out, edit{' ', x[i], i, j})
			i++
			j++
		case j < len(y) && (i == len(x) || lcs[i][j+1] > lcs[i+1][j]):
			out = append(out, edit{'+', y[j], i, j})
			j++
		default:
			out = append(out, edit{'-', x[i], i, j})
			i++
		}
	}
	return out
}
