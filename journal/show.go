package journal

import (
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/felhom/felhom-converge/humanize"
)

// The listing of a journal that 'felhom-converge journal show' prints.

// Listing is what 'felhom-converge journal show' prints of the journal at
// Path: Journal as read (nil when there is none yet), Corrupt when reading
// stopped at damage (Journal is then what precedes it), and only the Last
// transactions when Last is above 0.
type Listing struct {
	Path    string
	Journal *Journal
	Corrupt *CorruptError
	Last    int
	// Held lists, by transaction, the steps that did not run: held for a
	// signature or refused (the audit log records them; the journal
	// records only what ran).
	Held map[string][]Held
	// Keep is safety.keep: a safety copy is removed by the first apply
	// once it is older (0: not said).
	Keep time.Duration
}

// Held is a step a run's gate held back: Decision is pending_signature,
// a refused signature's outcome (replayed, expired, ...), or
// refused_precheck (a check refused it before any call).
type Held struct {
	Time     time.Time
	Step     string
	Op       string
	Guest    int
	Decision string
	Reason   string
}

// shown returns the transactions shown and how many there are.
func (l Listing) shown() (txns []Transaction, total int) {
	if l.Journal != nil {
		txns = l.Journal.Transactions()
	}
	total = len(txns)
	if l.Last > 0 && len(txns) > l.Last {
		txns = txns[len(txns)-l.Last:]
	}
	return txns, total
}

// WriteText writes the listing as text: a summary line, the resets and
// compactions, each shown transaction with its steps, then the safety
// copies the tool still owns and the guests' last config digests.
func (l Listing) WriteText(w io.Writer) {
	path, j := l.Path, l.Journal
	txns, total := l.shown()
	if j != nil && j.Lost() != nil {
		fmt.Fprintf(w, "journal %s: LOST RECORDS: %s\n", path, j.Lost().Reason)
		if len(j.Records()) == 0 {
			fmt.Fprintln(w, "no record is left")
			return
		}
	}
	if j == nil || total == 0 && len(j.Records()) == 0 {
		fmt.Fprintf(w, "journal %s: empty, no run has written it yet\n", path)
		return
	}
	open := 0
	for _, t := range j.Transactions() {
		if t.Open() {
			open++
		}
	}
	fmt.Fprintf(w, "journal %s: %s, %d open", path, humanize.Plural(total, "transaction"), open)
	inFlight := len(j.InFlight())
	if inFlight > 0 {
		fmt.Fprintf(w, ", %s in flight", humanize.Plural(inFlight, "step"))
	}
	if len(txns) < total {
		fmt.Fprintf(w, ", showing the last %d", len(txns))
	}
	fmt.Fprintln(w)
	for _, r := range j.Records() {
		switch r := r.(type) {
		case Checkpoint:
			fmt.Fprintf(w, "compacted %s: %s of finished history left out; records continue at number %d\n", humanize.Stamp(r.Time), humanize.Plural(r.Dropped, "record"), r.Seq)
		case JournalReset:
			fmt.Fprintf(w, "RESET %s by %s: accepted the loss of records (the journal %s; %s were left)\n", humanize.Stamp(r.Time), humanize.Dash(r.By), r.Lost, humanize.Plural(int(r.FoundSeq), "record"))
		}
	}
	if inFlight > 0 {
		fmt.Fprintln(w, "steps in flight have an intent and no result: 'felhom-converge recover' resolves them (apply runs it first)")
	}
	for _, t := range txns {
		fmt.Fprintln(w)
		writeTxnText(w, t, l.Held[t.Begin.Txn])
	}
	snaps, backups := j.ToolSnapshots(), j.ToolBackups()
	if len(snaps)+len(backups) > 0 {
		fmt.Fprintln(w)
		fmt.Fprintln(w, "safety copies the tool made and has not removed:")
		for _, s := range snaps {
			fmt.Fprintf(w, "  snapshot %s of guest %d, taken %s%s%s\n", s.Name, s.Guest, humanize.Stamp(s.Created), inTxn(s.Txn), l.removal(s.Created))
		}
		for _, b := range backups {
			fmt.Fprintf(w, "  backup %s of guest %d, created %s%s%s\n", b.VolID, b.Guest, humanize.Stamp(b.Created), inTxn(b.Txn), l.removal(b.Created))
		}
	}
	if digests := j.LastDigests(); len(digests) > 0 {
		fmt.Fprintln(w)
		fmt.Fprintln(w, "guest config digests after the last successful step:")
		for _, d := range digests {
			fmt.Fprintf(w, "  guest %d  %s  %s%s\n", d.Guest, d.Digest, humanize.Stamp(d.Time), inTxn(d.Txn))
		}
	}
}

// removal says when a safety copy created at t goes: the first apply
// once it is older than safety.keep.
func (l Listing) removal(t time.Time) string {
	if l.Keep <= 0 {
		return ""
	}
	return "; removed by the first apply after " + humanize.Stamp(t.Add(l.Keep)) + " (safety.keep " + keepText(l.Keep) + ")"
}

