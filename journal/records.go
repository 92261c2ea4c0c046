package journal

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// RecordType is the "type" discriminator of a journal line.
type RecordType string

// The record types. Each is one Go struct below.
const (
	TypeTxnBegin        RecordType = "txn_begin"
	TypeTxnEnd          RecordType = "txn_end"
	TypeIntent          RecordType = "intent"
	TypeTaskStarted     RecordType = "upid"
	TypeResult          RecordType = "result"
	TypeJobDone         RecordType = "job_done"
	TypeGuestDigest     RecordType = "digest"
	TypeGuestCreated    RecordType = "guest_created"
	TypeSnapshotCreated RecordType = "snapshot_created"
	TypeSnapshotRemoved RecordType = "snapshot_removed"
	TypeBackupCreated   RecordType = "backup_created"
	TypeBackupRemoved   RecordType = "backup_removed"
	TypeCheckpoint      RecordType = "checkpoint"
	TypeJournalReset    RecordType = "journal_reset"
)

// Record is one journal record: one of the struct types of this file
// (TxnBegin, TxnEnd, Intent, TaskStarted, Result, JobDone, GuestDigest,
// GuestCreated, SnapshotCreated, SnapshotRemoved, BackupCreated,
// BackupRemoved, Checkpoint, JournalReset), always as a value, never a
// pointer.
type Record interface {
	Type() RecordType
	// When is the record's time; Append sets it when it is zero.
	When() time.Time
	// TxnID is the transaction the record belongs to ("" for none).
	TxnID() string

	stamp(t time.Time) Record
	validate() error
}

// TxnResult is how a transaction ended.
type TxnResult string

const (
	TxnConverged TxnResult = "converged" // every step done; the host is converged
	TxnPending   TxnResult = "pending"   // done except steps waiting for a signature or a reboot
	TxnFailed    TxnResult = "failed"    // a step or the run failed
	TxnAborted   TxnResult = "aborted"   // closed by recovery after a crash
)

// The step classes an Intent's Class holds (the words of package ops).
const (
	ClassBenign      = "benign"
	ClassDestructive = "destructive"
)

// Status is the terminal result of a step.
type Status string

const (
	StatusOK         Status = "ok"
	StatusFailed     Status = "failed"      // with Error and, for a task, ExitStatus
	StatusRolledBack Status = "rolled_back" // failed, and what it created was removed again
	StatusAborted    Status = "aborted"     // never took effect (recovery found no task, no change)
)

// Provenance strings an Intent may carry: why a step that removes
// something is benign.
const (
	ProvenanceCreatedInTxn   = "created in this transaction"
	ProvenanceSafetySnapshot = "tool safety snapshot"
	ProvenanceSafetyBackup   = "tool safety backup"
)

// TxnBegin opens a transaction: one apply (or recover) run.
type TxnBegin struct {
	Time          time.Time `json:"time"`
	Txn           string    `json:"txn"`
	Host          string    `json:"host"`
	DesiredDigest string    `json:"desired_digest,omitempty"` // SHA-256 of the desired file, hex
	PlanID        string    `json:"plan_id,omitempty"`
}

// TxnEnd closes a transaction.
type TxnEnd struct {
	Time   time.Time `json:"time"`
	Txn    string    `json:"txn"`
	Result TxnResult `json:"result"`
	Error  string    `json:"error,omitempty"`
}

// Intent is written (and fsynced) before one API call of a step.
type Intent struct {
	Time     time.Time       `json:"time"`
	Txn      string          `json:"txn"`
	Call     string          `json:"action"` // the call id (see Keys in the package doc)
	Op       string          `json:"op"`
	Guest    int             `json:"guest,omitempty"` // vmid; 0 for a host-level op
	Params   json.RawMessage `json:"params,omitempty"`
	Class    string          `json:"class"`              // benign | destructive
	Decision string          `json:"decision,omitempty"` // the gate's decision (allowed_benign, accepted, ...)
	Nonce    string          `json:"nonce,omitempty"`    // the signed request's nonce, when signed
	// Provenance is the journal fact that made a removal benign, such as
	// ProvenanceCreatedInTxn or ProvenanceSafetySnapshot.
	Provenance string `json:"provenance,omitempty"`
	// Job is the desired-state job the call's step runs: when the step's
	// main call settles ok, whoever settles it, the job is done.
	Job string `json:"job,omitempty"`
}

