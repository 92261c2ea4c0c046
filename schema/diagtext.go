package schema

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"

	"github.com/hashicorp/hcl/v2"
)

// DiagPrinter renders diagnostics as text: a "FILE:LINE:COL: summary"
// line an editor can jump to ("FILE:LINE:COL: warning: summary" for a
// warning), then hcl's rendering of the source snippet and the detail.
// Colour marks the range on a terminal; elsewhere a line of carets under the
// snippet does.
type DiagPrinter struct {
	w     io.Writer
	width uint
	color bool
}

// NewDiagPrinter prints on w, wrapping at width columns, marking ranges
// in colour (a terminal) or with a line of carets (elsewhere).
func NewDiagPrinter(w io.Writer, width uint, color bool) *DiagPrinter {
	return &DiagPrinter{w: w, width: width, color: color}
}

// SnippetBudget bounds the bytes hcl's writer scans for snippets: it reads
// the file from the start for each diagnostic, so fifty problems deep in a
// 4 MiB file would take a minute of CPU. The writer gets the file only up
// to the end of the snippet's last line, and past the budget a diagnostic
// is printed without its snippet.
const SnippetBudget = 4 << 20

// Print renders diags of the file whose bytes are src.
func (p *DiagPrinter) Print(src []byte, diags hcl.Diagnostics) {
	var parsed map[string]*hcl.File
	budget := SnippetBudget
	var clean []byte // src with control characters replaced, for snippets
	for _, d := range diags {
		files := map[string]*hcl.File{}
		d = displayDiag(d)
		if cut := snippetEnd(src, d); cut > 0 && cut <= budget {
			budget -= cut
			if parsed == nil {
				parsed = Files(src, d.Subject.Filename) // once per file
				clean = maskControls(src)
			}
			if f := parsed[d.Subject.Filename]; f != nil {
				head := *f
				head.Bytes = clean[:cut]
				files[d.Subject.Filename] = &head
			}
		}
		var buf bytes.Buffer
		if err := hcl.NewDiagnosticTextWriter(&buf, files, p.width, p.color).WriteDiagnostic(d); err != nil {
			fmt.Fprintf(p.w, "%s: %s\n", d.Summary, d.Detail)
			continue
		}
		// hcl starts with "Error: summary" and a blank line; the header
		// below says the same with the position in front.
		_, body, _ := strings.Cut(buf.String(), "\n\n")
		if !p.color {
			body = string(maskControls([]byte(body))) // colour codes are the writer's own
		}
		if !p.color && d.Subject != nil {
			body = markRange(body, *d.Subject)
		}
		body = capLines(body, maxSnippetLine)
		label := ""
		if d.Severity == hcl.DiagWarning {
			label = "warning: "
		}
		fmt.Fprintf(p.w, "%s%s%s\n%s", position(d.Subject), label, maskControls([]byte(d.Summary)), body)
	}
}

// displayDiag returns d with its file names fit to print
// (DisplayName).
func displayDiag(d *hcl.Diagnostic) *hcl.Diagnostic {
	out := *d
	for _, r := range []**hcl.Range{&out.Subject, &out.Context} {
		if *r != nil && DisplayName((*r).Filename) != (*r).Filename {
			c := **r
			c.Filename = DisplayName(c.Filename)
			*r = &c
		}
	}
	return &out
}

// maskControls replaces each control character of b but tab and line feed
// (NUL, escape, carriage return, C1 controls) with as many '?' as it has
// bytes, so a snippet cannot drive the terminal or forge a line, and byte
// offsets into it still hold.
func maskControls(b []byte) []byte {
	var out []byte
	for i := 0; i < len(b); {
		r, size := utf8.DecodeRune(b[i:])
		crlf := r == '\r' && i+1 < len(b) && b[i+1] == '\n'
		if (r < 0x20 && r != '\t' && r != '\n' && !crlf) || r == 0x7f || (r >= 0x80 && r < 0xa0) {
			if out == nil {
				out = append(make([]byte, 0, len(b)), b[:i]...)
			}
			out = append(out, bytes.Repeat([]byte("?"), size)...)
		} else if out != nil {
			out = append(out, b[i:i+size]...)
		}
		i += size
	}
	if out == nil {
		return b
	}
	return out
}

// maxSnippetLine bounds each line of a rendered diagnostic: a snippet
// shows whole source lines, and one line may be the whole file.
const maxSnippetLine = 400

// capLines cuts every line of s longer than n bytes (on a character
// boundary), saying so.
func capLines(s string, n int) string {
	if len(s) <= n {
		return s
	}
	lines := strings.SplitAfter(s, "\n")
	for i, l := range lines {
		if line := strings.TrimSuffix(l, "\n"); len(line) > n {
			cut := n
			for cut > 0 && !utf8.RuneStart(line[cut]) {
				cut--
			}
			lines[i] = line[:cut] + " [...]" + l[len(line):]
		}
	}
	return strings.Join(lines, "")
}

// snippetEnd returns the offset just past the last line hcl's writer shows
// for d (the subject's, or its context's), or 0 when d has no subject.
func snippetEnd(src []byte, d *hcl.Diagnostic) int {
	if d.Subject == nil {
		return 0
	}
	end := d.Subject.End.Byte
	if d.Context != nil {
		end = max(end, d.Context.End.Byte)
	}
	end = min(max(end, 0), len(src))
	if i := bytes.IndexByte(src[end:], '\n'); i >= 0 {
		return end + i + 1
	}
	return len(src)
}

// markRange puts a line of carets under the subject in hcl's snippet, for
// output without colour. A range over several lines is marked to the end
// of its first line.
func markRange(body string, subj hcl.Range) string {
	prefix := fmt.Sprintf("%4d: ", subj.Start.Line)
	var out strings.Builder
	sc := bufio.NewScanner(strings.NewReader(body))
	sc.Buffer(nil, MaxFileSize+1024)
	marked := false
	for sc.Scan() {
		line := sc.Text()
		out.WriteString(line + "\n")
		if marked || !strings.HasPrefix(line, prefix) {
			continue
		}
		marked = true
		src := []rune(strings.TrimPrefix(line, prefix))
		var pad strings.Builder
		pad.WriteString(strings.Repeat(" ", len(prefix)))
		for i := 0; i < subj.Start.Column-1 && i < len(src); i++ {
			if src[i] == '\t' {
				pad.WriteByte('\t')
			} else {
				pad.WriteByte(' ')
			}
		}
		n := subj.End.Column - subj.Start.Column
		if subj.End.Line != subj.Start.Line {
			n = len(src) - (subj.Start.Column - 1)
		}
		n = max(n, 1)
		out.WriteString(pad.String() + strings.Repeat("^", n) + "\n")
	}
	return out.String()
}

func position(r *hcl.Range) string {
	if r == nil {
		return ""
	}
	return fmt.Sprintf("%s:%d:%d: ", DisplayName(r.Filename), r.Start.Line, r.Start.Column)
}
