package journal

import (
	"errors"
	"fmt"
	"slices"
	"time"
)

// The in-memory view of the records, built at Open and kept current by
// Append. Loading is tolerant (a compacted log keeps provenance whose
// transaction it dropped); Append is strict (checkAppend).

type stepKey struct{ txn, action string }

type snapKey struct {
	guest int
	name  string
}

type txnState struct {
	begin TxnBegin
	end   *TxnEnd
	steps []*stepState
	other []Record // job, digest and provenance records of the transaction
}

type stepState struct {
	seq    int // order of the intent in the journal
	intent Intent
	task   *TaskStarted
	result *Result
}

type index struct {
	nsteps   int
	txns     map[string]*txnState
	order    []*txnState // in begin order
	steps    map[stepKey]*stepState
	inflight map[stepKey]*stepState
	jobs     map[string]JobDone
	digests  map[int]GuestDigest
	created  map[int]GuestCreated     // the latest creation of each guest
	createdT map[stepKey]GuestCreated // by (txn, vmid as text): every creation
	snaps    map[snapKey]SnapshotCreated
	backups  map[string]BackupCreated
	resets   []JournalReset
}

func newIndex() *index {
	return &index{
		txns:     map[string]*txnState{},
		steps:    map[stepKey]*stepState{},
		inflight: map[stepKey]*stepState{},
		jobs:     map[string]JobDone{},
		digests:  map[int]GuestDigest{},
		created:  map[int]GuestCreated{},
		createdT: map[stepKey]GuestCreated{},
		snaps:    map[snapKey]SnapshotCreated{},
		backups:  map[string]BackupCreated{},
	}
}

func (x *index) open(txn string) bool {
	t, ok := x.txns[txn]
	return ok && t.end == nil
}

func guestKey(txn string, vmid int) stepKey { return stepKey{txn, fmt.Sprint(vmid)} }

// checkAppend says why r may not follow the records indexed so far.
func (x *index) checkAppend(r Record) error {
	switch r := r.(type) {
	case TxnBegin:
		if _, ok := x.txns[r.Txn]; ok {
			return fmt.Errorf("transaction %s already began", r.Txn)
		}
	case TxnEnd:
		if !x.open(r.Txn) {
			return fmt.Errorf("transaction %s is not open", r.Txn)
		}
	case Intent:
		if !x.open(r.Txn) {
			return fmt.Errorf("transaction %s is not open", r.Txn)
		}
		if _, ok := x.steps[stepKey{r.Txn, r.Call}]; ok {
			return fmt.Errorf("step %s already has an intent in transaction %s", r.Call, r.Txn)
		}
	case TaskStarted:
		if s, ok := x.inflight[stepKey{r.Txn, r.Call}]; !ok {
			return fmt.Errorf("step %s of transaction %s is not in flight", r.Call, r.Txn)
		} else if s.task != nil {
			return fmt.Errorf("step %s of transaction %s already has task %s", r.Call, r.Txn, s.task.UPID)
		}
	case Result:
		if _, ok := x.inflight[stepKey{r.Txn, r.Call}]; !ok {
			return fmt.Errorf("step %s of transaction %s is not in flight", r.Call, r.Txn)
		}
	case GuestCreated:
		if !x.open(r.Txn) {
			return fmt.Errorf("transaction %s is not open", r.Txn)
		}
	case JobDone, GuestDigest, SnapshotCreated, SnapshotRemoved, BackupCreated, BackupRemoved:
		if txn := r.TxnID(); txn != "" && !x.open(txn) {
			return fmt.Errorf("transaction %s is not open", txn)
		}
	case Checkpoint:
		return errors.New("only compaction writes a checkpoint")
	case JournalReset:
		return errors.New("only AcceptLoss ('journal reset --accept-loss') records a reset")
	default:
		return errors.New("not a journal record")
	}
	return nil
}

