// Package hub fetches a host's desired-state file from the hub and
// replaces the local copy only with a file that is valid for this host;
// it also fetches a signature bundle and hands it over to be installed.
//
// The hub is untrusted input (see the design): the answer is bounded in
// size ([schema.MaxFileSize]) and time, must be complete (a matching
// Content-Length, a clean chunked end, or over TLS a close_notify before
// the connection closed), must load with [schema.Load] without errors and
// within its load budget, and must name this host ([schema.Host.CheckHost])
// before it atomically replaces the last good file. Anything else (the hub
// down, a TLS pin mismatch, an HTTP error, a file too large, cut short,
// invalid, too costly to load or for another host) leaves the last good
// file exactly as it was and returns a *[FetchError].
//
// TLS trust is the Proxmox client's: a CA file or a pinned SHA-256
// fingerprint of the hub's certificate ([proxmox.TLSClientConfig]); with
// neither, the system's roots. Plain http:// is allowed only for loopback
// hubs. Redirects are never followed. A bearer token, when given, goes
// only into the Authorization header; [Token] reads it from the
// environment, a file or the systemd credential.
//
// Nothing the hub sends is printed or stored as it came: every message,
// ETag and warning built from its answer has each secret of
// [Options.Secrets] (the token first) replaced by "[redacted]", and
// control characters (ESC, C1, bidirectional overrides) escaped (package
// printable). An ETag that held a secret is dropped.
//
// Local files are opened without following symbolic links and must be
// regular files (a FIFO or a device at the destination or its pull state
// is an error, never a hang), in a directory checked as the state
// directory is ([journal.OpenStateDir]).
//
// Conditional requests: the ETag of the last good file is kept beside it,
// in FILE.pull.json ([State]), and sent as If-None-Match, so an unchanged
// file costs the hub a 304 and no body. The same file records when the last
// pull was tried, when it last succeeded and, after a failure, what went
// wrong, for status reports and metrics; the signature bundle's ETag and
// history are kept in it too ([State.Signatures]).
package hub

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"github.com/felhom/felhom-converge/atomicfile"
	"github.com/felhom/felhom-converge/config"
	"github.com/felhom/felhom-converge/journal"
	"github.com/felhom/felhom-converge/schema"
	"github.com/felhom/felhom-converge/trust"
	"github.com/hashicorp/hcl/v2"
)

// DefaultTimeout bounds one pull, from the connection to the last byte.
const DefaultTimeout = 30 * time.Second

// CredentialName is the systemd credential (LoadCredential=) that may hold
// the hub's bearer token, read from $CREDENTIALS_DIRECTORY.
const CredentialName = "hub-token"

// maxStateSize bounds FILE.pull.json.
const maxStateSize = 64 << 10

// Options configure one pull.
type Options struct {
	// URL of this host's desired-state file: https://, or http:// for a
	// loopback hub only. User info is refused (the token has its own
	// setting); a query is allowed but never printed.
	URL string
	// Host is this host's name: the pulled file must be for it.
	Host string
	// CAFile verifies the hub's certificate against this CA bundle;
	// Fingerprint pins the SHA-256 of its leaf certificate instead (any
	// case, colons optional). At most one; with neither, the system's
	// roots are trusted.
	CAFile      string
	Fingerprint string
	// Token, when set, is sent as "Authorization: Bearer TOKEN".
	Token config.Secret
	// Secrets are other secrets the process holds (the Proxmox API token):
	// like the token, never printed or stored, whoever sends them back.
	Secrets []config.Secret
	// Timeout bounds the whole request (default DefaultTimeout).
	Timeout time.Duration
	// Budget bounds loading the pulled file (default schema.DefaultBudget;
	// its Exceeded is replaced: going over is a FetchError, OverBudget).
	Budget schema.Budget
}

// Outcome is what a successful pull did.
type Outcome string

const (
	Updated     Outcome = "updated"      // a new file replaced the old one (or is the first)
	NotModified Outcome = "not_modified" // the hub answered 304 to the stored ETag
	Unchanged   Outcome = "unchanged"    // the hub sent the same bytes again
)

// Result describes a successful pull.
type Result struct {
	Outcome Outcome
	Bytes   int    // size of the file now in place
	ETag    string // the hub's ETag for it ("" when the hub sends none)
	SHA256  string // of the file now in place, lower-case hex
	// Warnings are the schema's warnings for a new file (a value rounded
	// up to whole MiB, ...), as "FILE:LINE,COL: summary" lines.
	Warnings []string
}

// Reason classifies why a pull kept the last good file.
type Reason string