// keepText is a duration as the config spells safety.keep: whole days as
// "7d".
func keepText(d time.Duration) string {
	if d%(24*time.Hour) == 0 {
		return fmt.Sprintf("%dd", d/(24*time.Hour))
	}
	return d.String()
}

func inTxn(txn string) string {
	if txn == "" {
		return ""
	}
	return " (transaction " + txn + ")"
}

func writeTxnText(w io.Writer, t Transaction, held []Held) {
	b := t.Begin
	fmt.Fprintf(w, "transaction %s  host %s  began %s", b.Txn, b.Host, humanize.Stamp(b.Time))
	if t.End != nil {
		fmt.Fprintf(w, "  ended %s: %s", humanize.Stamp(t.End.Time), t.End.Result)
		if t.End.Error != "" {
			fmt.Fprintf(w, " (%s)", t.End.Error)
		}
	} else {
		fmt.Fprint(w, "  OPEN (no end record: the run is going on, or crashed; recover resolves it)")
	}
	fmt.Fprintln(w)
	if b.PlanID != "" || b.DesiredDigest != "" {
		fmt.Fprintf(w, "  plan %s  desired file sha256 %s\n", humanize.Dash(b.PlanID), humanize.Dash(b.DesiredDigest))
	}
	if len(t.Calls) == 0 {
		fmt.Fprintln(w, "  no steps")
	} else {
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "  TIME\tOP\tGUEST\tCLASS\tDECISION\tRESULT\tUPID")
		for _, s := range t.Calls {
			in := s.Intent
			guest := "-"
			if in.Guest != 0 {
				guest = fmt.Sprint(in.Guest)
			}
			fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\t%s\t%s\n", humanize.Stamp(in.Time), in.Op, guest, in.Class, humanize.Dash(in.Decision), stepResult(s), humanize.Dash(s.UPID))
		}
		tw.Flush()
	}
	if len(held) > 0 {
		fmt.Fprintln(w, "  held back (did not run):")
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		for _, h := range held {
			guest := "-"
			if h.Guest != 0 {
				guest = fmt.Sprint(h.Guest)
			}
			fmt.Fprintf(tw, "    %s\t%s\t%s\t%s\t%s\n", humanize.Stamp(h.Time), h.Op, guest, h.Decision, heldReason(h))
		}
		tw.Flush()
	}
	if len(t.Records) > 0 {
		fmt.Fprintln(w, "  also recorded:")
	}
	for _, r := range t.Records {
		if line := recordLine(r); line != "" {
			fmt.Fprintf(w, "    %s  %s\n", humanize.Stamp(r.When()), line)
		}
	}
}

func heldReason(h Held) string {
	if h.Reason != "" {
		return h.Reason
	}
	if h.Decision == "pending_signature" {
		return "waits for an operator's signature"
	}
	return "-"
}

func stepResult(s Call) string {
	if s.Result == nil {
		if s.UPID == "" {
			return "in flight (no UPID recorded)"
		}
		return "in flight"
	}
	out := string(s.Result.Status)
	var detail []string
	if s.Result.Error != "" {
		detail = append(detail, s.Result.Error)
	}
	if s.Result.ExitStatus != "" {
		detail = append(detail, "exit status "+s.Result.ExitStatus)
	}
	if len(detail) > 0 {
		out += ": " + strings.Join(detail, "; ")
	}
	return out
}

// recordLine describes a transaction's record that is not part of a step.
func recordLine(r Record) string {
	switch r := r.(type) {
	case JobDone:
		return "job " + r.Job + " done"
	case GuestDigest:
		if r.Digest == "" {
			return fmt.Sprintf("guest %d gone", r.Guest)
		}
		return fmt.Sprintf("guest %d config digest %s", r.Guest, r.Digest)
	case GuestCreated:
		return fmt.Sprintf("guest %d created in this transaction", r.Guest)
	case SnapshotCreated:
		return fmt.Sprintf("safety snapshot %s of guest %d taken", r.Name, r.Guest)
	case SnapshotRemoved:
		return fmt.Sprintf("safety snapshot %s of guest %d removed", r.Name, r.Guest)
	case BackupCreated:
		return fmt.Sprintf("safety backup %s of guest %d created", r.VolID, r.Guest)
	case BackupRemoved:
		return fmt.Sprintf("safety backup %s removed", r.VolID)
	}
	return ""
}

// ReadListing reads the journal of the state directory d (from
// InspectStateDir; nil when it does not exist yet) for a listing, without
// taking the lock (Read). show says whether there is something to list,
// even when err is set: what precedes the damage of a damaged journal
// (err is the *CorruptError), or what is left of one that lost records
// (the *LostError). A journal that cannot be read at all lists nothing.
func ReadListing(stateDir string, d *StateDir) (l Listing, show bool, err error) {
	l.Path = filepath.Join(stateDir, LogFile)
	if d == nil {
		return l, true, nil
	}
	j, err := Read(d, Options{})
	var ce *CorruptError
	switch {
	case errors.As(err, &ce) && ce.Partial != nil:
		l.Journal, l.Corrupt = ce.Partial, ce
		return l, true, err
	case err != nil:
		return l, false, err
	}
	l.Journal = j
	if lost := j.Lost(); lost != nil {
		return l, true, lost
	}
	return l, true, nil
}
