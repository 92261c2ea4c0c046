package trust

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/felhom/felhom-converge/ops"
	"github.com/felhom/felhom-converge/printable"
)

// The request statement is the message an operator signs, byte for byte:
//
//	felhom-converge request v2
//	host: pve-demo
//	host-id: 5E:9C:...:0A
//	op: guest.destroy
//	guest: 105
//	params: {"purge":true}
//	nonce: 3b9f0c3c8c1e4f6a9d2e7b5a1c0d4e8f
//	not-after: 2026-11-28T03:00:00Z
//
// Every line ends in LF, the last one included. Host-level operations
// (signers.rotate, storage.mount) have no guest and write "guest: -".
// host-id is the SHA-256 fingerprint of the node's certificate as /nodes
// reports it (32 upper-case hex bytes joined by colons): an identity the
// hub cannot choose and two hosts do not share, so a request signed for a
// host of the same name elsewhere is refused (wrong_host). Version 1
// requests had no host-id and are refused.

const (
	requestHeader   = "felhom-converge request v2"
	requestHeaderV1 = "felhom-converge request v1"

	// MaxRequestSize bounds a request file before it is parsed.
	MaxRequestSize = 16 << 10

	// NoGuest is what the guest line holds for host-level operations.
	NoGuest = "-"

	// MaxParamsSize and MaxParamsDepth bound what CanonicalParams reads.
	MaxParamsSize  = 1 << 20
	MaxParamsDepth = 32
)

// Action is the step a signature approves: what the gate is about to run.
type Action struct {
	Host   string          // the host's name, from its local config
	HostID string          // the node's certificate fingerprint (see the request statement)
	Op     string          // one of ops.Names()
	Guest  int             // vmid; 0 for host-level ops (signers.rotate, storage.mount)
	Params json.RawMessage // a JSON object; canonicalised by NewRequest
}

// Request is a parsed or newly made request statement.
type Request struct {
	Action
	Nonce    string    // 128 bits, 32 lower-case hex digits
	NotAfter time.Time // UTC, whole seconds
}

// RequestError is a request statement that is not exactly canonical.
type RequestError struct {
	Line int // 1-based; 0 when it concerns the whole file
	Msg  string
}

func (e *RequestError) Error() string {
	if e.Line == 0 {
		return "request: " + e.Msg
	}
	return fmt.Sprintf("request line %d: %s", e.Line, e.Msg)
}

// NewNonce returns 128 random bits in lower-case hex.
func NewNonce() (string, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("new nonce: %w", err)
	}
	return hex.EncodeToString(b[:]), nil
}

// MakeRequest is NewRequest with a fresh nonce (NewNonce).
func MakeRequest(a Action, notAfter time.Time) (Request, error) {
	nonce, err := NewNonce()
	if err != nil {
		return Request{}, err
	}
	return NewRequest(a, nonce, notAfter)
}

// NewRequest makes the request statement for action a. It canonicalises
// the params and rounds notAfter down to whole seconds in UTC, and refuses
// anything the parser would refuse.
//
// It refuses whatever ParseRequest would refuse, so a request it makes
// always verifies: an unknown op (*ops.UnknownOpError, with a
// did-you-mean), params that do not fit the op's schema
// (*ops.ParamsError), a guest op without a guest (ErrNoGuest), a
// statement larger than MaxRequestSize.
func NewRequest(a Action, nonce string, notAfter time.Time) (Request, error) {
	if !ops.Known(a.Op) {
		return Request{}, &ops.UnknownOpError{Op: a.Op}
	}
	params, err := CanonicalParams(a.Params)
	if err != nil {
		return Request{}, err
	}
	a.Params = params
	r := Request{Action: a, Nonce: nonce, NotAfter: notAfter.UTC().Truncate(time.Second)}
	if err := r.check(); err != nil {
		return Request{}, err
	}
	if n := len(r.Marshal()); n > MaxRequestSize {
		return Request{}, fmt.Errorf("request: %d bytes, more than the %d a request may have (the params are too large)", n, MaxRequestSize)
	}
	return r, nil
}

// ErrNoGuest is wrapped when a guest op has no guest.
var ErrNoGuest = errors.New("no guest")

