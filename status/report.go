package status

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/felhom/felhom-converge/hub"
	"github.com/felhom/felhom-converge/journal"
)

// Report is what 'felhom-converge status' shows: the last run, the
// journal's health, and how fresh the desired state is. Its JSON form is
// the stable document of 'status --json'.
type Report struct {
	FormatVersion string    `json:"format_version"`
	Time          time.Time `json:"time"` // when the report was made
	StateDir      string    `json:"state_dir"`
	// LastRun is nil when no run has finished yet.
	LastRun *Run `json:"last_run"`
	// LastRunError is why last-run.json could not be read; LastRun is nil
	// then.
	LastRunError string        `json:"last_run_error,omitempty"`
	Journal      JournalHealth `json:"journal"`
	// Lock is the run lock: whether a run holds it now.
	Lock LockState `json:"lock"`
	// Desired is the desired file the last run named; nil when no run
	// named one.
	Desired *DesiredState `json:"desired"`
	// Unfinished is a run that ended without its last-run record (killed,
	// or the machine crashed), after LastRun; nil when none did.
	Unfinished *Unfinished `json:"unfinished,omitempty"`
}

// Unfinished is a run that ended without recording its end: it left the
// lock's record (a clean end clears it), or a transaction of its own open
// in the journal. The next run recovers what it left in flight.
type Unfinished struct {
	// Since is when it took the lock and PID its process, when its lock
	// record says so.
	Since time.Time `json:"since,omitzero"`
	PID   int       `json:"pid,omitempty"`
	// Txns are the open transactions no finished run accounts for.
	Txns []string `json:"txns,omitempty"`
}

// JournalHealth is what a read-only look at journal.log found.
type JournalHealth struct {
	Path   string `json:"path"`
	Exists bool   `json:"exists"`
	// Size is the file's length in bytes, a torn tail included.
	Size             int64 `json:"size_bytes"`
	Records          int   `json:"records"`
	Transactions     int   `json:"transactions"`
	OpenTransactions int   `json:"open_transactions"`
	InFlight         int   `json:"in_flight"`
	// TornTail is a torn last line found now: left by a crash during a
	// write (the next run cuts it off and goes on), or a record being
	// written by a run in progress.
	TornTail string `json:"torn_tail,omitempty"`
	// TornSaved is journal.log.torn: the bytes of a torn tail an earlier
	// run cut off, kept for inspection.
	TornSaved *SavedTail `json:"torn_saved,omitempty"`
	// Corrupt names a damaged record before the last one: apply refuses to
	// mutate the host until it is repaired.
	Corrupt string `json:"corrupt,omitempty"`
	// Lost says what records its anchor names the journal no longer
	// holds (deleted, emptied, cut short, replaced): apply refuses to
	// mutate the host until it is put back or the loss accepted.
	Lost string `json:"lost,omitempty"`
	// Error is why the journal could not be read at all.
	Error string `json:"error,omitempty"`
	// Healthy: readable, not corrupt, not lost. A torn tail alone is
	// healthy (it is what a crash leaves, and is handled).
	Healthy bool `json:"healthy"`
}

// LockState is the state directory's run lock, looked up without taking
// it (journal.StateDir.InspectLock).
type LockState struct {
	// Held: a run (apply, recover) holds the lock now; what the journal
	// shows in flight is that run's work.
	Held bool `json:"held"`
	// PID, UID, Host and Since are what the holder wrote, when it did.
	PID   int       `json:"pid,omitempty"`
	UID   *int      `json:"uid,omitempty"`
	Host  string    `json:"host,omitempty"`
	Since time.Time `json:"since,omitzero"`
	// Error is why the lock could not be looked up; Held is false then.
	Error string `json:"error,omitempty"`
	// Abandoned is the record a holder left when it ended without
	// releasing the lock (killed); nil when the last holder released it.
	Abandoned *AbandonedLock `json:"abandoned,omitempty"`
}

// AbandonedLock is what a killed lock holder had written.
type AbandonedLock struct {
	PID   int       `json:"pid,omitempty"`
	Host  string    `json:"host,omitempty"`
	Since time.Time `json:"since,omitzero"`
}

// SavedTail is the journal.log.torn file.
type SavedTail struct {
	Path     string    `json:"path"`
	Size     int64     `json:"size_bytes"`
	Modified time.Time `json:"modified"`
}

// DesiredState is the desired file and its pull state (hub.State, kept
// beside it as FILE.pull.json by 'felhom-converge pull').
type DesiredState struct {
	Path   string `json:"path"`
	Exists bool   `json:"exists"`
	// Modified is the file's modification time: when its content last
	// changed (pull replaces it only when the hub's content differs).
	Modified time.Time `json:"modified,omitzero"`
	Error    string    `json:"error,omitempty"`
	// Pull is nil when no pull state is kept beside the file (a desired
	// file placed by hand or by Git).
	Pull *hub.State `json:"pull"`
	// PullError is why the pull state could not be read.
	PullError string `json:"pull_error,omitempty"`
	// AgeSeconds is how long ago the desired state was last known to be
	// current: since the later of the file's modification and the last
	// successful pull (an unchanged file confirmed by a 304 is current).
	// Absent when the file does not exist.
	AgeSeconds *float64 `json:"age_seconds,omitempty"`
}

