package apply

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/felhom/felhom-converge/journal"
	"github.com/felhom/felhom-converge/plan"
	"github.com/felhom/felhom-converge/schema"
	"github.com/felhom/felhom-converge/trust"
)

// PlanOnly is a plan made without a session: no lock is taken and nothing
// but signature requests is written. The journal is read as it is (its
// provenance, jobs done, digests for drift); one that is damaged or lost
// is read as far as it goes, with a warning (apply refuses it).
type PlanOnly struct {
	RequestsDir string        // where the requests of destructive steps go
	TTL         time.Duration // how long a new request stays signable
	Warn        func(string)
}

// Plan observes h and plans desired (the bytes src of file) against it.
func (o PlanOnly) Plan(ctx context.Context, h *Host, desired *schema.Host, src []byte, file string) (*plan.Plan, error) {
	prov, err := o.provenance(h.Config.StateDir)
	if err != nil {
		return nil, err
	}
	dir := trust.NewRequestDir(h.Config.StateDir, readNonces(h.Config.StateDir))
	dir.Requests = cmp.Or(o.RequestsDir, dir.Requests)
	ro := plan.RequestOptions{Dir: dir, TTL: o.TTL}
	src2 := h.PlanSource(desired, src, file, prov, ro)
	src2.NewStateDir = newJournal(prov)
	p, _, err := plan.Make(ctx, src2)
	return p, err
}

// newJournal reports a provenance with no records at all: no state
// directory, or a journal never written.
func newJournal(prov plan.Provenance) bool {
	switch j := prov.(type) {
	case plan.NoProvenance:
		return true
	case *journal.Journal:
		return len(j.Records()) == 0
	case recovered:
		return len(j.Records()) == 0
	}
	return false
}

// JournalReadError is a journal a plan could not read at all.
type JournalReadError struct{ Err error }

func (e *JournalReadError) Error() string { return "read the journal: " + e.Err.Error() }
func (e *JournalReadError) Unwrap() error { return e.Err }

// provenance reads the journal without the lock and without writing. No
// state directory yet means no history.
func (o PlanOnly) provenance(stateDir string) (plan.Provenance, error) {
	warn := o.Warn
	if warn == nil {
		warn = func(string) {}
	}
	d, err := journal.InspectStateDir(stateDir)
	if errors.Is(err, fs.ErrNotExist) {
		return plan.NoProvenance{}, nil
	}
	if err != nil {
		return nil, &JournalReadError{err}
	}
	j, err := journal.Read(d, journal.Options{})
	var ce *journal.CorruptError
	if errors.As(err, &ce) && ce.Partial != nil {
		// plan changes nothing: it may show what the records before the
		// damage say (apply refuses until the journal is repaired).
		warn(fmt.Sprintf("%v; this plan uses the %d records before the damage (a job that ran after it may show again), and apply refuses to run until it is repaired", err, len(ce.Partial.Records())))
		return ce.Partial, nil
	}
	if err != nil {
		return nil, &JournalReadError{err}
	}
	if l := j.Lost(); l != nil {
		warn(fmt.Sprintf("%v; this plan uses the %d records left (a job that ran may show again), and apply refuses to run", l, len(j.Records())))
	}
	if ls, err := d.InspectLock(); err == nil && !ls.Held && len(j.OpenTxns()) > 0 {
		// No run holds the lock: an open transaction is a crashed run's,
		// which the next apply's recovery closes before it plans. Show
		// what that apply will decide: no provenance from it.
		rec := recovered{Journal: j, started: map[string]bool{}}
		for _, f := range j.InFlight() {
			if f.Intent.Job != "" && f.UPID != "" && mainCall(f.Intent.Call) && !j.JobDone(f.Intent.Job) && !rec.started[f.Intent.Job] {
				rec.started[f.Intent.Job] = true
				warn(fmt.Sprintf("job %s: its task %s was running when a run stopped; the next apply waits for it first, and runs the job again only if that task failed (this plan counts it done)", f.Intent.Job, f.UPID))
			}
		}
		return rec, nil
	}
	return j, nil
}

// recovered is a journal as the next apply sees it once recovery closed
// the crashed transactions: nothing was created in an open one, and a job
// whose task was started is settled (done unless the task failed).
type recovered struct {
	*journal.Journal
	started map[string]bool
}

func (recovered) CreatedInTxn(int) (string, bool) { return "", false }

func (r recovered) JobDone(id string) bool { return r.started[id] || r.Journal.JobDone(id) }

// readNonces opens the state directory's consumed-nonce store for
// reading, so a plan never offers a spent request again. No store means
// nothing was ever accepted (nil); a store that cannot be read answers
// every question with an error, so no request counts as live and a fresh
// one is written (a new request costs a signature, never a replay).
func readNonces(stateDir string) trust.NonceStore {
	if _, err := os.Lstat(filepath.Join(stateDir, trust.NonceFile)); errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	store, err := trust.OpenFileNonceStore(stateDir, nil)
	if err != nil {
		return unreadableNonces{err}
	}
	return store
}

// unreadableNonces is a nonce store that could not be opened.
type unreadableNonces struct{ err error }

func (u unreadableNonces) Consumed(string) (bool, error)   { return true, u.err }
func (u unreadableNonces) Consume(string, time.Time) error { return u.err }
