package trust

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/felhom/felhom-converge/atomicfile"
)

// Names of the directories a RequestDir owns inside the state directory.
const (
	RequestsDirName   = "requests"   // <id>.req for steps waiting for a signature
	SignaturesDirName = "signatures" // signed <id>.req + <id>.req.sig, read by apply
	SpentDirName      = "spent"      // under SignaturesDirName: signatures whose nonce was used
)

// RequestDir is the one owner of a host's two signature directories:
//
//   - Requests holds the <id>.req statements plan and apply write for the
//     destructive steps that wait for a signature ([RequestDir.Write],
//     [RequestDir.Obtain]), and that 'signatures pending' lists
//     ([RequestDir.Pending]);
//   - Signatures holds the signed requests, <id>.req with the
//     <id>.req.sig ssh-keygen wrote beside it ([RequestDir.Signed]):
//     installed by 'signatures install' and 'pull --signatures'
//     ([RequestDir.Install]) or dropped there by hand. Once a signature's
//     nonce is spent it is moved to Signatures/spent/
//     ([RequestDir.MoveSpent], [RequestDir.SweepSpent]).
//
// Whether a request is still worth signing or offering is decided in one
// place, [RequestDir.Live]: not expired by the clock, nonce not spent.
//
// Every read goes through [ReadSignedDir] (regular files only, bounded, no
// symbolic links, FIFOs never block); every write is atomic (a crash
// leaves the old file or the new one, never a part). A RequestDir holds
// no open files; its methods may be called from one process at a time
// (runs hold the state directory's lock; the read-only ones need none).
type RequestDir struct {
	Requests   string
	Signatures string
	// Nonces says which nonces were spent; nil: none is.
	Nonces NonceStore
	// Now is the clock (nil: time.Now).
	Now func() time.Time
}

// NewRequestDir returns the RequestDir of the state directory stateDir:
// stateDir/requests and stateDir/signatures.
func NewRequestDir(stateDir string, nonces NonceStore) *RequestDir {
	return &RequestDir{
		Requests:   filepath.Join(stateDir, RequestsDirName),
		Signatures: filepath.Join(stateDir, SignaturesDirName),
		Nonces:     nonces,
	}
}

func (d *RequestDir) now() time.Time {
	if d.Now != nil {
		return d.Now()
	}
	return time.Now()
}

// Live reports whether r may still be signed and offered to the gate: its
// not-after is after now and its nonce was not spent. This is the one
// place the rule is written. A nonce store that cannot answer is an error,
// and the request is not live then (fail closed: a fresh request is always
// safe, a spent one offered again never is).
func (d *RequestDir) Live(r Request) (bool, error) {
	if !d.now().Before(r.NotAfter) {
		return false, nil
	}
	if d.Nonces == nil {
		return true, nil
	}
	used, err := d.Nonces.Consumed(r.Nonce)
	if err != nil {
		return false, fmt.Errorf("request %s: %w", r.ID(), err)
	}
	return !used, nil
}

// Write writes r into Requests as <r.ID()>.req, atomically, mode 0644 (an
// operator may read it to sign it); Requests is created 0700 when missing.
// It returns the file's path.
func (d *RequestDir) Write(r Request) (string, error) {
	return writeRequestFile(d.Requests, r)
}

// WriteRequest writes r into dir as <r.ID()>.req, as RequestDir.Write
// does. Callers that own a state directory use a RequestDir.
func WriteRequest(dir string, r Request) (string, error) {
	return writeRequestFile(dir, r)
}

func writeRequestFile(dir string, r Request) (string, error) {
	if _, err := ParseRequest(r.Marshal()); err != nil {
		return "", fmt.Errorf("write request: %w", err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", fmt.Errorf("write request: %w", err)
	}
	path := filepath.Join(dir, r.ID()+RequestSuffix)
	if err := atomicfile.WriteFile(path, r.Marshal(), 0o644); err != nil {
		return "", fmt.Errorf("write request: %w", err)
	}
	return path, nil
}

// Requested reads the requests in Requests that parse and are named after
// their action id, sorted by id; a missing directory holds none. Entries
// that cannot be read are returned as problems.
func (d *RequestDir) Requested() ([]SignedRequest, []DirProblem, error) {
	reqs, problems, err := ReadSignedDir(d.Requests)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil, nil
	}
	if err != nil {
		return nil, nil, fmt.Errorf("requests directory: %w", err)
	}
	out := reqs[:0]
	for _, r := range reqs {
		if r.Parsed != nil && r.Parsed.ID() == r.ID {
			out = append(out, r)
		}
	}
	return out, problems, nil
}

