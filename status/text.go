package status

import (
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/felhom/felhom-converge/apply"
	"github.com/felhom/felhom-converge/hub"
	"github.com/felhom/felhom-converge/humanize"
	"github.com/felhom/felhom-converge/printable"
	"github.com/felhom/felhom-converge/trust"
)

// The text form of a report, as 'felhom-converge status' prints it.

// WriteText writes the report as 'felhom-converge status' prints it:
// one labelled line per fact, then the steps that wait or failed, then
// the lock and the journal.
func (rep *Report) WriteText(w io.Writer) {
	now := rep.Time
	fmt.Fprintf(w, "state directory %s\n", rep.StateDir)
	r := rep.LastRun
	label := "last run:      "
	if u := rep.Unfinished; u != nil {
		writeUnfinishedText(w, now, u, rep.Journal, rep.Lock)
		label = "previous run:  "
	}
	switch {
	case r == nil && rep.LastRunError != "":
		fmt.Fprintf(w, "%s unknown: %s\n", label, rep.LastRunError)
	case r == nil && rep.Unfinished != nil:
	case r == nil:
		fmt.Fprintln(w, "last run:       none yet (apply writes last-run.json at the end of every run)")
	default:
		txn := ""
		if r.Txn != "" {
			txn = ", transaction " + r.Txn
		}
		fmt.Fprintf(w, "%s %s (%s): %s, took %s%s\n", label, humanize.Stamp(r.Finished), humanize.Ago(now, r.Finished), r.Result,
			(time.Duration(r.Duration * float64(time.Second))).Round(time.Millisecond), txn)
		if r.Error != "" {
			fmt.Fprintf(w, "                %s\n", r.Error)
		}
		if r.LastSuccess.IsZero() {
			fmt.Fprintln(w, "last success:   none yet")
		} else {
			fmt.Fprintf(w, "last success:   %s (%s)\n", humanize.Stamp(r.LastSuccess), humanize.Ago(now, r.LastSuccess))
		}
	}
	writeDesiredText(w, now, rep.Desired)
	switch {
	case r == nil:
	case !r.Planned && r.StepsAsOf.IsZero():
		fmt.Fprintln(w, "steps:          unknown: no run has planned yet")
	case !r.Planned:
		fmt.Fprintf(w, "(the last run did not plan; the steps below are from the run of %s)\n", humanize.Stamp(r.StepsAsOf))
		writeStepsText(w, now, r)
	default:
		writeStepsText(w, now, r)
	}
	writeJournalHealthText(w, now, rep.Journal, rep.Lock)
}

// writeUnfinishedText is the line of a run that ended without its
// last-run record (killed, or the machine crashed).
func writeUnfinishedText(w io.Writer, now time.Time, u *Unfinished, j JournalHealth, lock LockState) {
	what := "a run"
	switch {
	case u.PID != 0:
		what = fmt.Sprintf("began %s (%s), pid %d", humanize.Stamp(u.Since), humanize.Ago(now, u.Since), u.PID)
	case len(u.Txns) > 0:
		what = "transaction " + strings.Join(u.Txns, ", ") + " was left open"
	}
	fmt.Fprintf(w, "last run:       DID NOT FINISH: %s: killed or crashed before it ended; %s (%s, %s)\n",
		what, whoRecovers(j, lock, "what it left"), humanize.Plural(j.OpenTransactions, "open transaction"), humanize.Plural(j.InFlight, "call")+" in flight")
}

// whoRecovers says who settles what a run left in flight (what): the run
// holding the lock now, or the next run, which first recovers it, unless
// the journal is damaged or lost (then no run starts until it is
// repaired).
func whoRecovers(j JournalHealth, lock LockState, what string) string {
	switch {
	case lock.Held:
		return "the run holding the lock settles " + what
	case j.Exists && !j.Healthy:
		return "the next run refuses to start until the journal is repaired"
	}
	return "the next run recovers " + what + " first"
}

