package apply

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"

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
// one, or were skipped behind such a step) or changes wait for a reboot.
func (r *Result) Pending() bool {
	return r.Count(OutcomePending)+r.Count(OutcomeRefused)+r.Count(OutcomeSkipped) > 0 || r.Outstanding > 0
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