// TaskStarted records the UPID the POST of a call returned; Call is
// the call id.
type TaskStarted struct {
	Time time.Time `json:"time"`
	Txn  string    `json:"txn"`
	Call string    `json:"action"`
	UPID string    `json:"upid"`
}

// Result is the terminal record of a call; Call is the call id.
type Result struct {
	Time       time.Time `json:"time"`
	Txn        string    `json:"txn"`
	Call       string    `json:"action"`
	Status     Status    `json:"status"`
	Error      string    `json:"error,omitempty"`
	ExitStatus string    `json:"exit_status,omitempty"` // the task's exitstatus when it failed
}

// JobDone records that a desired-state job completed; a job id never runs
// twice.
type JobDone struct {
	Time time.Time `json:"time"`
	Txn  string    `json:"txn,omitempty"`
	Job  string    `json:"job"`
}

// GuestDigest is a guest's config digest after a successful step. An empty
// Digest says the guest is gone (the tool destroyed it): LastDigest then
// reports nothing.
//
// Owns names the lists of the guest's config that a desired file has
// declared ("mounts", "networks", comma-separated, sorted): once declared,
// the file keeps owning the list, so removing its last block detaches
// what it held. The last record of a guest carries them all; compaction
// keeps it.
type GuestDigest struct {
	Time   time.Time `json:"time"`
	Txn    string    `json:"txn,omitempty"`
	Guest  int       `json:"guest"`
	Digest string    `json:"digest"`
	Call   string    `json:"action,omitempty"`
	Owns   string    `json:"owns,omitempty"`
}

// GuestCreated records that a step of Txn created the guest (a restore):
// while Txn is open, removing the guest again is benign.
type GuestCreated struct {
	Time  time.Time `json:"time"`
	Txn   string    `json:"txn"`
	Guest int       `json:"guest"`
	Call  string    `json:"action,omitempty"`
}

// SnapshotCreated records a safety snapshot the tool took. Its identity
// is (guest, name, snaptime): a snapshot of the same name made by someone
// else later is not the tool's.
type SnapshotCreated struct {
	Time     time.Time `json:"time"`
	Txn      string    `json:"txn,omitempty"`
	Guest    int       `json:"guest"`
	Name     string    `json:"name"`
	SnapTime int64     `json:"snaptime,omitempty"` // as Proxmox lists it (Unix seconds)
	Call     string    `json:"action,omitempty"`
}

// SnapshotRemoved records that the tool removed its safety snapshot.
type SnapshotRemoved struct {
	Time  time.Time `json:"time"`
	Txn   string    `json:"txn,omitempty"`
	Guest int       `json:"guest"`
	Name  string    `json:"name"`
}

// BackupCreated records a safety backup archive the tool took, or, with
// Golden set, the archive of a golden image it built from a template
// (which housekeeping never removes). Its identity is (volid, ctime,
// size, the UPID of the task that made it): an archive of the same name
// that differs in any of them is not the tool's.
type BackupCreated struct {
	Time    time.Time `json:"time"`
	Txn     string    `json:"txn,omitempty"`
	Guest   int       `json:"guest"`
	VolID   string    `json:"volid"`   // e.g. local:backup/vzdump-lxc-105-2026_11_28-03_00_00.tar.zst
	Created time.Time `json:"created"` // the archive's creation time (its ctime)
	Size    int64     `json:"size,omitempty"`
	UPID    string    `json:"upid,omitempty"` // the vzdump task that made it
	Call    string    `json:"action,omitempty"`
	Golden  string    `json:"golden,omitempty"` // the golden image it is the archive of
}