func writeDesiredText(w io.Writer, now time.Time, d *DesiredState) {
	if d == nil {
		return
	}
	switch {
	case d.Error != "":
		fmt.Fprintf(w, "desired file:   %s: %s\n", d.Path, d.Error)
	case !d.Exists:
		fmt.Fprintf(w, "desired file:   %s: does not exist\n", d.Path)
	default:
		fmt.Fprintf(w, "desired file:   %s, changed %s (%s)\n", d.Path, humanize.Stamp(d.Modified), humanize.Ago(now, d.Modified))
	}
	switch p := d.Pull; {
	case d.PullError != "":
		fmt.Fprintf(w, "last pull:      unknown: %s\n", printable.Escape(d.PullError))
	case p == nil:
		fmt.Fprintln(w, "last pull:      none (no pull state beside the desired file)")
	default:
		writePullText(w, now, "last pull:     ", p.LastAttempt, p.LastSuccess, p.LastError, p.LastReason)
		if s := p.Signatures; s != nil {
			writePullText(w, now, "signatures pull:", s.LastAttempt, s.LastSuccess, s.LastError, s.LastReason)
		}
	}
}

// writePullText is one pull's line. The error was cleaned by pull; it is
// escaped again, for a state written by an older version.
func writePullText(w io.Writer, now time.Time, label string, attempt, success time.Time, lastErr string, reason hub.Reason) {
	if lastErr == "" {
		fmt.Fprintf(w, "%s ok %s (%s)\n", label, humanize.Stamp(success), humanize.Ago(now, success))
		return
	}
	last := "never succeeded"
	if !success.IsZero() {
		last = "last success " + humanize.Stamp(success) + " (" + humanize.Ago(now, success) + ")"
	}
	what := "FAILED"
	if reason == hub.Interrupted {
		what = "INTERRUPTED"
	}
	fmt.Fprintf(w, "%s %s %s (%s): %s; %s\n", label, what, humanize.Stamp(attempt), humanize.Ago(now, attempt), printable.Escape(lastErr), last)
}

func writeStepsText(w io.Writer, now time.Time, r *Run) {
	fmt.Fprintf(w, "pending signatures: %d\n", len(r.PendingSignature))
	for _, ps := range r.PendingSignature {
		line := "  " + ps.Op + humanize.GuestLabel(ps.Guest, ps.GuestName)
		if !ps.Since.IsZero() {
			line += ", waiting since " + humanize.Stamp(ps.Since) + " (" + humanize.Ago(now, ps.Since) + ")"
		}
		if !ps.NotAfter.IsZero() {
			line += ", request valid until " + humanize.Stamp(ps.NotAfter)
			if !now.Before(ps.NotAfter) {
				line += " (expired: the next run writes a new one)"
			}
		}
		if ps.Decision != "" {
			line += ", offered signature refused: " + ps.Decision
		}
		fmt.Fprintln(w, line)
		if ps.Request != "" {
			fmt.Fprintf(w, "    sign: %s\n", trust.SignCommand(trust.RoleOperational, ps.Request))
		}
	}
	fmt.Fprintf(w, "pending reboots: %d\n", len(r.PendingReboot))
	for _, pr := range r.PendingReboot {
		fmt.Fprintf(w, "  guest %d: %s (%s)\n", pr.Guest, strings.Join(pr.Keys, ", "), pr.Reboot)
	}
	if len(r.Remaining) > 0 {
		fmt.Fprintf(w, "remaining changes: %d (planned again after the run's rollback, restore or rebuild; the next run makes them)\n", len(r.Remaining))
		for _, rs := range r.Remaining {
			fmt.Fprintf(w, "  %s\n", strings.TrimSpace(rs.Op+humanize.GuestLabel(rs.Guest, rs.GuestName)))
		}
	}
	fmt.Fprintf(w, "failed steps: %d\n", len(r.Failed))
	for _, f := range r.Failed {
		what, msg := f.Op+humanize.GuestLabel(f.Guest, f.GuestName), ": "+f.Error
		if f.Outcome == OutcomePlanError {
			what = "plan error"
			if f.Guest != 0 {
				what += fmt.Sprintf(" (guest %d)", f.Guest)
			}
		} else if f.Outcome != apply.OutcomeFailed {
			what += " " + f.Outcome
			if rest, ok := strings.CutPrefix(f.Error, f.Outcome); ok {
				msg = rest // "interrupted: ...", said once
			}
		}
		fmt.Fprintf(w, "  %s%s\n", strings.TrimSpace(what), msg)
	}
	if len(r.Unmanaged) == 0 {
		fmt.Fprintln(w, "unmanaged guests: none")
	} else {
		ids := make([]string, len(r.Unmanaged))
		for i, v := range r.Unmanaged {
			ids[i] = strconv.Itoa(v)
		}
		fmt.Fprintf(w, "unmanaged guests: %s (not in the desired file, left alone)\n", strings.Join(ids, ", "))
	}
}

