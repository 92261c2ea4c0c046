// Package status owns the run summary of felhom-converge: the record of
// the last apply run, STATE_DIR/last-run.json (RecordApply,
// SettleRecovered), the report that 'felhom-converge status' prints as text
// or JSON and writes as Prometheus metrics for node-exporter's textfile
// collector, and the bundle of requests waiting for a signature
// (PendingBundle) with the last run's line for each.
//
// It reads only the state directory and the desired file the last run
// named (with the pull state beside it), never the network, so it works
// with the Proxmox API down. It reads the journal without the lock, so it
// is safe while a run is in progress.
//
// # last-run.json
//
// apply writes the record at the end of every run (WriteLastRun), one JSON
// object, atomically (package atomicfile), mode 0600:
//
//	{
//	  "format_version": "1",
//	  "started": "2026-12-01T15:40:00Z",
//	  "finished": "2026-12-01T15:40:02Z",
//	  "duration_seconds": 2.1,
//	  "result": "pending",
//	  "txn": "txn-20261201T154000Z-3f9a0c1e",
//	  "host": "pve-demo",
//	  "desired_file": "/var/lib/felhom-converge/desired/host.hcl",
//	  "planned": true,
//	  "done": 1,
//	  "skipped": 0,
//	  "pending_signature": [{"id": "guest.destroy-110-1a2b3c4d", "op": "guest.destroy", "guest": 110, ...}],
//	  "pending_reboot": [],
//	  "failed": [],
//	  "unmanaged": [120],
//	  "steps_as_of": "2026-12-01T15:40:00Z",
//	  "last_success": "2026-12-01T15:40:02Z"
//	}
//
// Two things carry over from the previous record, because one run alone
// cannot know them: last_success (the end of the last run whose result was
// ok or pending), and for each step pending a signature the time it was
// first seen pending (since), matched by its binding (op, guest, params),
// which survives a request that expired and was written anew. A run that
// stopped before it could plan (the API down, the desired file invalid)
// has planned false; it keeps the previous run's step lists and their
// steps_as_of, since nothing it did changed them.
package status

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/felhom/felhom-converge/apply"
	"github.com/felhom/felhom-converge/atomicfile"
	"github.com/felhom/felhom-converge/journal"
	"github.com/felhom/felhom-converge/ops"
	"github.com/felhom/felhom-converge/plan"
	"github.com/felhom/felhom-converge/trust"
)

const (
	// LastRunFile is the record of the last run, in the state directory.
	LastRunFile = "last-run.json"
	// FormatVersion is the version of last-run.json and of the status
	// report; it changes only when a field changes meaning or goes away.
	FormatVersion = "1"

	maxLastRunSize = 4 << 20
)

// Result is how a run ended.
type Result string

const (
	// ResultOK: the host is converged; nothing waits.
	ResultOK Result = "ok"
	// ResultPending: every step that could run ran; steps wait for an
	// operator's signature or for a reboot (apply's exit 2).
	ResultPending Result = "pending"
	// ResultFailed: a step failed or was interrupted, or the plan had
	// errors that kept steps out of it.
	ResultFailed Result = "failed"
	// ResultError: the run could not go on (the API down, the desired file
	// invalid, the journal refused a record).
	ResultError Result = "error"
	// ResultInterrupted: a signal (SIGTERM from systemd, SIGINT) stopped
	// the run; the next run recovers what it left in flight.
	ResultInterrupted Result = "interrupted"
)

// Successful reports whether a run with this result counts as a success
// (ok or pending): waiting for a signature is the normal state of a host,
// not a failure, and is watched by its own metric.
func (r Result) Successful() bool { return r == ResultOK || r == ResultPending }

// Run is the record of one apply run: last-run.json.
type Run struct {
	FormatVersion string    `json:"format_version"`
	Started       time.Time `json:"started"`
	Finished      time.Time `json:"finished"`
	// Duration is Finished - Started, in seconds.
	Duration float64 `json:"duration_seconds"`
	Result   Result  `json:"result"`
	// Error says why the run could not go on (result error).
	Error       string `json:"error,omitempty"`
	Txn         string `json:"txn,omitempty"`
	Host        string `json:"host,omitempty"`
	DesiredFile string `json:"desired_file,omitempty"`
	// Planned says the run observed the host and made a plan; the lists
	// below are then its own.
	Planned bool `json:"planned"`
	// Done and Skipped count steps that ran, and steps held back behind a
	// pending or failed step they depend on.
	Done             int                `json:"done"`
	Skipped          int                `json:"skipped"`
	PendingSignature []PendingSignature `json:"pending_signature"`
	PendingReboot    []PendingReboot    `json:"pending_reboot"`
	// Remaining are the steps a fresh plan still had after a run whose
	// rollback, restore or rebuild replaced what its plan was made against:
	// the next run makes them (result pending).
	Remaining []RemainingStep `json:"remaining,omitempty"`
	Failed    []FailedStep    `json:"failed"`
	Unmanaged []int           `json:"unmanaged"`
	// StepsAsOf is when the run the lists come from started.
	StepsAsOf time.Time `json:"steps_as_of,omitzero"`
	// LastSuccess is when the last successful run (this one or an
	// earlier one) finished; zero when none has.
	LastSuccess time.Time `json:"last_success,omitzero"`
}

// PendingSignature is a destructive step waiting for an operator's
// signature.
type PendingSignature struct {
	ID        string          `json:"id"` // the action id: the request file's name without .req
	Op        string          `json:"op"`
	Guest     int             `json:"guest,omitempty"`
	GuestName string          `json:"guest_name,omitempty"`
	Params    json.RawMessage `json:"params,omitempty"`
	Request   string          `json:"request,omitempty"` // the request file to sign
	NotAfter  time.Time       `json:"not_after,omitzero"`
	// Reason is the plan's why for the step; Source where in the desired
	// file it comes from (FILE:LINE:COL), when known.
	Reason string `json:"reason,omitempty"`
	Source string `json:"source,omitempty"`
	// Decision is why an offered signature was refused (expired,
	// role_denied, ...); "" when none was offered.
	Decision string `json:"decision,omitempty"`
	// Since is when a run first found this step pending.
	Since time.Time `json:"since"`
}

// PendingReboot is a change written to a guest that takes effect only at
// its next start (plan.Outstanding), unless the run rebooted the guest.
type PendingReboot struct {
	Guest  int      `json:"guest"`
	Keys   []string `json:"keys"`
	Reboot string   `json:"reboot"` // "planned", or why not
}

// RemainingStep is a step of the plan made again after the run.
type RemainingStep struct {
	ID        string `json:"id"`
	Op        string `json:"op"`
	Guest     int    `json:"guest,omitempty"`
	GuestName string `json:"guest_name,omitempty"`
}

// FailedStep is a step that failed or was interrupted, or a plan error
// that kept a guest's steps out of the plan (outcome plan_error).
type FailedStep struct {
	ID        string `json:"id,omitempty"`
	Op        string `json:"op,omitempty"`
	Guest     int    `json:"guest,omitempty"`
	GuestName string `json:"guest_name,omitempty"`
	Outcome   string `json:"outcome"` // failed, interrupted, plan_error
	Error     string `json:"error"`
}

// OutcomePlanError is the outcome of a FailedStep that is a plan error.
const OutcomePlanError = "plan_error"

// FromApply summarises an apply run. p is the plan it ran and res what
// apply.Run returned, both nil when the run stopped before it had them;
// runErr is the error that stopped the run, nil when it ran to its end
// (also when steps failed or wait: that is in res). Started and Finished
// are the caller's to set, and Host and DesiredFile too when there was no
// plan to take them from.
func FromApply(p *plan.Plan, res *apply.Result, runErr error) Run {
	r := Run{Result: ResultOK}
	switch {
	case errors.Is(runErr, context.Canceled):
		r.Result, r.Error = ResultInterrupted, "stopped by a signal before it finished"
	case runErr != nil:
		r.Result, r.Error = ResultError, runErr.Error()
	}
	if p == nil || res == nil {
		if runErr == nil {
			r.Result, r.Error = ResultError, "the run stopped before it applied a plan"
		}
		return r
	}
	r.Planned = true
	r.Txn, r.Host, r.DesiredFile = res.Txn, p.Host, p.DesiredFile
	steps := map[string]*plan.Step{}
	for i := range p.Steps {
		steps[p.Steps[i].ID] = &p.Steps[i]
	}
	r.PendingSignature, r.PendingReboot, r.Failed, r.Unmanaged = []PendingSignature{}, []PendingReboot{}, []FailedStep{}, []int{}
	for _, sr := range res.Steps {
		st := steps[sr.ID]
		name := ""
		if st != nil {
			name = st.GuestName
		}
		switch sr.Outcome {
		case apply.OutcomeDone:
			r.Done++
		case apply.OutcomeSkipped:
			r.Skipped++
		case apply.OutcomePending, apply.OutcomeRefused:
			ps := PendingSignature{ID: sr.ID, Op: sr.Op, Guest: sr.Guest, GuestName: name, Request: sr.Request}
			if sr.Outcome == apply.OutcomeRefused {
				ps.Decision = sr.Decision
			}
			if st != nil {
				ps.Params, ps.Reason, ps.Source = st.Params, st.Reason, st.Source
				if st.NotAfter != nil {
					ps.NotAfter = st.NotAfter.UTC()
				}
			}
			// The request file is the truth: apply may have written a new
			// one (the plan's had expired or was spent).
			if sr.Request != "" {
				if b, err := trust.ReadRegular(sr.Request, 64<<10); err == nil {
					if q, err := trust.ParseRequest(b); err == nil {
						ps.NotAfter, ps.Params = q.NotAfter.UTC(), q.Params
					}
				}
			}
			r.PendingSignature = append(r.PendingSignature, ps)
		case apply.OutcomeFailed, apply.OutcomeInterrupted:
			r.Failed = append(r.Failed, FailedStep{ID: sr.ID, Op: sr.Op, Guest: sr.Guest, GuestName: name, Outcome: sr.Outcome, Error: sr.Message})
		}
	}
	for _, e := range p.Errors {
		f := FailedStep{Outcome: OutcomePlanError, Error: e.String()}
		if e.Guest != nil {
			f.Guest = *e.Guest
		}
		r.Failed = append(r.Failed, f)
	}
	// A planned reboot that ran applied its changes: nothing waits then.
	rebooted := map[int]bool{}
	for _, sr := range res.Steps {
		if sr.Op == ops.GuestReboot && sr.Outcome == apply.OutcomeDone {
			rebooted[sr.Guest] = true
		}
	}
	for _, o := range p.Outstanding {
		if !rebooted[o.Guest] {
			r.PendingReboot = append(r.PendingReboot, PendingReboot{Guest: o.Guest, Keys: o.Keys, Reboot: o.Reboot})
		}
	}
	r.Unmanaged = append(r.Unmanaged, p.Unmanaged...)
	for _, sr := range res.Remaining {
		r.Remaining = append(r.Remaining, RemainingStep{ID: sr.ID, Op: sr.Op, Guest: sr.Guest, GuestName: sr.GuestName})
	}
	switch {
	case runErr != nil:
	case len(r.Failed) > 0:
		r.Result = ResultFailed
	case len(r.PendingSignature) > 0 || len(r.PendingReboot) > 0 || r.Skipped > 0 || len(r.Remaining) > 0:
		r.Result = ResultPending
	}
	return r
}

// WriteLastRun records r as the last run in the state directory stateDir
// (created 0700 when missing, and refused when unsafe, as
// journal.OpenStateDir does), atomically. It sets the format version, the
// duration, and what carries over from the previous record: last_success,
// each pending signature's since, and for a run that did not plan, the
// previous step lists. A previous record that cannot be read is replaced.
func WriteLastRun(stateDir string, r Run) error {
	d, err := journal.OpenStateDir(stateDir)
	if err != nil {
		return fmt.Errorf("last run: %w", err)
	}
	prev, _ := readLastRun(d)
	r.FormatVersion = FormatVersion
	r.Started, r.Finished = r.Started.UTC(), r.Finished.UTC()
	if r.Finished.Before(r.Started) {
		r.Finished = r.Started
	}
	r.Duration = r.Finished.Sub(r.Started).Seconds()
	if prev != nil {
		r.LastSuccess = prev.LastSuccess
	}
	if r.Result.Successful() {
		r.LastSuccess = r.Finished
	}
	if !r.Planned && prev != nil {
		r.PendingSignature, r.PendingReboot, r.Failed, r.Unmanaged = prev.PendingSignature, prev.PendingReboot, prev.Failed, prev.Unmanaged
		r.Remaining = prev.Remaining
		r.StepsAsOf = prev.StepsAsOf
	} else if r.Planned {
		r.StepsAsOf = r.Started
		for i := range r.PendingSignature {
			ps := &r.PendingSignature[i]
			ps.Since = r.Started
			if prev == nil {
				continue
			}
			for _, old := range prev.PendingSignature {
				if old.Op == ps.Op && old.Guest == ps.Guest && sameJSON(old.Params, ps.Params) && !old.Since.IsZero() && old.Since.Before(ps.Since) {
					ps.Since = old.Since
				}
			}
		}
	}
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return fmt.Errorf("last run: %w", err)
	}
	return atomicfile.WriteFile(filepath.Join(d.Path(), LastRunFile), append(b, '\n'), 0o600)
}

// ReadLastRun reads the last run's record from the state directory
// stateDir without writing anything. It returns nil and no error when no
// run has written one yet (or the directory does not exist).
func ReadLastRun(stateDir string) (*Run, error) {
	d, err := journal.InspectStateDir(stateDir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return readLastRun(d)
}

func readLastRun(d *journal.StateDir) (*Run, error) {
	f, err := d.OpenFile(LastRunFile, os.O_RDONLY)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxLastRunSize+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", f.Name(), err)
	}
	if len(b) > maxLastRunSize {
		return nil, fmt.Errorf("%s is larger than %d bytes", f.Name(), maxLastRunSize)
	}
	var r Run
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("%s: %w", f.Name(), err)
	}
	if r.FormatVersion != FormatVersion {
		return nil, fmt.Errorf("%s: format version %q, this felhom-converge reads %q", f.Name(), r.FormatVersion, FormatVersion)
	}
	return &r, nil
}

// sameJSON reports whether a and b are the same JSON text but for
// insignificant white space (the record is written indented).
func sameJSON(a, b json.RawMessage) bool {
	var ca, cb bytes.Buffer
	if json.Compact(&ca, a) != nil || json.Compact(&cb, b) != nil {
		return bytes.Equal(a, b)
	}
	return bytes.Equal(ca.Bytes(), cb.Bytes())
}

// SettleInterrupted records in the last run's record how recovery settled
// its interrupted steps. settled maps an action id to how its calls ended:
// "" when every one ended ok (the step is then no longer listed as
// failed), otherwise the message of the one that did not (the step stays,
// as failed, with that error). Steps recovery did not settle stay as they
// are. Nothing is written when nothing changes.
func SettleInterrupted(stateDir string, settled map[string]string) error {
	d, err := journal.OpenStateDir(stateDir)
	if err != nil {
		return fmt.Errorf("last run: %w", err)
	}
	r, err := readLastRun(d)
	if err != nil || r == nil {
		return err
	}
	changed := false
	kept := r.Failed[:0]
	for _, f := range r.Failed {
		msg, ok := settled[f.ID]
		switch {
		case f.Outcome != "interrupted" || !ok:
			kept = append(kept, f)
		case msg == "":
			changed = true // settled ok: no longer a failure
		default:
			f.Outcome, f.Error = "failed", msg
			kept = append(kept, f)
			changed = true
		}
	}
	if !changed {
		return nil
	}
	r.Failed = kept
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return fmt.Errorf("last run: %w", err)
	}
	return atomicfile.WriteFile(filepath.Join(d.Path(), LastRunFile), append(b, '\n'), 0o600)
}
