package apply

import (
	"context"
	"errors"
	"fmt"

	"github.com/felhom/felhom-converge/ops"
	"github.com/felhom/felhom-converge/plan"
	"github.com/felhom/felhom-converge/trust"
)

// signedRequest is one signed <id>.req in the signatures directory and
// what this run did with it.
type signedRequest struct {
	*trust.SignedRequest
	matched bool // matched some step (decided, or left because another was accepted)
	decided bool
	spent   bool // its nonce was used: moved to spent/ at the end of the run
}

// scanSignatures reads every signed request in the signatures
// directory. A missing directory holds none; unusable entries (a FIFO, a
// link, an oversized file) are warnings.
func scanSignatures(d *trust.RequestDir) ([]*signedRequest, []string) {
	if d.Signatures == "" {
		return nil, nil
	}
	reqs, problems, err := d.Signed()
	if err != nil {
		return nil, []string{err.Error()}
	}
	var warnings []string
	for _, p := range problems {
		warnings = append(warnings, "signatures directory: "+p.Error())
	}
	var out []*signedRequest
	for i := range reqs {
		if reqs[i].Signed() {
			out = append(out, &signedRequest{SignedRequest: &reqs[i]})
		}
	}
	return out, warnings
}

// candidates are the signed requests meant for st, by file name or
// binding, in trust's order.
func (r *run) candidates(st *plan.Step) []*signedRequest {
	all := make([]trust.SignedRequest, len(r.sigs))
	for i, s := range r.sigs {
		all[i] = *s.SignedRequest
	}
	var out []*signedRequest
	for _, m := range trust.MatchRequests(all, r.action(st), st.ID) {
		for _, s := range r.sigs {
			if s.ID == m.ID {
				out = append(out, s)
			}
		}
	}
	return out
}

// gateResult is the gate's verdict on one step.
type gateResult struct {
	allowed    bool
	provenance bool   // allowed because the journal proves the data is the tool's own
	decision   string // allowed_benign, allowed_provenance, or a trust outcome
	outcome    string // for a step that does not run: pending_signature, refused or failed
	reason     string
	request    string // the request file written for a pending step
	nonce      string
	signer     string
	fp         string
}

func (r *run) action(st *plan.Step) trust.Action {
	return trust.Action{Host: r.o.Host, HostID: r.o.HostID, Op: st.Op, Guest: st.VMID(), Params: st.Params}
}

// classOf is the step's class as the tool knows it: the op's own class,
// never weaker than the plan says (a plan may raise a benign op, such as
// a restore of another guest's backup, to destructive; nothing can lower
// a destructive op).
func classOf(st *plan.Step) ops.Class {
	if ops.ClassOf(st.Op) == ops.Destructive || st.Class != ops.Benign {
		return ops.Destructive
	}
	return ops.Benign
}

// gate decides whether x's step may run, and audits the decision. The
// executor's checks against the live guest run first, and for a signed
// step before its signature's nonce is spent: a tenant who edits a guest
// cannot burn an operator's signature, and a step that cannot run keeps
// it.
func (r *run) gate(ctx context.Context, x *stepRun) gateResult {
	st := x.st
	class := classOf(st)
	entry := AuditEntry{Host: r.o.Host, Txn: r.txn, Step: st.ID, Op: st.Op, Guest: guestPtr(st.VMID()), Class: string(class), Policy: st.Policy}
	precheck := func(g gateResult) gateResult {
		x.gate = g
		err := x.lockWaitedOut(ctx, class)
		if err == nil {
			err = x.exec.check(ctx, x)
		}
		if err != nil {
			r.refused(st, g, err)
			return gateResult{decision: g.decision, outcome: OutcomeFailed, reason: "not run: " + err.Error()}
		}
		return g
	}
	if class == ops.Benign {
		g := gateResult{allowed: true, decision: DecisionBenign}
		entry.Decision = g.decision
		if err := r.o.Audit.Write(entry); err != nil {
			r.o.warnf("%v", err) // a benign step is never blocked by the audit log
		}
		return precheck(g)
	}
	if why, ok := r.provenance(st); ok {
		g := gateResult{allowed: true, provenance: true, decision: DecisionProvenance, reason: why}
		entry.Decision, entry.Reason = g.decision, why
		if err := r.o.Audit.Write(entry); err != nil {
			return gateResult{decision: g.decision, outcome: OutcomeFailed, reason: "not run: " + err.Error()}
		}
		return precheck(g)
	}
	return r.signed(ctx, x, entry, precheck)
}

// lockWaitedOut waits out someone else's lock on the guest of a
// destructive step (a backup, a snapshot) before its checks and before
// its signature is spent: a step that cannot run keeps its signature.
// A benign call refused for a lock is made again once it is gone.
func (x *stepRun) lockWaitedOut(ctx context.Context, class ops.Class) error {
	if class != ops.Destructive || x.st.Op == ops.BackupPrune {
		return nil // a prune acts on archives, which no guest lock guards
	}
	return x.waitUnlocked(ctx)
}

