package main

// validate and fmt: the desired-state commands that need no host, network
// or config, so a GitOps repository's CI can run them.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/felhom/felhom-converge/atomicfile"
	"github.com/felhom/felhom-converge/humanize"
	"github.com/felhom/felhom-converge/schema"
	"github.com/hashicorp/hcl/v2"
)

type ValidateCmd struct {
	Files []string `arg:"" help:"Desired-state HCL files, or directories of them (*.hcl)."`
	JSON  bool     `help:"Print diagnostics as JSON."`
}

// Run loads each file, under schema.DefaultBudget, and reports every
// problem. Valid files (warnings allowed) are listed on stdout; diagnostics
// go to stderr; with --json a single JSON document goes to stdout instead.
// Exit 1 when any file has an error.
func (c *ValidateCmd) Run(ctx context.Context, g *globals) error {
	var all hcl.Diagnostics
	failed := false
	out := newDiagPrinter(g)
	for _, f := range hclFiles(c.Files) {
		name := f.name
		_, src, diags, err := f.load(ctx)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if err != nil {
			failed = true
			all = append(all, fileDiag(name, "Cannot read file", err))
			if !c.JSON {
				errorf(g.stderr, "%v", err)
			}
			continue
		}
		all = append(all, diags...)
		if diags.HasErrors() {
			failed = true
		}
		if c.JSON {
			continue
		}
		out.print(src, diags)
		switch errs, warns := countDiags(diags); {
		case errs > 0:
			errorf(g.stderr, "%s: %s", schema.DisplayName(name), humanize.Plural(errs, "error")+warningsSuffix(warns))
		default:
			fmt.Fprintf(g.stdout, "%s: valid%s\n", schema.DisplayName(name), warningsSuffix(warns))
		}
	}
	if c.JSON {
		if err := writeDiagsJSON(g.stdout, all); err != nil {
			return err
		}
	}
	if failed {
		return silentError{exitError}
	}
	return nil
}

type FmtCmd struct {
	Files []string `arg:"" help:"Desired-state HCL files to rewrite in place, or directories of them (*.hcl)."`
	Check bool     `help:"Do not write; exit 1 when a file is not in canonical form."`
	Diff  bool     `help:"Print a diff of the changes."`
}

// Run rewrites each file in canonical form and lists the files it changed
// on stdout. With --check nothing is written and a file that is not
// canonical fails the run; --diff shows the change as a unified diff.
// A file that does not parse is reported and left untouched. Each file is
// read and formatted under schema.DefaultBudget.
func (c *FmtCmd) Run(ctx context.Context, g *globals) error {
	failed, unformatted := false, 0
	out := newDiagPrinter(g)
	for _, f := range hclFiles(c.Files) {
		name := f.name
		src, formatted, diags, err := f.format(ctx)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if err != nil {
			errorf(g.stderr, "%v", err)
			failed = true
			continue
		}
		if diags.HasErrors() {
			out.print(src, diags)
			errorf(g.stderr, "%s: not formatted: the file does not parse", schema.DisplayName(name))
			failed = true
			continue
		}
		if bytes.Equal(src, formatted) {
			continue
		}
		if c.Diff {
			fmt.Fprint(g.stdout, schema.Diff(schema.DisplayName(name), src, formatted))
		} else {
			fmt.Fprintln(g.stdout, schema.DisplayName(name))
		}
		if c.Check {
			unformatted++
			continue
		}
		if err := rewriteFile(name, formatted); err != nil {
			errorf(g.stderr, "%v", err)
			failed = true
		}
	}
	if unformatted > 0 {
		errorf(g.stderr, "%s not in canonical form", humanize.Plural(unformatted, "file"))
		hintf(g.stderr, "run 'felhom-converge fmt FILE...' to rewrite them")
		failed = true
	}
	if failed {
		return silentError{exitError}
	}
	return nil
}