// BackupRemoved records that the tool removed its safety backup.
type BackupRemoved struct {
	Time  time.Time `json:"time"`
	Txn   string    `json:"txn,omitempty"`
	VolID string    `json:"volid"`
}

// Checkpoint is the first record of a compacted journal, and only ever
// the first: it continues the sequence numbers of the journal it replaced
// (its own is Seq, the records after it follow on) and names the checksum
// of that journal's last record (sequence number Seq-1), so an anchor
// written before the compaction still finds its record. Only compaction
// writes it.
type Checkpoint struct {
	Time    time.Time `json:"time"`
	Seq     int64     `json:"seq"`
	Prev    string    `json:"prev,omitempty"` // CRC-32C of record Seq-1, 8 hex digits ("": none)
	Dropped int       `json:"dropped"`        // records the compaction left out
}

// JournalReset records that an operator accepted the loss of records
// ('felhom-converge journal reset --accept-loss'): the journal was
// missing, emptied or cut short of what its anchor named. AnchorSeq and
// AnchorCRC are that anchor; FoundSeq the last sequence number found (0:
// none). Only AcceptLoss writes it.
type JournalReset struct {
	Time      time.Time `json:"time"`
	Lost      string    `json:"lost"` // what was found, as the LostError said
	AnchorSeq int64     `json:"anchor_seq"`
	AnchorCRC string    `json:"anchor_crc,omitempty"`
	FoundSeq  int64     `json:"found_seq"`
	By        string    `json:"by,omitempty"` // who accepted it: user and host
}

func (TxnBegin) Type() RecordType        { return TypeTxnBegin }
func (TxnEnd) Type() RecordType          { return TypeTxnEnd }
func (Intent) Type() RecordType          { return TypeIntent }
func (TaskStarted) Type() RecordType     { return TypeTaskStarted }
func (Result) Type() RecordType          { return TypeResult }
func (JobDone) Type() RecordType         { return TypeJobDone }
func (GuestDigest) Type() RecordType     { return TypeGuestDigest }
func (GuestCreated) Type() RecordType    { return TypeGuestCreated }
func (SnapshotCreated) Type() RecordType { return TypeSnapshotCreated }
func (SnapshotRemoved) Type() RecordType { return TypeSnapshotRemoved }
func (BackupCreated) Type() RecordType   { return TypeBackupCreated }
func (BackupRemoved) Type() RecordType   { return TypeBackupRemoved }
func (Checkpoint) Type() RecordType      { return TypeCheckpoint }
func (JournalReset) Type() RecordType    { return TypeJournalReset }

func (r TxnBegin) When() time.Time        { return r.Time }
func (r TxnEnd) When() time.Time          { return r.Time }
func (r Intent) When() time.Time          { return r.Time }
func (r TaskStarted) When() time.Time     { return r.Time }
func (r Result) When() time.Time          { return r.Time }
func (r JobDone) When() time.Time         { return r.Time }
func (r GuestDigest) When() time.Time     { return r.Time }
func (r GuestCreated) When() time.Time    { return r.Time }
func (r SnapshotCreated) When() time.Time { return r.Time }
func (r SnapshotRemoved) When() time.Time { return r.Time }
func (r BackupCreated) When() time.Time   { return r.Time }
func (r BackupRemoved) When() time.Time   { return r.Time }
func (r Checkpoint) When() time.Time      { return r.Time }
func (r JournalReset) When() time.Time    { return r.Time }

func (r TxnBegin) TxnID() string        { return r.Txn }
func (r TxnEnd) TxnID() string          { return r.Txn }
func (r Intent) TxnID() string          { return r.Txn }
func (r TaskStarted) TxnID() string     { return r.Txn }
func (r Result) TxnID() string          { return r.Txn }
func (r JobDone) TxnID() string         { return r.Txn }
func (r GuestDigest) TxnID() string     { return r.Txn }
func (r GuestCreated) TxnID() string    { return r.Txn }
func (r SnapshotCreated) TxnID() string { return r.Txn }
func (r SnapshotRemoved) TxnID() string { return r.Txn }
func (r BackupCreated) TxnID() string   { return r.Txn }
func (r BackupRemoved) TxnID() string   { return r.Txn }
func (Checkpoint) TxnID() string        { return "" }
func (JournalReset) TxnID() string      { return "" }

