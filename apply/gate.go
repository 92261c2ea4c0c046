package apply

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"

	"github.com/felhom/felhom-converge/ops"
	"github.com/felhom/felhom-converge/plan"
	"github.com/felhom/felhom-converge/trust"
)

// signedRequest is one <id>.req with its <id>.req.sig in the signatures
// directory. parsed is the statement read without trusting it (only to
// match it to a step by binding); Decide verifies everything.
type signedRequest struct {
	id       string
	req, sig []byte
	parsed   *trust.Request
	matched  bool // matched some step (decided, or left because another was accepted)
	decided  bool
}

// scanSignatures reads every signed pair in dir. A missing dir holds none.
func scanSignatures(dir string) ([]*signedRequest, []string) {
	if dir == "" {
		return nil, nil
	}
	entries, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, []string{fmt.Sprintf("signatures directory: %v", err)}
	}
	var out []*signedRequest
	var warnings []string
	for _, e := range entries {
		name := e.Name()
		if !strings.HasSuffix(name, ".req") {
			continue
		}
		id := strings.TrimSuffix(name, ".req")
		sig, err := readRegular(filepath.Join(dir, name+".sig"), trust.MaxSignatureSize)
		if errors.Is(err, os.ErrNotExist) {
			continue // not signed yet
		}
		if err != nil {
			warnings = append(warnings, err.Error())
			continue
		}
		req, err := readRegular(filepath.Join(dir, name), trust.MaxRequestSize)
		if err != nil {
			warnings = append(warnings, err.Error())
			continue
		}
		s := &signedRequest{id: id, req: req, sig: sig}
		if pr, err := trust.ParseRequest(req); err == nil {
			s.parsed = &pr
		}
		out = append(out, s)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].id < out[j].id })
	return out, warnings
}

// readRegular reads a regular file (never through a symlink) of at most
// max+1 bytes, so an oversized file is refused by its parser.
func readRegular(path string, max int) ([]byte, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NOFOLLOW|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%s is not a regular file", path)
	}
	return io.ReadAll(io.LimitReader(f, int64(max)+1))
}

// gateResult is the gate's verdict on one step.
type gateResult struct {
	allowed  bool
	decision string // allowed_benign, allowed_provenance, or a trust outcome
	outcome  string // for a step that does not run: pending_signature or refused
	reason   string
	request  string // the request file written for a pending step
	class    ops.Class
	nonce    string
	signer   string
	fp       string
}

func (r *run) action(st *plan.Step) trust.Action {
	return trust.Action{Host: r.o.Host, Op: st.Op, Guest: st.VMID(), Params: st.Params}
}

// classOf is the step's class as the tool knows it: the op's own class,
// never weaker than the plan says. A saved plan file cannot make a
// destructive op benign.
func classOf(st *plan.Step) ops.Class {
	if ops.ClassOf(st.Op) == ops.Destructive || st.Class != ops.Benign {
		return ops.Destructive
	}
	return ops.Benign
}

// gate decides whether st may run, and audits the decision.
func (r *run) gate(st *plan.Step) gateResult {
	g := gateResult{class: classOf(st)}
	guest := guestPtr(st.VMID())
	entry := AuditEntry{Host: r.o.Host, Txn: r.txn, Step: st.ID, Op: st.Op, Guest: guest, Class: string(g.class)}
	if g.class == ops.Benign {
		g.allowed, g.decision = true, DecisionBenign
		entry.Decision = g.decision
		if err := r.o.Audit.Write(entry); err != nil {
			// A benign step is never blocked by the audit log.
			fmt.Fprintf(r.o.Out, "warning: %v\n", err)
		}
		return g
	}
	if why, ok := r.provenance(st); ok {
		g.allowed, g.decision, g.reason = true, DecisionProvenance, why
		entry.Decision, entry.Reason = g.decision, why
		if err := r.o.Audit.Write(entry); err != nil {
			return gateResult{class: g.class, decision: g.decision, outcome: OutcomeFailed, reason: "not run: " + err.Error()}
		}
		return g
	}
	var rejection *trust.Decision
	for _, s := range r.sigs {
		if s.decided || !r.matches(s, st) {
			continue
		}
		s.matched, s.decided = true, true
		if r.o.Verifier == nil {
			d := trust.Decision{Outcome: trust.UnknownSigner, Reason: "no trust root"}
			rejection = &d
			r.auditDecision(entry, s, d)
			continue
		}
		d, err := r.o.Verifier.Decide(r.action(st), s.req, s.sig)
		if err != nil {
			entry.Decision, entry.Reason = "error", err.Error()
			r.o.Audit.Write(entry)
			return gateResult{class: g.class, decision: "error", outcome: OutcomeFailed,
				reason: fmt.Sprintf("signed request %s: %v; refusing", s.id, err)}
		}
		if aerr := r.auditDecision(entry, s, d); aerr != nil && d.Accepted() {
			return gateResult{class: g.class, decision: string(d.Outcome), outcome: OutcomeFailed,
				reason: fmt.Sprintf("accepted %s, but not run: %v (sign a new request)", s.id, aerr)}
		}
		if d.Accepted() {
			// Other signed requests for this step stay unspent.
			for _, o := range r.sigs {
				if !o.decided && r.matches(o, st) {
					o.matched = true
				}
			}
			return gateResult{allowed: true, class: g.class, decision: string(d.Outcome), reason: d.Reason,
				nonce: d.Nonce, signer: d.Principal, fp: d.Fingerprint}
		}
		if rejection == nil || rejection.Outcome == trust.PendingSignature {
			d := d
			rejection = &d
		}
	}
	g.outcome, g.decision, g.reason = OutcomePending, string(trust.PendingSignature), "needs an operator signature"
	if rejection != nil && rejection.Outcome != trust.PendingSignature {
		g.outcome, g.decision = OutcomeRefused, string(rejection.Outcome)
		g.reason = "signature refused: " + rejection.Reason
	}
	path, err := r.writeRequest(st)
	if err != nil {
		g.reason += "; could not write its request: " + err.Error()
	} else {
		g.request = path
	}
	if rejection == nil {
		entry.Decision = g.decision
		if err := r.o.Audit.Write(entry); err != nil {
			fmt.Fprintf(r.o.Out, "warning: %v\n", err)
		}
	}
	return g
}

