package main

// Output rules, in one place:
//   - results (plans, reports, JSON) go to stdout;
//   - messages go to stderr as "felhom-converge: error: ...", lower case, no
//     final period, with "hint: ..." lines saying what to do next;
//   - log records (audit entries, run start and end) go to stderr through
//     the run's slog logger (logging.go): text on a terminal, JSON lines
//     otherwise;
//   - HCL problems are rendered as diagnostics with the source snippet;
//   - progress is drawn in place on one line, on a terminal only (package
//     progress);
//   - nothing ever prints the API token.

import (
	"fmt"
	"io"

	"github.com/felhom/felhom-converge/trust"
)

func errorf(w io.Writer, format string, args ...any) {
	fmt.Fprintf(w, "felhom-converge: error: "+format+"\n", args...)
}

func warnf(w io.Writer, format string, args ...any) {
	fmt.Fprintf(w, "felhom-converge: warning: "+format+"\n", args...)
}

// warn is warnf on stderr, for a library's Warn option.
func (g *globals) warn(msg string) { warnf(g.stderr, "%s", msg) }

// report is a library's trust.Report: result lines on stdout, messages
// on stderr.
func (g *globals) report() trust.Report {
	return trust.Report{Out: g.stdout, Warn: g.warn,
		Error: func(m string) { errorf(g.stderr, "%s", m) }, Hint: func(m string) { hintf(g.stderr, "%s", m) }}
}

func hintf(w io.Writer, format string, args ...any) {
	fmt.Fprintf(w, "felhom-converge: hint: "+format+"\n", args...)
}

// colors reports whether color is wanted (on a terminal, which the
// caller checks): not with --no-color, NO_COLOR or TERM=dumb.
func (g *globals) colors() bool {
	return !g.noColor && g.getenv("NO_COLOR") == "" && g.getenv("TERM") != "dumb"
}
