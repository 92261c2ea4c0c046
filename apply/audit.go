package apply

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/felhom/felhom-converge/proxmox"
)

// AuditFile is the audit log's name in the state directory.
const AuditFile = "audit.jsonl"

// Gate decisions beyond trust's outcomes.
const (
	DecisionBenign     = "allowed_benign"
	DecisionProvenance = "allowed_provenance"
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
}

// Audit appends entries to the audit log, one JSON line each, fsynced,
// and mirrors each as one line on Log (stderr, for journald).
type Audit struct {
	mu   sync.Mutex
	path string
	open func() (*os.File, error)
	Log  io.Writer
}

// OpenAudit returns the audit log at path (created 0600 on first write).
func OpenAudit(path string, log io.Writer) *Audit {
	if log == nil {
		log = io.Discard
	}
	return &Audit{path: path, Log: log}
}

// NewAudit returns an audit log opened by open for each append (the state
// directory's checked opener: no symbolic link, a regular file of the
// service user, mode 0600).
func NewAudit(name string, open func() (*os.File, error), log io.Writer) *Audit {
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
	fmt.Fprintln(a.Log, a.logLine(e))
	var f *os.File
	if a.open != nil {
		f, err = a.open()
	} else {
		f, err = os.OpenFile(a.path, os.O_WRONLY|os.O_APPEND|os.O_CREATE|syscall.O_NOFOLLOW, 0o600)
	}
	if err != nil {
		return fmt.Errorf("audit: %w", err)
	}
	if fi, err := f.Stat(); err != nil || !fi.Mode().IsRegular() {
		f.Close()
		return fmt.Errorf("audit: %s is not a regular file", a.path)
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

func (a *Audit) logLine(e AuditEntry) string {
	var b strings.Builder
	fmt.Fprintf(&b, "felhom-converge: audit: txn=%s step=%s op=%s", e.Txn, e.Step, e.Op)
	if e.Guest != nil {
		fmt.Fprintf(&b, " guest=%d", *e.Guest)
	}
	fmt.Fprintf(&b, " class=%s decision=%s", e.Class, e.Decision)
	for _, kv := range [][2]string{{"signer", e.Signer}, {"fingerprint", e.Fingerprint}, {"nonce", e.Nonce}, {"upid", e.UPID}, {"result", e.Result}} {
		if kv[1] != "" {
			fmt.Fprintf(&b, " %s=%s", kv[0], kv[1])
		}
	}
	if e.Reason != "" {
		fmt.Fprintf(&b, " reason=%q", e.Reason)
	}
	return b.String()
}

// upidText is the UPID as Proxmox prints it, or "" for none.
func upidText(u proxmox.UPID) string {
	if u.IsZero() {
		return ""
	}
	return u.String()
}