// hclFiles expands each directory among names to the *.hcl entries
// directly in it, in name order, as a GitOps repository's CI would pass
// them; other names are kept as given. A directory without any *.hcl file
// is kept too, so reading it reports the mistake. An entry that is not a
// regular file (a FIFO, a directory named x.hcl) is kept as well: reading
// it reports that, without blocking, as that entry's problem.
func hclFiles(names []string) []desiredFile {
	var out []desiredFile
	for _, name := range names {
		if info, err := os.Stat(name); err == nil && info.IsDir() {
			if matches, _ := filepath.Glob(filepath.Join(name, "*.hcl")); len(matches) > 0 {
				for _, m := range matches { // Glob sorts
					out = append(out, desiredFile{name: m, entry: true})
				}
				continue
			}
		}
		out = append(out, desiredFile{name: name})
	}
	return out
}

// desiredFile is one file validate or fmt works on: a name given, or an
// entry of a directory given (entry).
type desiredFile struct {
	name  string
	entry bool
}

// load loads the file under schema.DefaultBudget. A directory given
// (hclFiles keeps one only when it has no *.hcl files) is refused as such;
// an entry that is not a regular file is refused by schema.ReadFile.
func (f desiredFile) load(ctx context.Context) (*schema.Host, []byte, hcl.Diagnostics, error) {
	if err := f.emptyDir(); err != nil {
		return nil, nil, nil, err
	}
	return schema.LoadBudgeted(ctx, f.name, schema.DefaultBudget)
}

// format formats the file as load loads it.
func (f desiredFile) format(ctx context.Context) (src, formatted []byte, diags hcl.Diagnostics, err error) {
	if err := f.emptyDir(); err != nil {
		return nil, nil, nil, err
	}
	return schema.FormatBudgeted(ctx, f.name, schema.DefaultBudget)
}

func (f desiredFile) emptyDir() error {
	if f.entry {
		return nil
	}
	return notADesiredStateDir(f.name)
}

func notADesiredStateDir(name string) error {
	if info, err := os.Stat(name); err == nil && info.IsDir() {
		return fmt.Errorf("read desired state: %s is a directory without *.hcl files", schema.DisplayName(name))
	}
	return nil
}

// readDesiredState reads a file with schema.ReadFile: a regular file, not
// read past the size bound; a directory is one without *.hcl files.
// Loading it should go through schema.LoadBudgeted, which reads it too.
func readDesiredState(name string) ([]byte, error) {
	if err := notADesiredStateDir(name); err != nil {
		return nil, err
	}
	return schema.ReadFile(name) // Load and Format report a file over the bound
}

// rewriteFile replaces name with data through a temporary file in the same
// directory, keeping the file's mode, so a crash leaves the old or the new
// file, never half of one.
func rewriteFile(name string, data []byte) error {
	info, err := os.Stat(name)
	if err != nil {
		return fmt.Errorf("rewrite %s: %w", name, err)
	}
	return atomicfile.WriteFile(name, data, info.Mode().Perm())
}

// diagPrinter renders diagnostics on stderr: a "FILE:LINE:COL: summary"
// line an editor can jump to ("FILE:LINE:COL: warning: summary" for a
// warning), then hcl's rendering of the source snippet and the detail.
// Colour marks the range on a terminal; elsewhere a line of carets under the
// snippet does.
type diagPrinter struct {
	w     io.Writer
	width uint
	color bool
}

func newDiagPrinter(g *globals) *diagPrinter {
	p := &diagPrinter{w: g.stderr, width: 80}
	if f, ok := g.stderr.(*os.File); ok {
		if st, err := f.Stat(); err == nil && st.Mode()&os.ModeCharDevice != 0 {
			p.color = g.colors()
		}
	}
	if n, err := strconv.Atoi(g.getenv("COLUMNS")); err == nil && n > 20 {
		p.width = uint(n)
	}
	return p
}

