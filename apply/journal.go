package apply

import (
	"encoding/json"
	"strings"
	"time"

	"github.com/felhom/felhom-converge/plan"
	"github.com/felhom/felhom-converge/proxmox"
)

// Journal is what apply needs of the crash-safe journal. Every method that
// records returns only once the record is durable (fsynced): apply takes
// the action a record describes only after it returned nil.
//
// A plan step may take more than one API call (a safety snapshot first, a
// stop before a restore-over, a start after a rollback). Each call has
// its own intent, keyed by its call id: the step's id, or the step's id
// with a suffix such as "#safety" or "#stop". Recovery therefore deals
// with exactly one API call per in-flight record.
type Journal interface {
	plan.Provenance

	// Begin opens a transaction.
	Begin(TxnBegin) error
	// End closes it: "converged", "pending", "failed", or "aborted" (by
	// recovery, after a crash).
	End(txn, outcome string) error
	// Intent records that the call is about to be made.
	Intent(Intent) error
	// TaskStarted records the task a call's POST returned.
	TaskStarted(txn, call string, upid proxmox.UPID) error
	// Finish records a call's terminal result.
	Finish(txn, call string, t Terminal) error
	// GuestDigest records guest vmid's config digest after a successful
	// step ("" when the tool destroyed the guest).
	GuestDigest(txn string, vmid int, digest, call string) error
	// MarkJobDone records that the desired-state job ran.
	MarkJobDone(txn, job string) error
	// GuestCreated, SnapshotCreated and BackupCreated record what the
	// tool itself made (provenance): a guest restored in txn, a safety
	// snapshot, a safety backup archive.
	GuestCreated(txn string, vmid int, call string) error
	SnapshotCreated(txn string, vmid int, name, call string) error
	BackupCreated(txn string, vmid int, volid string, created time.Time, call string) error
	// InFlight lists the calls with an intent and no terminal record, in
	// the order they were made.
	InFlight() []InFlight
	// OpenTxns lists the transactions without an end record.
	OpenTxns() []string
	// TaskRecorded reports whether some call's record holds the task:
	// recovery never takes another call's task for its own.
	TaskRecorded(upid proxmox.UPID) bool
	// ToolSnapshots lists the safety snapshots the tool took and has not
	// removed; SnapshotRemoved records that one is gone.
	ToolSnapshots() []ToolSnapshot
	SnapshotRemoved(txn string, vmid int, name string) error
	// ToolBackups lists the safety backups the tool took and has not
	// removed; BackupRemoved records that one is gone.
	ToolBackups() []ToolBackup
	BackupRemoved(txn string, volid string) error
}

// ToolBackup is a safety backup archive the tool took.
type ToolBackup struct {
	Guest   int
	VolID   string
	Created time.Time
}

// ToolSnapshot is a safety snapshot the tool took.
type ToolSnapshot struct {
	Guest   int
	Name    string
	Created time.Time
}

// TxnBegin opens a transaction.
type TxnBegin struct {
	Txn           string
	Host          string
	PlanID        string // SHA-256 of the plan's JSON, hex
	DesiredDigest string
	Time          time.Time
}

// Provenance values of an Intent: what the call makes that is the tool's
// own (the journal's words).
const (
	ProvenanceCreatedInTxn   = "created in this transaction"
	ProvenanceSafetySnapshot = "tool safety snapshot"
	ProvenanceSafetyBackup   = "tool safety backup"
	ProvenanceRollback       = "rollback of a guest created in this transaction"
)

// Intent is one API call about to be made.
type Intent struct {
	Txn string
	// Call is the journal's key of the call: the plan step's action id,
	// or the action id + "#suffix" for a step's other calls.
	Call     string
	Op       string // what the call does (for a safety snapshot: snapshot.create)
	Guest    int    // 0 for host-level ops
	Params   json.RawMessage
	Class    string // benign | destructive
	Decision string // the gate's decision
	Nonce    string // of the accepted request, for a signed step
	// Provenance says what the call creates that is the tool's own, or
	// why a removal is benign.
	Provenance string
	Time       time.Time
}

// Action is the plan step a call belongs to.
func (in Intent) Action() string {
	a, _, _ := strings.Cut(in.Call, "#")
	return a
}

// InFlight is a call without a terminal record.
type InFlight struct {
	Intent
	UPID proxmox.UPID // zero when the POST's answer was never recorded
}

// Results of a call.
const (
	ResultOK         = "ok"
	ResultFailed     = "failed"
	ResultRolledBack = "rolled_back"
	ResultAborted    = "aborted"
	// ResultRefusedPrecheck is an audited step that made no call: a check
	// against live state (or its params) refused it first.
	ResultRefusedPrecheck = "refused_precheck"
)

// Terminal is a call's final record.
type Terminal struct {
	Result     string // ok, failed, rolled_back, aborted
	ExitStatus string // the task's exit status, when it failed
	Message    string
	Time       time.Time
}