// stampTime returns the record's time when set, else now, in UTC without a
// monotonic reading.
func stampTime(have, now time.Time) time.Time {
	if have.IsZero() {
		have = now
	}
	return have.Round(0).UTC()
}

func (r TxnBegin) stamp(t time.Time) Record        { r.Time = stampTime(r.Time, t); return r }
func (r TxnEnd) stamp(t time.Time) Record          { r.Time = stampTime(r.Time, t); return r }
func (r Intent) stamp(t time.Time) Record          { r.Time = stampTime(r.Time, t); return r }
func (r TaskStarted) stamp(t time.Time) Record     { r.Time = stampTime(r.Time, t); return r }
func (r Result) stamp(t time.Time) Record          { r.Time = stampTime(r.Time, t); return r }
func (r JobDone) stamp(t time.Time) Record         { r.Time = stampTime(r.Time, t); return r }
func (r GuestDigest) stamp(t time.Time) Record     { r.Time = stampTime(r.Time, t); return r }
func (r GuestCreated) stamp(t time.Time) Record    { r.Time = stampTime(r.Time, t); return r }
func (r SnapshotCreated) stamp(t time.Time) Record { r.Time = stampTime(r.Time, t); return r }
func (r SnapshotRemoved) stamp(t time.Time) Record { r.Time = stampTime(r.Time, t); return r }
func (r BackupCreated) stamp(t time.Time) Record   { r.Time = stampTime(r.Time, t); return r }
func (r BackupRemoved) stamp(t time.Time) Record   { r.Time = stampTime(r.Time, t); return r }
func (r Checkpoint) stamp(t time.Time) Record      { r.Time = stampTime(r.Time, t); return r }
func (r JournalReset) stamp(t time.Time) Record    { r.Time = stampTime(r.Time, t); return r }

func need(ok bool, what string) error {
	if !ok {
		return errors.New(what)
	}
	return nil
}

func (r TxnBegin) validate() error { return need(r.Txn != "" && r.Host != "", "needs txn and host") }
func (r TxnEnd) validate() error {
	switch r.Result {
	case TxnConverged, TxnPending, TxnFailed, TxnAborted:
	default:
		return fmt.Errorf("unknown transaction result %q", r.Result)
	}
	return need(r.Txn != "", "needs txn")
}
func (r Intent) validate() error {
	if len(r.Params) > 0 && !json.Valid(r.Params) {
		return errors.New("params are not valid JSON")
	}
	if r.Class == ClassDestructive && r.Nonce == "" {
		return errors.New("a destructive step needs the nonce of its accepted signature")
	}
	return need(r.Txn != "" && r.Call != "" && r.Op != "" && r.Class != "" && r.Guest >= 0,
		"needs txn, action, op and class")
}
func (r TaskStarted) validate() error {
	return need(r.Txn != "" && r.Call != "" && r.UPID != "", "needs txn, action and upid")
}
func (r Result) validate() error {
	switch r.Status {
	case StatusOK, StatusFailed, StatusRolledBack, StatusAborted:
	default:
		return fmt.Errorf("unknown step status %q", r.Status)
	}
	return need(r.Txn != "" && r.Call != "", "needs txn and action")
}
func (r JobDone) validate() error     { return need(r.Job != "", "needs job") }
func (r GuestDigest) validate() error { return need(r.Guest > 0, "needs guest") }
func (r GuestCreated) validate() error {
	return need(r.Txn != "" && r.Guest > 0, "needs txn and guest")
}
func (r SnapshotCreated) validate() error {
	return need(r.Guest > 0 && r.Name != "", "needs guest and name")
}
func (r SnapshotRemoved) validate() error {
	return need(r.Guest > 0 && r.Name != "", "needs guest and name")
}
func (r BackupCreated) validate() error {
	return need(r.Guest > 0 && r.VolID != "" && !r.Created.IsZero(), "needs guest, volid and created")
}
func (r BackupRemoved) validate() error { return need(r.VolID != "", "needs volid") }
func (r Checkpoint) validate() error {
	if r.Prev != "" {
		if _, err := parseCRC([]byte(r.Prev)); err != nil || len(r.Prev) != 8 {
			return fmt.Errorf("prev %q is not 8 lower-case hex digits", r.Prev)
		}
	}
	return need(r.Seq > 0 && r.Dropped >= 0, "needs a positive seq")
}
func (r JournalReset) validate() error {
	return need(r.Lost != "" && r.AnchorSeq >= 0 && r.FoundSeq >= 0, "needs lost")
}

