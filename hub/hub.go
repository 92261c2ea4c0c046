// Package hub fetches a host's desired-state file from the hub and
// replaces the local copy only with a file that is valid for this host.
//
// The hub is untrusted input (see the design): the answer is bounded in
// size ([schema.MaxFileSize]) and time, must load with [schema.Load] without
// errors and must name this host ([schema.Host.CheckHost]) before it
// atomically replaces the last good file. Anything else (the hub down, a TLS
// pin mismatch, an HTTP error, a file too large, invalid or for another
// host) leaves the last good file exactly as it was and returns a
// *[FetchError].
//
// TLS trust is the Proxmox client's: a CA file or a pinned SHA-256
// fingerprint of the hub's certificate ([proxmox.TLSClientConfig]); with
// neither, the system's roots. Plain http:// is allowed only for loopback
// hubs. A bearer token, when given, goes only into the Authorization header
// and never into an error or a log line.
//
// Conditional requests: the ETag of the last good file is kept beside it,
// in FILE.pull.json ([State]), and sent as If-None-Match, so an unchanged
// file costs the hub a 304 and no body. The same file records when the last
// pull succeeded and, after a failure, what went wrong, for status reports.
package hub

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/felhom/felhom-converge/atomicfile"
	"github.com/felhom/felhom-converge/config"
	"github.com/felhom/felhom-converge/proxmox"
	"github.com/felhom/felhom-converge/schema"
	"github.com/hashicorp/hcl/v2"
)

// DefaultTimeout bounds one pull, from the connection to the last byte.
const DefaultTimeout = 30 * time.Second

// CredentialName is the systemd credential (LoadCredential=) that may hold
// the hub's bearer token, read from $CREDENTIALS_DIRECTORY.
const CredentialName = "hub-token"

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
	// Timeout bounds the whole request (default DefaultTimeout).
	Timeout time.Duration
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
	Invalid     Reason = "invalid" // schema errors
	WrongHost   Reason = "wrong_host"
)

// FetchError is a pull that got no valid new file from the hub. The last
// good file (if any) is untouched.
type FetchError struct {
	URL    string // redacted: scheme://host/path, no query
	Reason Reason
	Msg    string
	Err    error // the underlying error, when there is one
}

func (e *FetchError) Error() string { return fmt.Sprintf("pull %s: %s", e.URL, e.Msg) }
func (e *FetchError) Unwrap() error { return e.Err }

// State is FILE.pull.json: the ETag of the file in place and the history
// of the last pulls.
type State struct {
	ETag        string    `json:"etag,omitempty"`
	SHA256      string    `json:"sha256,omitempty"` // of the file the ETag belongs to
	LastSuccess time.Time `json:"last_success,omitzero"`
	LastAttempt time.Time `json:"last_attempt,omitzero"`
	LastError   string    `json:"last_error,omitempty"` // "" after a success
	LastReason  Reason    `json:"last_reason,omitempty"`
}

// StatePath is where the pull state of dest is kept.
func StatePath(dest string) string { return dest + ".pull.json" }