func (r *run) auditDecision(entry AuditEntry, s *signedRequest, d trust.Decision) error {
	entry.Decision = string(d.Outcome)
	entry.Signer, entry.Fingerprint, entry.Nonce = d.Principal, d.Fingerprint, d.Nonce
	entry.Reason = s.id + ": " + d.Reason
	err := r.o.Audit.Write(entry)
	if err != nil && !d.Accepted() {
		fmt.Fprintf(r.o.Out, "warning: %v\n", err)
	}
	return err
}

// matches reports whether signed request s is meant for st: by its file
// name (the action id) or by its binding.
func (r *run) matches(s *signedRequest, st *plan.Step) bool {
	if s.id == st.ID {
		return true
	}
	p := s.parsed
	if p == nil || p.Host != r.o.Host || p.Op != st.Op || p.Guest != st.VMID() {
		return false
	}
	sp, err := trust.CanonicalParams(st.Params)
	return err == nil && bytes.Equal(sp, p.Params)
}

// provenance reports whether the journal proves that the data a
// destructive step removes is the tool's own.
func (r *run) provenance(st *plan.Step) (string, bool) {
	v := st.VMID()
	switch st.Op {
	case ops.GuestDestroy:
		if txn, ok := r.o.Journal.CreatedInTxn(v); ok {
			return fmt.Sprintf("guest %d was created by restore in transaction %s", v, txn), true
		}
	case ops.SnapshotDelete:
		var p struct{ Snapshot string }
		if json.Unmarshal(st.Params, &p) == nil && p.Snapshot != "" && r.o.Journal.ToolSnapshot(v, p.Snapshot) {
			return fmt.Sprintf("snapshot %s of guest %d is a safety snapshot the tool took", p.Snapshot, v), true
		}
	}
	return "", false
}

// writeRequest writes the signature request of a pending step into the
// requests directory, unless one with the same binding is there, still
// valid and unspent. It returns the request's path.
func (r *run) writeRequest(st *plan.Step) (string, error) {
	dir := r.o.RequestsDir
	if dir == "" {
		return "", errors.New("no requests directory")
	}
	a := r.action(st)
	now := r.o.Now()
	usable := func(q trust.Request) bool {
		if !now.Before(q.NotAfter) {
			return false
		}
		if r.o.Verifier != nil && r.o.Verifier.Nonces != nil {
			used, err := r.o.Verifier.Nonces.Consumed(q.Nonce)
			if err != nil || used {
				return false
			}
		}
		return true
	}
	want, err := trust.CanonicalParams(a.Params)
	if err != nil {
		return "", err
	}
	if entries, err := os.ReadDir(dir); err == nil {
		for _, e := range entries {
			if !strings.HasSuffix(e.Name(), ".req") {
				continue
			}
			path := filepath.Join(dir, e.Name())
			b, err := readRegular(path, trust.MaxRequestSize)
			if err != nil {
				continue
			}
			q, err := trust.ParseRequest(b)
			if err == nil && q.Host == a.Host && q.Op == a.Op && q.Guest == a.Guest && bytes.Equal(q.Params, want) && usable(q) {
				return path, nil
			}
		}
	}
	var q trust.Request
	if st.Nonce != "" && st.NotAfter != nil {
		q, err = trust.NewRequest(a, st.Nonce, *st.NotAfter)
		if err == nil && !usable(q) {
			err = errors.New("the plan's request is spent or expired")
		}
	} else {
		err = errors.New("the plan has no request")
	}
	if err != nil {
		nonce, nerr := trust.NewNonce()
		if nerr != nil {
			return "", nerr
		}
		if q, err = trust.NewRequest(a, nonce, now.Add(r.o.RequestTTL)); err != nil {
			return "", err
		}
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", err
	}
	name := q.ID()
	if st.Nonce == q.Nonce && st.ID != "" {
		name = st.ID
	}
	path := filepath.Join(dir, name+".req")
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL|syscall.O_NOFOLLOW, 0o644)
	if errors.Is(err, os.ErrExist) {
		return path, nil
	}
	if err != nil {
		return "", err
	}
	if _, err := f.Write(q.Marshal()); err != nil {
		f.Close()
		os.Remove(path)
		return "", err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		os.Remove(path)
		return "", err
	}
	return path, f.Close()
}

func guestPtr(v int) *int {
	if v == 0 {
		return nil
	}
	return &v
}
