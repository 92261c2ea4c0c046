package apply

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"syscall"
	"time"

	"github.com/felhom/felhom-converge/proxmox"
	"github.com/felhom/felhom-converge/trust"
)

// AuditFile is the audit log's name in the state directory.
const AuditFile = "audit.jsonl"

// Gate decisions beyond trust's outcomes.
const (
	DecisionBenign     = "allowed_benign"
	DecisionProvenance = "allowed_provenance"
	// DecisionVerified is a signature that would be accepted, audited
	// when a check against the live guest refused its step before the
	// nonce was spent (the signature stays usable).
	DecisionVerified = "verified_unspent"
	// DecisionSpent is a signed request moved out of the signatures
	// directory because its nonce was used.
	DecisionSpent = "moved_spent"
)

// Results an audit entry records for an executed call (the journal's
// statuses), or for a step refused before any call.
const (
	ResultOK         = "ok"
	ResultFailed     = "failed"
	ResultRolledBack = "rolled_back"
	ResultAborted    = "aborted"
	// ResultRefusedPrecheck is an audited step that made no call: its
	// params or a check against the live guest refused it first.
	ResultRefusedPrecheck = "refused_precheck"
)

// AuditEntry is one line of STATE_DIR/audit.jsonl: a gate decision (no
// result yet) or an executed call's outcome.
type AuditEntry struct {
	Time        time.Time `json:"time"`
	Host        string    `json:"host"`
	Txn         string    `json:"txn"`
	Step        string    `json:"step"`
	Op          string    `json:"op"`
	Guest       *int      `json:"guest"`
	Class       string    `json:"class"`
	Decision    string    `json:"decision"`
	Signer      string    `json:"signer,omitempty"`
	Fingerprint string    `json:"fingerprint,omitempty"`
	Nonce       string    `json:"nonce,omitempty"`
	UPID        string    `json:"upid,omitempty"`
	Result      string    `json:"result,omitempty"`
	Reason      string    `json:"reason,omitempty"`
	// Policy is the local policy entry (gate.sign) that made a benign
	// step need a signature.
	Policy string `json:"policy,omitempty"`
}

// Audit appends entries to the audit log, one JSON line each, fsynced,
// and mirrors each as one record on Logger (stderr, for journald): a gate
// decision or a step outcome, with the entry's fields as stable keys.
type Audit struct {
	mu   sync.Mutex
	path string
	open func() (*os.File, error)
	// RotateAt and Keep bound the file (0: AuditRotateAt, AuditKeep).
	RotateAt int64
	Keep     int
	repaired bool // the last line was checked (repairTail) before the first append
	// Logger receives one record per entry (nil: none).
	Logger *slog.Logger
	// Observe, if set, is called with each entry once it is logged (the
	// terminal's progress line takes the step being run from it).
	Observe func(AuditEntry)
}

// OpenAudit returns the audit log at path (created 0600 on first write),
// mirrored on log (nil: not mirrored).
func OpenAudit(path string, log *slog.Logger) *Audit {
	return &Audit{path: path, Logger: log}
}

// NewAudit returns an audit log opened by open for each append (the state
// directory's checked opener: no symbolic link, a regular file of the
// service user, mode 0600).
func NewAudit(name string, open func() (*os.File, error), log *slog.Logger) *Audit {
	a := OpenAudit(name, log)
	a.open = open
	return a
}

