package apply

import (
	"fmt"
	"io"

	"github.com/felhom/felhom-converge/humanize"
	"github.com/felhom/felhom-converge/trust"
)

// A run's result as people and logs see it besides its step lines: the
// changes a run leaves, and the counts its end is logged with.

// WriteRemaining reports the steps a plan made again after the run still
// has (its rollback, restore or rebuild replaced what the run planned
// against): the run did not converge the host, the next one does.
func (res *Result) WriteRemaining(w io.Writer) {
	if len(res.Remaining) == 0 {
		return
	}
	for _, r := range res.Remaining {
		fmt.Fprintf(w, "%-17s %s%s\n", r.Outcome, r.Op, humanize.GuestLabel(r.Guest, r.GuestName))
		if r.Request != "" {
			fmt.Fprintf(w, "  sign it with: %s\n", trust.SignCommand(trust.RoleOperational, r.Request))
		}
	}
	them := "them"
	if len(res.Remaining) == 1 {
		them = "it"
	}
	fmt.Fprintf(w, "apply: a plan made again after this run's rollback, restore or rebuild still has %s; the next run makes %s\n",
		humanize.Plural(len(res.Remaining), "change"), them)
}

// LogAttrs are the keys an apply's end is logged with: its transaction
// and how many steps ended how; none for a run that has no result.
func (res *Result) LogAttrs() []any {
	if res == nil {
		return nil
	}
	return []any{"txn", res.Txn,
		"done", res.Count(OutcomeDone), "pending", res.Count(OutcomePending),
		"refused", res.Count(OutcomeRefused), "failed", res.Count(OutcomeFailed),
		"skipped", res.Count(OutcomeSkipped), "interrupted", res.Count(OutcomeInterrupted)}
}