// ReadState reads the pull state kept beside dest. A missing file is the
// zero State and no error.
func ReadState(dest string) (State, error) {
	var st State
	b, err := os.ReadFile(StatePath(dest))
	if errors.Is(err, fs.ErrNotExist) {
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
// any other error is local (bad options, dest not writable).
func Pull(ctx context.Context, o Options, dest string) (Result, error) {
	u, shown, err := parseURL(o.URL)
	if err != nil {
		return Result{}, err
	}
	if o.Host == "" {
		return Result{}, errors.New("pull: the local host name is not set")
	}
	if o.Token.IsSet() && strings.ContainsFunc(o.Token.Reveal(), func(r rune) bool { return r <= ' ' || r == 0x7f }) {
		return Result{}, errors.New("pull: the hub token contains whitespace or control characters")
	}
	client, err := newClient(o, u.Scheme)
	if err != nil {
		return Result{}, err
	}
	if err := os.MkdirAll(filepath.Dir(dest), 0o700); err != nil {
		return Result{}, fmt.Errorf("pull: %w", err)
	}
	// The state is a cache: an unreadable one costs a full download and is
	// rewritten, it never blocks pulls.
	st, err := ReadState(dest)
	if err != nil {
		st = State{}
	}
	old, err := os.ReadFile(dest)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return Result{}, fmt.Errorf("pull: %w", err)
	}
	haveOld := err == nil

	now := time.Now().UTC()
	st.LastAttempt = now
	res, body, ferr := fetch(ctx, client, u, shown, o, st, haveOld, old)
	if ferr != nil {
		st.LastError, st.LastReason = ferr.Msg, ferr.Reason
		if werr := writeState(dest, st); werr != nil {
			return Result{}, fmt.Errorf("%w (and recording it failed: %v)", ferr, werr)
		}
		return Result{}, ferr
	}
	if res.Outcome == Updated {
		if err := atomicfile.WriteFile(dest, body, 0o600); err != nil {
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

// fetch does the request and checks the answer. body is the new file for
// an Updated result.
func fetch(ctx context.Context, client *http.Client, u *url.URL, shown string, o Options, st State, haveOld bool, old []byte) (Result, []byte, *FetchError) {
	fail := func(reason Reason, err error, format string, args ...any) *FetchError {
		return &FetchError{URL: shown, Reason: reason, Msg: fmt.Sprintf(format, args...), Err: err}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return Result{}, nil, fail(Unreachable, err, "%v", err)
	}
	req.Header.Set("Accept", "text/plain, application/octet-stream;q=0.9, */*;q=0.1")
	req.Header.Set("User-Agent", "felhom-converge")
	if o.Token.IsSet() {
		req.Header.Set("Authorization", "Bearer "+o.Token.Reveal())
	}
	// Ask for a 304 only when the ETag belongs to the file in place.
	if haveOld && st.ETag != "" && st.SHA256 == sha256Hex(old) {
		req.Header.Set("If-None-Match", st.ETag)
	}
	resp, err := client.Do(req)
	if err != nil {
		var pin *proxmox.FingerprintMismatchError
		if errors.As(err, &pin) {
			return Result{}, nil, fail(PinMismatch, err, "the hub's certificate fingerprint %s does not match the pinned %s (if the hub's certificate was renewed, update the pin)", pin.Seen, pin.Want)
		}
		return Result{}, nil, fail(Unreachable, err, "hub unreachable: %v", transportError(err))
	}
	defer resp.Body.Close()

	switch {
	case resp.StatusCode == http.StatusNotModified && req.Header.Get("If-None-Match") != "":
		return Result{Outcome: NotModified, Bytes: len(old), ETag: st.ETag, SHA256: st.SHA256}, nil, nil
	case resp.StatusCode != http.StatusOK:
		return Result{}, nil, fail(HTTPStatus, nil, "hub answered %s", statusText(resp))
	}
	if resp.ContentLength > schema.MaxFileSize {
		return Result{}, nil, fail(TooLarge, nil, "the hub's file is %d bytes, over the %d-byte (4 MiB) bound", resp.ContentLength, schema.MaxFileSize)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, schema.MaxFileSize+1))
	if err != nil {
		return Result{}, nil, fail(Unreachable, err, "reading the hub's answer: %v", transportError(err))
	}
	if len(body) > schema.MaxFileSize {
		return Result{}, nil, fail(TooLarge, nil, "the hub's file is over the %d-byte (4 MiB) bound", schema.MaxFileSize)
	}
	name := diagName(u)
	h, diags, err := schema.LoadSourceBudgeted(ctx, body, name, schema.DefaultBudget)
	if err != nil {
		return Result{}, nil, fail(Unreachable, err, "checking the hub's file: %v", err)
	}
	if diags.HasErrors() {
		errs := diags.Errs()
		msg := "invalid desired state: " + errs[0].Error()
		if len(errs) > 1 {
			msg += fmt.Sprintf(" (and %d more errors)", len(errs)-1)
		}
		return Result{}, nil, fail(Invalid, diags, "%s", oneLine(msg))
	}
	if err := h.CheckHost(o.Host); err != nil {
		return Result{}, nil, fail(WrongHost, err, "%v", err)
	}
	res := Result{Outcome: Updated, Bytes: len(body), ETag: validETag(resp.Header.Get("ETag")), SHA256: sha256Hex(body)}
	for _, d := range diags {
		if d.Severity == hcl.DiagWarning {
			res.Warnings = append(res.Warnings, oneLine(d.Error()))
		}
	}
	if haveOld && bytes.Equal(body, old) {
		res.Outcome = Unchanged
	}
	return res, body, nil
}

func newClient(o Options, scheme string) (*http.Client, error) {
	timeout := o.Timeout
	if timeout < 0 {
		return nil, errors.New("pull: the timeout must not be negative")
	}
	if timeout == 0 {
		timeout = DefaultTimeout
	}
	tr := &http.Transport{
		// A fleet behind a proxy reaches its hub through HTTPS_PROXY;
		// loopback hubs are never proxied.
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           (&net.Dialer{Timeout: 10 * time.Second}).DialContext,
		TLSHandshakeTimeout:   10 * time.Second,
		ResponseHeaderTimeout: timeout,
		DisableKeepAlives:     true, // one request per run
	}
	switch {
	case scheme == "http":
		if o.CAFile != "" || o.Fingerprint != "" {
			return nil, errors.New("pull: --ca-file and --fingerprint need an https:// hub URL")
		}
	case o.CAFile != "" && o.Fingerprint != "":
		return nil, errors.New("pull: give at most one of --ca-file and --fingerprint for the hub")
	case o.CAFile != "" || o.Fingerprint != "":
		cfg, err := proxmox.TLSClientConfig(o.CAFile, o.Fingerprint, false)
		if err != nil {
			return nil, fmt.Errorf("pull: hub TLS: %w", err)
		}
		tr.TLSClientConfig = cfg
	default:
		tr.TLSClientConfig = &tls.Config{MinVersion: tls.VersionTLS12}
	}
	return &http.Client{
		Transport: tr,
		Timeout:   timeout,
		// A redirect could carry the token elsewhere; the URL must name
		// the file itself.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}, nil
}

// parseURL checks the hub URL and returns it with its printable form
// (scheme://host/path: no user info, no query, which may hold a secret).
func parseURL(s string) (*url.URL, string, error) {
	u, err := url.Parse(strings.TrimSpace(s))
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // url.Error quotes the whole URL
		}
		return nil, "", fmt.Errorf("pull: the hub URL is not a URL: %w", err)
	}
	shown := u.Scheme + "://" + u.Host + u.EscapedPath()
	switch {
	case u.Host == "":
		return nil, "", errors.New("pull: the hub URL has no host: want https://HOST/PATH")
	case u.User != nil:
		return nil, "", fmt.Errorf("pull: hub URL %s: user info is not allowed (give a token with FELHOM_CONVERGE_HUB_TOKEN, --token-file or the hub-token credential)", u.Scheme+"://"+u.Host)
	case u.Scheme == "https":
	case u.Scheme == "http":
		ip := net.ParseIP(u.Hostname())
		if u.Hostname() != "localhost" && (ip == nil || !ip.IsLoopback()) {
			return nil, "", fmt.Errorf("pull: hub URL %s: plain http is allowed only on loopback; use https", shown)
		}
	default:
		return nil, "", fmt.Errorf("pull: hub URL %s: want an https:// URL", shown)
	}
	u.Fragment = ""
	return u, shown, nil
}

// diagName is the name diagnostics use for the pulled file: the URL's
// last path element, or "hub" when it has none.
func diagName(u *url.URL) string {
	if b := filepath.Base(u.Path); b != "." && b != "/" && b != "" {
		return "hub:" + b
	}
	return "hub"
}

// transportError drops the *url.Error wrapper, which quotes the whole URL
// (query included); the caller names the URL in its redacted form.
func transportError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		if ue.Timeout() {
			return errors.New("timed out")
		}
		return ue.Err
	}
	return err
}