func (r Request) check() error {
	if err := checkHost(r.Host); err != nil {
		return err
	}
	if !ValidHostID(r.HostID) {
		return fmt.Errorf("host-id %q is not a SHA-256 certificate fingerprint (32 upper-case hex bytes joined by colons)", r.HostID)
	}
	if !ops.Known(r.Op) {
		return &ops.UnknownOpError{Op: r.Op}
	}
	if ops.HostLevel(r.Op) && r.Guest != 0 {
		return fmt.Errorf("op %s takes no guest", r.Op)
	}
	if !ops.HostLevel(r.Op) && r.Guest == 0 {
		return fmt.Errorf("op %s acts on one guest: %w", r.Op, ErrNoGuest)
	}
	if !ops.HostLevel(r.Op) && !validVMID(r.Guest) {
		return fmt.Errorf("op %s needs a guest vmid (100 to 999999999), got %d", r.Op, r.Guest)
	}
	if err := ops.CheckParams(r.Op, r.Params); err != nil {
		return err
	}
	if !validNonce(r.Nonce) {
		return errors.New("nonce must be 32 lower-case hex digits")
	}
	if r.NotAfter.Year() < 1970 || r.NotAfter.Year() > 9999 {
		return errors.New("not-after out of range")
	}
	return nil
}

func validVMID(v int) bool { return v >= 100 && v <= 999999999 }

