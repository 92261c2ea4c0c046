package main

// validate and fmt: the desired-state commands that need no host, network
// or config, so a GitOps repository's CI can run them. The work, file by
// file, is schema's (ValidateFiles, FormatFiles).

import (
	"context"
	"io"
	"strconv"

	"github.com/felhom/felhom-converge/humanize"
	"github.com/felhom/felhom-converge/progress"
	"github.com/felhom/felhom-converge/schema"
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
	var r *schema.FileReport
	if !c.JSON {
		r = g.fileReport()
	}
	all, failed, err := schema.ValidateFiles(ctx, c.Files, r)
	if err != nil {
		return err
	}
	if c.JSON {
		if err := schema.WriteDiagsJSON(g.stdout, all); err != nil {
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
	unformatted, failed, err := schema.FormatFiles(ctx, c.Files, schema.FormatOptions{Check: c.Check, Diff: c.Diff}, g.fileReport())
	if err != nil {
		return err
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

// fileReport reports validate's and fmt's files: result lines on stdout,
// diagnostics and failures on stderr.
func (g *globals) fileReport() *schema.FileReport {
	return &schema.FileReport{Out: g.stdout, Diags: newDiagPrinter(g), Error: func(msg string) { errorf(g.stderr, "%s", msg) },
		Hint: func(msg string) { hintf(g.stderr, "%s", msg) }}
}

// newDiagPrinter prints diagnostics on stderr: in colour on a terminal
// unless --no-color, NO_COLOR or TERM=dumb says not, as wide as $COLUMNS (80 without).
func newDiagPrinter(g *globals) *schema.DiagPrinter {
	width := uint(80)
	if n, err := strconv.Atoi(g.getenv("COLUMNS")); err == nil && n > 20 {
		width = uint(n)
	}
	return schema.NewDiagPrinter(g.stderr, width, g.color(g.stderr))
}

// color reports whether w may show colour: a terminal, and colour is
// wanted (g.colors).
func (g *globals) color(w io.Writer) bool {
	return progress.IsTerminal(w) && g.colors()
}