// Find returns the first live request in Requests (in id order) bound to
// a (host, op, guest, canonical params) whose id skip does not reject
// (nil: none), with its path. ok is false when there is none.
func (d *RequestDir) Find(a Action, skip func(id string) bool) (r Request, path string, ok bool, err error) {
	params, err := CanonicalParams(a.Params)
	if err != nil {
		return Request{}, "", false, err
	}
	reqs, _, err := d.Requested()
	if err != nil {
		return Request{}, "", false, err
	}
	for _, s := range reqs {
		p := s.Parsed
		if skip != nil && skip(s.ID) {
			continue
		}
		if p.Host != a.Host || p.HostID != a.HostID || p.Op != a.Op || p.Guest != a.Guest || !bytes.Equal(p.Params, params) {
			continue
		}
		live, err := d.Live(*p)
		if err != nil {
			return Request{}, "", false, err
		}
		if live {
			return *p, s.Path, true, nil
		}
	}
	return Request{}, "", false, nil
}

// Obtain returns the request a step bound to a should be signed with: the
// live one already in Requests (see Find; skip as there), or else a new
// one with a fresh nonce, valid for ttl, written into Requests. It returns
// the request and its path. When Find cannot tell (a nonce store that does
// not answer), a fresh request is written: that is always safe.
func (d *RequestDir) Obtain(a Action, ttl time.Duration, skip func(id string) bool) (Request, string, error) {
	if r, path, ok, err := d.Find(a, skip); err == nil && ok {
		return r, path, nil
	}
	r, err := MakeRequest(a, d.now().Add(ttl))
	if err != nil {
		return Request{}, "", err
	}
	path, err := d.Write(r)
	return r, path, err
}

// Pending lists what waits for an operator's signature: every live
// request in Requests for which Signatures holds no signed copy (the same
// bytes with a .sig). Problems are unusable entries of either directory.
func (d *RequestDir) Pending() ([]SignedRequest, []DirProblem, error) {
	reqs, problems, err := d.Requested()
	if err != nil {
		return nil, nil, err
	}
	signed, sprob, err := d.Signed()
	if err != nil {
		return nil, nil, err
	}
	problems = append(problems, sprob...)
	var out []SignedRequest
	for _, r := range reqs {
		live, err := d.Live(*r.Parsed)
		if err != nil {
			return nil, problems, err
		}
		if live && !hasSignedCopy(signed, r.Req) {
			out = append(out, r)
		}
	}
	return out, problems, nil
}

func hasSignedCopy(signed []SignedRequest, req []byte) bool {
	for _, s := range signed {
		if s.Signed() && bytes.Equal(s.Req, req) {
			return true
		}
	}
	return false
}

// DropSpent removes from Requests every request whose nonce was spent
// (its step ran, or crashed after its signature was accepted), with a
// .sig beside it, so that the next plan writes a fresh request for a step
// still wanted instead of offering the spent one again. It returns the ids
// removed. Requests it cannot read are left alone; a nonce store that
// cannot answer is an error.
func (d *RequestDir) DropSpent() ([]string, error) {
	if d.Nonces == nil {
		return nil, nil
	}
	reqs, _, err := ReadSignedDir(d.Requests)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("requests directory: %w", err)
	}
	var out []string
	for _, r := range reqs {
		if r.Parsed == nil {
			continue
		}
		used, err := d.Nonces.Consumed(r.Parsed.Nonce)
		if err != nil {
			return out, fmt.Errorf("requests directory: %w", err)
		}
		if !used {
			continue
		}
		if err := removeAll(r.Path+".sig", r.Path); err != nil {
			return out, fmt.Errorf("requests directory: %w", err)
		}
		out = append(out, r.ID)
	}
	return out, nil
}

// Remove removes the request id from Requests, with its .sig if any. A
// missing file is not an error.
func (d *RequestDir) Remove(id string) error {
	if err := checkEntryName(id + RequestSuffix); err != nil {
		return err
	}
	p := filepath.Join(d.Requests, id+RequestSuffix)
	return removeAll(p+".sig", p)
}

func removeAll(paths ...string) error {
	for _, p := range paths {
		if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
	}
	return nil
}

// Signed reads the request/signature pairs in Signatures (ReadSignedDir);
// a missing directory holds none.
func (d *RequestDir) Signed() ([]SignedRequest, []DirProblem, error) {
	reqs, problems, err := ReadSignedDir(d.Signatures)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil, nil
	}
	if err != nil {
		return nil, nil, fmt.Errorf("signatures directory: %w", err)
	}
	return reqs, problems, nil
}