const (
	Unreachable Reason = "unreachable" // DNS, connect, timeout, reset, TLS handshake
	PinMismatch Reason = "pin_mismatch"
	HTTPStatus  Reason = "http_status" // an answer other than 200 or 304
	TooLarge    Reason = "too_large"
	Truncated   Reason = "truncated" // the answer ended before its end
	Invalid     Reason = "invalid"   // schema errors; for a bundle, not a bundle
	OverBudget  Reason = "over_budget"
	WrongHost   Reason = "wrong_host"
	Interrupted Reason = "interrupted" // stopped by a signal (the context ended)
)

// Reasons lists every Reason, for metrics that enumerate them.
var Reasons = []Reason{Unreachable, PinMismatch, HTTPStatus, TooLarge, Truncated, Invalid, OverBudget, WrongHost, Interrupted}

// FetchError is a pull that got no valid new file from the hub. The last
// good file (if any) is untouched. Msg holds no secret and no control
// character.
type FetchError struct {
	URL    string // redacted: scheme://host/path, no query
	Reason Reason
	Msg    string
	Err    error // the underlying error, when there is one
}

func (e *FetchError) Error() string { return fmt.Sprintf("pull %s: %s", e.URL, e.Msg) }
func (e *FetchError) Unwrap() error { return e.Err }

// State is FILE.pull.json: the ETag of the file in place and the history
// of the last pulls; Signatures is the signature bundle's.
type State struct {
	ETag        string    `json:"etag,omitempty"`
	SHA256      string    `json:"sha256,omitempty"` // of the file the ETag belongs to
	LastSuccess time.Time `json:"last_success,omitzero"`
	LastAttempt time.Time `json:"last_attempt,omitzero"`
	LastError   string    `json:"last_error,omitempty"` // "" after a success
	LastReason  Reason    `json:"last_reason,omitempty"`
	// Signatures is the state of 'pull --signatures'; nil when it was
	// never used.
	Signatures *SourceState `json:"signatures,omitempty"`
}

// SourceState is the pull state of one more file fetched with the desired
// state (the signature bundle).
type SourceState struct {
	URL         string    `json:"url"`              // redacted, as in errors
	ETag        string    `json:"etag,omitempty"`   // of the last bundle handled
	SHA256      string    `json:"sha256,omitempty"` // of the last bundle handled
	LastSuccess time.Time `json:"last_success,omitzero"`
	LastAttempt time.Time `json:"last_attempt,omitzero"`
	LastError   string    `json:"last_error,omitempty"`
	LastReason  Reason    `json:"last_reason,omitempty"`
}

// StatePath is where the pull state of dest is kept.
func StatePath(dest string) string { return dest + ".pull.json" }

// ReadState reads the pull state kept beside dest. A missing file is the
// zero State and no error; one that is not a regular file (a FIFO, a
// symbolic link) is an error wrapping trust.ErrNotRegular.
func ReadState(dest string) (State, error) {
	var st State
	b, err := trust.ReadRegular(StatePath(dest), maxStateSize)
	if errors.Is(err, errNotExist) {
		return st, nil
	}
	if err != nil {
		return st, err
	}
	if err := json.Unmarshal(b, &st); err != nil {
		return State{}, fmt.Errorf("%s: %w", StatePath(dest), err)
	}
	return st, nil
}

// Pull fetches o.URL and, when the answer is a valid desired state for
// o.Host that differs from dest, atomically replaces dest with it. A
// *FetchError means the hub gave nothing usable and dest is untouched;
// any other error is local (bad options, dest not a regular file or not
// writable, its directory unsafe). Either way the attempt is recorded in
// dest's pull state when that can be written.
func Pull(ctx context.Context, o Options, dest string) (Result, error) {
	c, err := prepare(o)
	if err != nil {
		return Result{}, err
	}
	st, old, haveOld, err := readLocal(dest)
	if err != nil {
		return Result{}, err
	}
	now := time.Now().UTC()
	st.LastAttempt = now
	etag := ""
	// Ask for a 304 only when the ETag belongs to the file in place.
	if haveOld && st.ETag != "" && st.SHA256 == sha256Hex(old) {
		etag = st.ETag
	}
	res, body, ferr := c.fetchDesired(ctx, etag, st, haveOld, old)
	if ferr != nil {
		st.LastError, st.LastReason = ferr.Msg, ferr.Reason
		if werr := writeState(dest, st); werr != nil {
			return Result{}, fmt.Errorf("%w (and recording it failed: %v)", ferr, werr)
		}
		return Result{}, ferr
	}
	if res.Outcome == Updated {
		if err := atomicfile.Shared(dest, body, 0o600); err != nil {
			return Result{}, fmt.Errorf("pull: %w", err)
		}
	}
	// The file first, then its ETag: a crash in between costs one full
	// download, never a stale file kept by a 304.
	st.ETag, st.SHA256 = res.ETag, res.SHA256
	st.LastSuccess, st.LastError, st.LastReason = now, "", ""
	if err := writeState(dest, st); err != nil {
		return Result{}, fmt.Errorf("pull: %w", err)
	}
	return res, nil
}

