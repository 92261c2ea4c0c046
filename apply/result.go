package apply

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/felhom/felhom-converge/ops"
	"github.com/felhom/felhom-converge/plan"
)

// Step outcomes.
const (
	OutcomeDone        = "done"
	OutcomeFailed      = "failed"
	OutcomePending     = "pending_signature"
	OutcomeRefused     = "refused" // a signature was offered and rejected (Decision says why)
	OutcomeSkipped     = "skipped"
	OutcomeInterrupted = "interrupted"
	// OutcomeRemaining is a step of a fresh plan made after the run
	// (Result.Remaining), not one the run had.
	OutcomeRemaining = "remaining"
)

// StepResult is what happened to one plan step.
type StepResult struct {
	ID       string `json:"id"`
	Op       string `json:"op"`
	Guest    int    `json:"guest,omitempty"`
	Decision string `json:"decision,omitempty"`
	Outcome  string `json:"outcome"`
	Message  string `json:"message,omitempty"`
	UPID     string `json:"upid,omitempty"`
	Request  string `json:"request,omitempty"` // the request file to sign, for a pending step
	// GuestName is the guest's name in the desired state (for a step of
	// Result.Remaining).
	GuestName string `json:"guest_name,omitempty"`
}

// Result is the outcome of one run.
type Result struct {
	Txn   string       `json:"txn"`
	Steps []StepResult `json:"steps"`
	// Unmatched lists signed requests that match no planned step.
	Unmatched []string `json:"unmatched,omitempty"`
	// Outstanding counts changes that wait for a reboot that may not be
	// done (from the plan).
	Outstanding int `json:"outstanding"`
	// Remaining lists the steps a fresh plan still has after a run whose
	// rollback, restore or rebuild replaced what its plan was made against
	// (Replaced): the next run makes them (outcome OutcomeRemaining).
	Remaining []StepResult `json:"remaining,omitempty"`
}

// Replaced reports whether a step of the run replaced a guest's config
// and data wholesale (a snapshot rollback, a restore over, a rebuild): a
// plan made before it no longer describes the host.
func (r *Result) Replaced() bool {
	for _, s := range r.Steps {
		switch s.Op {
		case ops.SnapshotRollback, ops.GuestRestoreOver, ops.GuestRebuild:
			if s.Outcome == OutcomeDone {
				return true
			}
		}
	}
	return false
}

// Count returns how many steps ended with outcome.
func (r *Result) Count(outcome string) int {
	n := 0
	for _, s := range r.Steps {
		if s.Outcome == outcome {
			n++
		}
	}
	return n
}

// Failed reports whether a step failed (or was interrupted).
func (r *Result) Failed() bool {
	return r.Count(OutcomeFailed)+r.Count(OutcomeInterrupted) > 0
}

// Pending reports whether steps wait for a signature (or were refused
// one, or were skipped behind such a step), changes wait for a reboot, or
// a fresh plan after the run still has steps.
func (r *Result) Pending() bool {
	return r.Count(OutcomePending)+r.Count(OutcomeRefused)+r.Count(OutcomeSkipped) > 0 || r.Outstanding > 0 || len(r.Remaining) > 0
}

// Summary is the run's last line.
func (r *Result) Summary() string {
	parts := []string{fmt.Sprintf("%d done", r.Count(OutcomeDone))}
	for _, o := range []string{OutcomePending, OutcomeRefused, OutcomeFailed, OutcomeInterrupted, OutcomeSkipped} {
		if n := r.Count(o); n > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", n, strings.ReplaceAll(o, "_", " ")))
		}
	}
	if r.Outstanding > 0 {
		parts = append(parts, fmt.Sprintf("%d waiting for a reboot", r.Outstanding))
	}
	return "apply: " + strings.Join(parts, ", ")
}

// PlanID is the id of a plan: the SHA-256 of its JSON, hex.
func PlanID(p *plan.Plan) string {
	b, _ := json.Marshal(p)
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// unplannedReboots counts the guests whose pending changes wait for a
// reboot the plan does not include (a planned reboot is a step, counted by
// its own outcome).
func unplannedReboots(p *plan.Plan) int {
	n := 0
	for _, o := range p.Outstanding {
		if o.Reboot != plan.RebootPlanned {
			n++
		}
	}
	return n
}