// Read makes the report of the state directory stateDir at time now. It
// writes nothing and takes no lock. A missing state directory is a report
// with no last run and no journal; an unsafe one (journal.InspectStateDir
// refuses it) is an error. Damage to a single file is reported in the
// Report, not returned.
func Read(stateDir string, now time.Time) (*Report, error) {
	rep := &Report{FormatVersion: FormatVersion, Time: now.UTC(), StateDir: stateDir}
	if abs, err := filepath.Abs(stateDir); err == nil {
		rep.StateDir = abs
	}
	rep.Journal = JournalHealth{Path: filepath.Join(rep.StateDir, journal.LogFile), Healthy: true}
	d, err := journal.InspectStateDir(stateDir)
	if errors.Is(err, fs.ErrNotExist) {
		return rep, nil
	}
	if err != nil {
		return nil, err
	}
	if rep.LastRun, err = readLastRun(d); err != nil {
		rep.LastRunError = err.Error()
	}
	var open []journal.TxnBegin
	rep.Journal, open = readJournal(d)
	rep.Lock = readLock(d)
	rep.Unfinished = unfinished(rep.LastRun, rep.Lock, open)
	if rep.LastRun != nil && rep.LastRun.DesiredFile != "" {
		rep.Desired = readDesired(rep.LastRun.DesiredFile, now)
	}
	return rep, nil
}

// unfinished finds a run that ended without its last-run record: the lock
// is free, and either its last holder left its record (a killed holder;
// one that took the lock after the last recorded run started), or the
// journal has a transaction open that began after the last recorded run
// started and is not its own. While a run holds the lock, what it has open
// is its own work.
func unfinished(last *Run, lock LockState, open []journal.TxnBegin) *Unfinished {
	if lock.Held || lock.Error != "" {
		return nil
	}
	after := func(t time.Time) bool { return last == nil || t.After(last.Started) }
	var u Unfinished
	for _, b := range open {
		if after(b.Time) && (last == nil || b.Txn != last.Txn) {
			u.Txns = append(u.Txns, b.Txn)
		}
	}
	if a := lock.Abandoned; a != nil && after(a.Since) {
		u.Since, u.PID = a.Since, a.PID
	}
	if u.PID == 0 && len(u.Txns) == 0 {
		return nil
	}
	return &u
}

// readJournal is the journal's health and its open transactions.
func readJournal(d *journal.StateDir) (JournalHealth, []journal.TxnBegin) {
	h := JournalHealth{Path: filepath.Join(d.Path(), journal.LogFile)}
	if fi, err := os.Lstat(h.Path); err == nil {
		h.Exists, h.Size = true, fi.Size()
	}
	if fi, err := os.Lstat(filepath.Join(d.Path(), journal.TornFile)); err == nil && fi.Mode().IsRegular() {
		h.TornSaved = &SavedTail{Path: filepath.Join(d.Path(), journal.TornFile), Size: fi.Size(), Modified: fi.ModTime().UTC()}
	}
	j, err := journal.Read(d, journal.Options{})
	var ce *journal.CorruptError
	switch {
	case errors.As(err, &ce):
		h.Corrupt = err.Error()
		j = ce.Partial
	case err != nil:
		h.Error = err.Error()
		return h, nil
	}
	if j != nil && j.Lost() != nil {
		h.Lost = j.Lost().Error()
	}
	h.Healthy = h.Corrupt == "" && h.Lost == ""
	if j == nil {
		return h, nil
	}
	h.Records = len(j.Records())
	var open []journal.TxnBegin
	for _, t := range j.Transactions() {
		h.Transactions++
		if t.Open() {
			h.OpenTransactions++
			open = append(open, t.Begin)
		}
	}
	h.InFlight = len(j.InFlight())
	if t := j.TornTail(); t != nil {
		h.TornTail = t.String()
	}
	return h, open
}

func readLock(d *journal.StateDir) LockState {
	s, err := d.InspectLock()
	if err != nil {
		return LockState{Error: err.Error()}
	}
	out := LockState{Held: s.Held}
	if s.Known {
		uid := s.Holder.UID
		out.PID, out.UID, out.Host, out.Since = s.Holder.PID, &uid, s.Holder.Host, s.Holder.Since.UTC()
	}
	if a := s.Abandoned; a != nil {
		out.Abandoned = &AbandonedLock{PID: a.PID, Host: a.Host, Since: a.Since.UTC()}
	}
	return out
}

func readDesired(path string, now time.Time) *DesiredState {
	ds := &DesiredState{Path: path}
	var confirmed time.Time
	fi, err := os.Stat(path)
	switch {
	case err == nil:
		ds.Exists, ds.Modified, confirmed = true, fi.ModTime().UTC(), fi.ModTime()
	case !errors.Is(err, fs.ErrNotExist):
		ds.Error = err.Error()
	}
	st, err := hub.ReadState(path)
	switch {
	case err != nil:
		ds.PullError = err.Error()
	case st != (hub.State{}):
		ds.Pull = &st
		if st.LastSuccess.After(confirmed) {
			confirmed = st.LastSuccess
		}
	}
	if ds.Exists {
		age := max(now.Sub(confirmed).Seconds(), 0)
		ds.AgeSeconds = &age
	}
	return ds
}

// OldestPendingSignature is when the longest-waiting step pending a
// signature was first found pending; zero when none waits.
func (r *Run) OldestPendingSignature() time.Time {
	var oldest time.Time
	for _, ps := range r.PendingSignature {
		if !ps.Since.IsZero() && (oldest.IsZero() || ps.Since.Before(oldest)) {
			oldest = ps.Since
		}
	}
	return oldest
}