// signed looks for an operator's signature of a destructive step: each
// signed request meant for it is evaluated without spending its nonce;
// the first that would be accepted is checked against the live guest,
// then decided (its nonce spent durably). Without one the step is pending
// (or refused) and its request is written.
func (r *run) signed(ctx context.Context, x *stepRun, entry AuditEntry, precheck func(gateResult) gateResult) gateResult {
	st := x.st
	var rejection *trust.Decision
	cands := r.candidates(st)
	for _, s := range cands {
		if !r.claim(s) {
			continue
		}
		if r.o.Verifier == nil {
			d := trust.Decision{Outcome: trust.UnknownSigner, Reason: "no trust root"}
			rejection = &d
			r.auditDecision(entry, s, d)
			continue
		}
		d, err := r.o.Verifier.Evaluate(r.action(st), s.Req, s.Sig)
		if err == nil && d.Accepted() {
			// Would be accepted: check the live guest before spending it.
			g := precheck(gateResult{allowed: true, decision: DecisionVerified, signer: d.Principal, fp: d.Fingerprint})
			if !g.allowed {
				r.unclaim(s) // unspent: the signature stays usable
				g.reason += fmt.Sprintf(" (the signature of %s was not used)", s.ID)
				return g
			}
			d, err = r.o.Verifier.Decide(r.action(st), s.Req, s.Sig)
		}
		if err != nil {
			entry.Decision, entry.Reason = "error", err.Error()
			r.o.Audit.Write(entry)
			return gateResult{decision: "error", outcome: OutcomeFailed, reason: fmt.Sprintf("signed request %s: %v; refusing", s.ID, err)}
		}
		if aerr := r.auditDecision(entry, s, d); aerr != nil && d.Accepted() {
			return gateResult{decision: string(d.Outcome), outcome: OutcomeFailed,
				reason: fmt.Sprintf("accepted %s, but not run: %v (sign a new request)", s.ID, aerr)}
		}
		if d.Accepted() {
			r.o.hook("accepted", st.Op) // the nonce is spent; no intent yet
			r.markMatched(cands)        // other signed requests for this step stay unspent
			return gateResult{allowed: true, decision: string(d.Outcome), reason: d.Reason, nonce: d.Nonce, signer: d.Principal, fp: d.Fingerprint}
		}
		if rejection == nil || rejection.Outcome == trust.PendingSignature {
			d := d
			rejection = &d
		}
	}
	g := gateResult{outcome: OutcomePending, decision: string(trust.PendingSignature), reason: "needs an operator signature"}
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
			r.o.warnf("%v", err)
		}
	}
	return g
}

// claim takes a signed request for a step's decision: false when another
// step (of another guest's worker, say) decided on it already.
func (r *run) claim(s *signedRequest) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if s.decided {
		return false
	}
	s.matched, s.decided = true, true
	return true
}

// unclaim gives a request back undecided (its step was refused before
// the signature was spent).
func (r *run) unclaim(s *signedRequest) {
	r.mu.Lock()
	defer r.mu.Unlock()
	s.decided = false
}

// markMatched records that requests were meant for a planned step.
func (r *run) markMatched(ss []*signedRequest) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, s := range ss {
		s.matched = true
	}
}

func (r *run) auditDecision(entry AuditEntry, s *signedRequest, d trust.Decision) error {
	entry.Decision = string(d.Outcome)
	entry.Signer, entry.Fingerprint, entry.Nonce = d.Principal, d.Fingerprint, d.Nonce
	entry.Reason = s.ID + ": " + d.Reason
	err := r.o.Audit.Write(entry)
	if err != nil && !d.Accepted() {
		r.o.warnf("%v", err)
	}
	return err
}

// provenance reports whether the journal proves that the data a
// destructive step removes is the tool's own: a guest restored in a
// transaction still open.
func (r *run) provenance(st *plan.Step) (string, bool) {
	v := st.VMID()
	if st.Op == ops.GuestDestroy {
		if txn, ok := r.o.Journal.CreatedInTxn(v); ok {
			return fmt.Sprintf("guest %d was created by restore in transaction %s", v, txn), true
		}
	}
	// A safety snapshot the tool took is removed by apply's own
	// housekeeping once it is older than safety.keep; a deletion the
	// desired state asks for needs a signature like any other, or the hub
	// could take away the way back from a rollback at once.
	return "", false
}

// writeRequest makes sure a pending step's request is in the requests
// directory: the plan's own while it is live, else the live one there for
// the same binding, else a new one. It returns the request's path.
func (r *run) writeRequest(st *plan.Step) (string, error) {
	if r.dir.Requests == "" {
		return "", errors.New("no requests directory")
	}
	a := r.action(st)
	if st.Nonce != "" && st.NotAfter != nil {
		if q, err := trust.NewRequest(a, st.Nonce, *st.NotAfter); err == nil {
			if live, err := r.dir.Live(q); err == nil && live {
				return r.dir.Write(q)
			}
		}
	}
	_, path, err := r.dir.Obtain(a, r.o.RequestTTL, nil)
	return path, err
}