// snippetBudget bounds the bytes hcl's writer scans for snippets: it reads
// the file from the start for each diagnostic, so fifty problems deep in a
// 4 MiB file would take a minute of CPU. The writer gets the file only up
// to the end of the snippet's last line, and past the budget a diagnostic
// is printed without its snippet.
const snippetBudget = 4 << 20

func (p *diagPrinter) print(src []byte, diags hcl.Diagnostics) {
	var parsed map[string]*hcl.File
	budget := snippetBudget
	var clean []byte // src with control characters replaced, for snippets
	for _, d := range diags {
		files := map[string]*hcl.File{}
		d = displayDiag(d)
		if cut := snippetEnd(src, d); cut > 0 && cut <= budget {
			budget -= cut
			if parsed == nil {
				parsed = schema.Files(src, d.Subject.Filename) // once per file
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
// (schema.DisplayName).
func displayDiag(d *hcl.Diagnostic) *hcl.Diagnostic {
	out := *d
	for _, r := range []**hcl.Range{&out.Subject, &out.Context} {
		if *r != nil && schema.DisplayName((*r).Filename) != (*r).Filename {
			c := **r
			c.Filename = schema.DisplayName(c.Filename)
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
	sc.Buffer(nil, schema.MaxFileSize+1024)
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
	return fmt.Sprintf("%s:%d:%d: ", schema.DisplayName(r.Filename), r.Start.Line, r.Start.Column)
}

func severity(s hcl.DiagnosticSeverity) string {
	if s == hcl.DiagWarning {
		return "warning"
	}
	return "error"
}

func countDiags(diags hcl.Diagnostics) (errs, warns int) {
	for _, d := range diags {
		if d.Severity == hcl.DiagError {
			errs++
		} else {
			warns++
		}
	}
	return errs, warns
}

func warningsSuffix(n int) string {
	if n == 0 {
		return ""
	}
	return ", " + humanize.Plural(n, "warning")
}

// fileDiag turns a file-level failure into a diagnostic that names the file.
func fileDiag(name, summary string, err error) *hcl.Diagnostic {
	return &hcl.Diagnostic{
		Severity: hcl.DiagError,
		Summary:  summary,
		Detail:   err.Error(),
		Subject:  &hcl.Range{Filename: name, Start: hcl.InitialPos, End: hcl.InitialPos},
	}
}

// The JSON form of validate's output.
type jsonDiags struct {
	Valid        bool       `json:"valid"`
	ErrorCount   int        `json:"error_count"`
	WarningCount int        `json:"warning_count"`
	Diagnostics  []jsonDiag `json:"diagnostics"`
}

type jsonDiag struct {
	Severity string     `json:"severity"`
	Summary  string     `json:"summary"`
	Detail   string     `json:"detail,omitempty"`
	Range    *jsonRange `json:"range,omitempty"`
}

type jsonRange struct {
	Filename string  `json:"filename"`
	Start    jsonPos `json:"start"`
	End      jsonPos `json:"end"`
}

type jsonPos struct {
	Line   int `json:"line"`
	Column int `json:"column"`
	Byte   int `json:"byte"`
}

func writeDiagsJSON(w io.Writer, diags hcl.Diagnostics) error {
	errs, warns := countDiags(diags)
	doc := jsonDiags{Valid: errs == 0, ErrorCount: errs, WarningCount: warns, Diagnostics: []jsonDiag{}}
	for _, d := range diags {
		jd := jsonDiag{Severity: severity(d.Severity), Summary: d.Summary, Detail: d.Detail}
		if r := d.Subject; r != nil {
			jd.Range = &jsonRange{
				Filename: r.Filename,
				Start:    jsonPos{r.Start.Line, r.Start.Column, r.Start.Byte},
				End:      jsonPos{r.End.Line, r.End.Column, r.End.Byte},
			}
		}
		doc.Diagnostics = append(doc.Diagnostics, jd)
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(doc); err != nil {
		return fmt.Errorf("write diagnostics: %w", err)
	}
	return nil
}