// Write appends one entry durably. An error means the entry may not be
// recorded: the caller must not run a destructive step on it.
func (a *Audit) Write(e AuditEntry) error {
	if a == nil {
		return fmt.Errorf("audit: no audit log")
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if e.Time.IsZero() {
		e.Time = time.Now().UTC()
	}
	e.Time = e.Time.UTC()
	line, err := json.Marshal(e)
	if err != nil {
		return fmt.Errorf("audit: %w", err)
	}
	a.log(e)
	if a.Observe != nil {
		a.Observe(e)
	}
	f, err := a.openFile(int64(len(line) + 1))
	if err != nil {
		return fmt.Errorf("audit: %w", err)
	}
	if _, err := f.Write(append(line, '\n')); err != nil {
		f.Close()
		return fmt.Errorf("audit: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("audit: %w", err)
	}
	return f.Close()
}

// openFile opens the audit log for an append of n bytes: its last line
// made whole first (once), and rotated when the append would take it past
// RotateAt. A rotation that fails is logged, and the entry appended all
// the same: the audit trail matters more than its bound.
func (a *Audit) openFile(n int64) (*os.File, error) {
	f, size, err := a.openOnce()
	if err != nil {
		return nil, err
	}
	if !a.repaired {
		cut, err := repairTail(a.path, f)
		if err != nil {
			f.Close()
			return nil, fmt.Errorf("%s: %w", a.path, err)
		}
		a.repaired = true
		if cut != "" {
			a.warn("audit: " + cut)
			if fi, err := f.Stat(); err == nil {
				size = fi.Size()
			}
		}
	}
	rotateAt, keep := cmp.Or(a.RotateAt, AuditRotateAt), cmp.Or(a.Keep, AuditKeep)
	if size == 0 || size+n <= rotateAt {
		return f, nil
	}
	f.Close()
	if err := rotate(a.path, keep); err != nil {
		a.warn(fmt.Sprintf("audit: rotate %s: %v; appending to it", a.path, err))
	}
	f, _, err = a.openOnce()
	return f, err
}

func (a *Audit) openOnce() (*os.File, int64, error) {
	var f *os.File
	var err error
	if a.open != nil {
		f, err = a.open()
	} else {
		f, err = os.OpenFile(a.path, os.O_WRONLY|os.O_APPEND|os.O_CREATE|syscall.O_NOFOLLOW, 0o600)
	}
	if err != nil {
		return nil, 0, err
	}
	fi, err := f.Stat()
	if err != nil || !fi.Mode().IsRegular() {
		f.Close()
		return nil, 0, fmt.Errorf("%s is not a regular file", a.path)
	}
	return f, fi.Size(), nil
}

func (a *Audit) warn(msg string) {
	if a.Logger != nil {
		a.Logger.Warn(msg)
	}
}

// Log record messages of audit entries.
const (
	LogGateDecision = "gate decision"
	LogStepOutcome  = "step outcome"
)

// log mirrors e as one record: "step outcome" when it has a result, "gate
// decision" otherwise; only the fields set, under their JSON names. A
// failed or unknown outcome and a gate error are errors, a refused
// signature a warning, everything else info.
func (a *Audit) log(e AuditEntry) {
	if a.Logger == nil {
		return
	}
	msg, level := LogGateDecision, slog.LevelInfo
	if e.Result != "" {
		msg = LogStepOutcome
	}
	switch {
	case e.Result == ResultFailed || e.Result == "unknown" || e.Decision == "error":
		level = slog.LevelError
	case e.Result == "" && !allowedOrPending(e.Decision):
		level = slog.LevelWarn
	}
	ctx := context.Background()
	if !a.Logger.Enabled(ctx, level) {
		return
	}
	attrs := make([]slog.Attr, 0, 13)
	str := func(k, v string) {
		if v != "" {
			attrs = append(attrs, slog.String(k, v))
		}
	}
	str("txn", e.Txn)
	str("step", e.Step)
	str("op", e.Op)
	if e.Guest != nil {
		attrs = append(attrs, slog.Int("guest", *e.Guest))
	}
	str("class", e.Class)
	str("decision", e.Decision)
	str("signer", e.Signer)
	str("fingerprint", e.Fingerprint)
	str("nonce", e.Nonce)
	str("upid", e.UPID)
	str("result", e.Result)
	str("reason", e.Reason)
	str("policy", e.Policy)
	a.Logger.LogAttrs(ctx, level, msg, attrs...)
}

// allowedOrPending reports whether a gate decision lets the step run or
// only waits for a signature (nothing was refused).
func allowedOrPending(d string) bool {
	switch d {
	case DecisionBenign, DecisionProvenance, string(trust.Accepted), string(trust.PendingSignature):
		return true
	}
	return false
}

// upidText is the UPID as Proxmox prints it, or "" for none.
func upidText(u proxmox.UPID) string {
	if u.IsZero() {
		return ""
	}
	return u.String()
}