func validNonce(s string) bool {
	if len(s) != 32 {
		return false
	}
	for _, c := range []byte(s) {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

// ValidHostID reports whether s is a host identity as requests carry it:
// a SHA-256 fingerprint, 32 upper-case hex bytes joined by colons.
func ValidHostID(s string) bool {
	if len(s) != 32*3-1 {
		return false
	}
	for i := range len(s) {
		c := s[i]
		if i%3 == 2 {
			if c != ':' {
				return false
			}
		} else if !('0' <= c && c <= '9' || 'A' <= c && c <= 'F') {
			return false
		}
	}
	return true
}

// checkHost accepts a host name as Proxmox node names are written.
func checkHost(h string) error {
	if h == "" || len(h) > 253 {
		return errors.New("host name must be 1 to 253 characters")
	}
	for _, c := range []byte(h) {
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '.' || c == '-' || c == '_') {
			return fmt.Errorf("host name %q: only letters, digits, '.', '-' and '_' are allowed", h)
		}
	}
	return nil
}

// CanonicalParams returns params as canonical JSON: an object, keys sorted
// at every level, no insignificant white space, numbers as written. Empty
// input means {}. A key that appears twice in one object, at any depth, is
// refused ({"purge":false,"purge":true} means whatever the reader picks),
// and so are params larger than MaxParamsSize or nested deeper than
// MaxParamsDepth. (A request holds at most MaxRequestSize; NewRequest
// checks that.)
func CanonicalParams(params []byte) (json.RawMessage, error) {
	if len(bytes.TrimSpace(params)) == 0 {
		return json.RawMessage("{}"), nil
	}
	if len(params) > MaxParamsSize {
		return nil, fmt.Errorf("params: %d bytes, more than %d", len(params), MaxParamsSize)
	}
	dec := json.NewDecoder(bytes.NewReader(params))
	dec.UseNumber()
	v, err := decodeStrict(dec, 0)
	if err != nil {
		return nil, fmt.Errorf("params: %w", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("params: data after the JSON object")
	}
	if _, ok := v.(map[string]any); !ok {
		return nil, errors.New("params: must be a JSON object")
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, fmt.Errorf("params: %w", err)
	}
	return json.RawMessage(escapeInvisible(bytes.TrimSuffix(buf.Bytes(), []byte("\n")))), nil
}

// escapeInvisible writes as \u escapes the characters encoding/json
// leaves raw that would reorder or hide a request's text wherever it is
// shown (printable.IsControl: DEL, C1 controls, text-direction marks and
// overrides, line separators, the byte order mark). They occur only
// inside strings, so the JSON means the same.
func escapeInvisible(b []byte) []byte {
	if !bytes.ContainsFunc(b, printable.IsControl) {
		return b
	}
	var out bytes.Buffer
	for _, r := range string(b) {
		if printable.IsControl(r) {
			fmt.Fprintf(&out, "\\u%04x", r)
			continue
		}
		out.WriteRune(r)
	}
	return out.Bytes()
}

// ParamsOf returns the canonical JSON of an op's params struct (see
// package ops), checked against the op's schema: what a step carries and
// a request binds.
func ParamsOf(op string, params any) (json.RawMessage, error) {
	raw, err := json.Marshal(params)
	if err != nil {
		return nil, fmt.Errorf("params of %s: %w", op, err)
	}
	canon, err := CanonicalParams(raw)
	if err != nil {
		return nil, fmt.Errorf("params of %s: %w", op, err)
	}
	if err := ops.CheckParams(op, canon); err != nil {
		return nil, err
	}
	return canon, nil
}

// decodeStrict decodes one JSON value token by token, refusing duplicate
// object keys.
func decodeStrict(dec *json.Decoder, depth int) (any, error) {
	tok, err := dec.Token()
	if err != nil {
		return nil, err
	}
	if d, ok := tok.(json.Delim); ok && (d == '{' || d == '[') && depth >= MaxParamsDepth {
		return nil, fmt.Errorf("nested deeper than %d", MaxParamsDepth)
	}
	switch tok {
	case json.Delim('{'):
		m := map[string]any{}
		for dec.More() {
			kt, err := dec.Token()
			if err != nil {
				return nil, err
			}
			k, ok := kt.(string)
			if !ok {
				return nil, fmt.Errorf("object key %v is not a string", kt)
			}
			if _, dup := m[k]; dup {
				return nil, fmt.Errorf("duplicate key %q", k)
			}
			v, err := decodeStrict(dec, depth+1)
			if err != nil {
				return nil, err
			}
			m[k] = v
		}
		if _, err := dec.Token(); err != nil { // '}'
			return nil, err
		}
		return m, nil
	case json.Delim('['):
		a := []any{}
		for dec.More() {
			v, err := decodeStrict(dec, depth+1)
			if err != nil {
				return nil, err
			}
			a = append(a, v)
		}
		if _, err := dec.Token(); err != nil { // ']'
			return nil, err
		}
		return a, nil
	case json.Delim('}'), json.Delim(']'):
		return nil, fmt.Errorf("unexpected %v", tok)
	}
	return tok, nil
}

// Marshal returns the canonical statement, byte for byte as signed.
func (r Request) Marshal() []byte {
	guest := NoGuest
	if r.Guest != 0 {
		guest = strconv.Itoa(r.Guest)
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, "%s\nhost: %s\nhost-id: %s\nop: %s\nguest: %s\nparams: %s\nnonce: %s\nnot-after: %s\n",
		requestHeader, r.Host, r.HostID, r.Op, guest, r.Params, r.Nonce, r.NotAfter.UTC().Format(time.RFC3339))
	return b.Bytes()
}

// ID is the request's action id, the base name of its files: op, guest
// and the first 8 hex digits of the statement's SHA-256, for example
// "guest.destroy-105-3b9f0c3c" or "signers.rotate-9a41c2e0".
func (r Request) ID() string {
	sum := sha256.Sum256(r.Marshal())
	d := hex.EncodeToString(sum[:4])
	if r.Guest == 0 {
		return r.Op + "-" + d
	}
	return fmt.Sprintf("%s-%d-%s", r.Op, r.Guest, d)
}

// ParseRequest parses a request statement strictly: the exact header,
// fields in their fixed order, each once, LF endings, canonical params,
// nothing after the last line, at most MaxRequestSize bytes. Whatever it
// accepts marshals back to the same bytes.
func ParseRequest(data []byte) (Request, error) {
	if len(data) > MaxRequestSize {
		return Request{}, &RequestError{Msg: fmt.Sprintf("larger than %d bytes", MaxRequestSize)}
	}
	if len(data) == 0 || data[len(data)-1] != '\n' {
		return Request{}, &RequestError{Msg: "must end with a newline"}
	}
	lines := strings.Split(string(data[:len(data)-1]), "\n")
	fields := []string{"host", "host-id", "op", "guest", "params", "nonce", "not-after"}
	if lines[0] == requestHeaderV1 {
		return Request{}, &RequestError{Line: 1, Msg: "a version 1 request, which names no host identity, is no longer accepted: plan again for a version 2 request and sign that"}
	}
	if len(lines) != len(fields)+1 {
		return Request{}, &RequestError{Msg: fmt.Sprintf("want %d lines, got %d", len(fields)+1, len(lines))}
	}
	if lines[0] != requestHeader {
		return Request{}, &RequestError{Line: 1, Msg: fmt.Sprintf("want %q", requestHeader)}
	}
	vals := make([]string, len(fields))
	for i, f := range fields {
		v, ok := strings.CutPrefix(lines[i+1], f+": ")
		if !ok {
			return Request{}, &RequestError{Line: i + 2, Msg: fmt.Sprintf("want field %q", f)}
		}
		if strings.ContainsAny(v, "\r\x00") {
			return Request{}, &RequestError{Line: i + 2, Msg: "control character in value"}
		}
		vals[i] = v
	}
	var r Request
	r.Host, r.HostID, r.Op, r.Nonce = vals[0], vals[1], vals[2], vals[5]
	if vals[3] != NoGuest {
		g, err := strconv.Atoi(vals[3])
		if err != nil || strconv.Itoa(g) != vals[3] {
			return Request{}, &RequestError{Line: 5, Msg: fmt.Sprintf("guest %q is not a vmid or %q", vals[3], NoGuest)}
		}
		r.Guest = g
	}
	params, err := CanonicalParams([]byte(vals[4]))
	if err != nil || string(params) != vals[4] || vals[4] == "" {
		return Request{}, &RequestError{Line: 6, Msg: "params are not canonical JSON (an object, sorted keys, no spaces)"}
	}
	r.Params = params
	t, err := time.Parse(time.RFC3339, vals[6])
	if err != nil || t.UTC().Format(time.RFC3339) != vals[6] {
		return Request{}, &RequestError{Line: 8, Msg: "not-after must be RFC 3339 UTC with whole seconds, e.g. 2026-11-28T03:00:00Z"}
	}
	r.NotAfter = t.UTC()
	if err := r.check(); err != nil {
		return Request{}, &RequestError{Msg: err.Error()}
	}
	if !bytes.Equal(r.Marshal(), data) {
		return Request{}, &RequestError{Msg: "not in canonical form"}
	}
	return r, nil
}

// sameBinding reports which of op, guest and params differ between the
// request and the step, or "" when they all match. Params are compared in
// canonical form.
func (r Request) sameBinding(step Action) string {
	var diff []string
	if r.Op != step.Op {
		diff = append(diff, fmt.Sprintf("op %s (step: %s)", r.Op, step.Op))
	}
	if r.Guest != step.Guest {
		diff = append(diff, fmt.Sprintf("guest %d (step: %d)", r.Guest, step.Guest))
	}
	sp, err := CanonicalParams(step.Params)
	if err != nil || !bytes.Equal(sp, r.Params) {
		diff = append(diff, "params")
	}
	return strings.Join(diff, ", ")
}

// DefaultKey is the operator key path the printed signing commands show.
const DefaultKey = "~/.ssh/id_ed25519"

// SignCommand is the stock OpenSSH command that signs the request at path
// for role, as every command prints it.
func SignCommand(role, path string) string {
	return "ssh-keygen -Y sign -n " + role + " -f " + DefaultKey + " " + path
}

// ParseNotAfter reads when a request stops being valid: a duration from
// now (24h, 90m), whole days (1d), or an RFC 3339 time; it must lie ahead.
// Errors quote v first, for the flag's name to go before it.
func ParseNotAfter(v string, now time.Time) (time.Time, error) {
	var at time.Time
	if days, ok := strings.CutSuffix(v, "d"); ok {
		if n, err := strconv.Atoi(days); err == nil {
			at = now.Add(time.Duration(n) * 24 * time.Hour)
		}
	} else if d, err := time.ParseDuration(v); err == nil {
		at = now.Add(d)
	} else if t, err := time.Parse(time.RFC3339, v); err == nil {
		at = t
	}
	switch {
	case at.IsZero():
		return time.Time{}, fmt.Errorf("%q: want a duration (24h), days (1d) or an RFC 3339 time (2026-12-24T12:00:00Z)", v)
	case !at.After(now):
		return time.Time{}, fmt.Errorf("%q lies in the past; the request would never be valid", v)
	}
	return at, nil
}