// statusText is "503 Service Unavailable", with the start of a short text
// body when there is one.
func statusText(resp *http.Response) string {
	s := resp.Status
	if resp.StatusCode >= 300 && resp.StatusCode < 400 {
		return s + " (redirects are not followed: give the file's final URL)"
	}
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 200))
	if msg := oneLine(strings.TrimSpace(string(b))); msg != "" && isPrintable(msg) {
		if len(msg) > 120 {
			msg = msg[:120] + "..."
		}
		s += ": " + msg
	}
	return s
}

func isPrintable(s string) bool {
	return !strings.ContainsFunc(s, func(r rune) bool { return r < ' ' || r == 0x7f || r == 0xfffd })
}

// validETag keeps an ETag only in the RFC 9110 form (W/"..." or "..."),
// printable ASCII and bounded, since it is sent back as a header.
func validETag(s string) string {
	t := strings.TrimPrefix(s, "W/")
	if len(s) > 256 || len(t) < 2 || t[0] != '"' || t[len(t)-1] != '"' {
		return ""
	}
	for _, c := range []byte(t[1 : len(t)-1]) {
		if c <= ' ' || c == '"' || c >= 0x7f {
			return ""
		}
	}
	return s
}

func writeState(dest string, st State) error {
	b, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return err
	}
	return atomicfile.WriteFile(StatePath(dest), append(b, '\n'), 0o600)
}

func sha256Hex(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// oneLine joins a multi-line message into one log line.
func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }
