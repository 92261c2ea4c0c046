package schema

// validate and fmt, file by file: each file a command line names (a
// directory: its *.hcl files) is loaded or formatted under DefaultBudget
// and reported on its own, so one bad file does not hide the others.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/felhom/felhom-converge/atomicfile"
	"github.com/felhom/felhom-converge/humanize"
	"github.com/hashicorp/hcl/v2"
)

// FileReport is where ValidateFiles and FormatFiles report each file: its
// result line on Out, its diagnostics through Diags, the line of a file
// that fails through Error, and what to do about a file that cannot be
// read (a MissingFileError's hint) through Hint, when set.
type FileReport struct {
	Out   io.Writer
	Diags *DiagPrinter
	Error func(string)
	Hint  func(string)
}

// ValidateFiles loads each file of names (DesiredFiles) and reports it:
// "NAME: valid" on Out, with its warnings counted, or its diagnostics and
// "NAME: N errors" through Error; with a nil r it reports nothing
// (validate --json). It returns every diagnostic (a file it cannot read is
// one too) and whether any file failed; err is ctx's error when ctx ended
// the run.
func ValidateFiles(ctx context.Context, names []string, r *FileReport) (all hcl.Diagnostics, failed bool, err error) {
	for _, f := range DesiredFiles(names) {
		_, src, diags, err := f.Load(ctx)
		if ctx.Err() != nil {
			return nil, false, ctx.Err()
		}
		if err != nil {
			failed = true
			all = append(all, FileDiag(f.Name, "Cannot read file", err))
			r.failRead(err)
			continue
		}
		all = append(all, diags...)
		if diags.HasErrors() {
			failed = true
		}
		if r == nil {
			continue
		}
		r.Diags.Print(src, diags)
		switch errs, warns := CountDiags(diags); {
		case errs > 0:
			r.fail("%s: %s", DisplayName(f.Name), humanize.Plural(errs, "error")+warningsSuffix(warns))
		default:
			fmt.Fprintf(r.Out, "%s: valid%s\n", DisplayName(f.Name), warningsSuffix(warns))
		}
	}
	return all, failed, nil
}

// FormatOptions are fmt's: Check writes nothing, Diff shows each change
// as a unified diff instead of the file's name.
type FormatOptions struct{ Check, Diff bool }

// FormatFiles rewrites each file of names (DesiredFiles) in canonical
// form, atomically and keeping its mode, and names each file it changes
// (or, with o.Check, would change) on Out. A file that does not parse is
// reported with its diagnostics and left untouched. It returns how many
// files o.Check found not canonical and whether any file failed; err is
// ctx's error when ctx ended the run.
func FormatFiles(ctx context.Context, names []string, o FormatOptions, r *FileReport) (unformatted int, failed bool, err error) {
	for _, f := range DesiredFiles(names) {
		name := DisplayName(f.Name)
		src, formatted, diags, err := f.Format(ctx)
		if ctx.Err() != nil {
			return 0, false, ctx.Err()
		}
		if err != nil {
			r.failRead(err)
			failed = true
			continue
		}
		if diags.HasErrors() {
			r.Diags.Print(src, diags)
			r.fail("%s: not formatted: the file does not parse", name)
			failed = true
			continue
		}
		if bytes.Equal(src, formatted) {
			continue
		}
		if o.Diff {
			fmt.Fprint(r.Out, Diff(name, src, formatted))
		} else {
			fmt.Fprintln(r.Out, name)
		}
		if o.Check {
			unformatted++
			continue
		}
		if err := rewriteFile(f.Name, formatted); err != nil {
			r.fail("%v", err)
			failed = true
		}
	}
	return unformatted, failed, nil
}

// failRead reports a file that could not be read, with the hint of a
// missing one.
func (r *FileReport) failRead(err error) {
	r.fail("%v", err)
	var missing *MissingFileError
	if r != nil && r.Hint != nil && errors.As(err, &missing) {
		r.Hint(missing.Hint())
	}
}

func (r *FileReport) fail(format string, args ...any) {
	if r != nil {
		r.Error(fmt.Sprintf(format, args...))
	}
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

func warningsSuffix(n int) string {
	if n == 0 {
		return ""
	}
	return ", " + humanize.Plural(n, "warning")
}
