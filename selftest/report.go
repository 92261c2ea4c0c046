// Package selftest is the health check of one host that 'felhom-converge
// selftest' runs: local checks (the clock, the trust root, the state
// directory, the token file), read-only checks of the Proxmox API (the
// version, the node, the guests, the storage, the token's privileges) and,
// when asked, the task check (a snapshot of one guest, a rollback to it and
// its deletion).
//
// Checks are data: a name and a func, run in sections by a [Report], which
// keeps one line per check and renders them as text (each line as it comes)
// or as one JSON document. Nothing but the task check changes the host.
package selftest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/felhom/felhom-converge/humanize"
	"github.com/felhom/felhom-converge/proxmox"
)

// Check is one line of the health report.
type Check struct {
	Name string
	// Run checks and says what it found. It returns ErrSkipped (with the
	// detail saying why) when it had nothing to do, a Warning when it
	// passed with a reservation, and any other error when it failed.
	Run func(ctx context.Context) (detail string, err error)
	// Cleanup checks run even after an earlier check failed (they undo
	// what the earlier ones did); the others are skipped then.
	Cleanup bool
	// Gate checks stop the section when they fail: nothing after them
	// can succeed (no connection, the token refused, the wrong node).
	Gate bool
}

// ErrSkipped is returned by a check that had nothing to do.
var ErrSkipped = errors.New("skipped")

// Finding is a check failure that leaves the later checks meaningful:
// about what the host answered, or a setting missing.
type Finding string

func (f Finding) Error() string { return string(f) }

// Warning is a check that passed with a reservation: it is reported and
// counted, but does not fail the selftest.
type Warning string

func (w Warning) Error() string { return string(w) }

// Results of a check.
const (
	ResultOK   = "ok"
	ResultWarn = "warn"
	ResultFail = "fail"
	ResultSkip = "skip"
)

// Report collects the check lines. Its JSON form is the stable document
// of 'selftest --json'.
type Report struct {
	FormatVersion string    `json:"format_version"`
	Time          time.Time `json:"time"`
	TaskGuest     int       `json:"task_guest,omitempty"`
	Checks        []Line    `json:"checks"`
	Failed        int       `json:"failed"`
	Warnings      int       `json:"warnings"`
	Passed        bool      `json:"passed"`
	live          io.Writer // nil: no line is printed as it comes
}

// Line is one check's outcome: Result is ok, warn, fail or skip.
type Line struct {
	Section string `json:"section"` // local, host or task
	Name    string `json:"name"`
	Result  string `json:"result"`
	Detail  string `json:"detail"`
}

// NewReport starts a report made at now; taskGuest is the guest of the
// task check (0: none). Lines are printed on live as they come (nil: not).
func NewReport(now time.Time, taskGuest int, live io.Writer) *Report {
	return &Report{FormatVersion: "1", Time: now.UTC().Truncate(time.Second), TaskGuest: taskGuest, Checks: []Line{}, live: live}
}

// Add records one line, and prints it when the report is live.
func (r *Report) Add(section, name, result, detail string) {
	r.Checks = append(r.Checks, Line{Section: section, Name: name, Result: result, Detail: detail})
	switch result {
	case ResultFail:
		r.Failed++
	case ResultWarn:
		r.Warnings++
	}
	r.Passed = r.Failed == 0
	if r.live != nil {
		shown := result
		if result == ResultFail {
			shown = "FAIL"
		}
		fmt.Fprintf(r.live, "  %-4s  %-12s %s\n", shown, name, detail)
	}
}

// Run runs the checks of a section in order, adds one line per check and
// returns how many failed. With stopOnFailure, only cleanup checks run
// after a failure; without it, the rest are still skipped after a failed
// gate check, or once the host cannot be reached or refuses the token
// (every check would fail the same way).
func (r *Report) Run(ctx context.Context, section string, checks []Check, stopOnFailure bool) int {
	failed, stop := 0, false
	for _, ck := range checks {
		if (stop || stopOnFailure && failed > 0) && !ck.Cleanup {
			r.Add(section, ck.Name, ResultSkip, "an earlier check failed")
			continue
		}
		detail, err := ck.Run(ctx)
		var warn Warning
		switch {
		case errors.Is(err, ErrSkipped):
			r.Add(section, ck.Name, ResultSkip, detail)
		case errors.As(err, &warn):
			r.Add(section, ck.Name, ResultWarn, string(warn))
		case err != nil:
			failed++
			stop = ck.Gate || !answered(err) || unauthorized(err)
			r.Add(section, ck.Name, ResultFail, explain(err))
		default:
			r.Add(section, ck.Name, ResultOK, detail)
		}
	}
	return failed
}

// WriteJSON writes the report as one indented JSON document.
func (r *Report) WriteJSON(w io.Writer) error {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(w, "%s\n", b)
	return err
}

// WriteSummary writes the text report's closing line.
func (r *Report) WriteSummary(w io.Writer) {
	warned := ""
	if r.Warnings > 0 {
		warned = ", " + humanize.Plural(r.Warnings, "warning")
	}
	if r.Failed > 0 {
		fmt.Fprintf(w, "%d check(s) failed%s\n", r.Failed, warned)
	} else {
		fmt.Fprintf(w, "all checks passed%s\n", warned)
	}
}

// unauthorized reports whether Proxmox refused the token itself (401).
func unauthorized(err error) bool {
	var apiErr *proxmox.APIError
	return errors.As(err, &apiErr) && apiErr.Status == 401
}

// answered reports whether err came from a host that answered (a refusal,
// a failed task, a finding) rather than from not reaching it at all.
func answered(err error) bool {
	var apiErr *proxmox.APIError
	var taskErr *proxmox.TaskError
	var f Finding
	return errors.As(err, &apiErr) || errors.As(err, &taskErr) || errors.As(err, &f)
}

// explain renders an error for the report, naming a missing privilege when
// Proxmox named one.
func explain(err error) string {
	var apiErr *proxmox.APIError
	var taskErr *proxmox.TaskError
	switch {
	case errors.As(err, &apiErr) && apiErr.Privilege != "":
		return fmt.Sprintf("permission denied: the token lacks %s on %s", apiErr.Privilege, apiErr.ACLPath)
	case errors.As(err, &taskErr) && taskErr.Privilege != "":
		return fmt.Sprintf("task failed, permission denied: the token lacks %s on %s", taskErr.Privilege, taskErr.ACLPath)
	}
	return err.Error()
}