func writeJournalHealthText(w io.Writer, now time.Time, h JournalHealth, lock LockState) {
	switch l := lock; {
	case l.Error != "":
		fmt.Fprintf(w, "lock:           unknown: %s\n", l.Error)
	case l.Held && l.PID > 0:
		fmt.Fprintf(w, "lock:           held by pid %d%s since %s (%s): a run is in progress\n", l.PID, holderWhere(l), humanize.Stamp(l.Since), humanize.Ago(now, l.Since))
	case l.Held:
		fmt.Fprintln(w, "lock:           held: a run is in progress")
	default:
		fmt.Fprintln(w, "lock:           free (no run in progress)")
	}
	switch {
	case h.Error != "":
		fmt.Fprintf(w, "journal:        UNREADABLE: %s\n", h.Error)
		return
	case !h.Exists && h.Lost != "":
		fmt.Fprintf(w, "journal:        %s: LOST\n  %s\n", h.Path, h.Lost)
		return
	case !h.Exists:
		fmt.Fprintf(w, "journal:        %s: not written yet (a new state directory: the one-shot jobs and spent signatures of any earlier one are forgotten)\n", h.Path)
		return
	}
	health := "healthy"
	switch {
	case h.Corrupt != "":
		health = "CORRUPT"
	case h.Lost != "":
		health = "LOST"
	}
	fmt.Fprintf(w, "journal:        %s, %s, %s (%d open), %s\n", h.Path, humanize.ByteSize(h.Size), humanize.Plural(h.Transactions, "transaction"), h.OpenTransactions, health)
	if h.InFlight > 0 {
		fmt.Fprintf(w, "  %s in flight: %s\n", humanize.Plural(h.InFlight, "step"), whoRecovers(h, lock, "them"))
	}
	if h.Corrupt != "" {
		fmt.Fprintf(w, "  %s\n", h.Corrupt)
		fmt.Fprintln(w, "  apply and recover refuse to change the host until the journal is repaired")
	}
	if h.Lost != "" {
		fmt.Fprintf(w, "  %s\n", h.Lost)
	}
	if h.TornTail != "" {
		fmt.Fprintf(w, "  %s; the next run cuts it off\n", h.TornTail)
	}
	if t := h.TornSaved; t != nil {
		fmt.Fprintf(w, "  an earlier torn tail (%s) was cut off and kept in %s (%s)\n", humanize.ByteSize(t.Size), t.Path, humanize.Stamp(t.Modified))
	}
}

// holderWhere is " (uid U on HOST)" for a lock holder, as far as known.
func holderWhere(l LockState) string {
	var parts []string
	if l.UID != nil {
		parts = append(parts, fmt.Sprintf("uid %d", *l.UID))
	}
	if l.Host != "" {
		parts = append(parts, "on "+l.Host)
	}
	if len(parts) == 0 {
		return ""
	}
	return " (" + strings.Join(parts, " ") + ")"
}

// WriteJSON writes the report as the indented JSON document of 'status
// --json'.
func (rep *Report) WriteJSON(w io.Writer) error {
	b, err := json.MarshalIndent(rep, "", "  ")
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(w, "%s\n", b)
	return err
}
