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
