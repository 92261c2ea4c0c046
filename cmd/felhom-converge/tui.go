package main

// Output rules, in one place:
//   - results (plans, reports, JSON) go to stdout;
//   - messages go to stderr as "felhom-converge: error: ...", lower case, no
//     final period, with "hint: ..." lines saying what to do next;
//   - HCL problems are rendered as diagnostics with the source snippet;
//   - nothing ever prints the API token.

import (
	"fmt"
	"io"
	"os"
	"time"
)

func errorf(w io.Writer, format string, args ...any) {
	fmt.Fprintf(w, "felhom-converge: error: "+format+"\n", args...)
}

func warnf(w io.Writer, format string, args ...any) {
	fmt.Fprintf(w, "felhom-converge: warning: "+format+"\n", args...)
}

func hintf(w io.Writer, format string, args ...any) {
	fmt.Fprintf(w, "felhom-converge: hint: "+format+"\n", args...)
}

// isTerminal reports whether w is an interactive terminal. Progress lines
// are drawn only there; under a systemd timer output stays line-oriented.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// taskProgress returns a WaitTask progress callback that shows, on a
// terminal only, how long a task has been running, and a func that clears
// the line when the wait is over.
func taskProgress(w io.Writer, what string) (progress func(), done func()) {
	if !isTerminal(w) {
		return func() {}, func() {}
	}
	start := time.Now()
	return func() {
			fmt.Fprintf(w, "\r  ...   %s running for %s ", what, time.Since(start).Round(time.Second))
		}, func() {
			fmt.Fprint(w, "\r\033[K")
		}
}