// marshalRecord is the JSON of r with "type" as its first member.
func marshalRecord(r Record) ([]byte, error) {
	body, err := json.Marshal(r)
	if err != nil {
		return nil, err
	}
	if len(body) < 2 || body[0] != '{' {
		return nil, fmt.Errorf("record %s: not a JSON object", r.Type())
	}
	out := make([]byte, 0, len(body)+len(r.Type())+12)
	out = append(out, `{"type":"`...)
	out = append(out, r.Type()...)
	out = append(out, '"')
	if len(body) > 2 {
		out = append(out, ',')
	}
	return append(out, body[1:]...), nil
}

// typePrefix matches the opening this package writes, so the common case
// needs no separate pass to find the type.
var typePrefix = []byte(`{"type":"`)

func recordType(data []byte) (RecordType, error) {
	if bytes.HasPrefix(data, typePrefix) {
		rest := data[len(typePrefix):]
		if end := bytes.IndexByte(rest, '"'); end > 0 && bytes.IndexByte(rest[:end], '\\') < 0 {
			return RecordType(rest[:end]), nil
		}
	}
	var probe struct {
		Type RecordType `json:"type"`
	}
	if err := json.Unmarshal(data, &probe); err != nil {
		return "", err
	}
	if probe.Type == "" {
		return "", errors.New(`no "type"`)
	}
	return probe.Type, nil
}

func decodeAs[T Record](data []byte) (Record, error) {
	var r T
	if err := json.Unmarshal(data, &r); err != nil {
		return nil, err
	}
	return r, nil
}

// unmarshalRecord decodes one record. Members it does not know are
// ignored; a type it does not know is an error.
func unmarshalRecord(data []byte) (Record, error) {
	t, err := recordType(data)
	if err != nil {
		return nil, err
	}
	var r Record
	switch t {
	case TypeTxnBegin:
		r, err = decodeAs[TxnBegin](data)
	case TypeTxnEnd:
		r, err = decodeAs[TxnEnd](data)
	case TypeIntent:
		r, err = decodeAs[Intent](data)
	case TypeTaskStarted:
		r, err = decodeAs[TaskStarted](data)
	case TypeResult:
		r, err = decodeAs[Result](data)
	case TypeJobDone:
		r, err = decodeAs[JobDone](data)
	case TypeGuestDigest:
		r, err = decodeAs[GuestDigest](data)
	case TypeGuestCreated:
		r, err = decodeAs[GuestCreated](data)
	case TypeSnapshotCreated:
		r, err = decodeAs[SnapshotCreated](data)
	case TypeSnapshotRemoved:
		r, err = decodeAs[SnapshotRemoved](data)
	case TypeBackupCreated:
		r, err = decodeAs[BackupCreated](data)
	case TypeBackupRemoved:
		r, err = decodeAs[BackupRemoved](data)
	case TypeCheckpoint:
		r, err = decodeAs[Checkpoint](data)
	case TypeJournalReset:
		r, err = decodeAs[JournalReset](data)
	default:
		return nil, fmt.Errorf("unknown record type %q (written by a newer felhom-converge?)", t)
	}
	if err != nil {
		return nil, fmt.Errorf("record %s: %w", t, err)
	}
	if err := r.validate(); err != nil {
		return nil, fmt.Errorf("record %s: %w", t, err)
	}
	return r, nil
}