// add indexes r. It never fails: what does not fit (a result for a step
// whose intent was compacted away) is kept as a record and otherwise
// ignored.
func (x *index) add(r Record) {
	t := x.txns[r.TxnID()]
	switch r := r.(type) {
	case TxnBegin:
		if t != nil {
			return
		}
		t = &txnState{begin: r}
		x.txns[r.Txn] = t
		x.order = append(x.order, t)
		return
	case TxnEnd:
		if t != nil && t.end == nil {
			t.end = &r
		}
		return
	case Intent:
		k := stepKey{r.Txn, r.Call}
		if _, dup := x.steps[k]; dup {
			return
		}
		x.nsteps++
		s := &stepState{seq: x.nsteps, intent: r}
		x.steps[k] = s
		x.inflight[k] = s
		if t != nil {
			t.steps = append(t.steps, s)
		}
		return
	case TaskStarted:
		if s := x.inflight[stepKey{r.Txn, r.Call}]; s != nil && s.task == nil {
			s.task = &r
		}
		return
	case Result:
		k := stepKey{r.Txn, r.Call}
		if s := x.inflight[k]; s != nil {
			s.result = &r
			delete(x.inflight, k)
		}
		return
	case JobDone:
		x.jobs[r.Job] = r
	case GuestDigest:
		if r.Digest == "" {
			delete(x.digests, r.Guest)
		} else {
			x.digests[r.Guest] = r
		}
	case GuestCreated:
		x.created[r.Guest] = r
		x.createdT[guestKey(r.Txn, r.Guest)] = r
	case SnapshotCreated:
		x.snaps[snapKey{r.Guest, r.Name}] = r
	case SnapshotRemoved:
		delete(x.snaps, snapKey{r.Guest, r.Name})
	case BackupCreated:
		x.backups[r.VolID] = r
	case BackupRemoved:
		delete(x.backups, r.VolID)
	case JournalReset:
		x.resets = append(x.resets, r)
	}
	if t != nil {
		t.other = append(t.other, r)
	}
}

// InFlight is a step with an intent but no terminal record: what recovery
// must resolve.
type InFlight struct {
	Intent Intent
	// UPID is the task the POST returned, "" when none was recorded (a
	// crash between the POST and the UPID record, or before the POST).
	UPID string
	// TaskTime is when the UPID was recorded.
	TaskTime time.Time
}

// Call is one call of a transaction as the journal knows it, keyed by its
// call id (Intent.Call): a step of the plan makes one or more.
type Call struct {
	Intent Intent
	UPID   string    // "" when none was recorded
	Result *Result   // nil while in flight
	Task   time.Time // when the UPID was recorded
}

// Transaction is one transaction with its calls, for display.
type Transaction struct {
	Begin TxnBegin
	End   *TxnEnd // nil while open
	Calls []Call
	// Records are the transaction's other records (job completions,
	// digests, provenance), in order.
	Records []Record
}

// Open reports whether the transaction has no end record.
func (t Transaction) Open() bool { return t.End == nil }

// Snapshot is a safety snapshot the tool took and has not removed.
type Snapshot struct {
	Guest    int
	Name     string
	SnapTime int64 // Proxmox's snaptime when the tool took it (0: not recorded)
	Txn      string
	Created  time.Time
}

// Backup is a safety backup archive the tool took and has not removed.
type Backup struct {
	Guest   int
	VolID   string
	Created time.Time // the archive's creation time (its ctime)
	Size    int64     // 0: not recorded
	UPID    string    // the task that made it ("": not recorded)
	Txn     string
	Golden  string // the golden image it is the archive of ("": a safety backup)
}

// Digest is a guest's config digest recorded after the last successful
// step on it.
type Digest struct {
	Guest  int
	Digest string
	Time   time.Time
	Txn    string
	Owns   string // the lists a desired file has declared (see GuestDigest)
}

func (s *stepState) public() Call {
	st := Call{Intent: s.intent}
	if s.task != nil {
		st.UPID, st.Task = s.task.UPID, s.task.Time
	}
	if s.result != nil {
		r := *s.result
		st.Result = &r
	}
	return st
}

func (t *txnState) public() Transaction {
	out := Transaction{Begin: t.begin, Records: slices.Clone(t.other)}
	if t.end != nil {
		e := *t.end
		out.End = &e
	}
	out.Calls = make([]Call, len(t.steps))
	for i, s := range t.steps {
		out.Calls[i] = s.public()
	}
	return out
}