// readLocal checks dest's directory as the state directory is (creating
// it 0700 when missing) and reads dest's pull state and content. A state
// that does not parse is a cache miss (it is rewritten); one that is not
// a regular file, and a dest that is not, are errors.
func readLocal(dest string) (st State, old []byte, haveOld bool, err error) {
	if _, err := journal.OpenStateDir(filepath.Dir(dest)); err != nil {
		return State{}, nil, false, fmt.Errorf("pull: the directory of %s: %w", dest, err)
	}
	st, err = ReadState(dest)
	if errors.Is(err, trust.ErrNotRegular) {
		return State{}, nil, false, fmt.Errorf("pull: %w", err)
	}
	if err != nil {
		st = State{}
	}
	old, err = trust.ReadRegular(dest, schema.MaxFileSize)
	switch {
	case errors.Is(err, errNotExist):
		return st, nil, false, nil
	case errors.Is(err, trust.ErrTooLarge):
		return st, nil, true, nil // replaced by a valid file, never read
	case err != nil:
		return State{}, nil, false, fmt.Errorf("pull: %w", err)
	}
	return st, old, true, nil
}

// fetchDesired does the request and checks the answer as a desired-state
// file. body is the new file for an Updated result.
func (c *client) fetchDesired(ctx context.Context, etag string, st State, haveOld bool, old []byte) (Result, []byte, *FetchError) {
	a, ferr := c.get(ctx, c.url, etag, schema.MaxFileSize, "file")
	if ferr != nil {
		return Result{}, nil, ferr
	}
	if a.notModified {
		return Result{Outcome: NotModified, Bytes: len(old), ETag: st.ETag, SHA256: st.SHA256}, nil, nil
	}
	var over *schema.BudgetError
	b := c.o.Budget
	if b.CPU == 0 && b.Wall == 0 && b.Heap == 0 {
		b = schema.DefaultBudget
	}
	b.Exceeded = func(e *schema.BudgetError) { over = e }
	h, diags, err := schema.LoadSourceBudgeted(ctx, a.body, diagName(c.url.Path), b)
	switch {
	case over != nil:
		return Result{}, nil, c.fail(c.url, OverBudget, nil, "%v", over)
	case err != nil && ctx.Err() != nil:
		return Result{}, nil, c.fail(c.url, Interrupted, err, "interrupted while checking the hub's file")
	case err != nil:
		return Result{}, nil, c.fail(c.url, Invalid, err, "checking the hub's file: %v", err)
	case diags.HasErrors():
		errs := diags.Errs()
		msg := "invalid desired state: " + errs[0].Error()
		if len(errs) > 1 {
			msg += fmt.Sprintf(" (and %d more errors)", len(errs)-1)
		}
		return Result{}, nil, c.fail(c.url, Invalid, diags, "%s", oneLine(msg))
	}
	if err := h.CheckHost(c.o.Host); err != nil {
		return Result{}, nil, c.fail(c.url, WrongHost, err, "%v", err)
	}
	res := Result{Outcome: Updated, Bytes: len(a.body), ETag: a.etag, SHA256: sha256Hex(a.body)}
	for _, d := range diags {
		if d.Severity == hcl.DiagWarning {
			res.Warnings = append(res.Warnings, c.clean(oneLine(d.Error())))
		}
	}
	if haveOld && bytes.Equal(a.body, old) {
		res.Outcome = Unchanged
	}
	return res, a.body, nil
}

func writeState(dest string, st State) error {
	b, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return err
	}
	return atomicfile.Shared(StatePath(dest), append(b, '\n'), 0o600)
}

// diagName is the name diagnostics use for the pulled file: the URL's
// last path element, or "hub" when it has none.
func diagName(path string) string {
	if b := filepath.Base(path); b != "." && b != "/" && b != "" {
		return "hub:" + b
	}
	return "hub"
}

func sha256Hex(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// oneLine joins a multi-line message into one log line.
func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }
