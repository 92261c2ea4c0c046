package main

// validate and fmt: the desired-state commands that need no host, network
// or config, so a GitOps repository's CI can run them.

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"strconv"

	"github.com/felhom/felhom-converge/atomicfile"
	"github.com/felhom/felhom-converge/humanize"
	"github.com/felhom/felhom-converge/progress"
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
	for _, f := range schema.DesiredFiles(c.Files) {
		name := f.Name
		_, src, diags, err := f.Load(ctx)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if err != nil {
			failed = true
			all = append(all, schema.FileDiag(name, "Cannot read file", err))
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
		out.Print(src, diags)
		switch errs, warns := schema.CountDiags(diags); {
		case errs > 0:
			errorf(g.stderr, "%s: %s", schema.DisplayName(name), humanize.Plural(errs, "error")+warningsSuffix(warns))
		default:
			fmt.Fprintf(g.stdout, "%s: valid%s\n", schema.DisplayName(name), warningsSuffix(warns))
		}
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
	failed, unformatted := false, 0
	out := newDiagPrinter(g)
	for _, f := range schema.DesiredFiles(c.Files) {
		name := f.Name
		src, formatted, diags, err := f.Format(ctx)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if err != nil {
			errorf(g.stderr, "%v", err)
			failed = true
			continue
		}
		if diags.HasErrors() {
			out.Print(src, diags)
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

func warningsSuffix(n int) string {
	if n == 0 {
		return ""
	}
	return ", " + humanize.Plural(n, "warning")
}