// Install puts a signed request into Signatures as name (<id>.req) and
// name.sig, each file atomically (mode 0644; the directory is created 0700
// when missing). A reader sees the old pair, the request alone (not yet
// signed: ignored by the gate), or the new pair, never a signature beside
// a request it was not made for: an old .sig is removed before the new
// request is renamed into place, and the new .sig follows it.
//
// Install checks only the shape of what it writes (sizes, and a plain name
// that is its request's own id, so no request displaces another);
// whether the signature is any good is the caller's decision
// (Verifier.Check), made before.
func (d *RequestDir) Install(name string, req, sig []byte) (string, error) {
	if err := checkEntryName(name); err != nil {
		return "", fmt.Errorf("install: %w", err)
	}
	switch {
	case len(req) == 0 || len(req) > MaxRequestSize:
		return "", fmt.Errorf("install %s: a request of %d bytes (1 to %d)", name, len(req), MaxRequestSize)
	case len(sig) == 0 || len(sig) > MaxSignatureSize:
		return "", fmt.Errorf("install %s: a signature of %d bytes (1 to %d)", name, len(sig), MaxSignatureSize)
	}
	if r, err := ParseRequest(req); err != nil || r.ID()+RequestSuffix != name {
		return "", fmt.Errorf("install %s: not the request named so; nothing installed", QuoteName(name))
	}
	if err := os.MkdirAll(d.Signatures, 0o700); err != nil {
		return "", fmt.Errorf("install: %w", err)
	}
	path := filepath.Join(d.Signatures, name)
	// The same request again keeps its file, and its .sig is replaced
	// atomically; another request under this name loses its .sig first.
	if old, err := ReadRegular(path, MaxRequestSize); err == nil && bytes.Equal(old, req) {
		if oldSig, err := ReadRegular(path+".sig", MaxSignatureSize); err == nil && bytes.Equal(oldSig, sig) {
			return path, nil // installed already
		}
	} else if err := removeAll(path + ".sig"); err != nil {
		return "", fmt.Errorf("install %s: %w", name, err)
	}
	if err := atomicfile.WriteFile(path, req, 0o644); err != nil {
		return "", fmt.Errorf("install: %w", err)
	}
	if err := atomicfile.WriteFile(path+".sig", sig, 0o644); err != nil {
		return "", fmt.Errorf("install: %w", err)
	}
	return path, nil
}

// checkEntryName accepts a plain <id>.req file name: printable, no path
// separator, not hidden, at most 255 bytes, with a non-empty id.
func checkEntryName(name string) error {
	id, ok := strings.CutSuffix(name, RequestSuffix)
	switch {
	case !ok || id == "":
		return fmt.Errorf("%s: not an <id>%s name", QuoteName(name), RequestSuffix)
	case len(name) > 255, strings.HasPrefix(name, "."), QuoteName(name) != name, strings.ContainsRune(name, '/'):
		return fmt.Errorf("%s: a request's name may hold letters, digits and ._-+@,=: only, and not start with a dot", QuoteName(name))
	}
	return nil
}

// SpentSignature is a signed request moved out of Signatures because its
// nonce was spent: what an audit line about it needs.
type SpentSignature struct {
	ID    string // the file name without .req
	Path  string // where it is now, under Signatures/spent/
	Nonce string
	Op    string
	Guest int // 0 for host-level ops
	Host  string
	Moved time.Time
}

// MoveSpent moves the signed request s (one of Signed's, whose nonce was
// spent) to Signatures/spent/ (created 0700), its .sig first: a crash in
// between leaves an unsigned request, which the gate ignores and the next
// sweep moves. A name already in spent/ is replaced. No run offers or
// reports the moved signature again.
func (d *RequestDir) MoveSpent(s SignedRequest) (SpentSignature, error) {
	name := s.ID + RequestSuffix
	if err := checkEntryName(name); err != nil {
		return SpentSignature{}, fmt.Errorf("move spent signature: %w", err)
	}
	spent := filepath.Join(d.Signatures, SpentDirName)
	if err := os.MkdirAll(spent, 0o700); err != nil {
		return SpentSignature{}, fmt.Errorf("move spent signature: %w", err)
	}
	from := filepath.Join(d.Signatures, name)
	to := filepath.Join(spent, name)
	for _, suffix := range []string{".sig", ""} {
		err := os.Rename(from+suffix, to+suffix)
		if err != nil && !(suffix == ".sig" && errors.Is(err, fs.ErrNotExist)) {
			return SpentSignature{}, fmt.Errorf("move spent signature %s: %w", QuoteName(name), err)
		}
	}
	if err := errors.Join(atomicfile.SyncDir(spent), atomicfile.SyncDir(d.Signatures)); err != nil {
		return SpentSignature{}, fmt.Errorf("move spent signature: %w", err)
	}
	out := SpentSignature{ID: s.ID, Path: to, Moved: d.now().UTC()}
	if p := s.Parsed; p != nil {
		out.Nonce, out.Op, out.Guest, out.Host = p.Nonce, p.Op, p.Guest, p.Host
	}
	return out, nil
}

// SweepSpent moves every request in Signatures whose nonce was spent,
// signed or not, to Signatures/spent/ (MoveSpent), and returns them. A
// request that does not parse is left alone (verify and apply report it).
func (d *RequestDir) SweepSpent() ([]SpentSignature, error) {
	if d.Nonces == nil {
		return nil, nil
	}
	reqs, _, err := d.Signed()
	if err != nil {
		return nil, err
	}
	var out []SpentSignature
	for _, s := range reqs {
		if s.Parsed == nil {
			continue
		}
		used, err := d.Nonces.Consumed(s.Parsed.Nonce)
		if err != nil {
			return out, fmt.Errorf("signatures directory: %w", err)
		}
		if !used {
			continue
		}
		m, err := d.MoveSpent(s)
		if err != nil {
			return out, err
		}
		out = append(out, m)
	}
	return out, nil
}
