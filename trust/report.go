package trust

import (
	"errors"
	"fmt"
	"io"
	"io/fs"

	"github.com/felhom/felhom-converge/atomicfile"
)

// What 'signatures verify', 'signatures install' and 'pull --signatures'
// report about a request directory, worded once.

// Report is where a report goes: its result lines to Out, and messages
// about them, one line each, to Warn, Error and Hint (the caller adds its
// program's prefix).
type Report struct {
	Out               io.Writer
	Warn, Error, Hint func(string)
}

// DirReadError is a directory of signed requests that cannot be read.
type DirReadError struct{ Err error }

func (e *DirReadError) Error() string { return "read signatures directory: " + e.Err.Error() }
func (e *DirReadError) Unwrap() error { return e.Err }

// VerifyDir checks the signed requests in dir (CheckDir) and reports
// them through r: one line per request on Out, a warning for a signature
// without its request, an error for every other entry that is no request
// pair, and what to do when a request does not verify. A default
// directory (isDefault) may not exist yet: then nothing has been
// requested. ok is false when a request or entry does not verify (that is
// reported already); err is a *DirReadError when dir cannot be read, or
// Check's error after the lines made so far.
func (v *Verifier) VerifyDir(host, hostID, dir string, isDefault bool, r Report) (ok bool, err error) {
	c, err := v.CheckDir(host, hostID, dir)
	if isDefault && errors.Is(err, fs.ErrNotExist) {
		fmt.Fprintf(r.Out, "no signature requests in %s\n", dir)
		return true, nil
	}
	if c == nil {
		return false, &DirReadError{Err: err}
	}
	for _, p := range c.Problems {
		if errors.Is(p.Err, ErrNoRequest) {
			r.Warn(p.Error())
		} else {
			r.Error(dir + "/" + p.Error())
		}
	}
	if c.Total == 0 {
		fmt.Fprintf(r.Out, "no signature requests in %s\n", dir)
		return true, nil
	}
	for _, w := range c.Shared {
		r.Warn(w)
	}
	for _, l := range c.Lines {
		fmt.Fprintln(r.Out, l)
	}
	if err != nil {
		return false, err
	}
	if c.Failed > 0 {
		r.Error(fmt.Sprintf("%d of %d requests do not verify", c.Failed, c.Total))
		if c.Replayed > 0 {
			r.Hint("a signature whose nonce was used (its step ran) is refused for good: remove its .req and .req.sig from " + dir)
		}
		r.Hint("verify checks the signatures; whether a request matches a planned step is decided by apply (plan shows the steps and their requests)")
		return false, nil
	}
	return true, nil
}

// SweepError is a failure to move the spent signatures out of the
// signatures directory; nothing was installed after it.
type SweepError struct{ Err error }

func (e *SweepError) Error() string { return e.Err.Error() }
func (e *SweepError) Unwrap() error { return e.Err }

// InstallReported moves the signed requests whose nonce was spent out of
// the signatures directory (SweepSpent), one line each on out, and then
// installs b's requests (InstallBundle). A failure of the sweep is a
// *SweepError, and nothing is installed.
func (d *RequestDir) InstallReported(v *Verifier, host, hostID string, b *Bundle, out io.Writer) ([]InstallDecision, error) {
	moved, err := d.SweepSpent()
	for _, m := range moved {
		fmt.Fprintln(out, m.Line())
	}
	if err != nil {
		return nil, &SweepError{Err: err}
	}
	return d.InstallBundle(v, host, hostID, b)
}

// Waiting says how many of b's requests wait for a signature on host:
// "no request waits for a signature on pve1", "1 request waits ...",
// "3 requests wait ...".
func (b *Bundle) Waiting(host string) string {
	switch n := len(b.Entries); n {
	case 0:
		return "no request waits for a signature on " + host
	case 1:
		return "1 request waits for a signature on " + host
	default:
		return fmt.Sprintf("%d requests wait for a signature on %s", n, host)
	}
}

// Write writes b to the file path (atomically, mode 0644), or to stdout
// when path is "" or "-".
func (b *Bundle) Write(path string, stdout io.Writer) error {
	if path == "" || path == "-" {
		_, err := stdout.Write(b.Marshal())
		return err
	}
	return atomicfile.WriteFile(path, b.Marshal(), 0o644)
}
