package apply

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/felhom/felhom-converge/journal"
	"github.com/felhom/felhom-converge/ops"
	"github.com/felhom/felhom-converge/plan"
	"github.com/felhom/felhom-converge/proxmox"
	"github.com/felhom/felhom-converge/schema"
	"github.com/felhom/felhom-converge/trust"
)

// run is the state of one apply run. Steps of different guests run
// concurrently; each guest's own state (guestRun) is touched only by the
// one worker running its steps, and mu guards what all share.
type run struct {
	o      *Options
	txn    string
	sigs   []*signedRequest
	dir    *trust.RequestDir // the requests and signatures directories
	guests map[int]*guestRun // every guest the plan names, made before any worker starts

	mu     sync.Mutex
	res    *Result
	status map[string]string // action id → outcome, for dependants
	// settled is signalled (with mu) whenever a step's outcome is set: a
	// step that depends on another guest's step waits for it.
	settled *sync.Cond
	order   map[string]int // action id → its index in the plan
	// backups and exists cache, for creates, a storage's backup listing
	// and whether an archive's guest exists, read once per run.
	backups map[string][]proxmox.StorageItem
	exists  map[int]bool
}

// guestRun is one guest's state in a run.
type guestRun struct {
	base string // its observed digest
	cur  string // its digest read after this run's last step on it
	gone string // why nothing more runs on it (rolled back, destroyed, a call in flight); "" while steps may
	// tainted: the guest changed, between the observe (or this run's
	// last step on it) and a step, by someone else. Later config writes
	// pass the observed digest (Proxmox then refuses them), and its
	// digest is not recorded as this run's.
	tainted bool
	// fresh: cur was read right after the guest's previous step, with
	// nothing of this run in between; the next step need not read it again.
	fresh bool
}

// guest is guest v's state (a host-level step's is v 0's).
func (r *run) guest(v int) *guestRun {
	g, ok := r.guests[v]
	if !ok { // housekeeping, after the workers: guests the plan did not name
		g = &guestRun{}
		r.guests[v] = g
	}
	return g
}

// Run applies p. The caller holds the journal's lock and has run Recover.
// Every step is gated, journaled and executed; a pending or failed step
// holds back only the steps that depend on it. Steps of different guests
// run concurrently, at most Options.Parallel at once; one guest's steps
// run in plan order, and a host-level step (a storage mount, a trust-root
// rotation) runs alone. The error is non-nil only when the run itself
// could not go on (the journal refused a record); step failures are in
// the Result, in plan order.
func Run(ctx context.Context, p *plan.Plan, o Options) (*Result, error) {
	if err := o.check(); err != nil {
		return nil, err
	}
	if p.Host != "" && p.Host != o.Host {
		return nil, fmt.Errorf("apply: the plan is for host %q, this is %q", p.Host, o.Host)
	}
	o.Out = &lockedWriter{w: o.Out}
	r := &run{o: &o, res: &Result{Outstanding: unplannedReboots(p)}, guests: map[int]*guestRun{},
		status: map[string]string{}, order: map[string]int{}, backups: map[string][]proxmox.StorageItem{}, exists: map[int]bool{}}
	for i, st := range p.Steps {
		g := r.guest(st.VMID())
		if g.base == "" {
			g.base = st.ObservedDigest
		}
		r.order[st.ID] = i
	}
	r.settled = sync.NewCond(&r.mu)
	r.txn = newTxnID(o.Now())
	r.res.Txn = r.txn
	begin := journal.TxnBegin{Txn: r.txn, Host: o.Host, PlanID: cmp.Or(o.PlanID, PlanID(p)), DesiredDigest: p.DesiredDigest, Time: o.Now().UTC()}
	if err := o.Journal.Append(begin); err != nil {
		return nil, fmt.Errorf("apply: journal: %w", err)
	}
	r.dir = &trust.RequestDir{Requests: o.RequestsDir, Signatures: o.SignaturesDir, Now: o.Now}
	if o.Verifier != nil {
		r.dir.Nonces = o.Verifier.Nonces
	}
	var warnings []string
	r.sigs, warnings = scanSignatures(r.dir)
	for _, w := range warnings {
		o.warnf("%s", w)
	}
	runErr := r.steps(ctx, p.Steps)
	slices.SortStableFunc(r.res.Steps, func(a, b StepResult) int { return r.order[a.ID] - r.order[b.ID] })
	if runErr == nil {
		r.recordObserved(p) // first: housekeeping records the digests it changes
		r.housekeeping(ctx)
	}
	r.sweepSpent()
	for _, s := range r.sigs {
		if !s.matched && !s.spent {
			r.res.Unmatched = append(r.res.Unmatched, s.ID)
			fmt.Fprintf(o.Out, "signed request %s matches no planned step (left alone)%s\n", trust.QuoteName(s.ID), r.whyUnmatched(p, s))
		}
	}
	outcome := journal.TxnConverged
	switch {
	case runErr != nil || r.res.Failed():
		outcome = journal.TxnFailed
	case r.res.Pending():
		outcome = journal.TxnPending
	}
	// A call still in flight keeps its transaction open: recovery settles
	// the call, then closes it (what the transaction made stays its own
	// until then).
	if !r.inFlight() {
		if err := o.Journal.Append(journal.TxnEnd{Txn: r.txn, Result: outcome}); err != nil && runErr == nil {
			runErr = fmt.Errorf("apply: journal: %w", err)
		}
	}
	fmt.Fprintln(o.Out, r.res.Summary())
	return r.res, runErr
}

// sweepSpent moves the signatures whose nonce was spent (their step ran,
// or crashed after its acceptance) to the signatures directory's spent/,
// each with an audit line, so no run reports or offers them again.
func (r *run) sweepSpent() {
	moved, err := r.dir.SweepSpent()
	if err != nil {
		r.o.warnf("%v", err)
	}
	for _, m := range moved {
		for _, s := range r.sigs {
			s.spent = s.spent || s.ID == m.ID
		}
		entry := AuditEntry{Host: r.o.Host, Txn: r.txn, Step: m.ID, Op: m.Op, Guest: guestPtr(m.Guest), Class: journal.ClassDestructive,
			Decision: DecisionSpent, Nonce: m.Nonce, Reason: "its nonce was used; moved to " + m.Path}
		if err := r.o.Audit.Write(entry); err != nil {
			r.o.warnf("%v", err)
		}
	}
}

// steps runs the plan's steps: each run of consecutive guest steps with
// its guests in parallel, each host-level step alone between them. The
// first journal failure stops every worker before its next step.
func (r *run) steps(ctx context.Context, steps []plan.Step) error {
	var runErr error
	for i := 0; i < len(steps); {
		if steps[i].VMID() == 0 {
			if runErr == nil {
				runErr = r.stepOrSkip(ctx, &steps[i])
			} else {
				r.finish(&steps[i], StepResult{Outcome: OutcomeSkipped, Message: "not started: the journal refused a record"})
			}
			i++
			continue
		}
		j := i
		for j < len(steps) && steps[j].VMID() != 0 {
			j++
		}
		if err := r.parallel(ctx, steps[i:j], runErr != nil); err != nil && runErr == nil {
			runErr = err
		}
		i = j
	}
	return runErr
}

// parallel runs guest steps, one worker per guest at a time and at most
// Options.Parallel workers; each guest's steps in their order. A step that
// depends on a step of another guest (a guest restored from the golden
// image this run builds) waits for it: the plan puts such steps' guests
// after the guest they wait for, so the one waited for is always in a
// worker's hands already.
func (r *run) parallel(ctx context.Context, steps []plan.Step, stopped bool) error {
	var queues [][]*plan.Step
	at := map[int]int{}
	inBatch := map[string]bool{}
	for i := range steps {
		inBatch[steps[i].ID] = true
	}
	for i := range steps {
		v := steps[i].VMID()
		k, ok := at[v]
		if !ok {
			k = len(queues)
			at[v] = k
			queues = append(queues, nil)
		}
		queues[k] = append(queues[k], &steps[i])
	}
	var (
		wg      sync.WaitGroup
		errOnce sync.Once
		runErr  error
		stop    atomic.Bool
		next    atomic.Int64
	)
	stop.Store(stopped)
	for range min(r.o.Parallel, len(queues)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := next.Add(1) - 1; k < int64(len(queues)); k = next.Add(1) - 1 {
				for _, st := range queues[k] {
					if stop.Load() {
						r.finish(st, StepResult{Outcome: OutcomeSkipped, Message: "not started: the journal refused a record"})
						continue
					}
					r.awaitDeps(st, inBatch)
					if err := r.stepOrSkip(ctx, st); err != nil {
						errOnce.Do(func() { runErr = err })
						stop.Store(true)
					}
				}
			}
		}()
	}
	wg.Wait()
	return runErr
}

// awaitDeps waits until every step st depends on that is in the batch
// has an outcome.
func (r *run) awaitDeps(st *plan.Step, inBatch map[string]bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for {
		waiting := false
		for _, dep := range st.DependsOn {
			if _, seen := r.status[dep]; !seen && inBatch[dep] {
				waiting = true
			}
		}
		if !waiting {
			return
		}
		r.settled.Wait()
	}
}

// stepOrSkip runs one step unless the run was interrupted.
func (r *run) stepOrSkip(ctx context.Context, st *plan.Step) error {
	if ctx.Err() != nil {
		r.finish(st, StepResult{Outcome: OutcomeSkipped, Message: "not started: the run was interrupted"})
		return nil
	}
	return r.step(ctx, st)
}

// lockedWriter serialises the writes of concurrent workers: each line of
// output is one write.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

func newTxnID(now time.Time) string {
	var b [4]byte
	rand.Read(b[:])
	return "txn-" + now.UTC().Format("20060102T150405Z") + "-" + hex.EncodeToString(b[:])
}

// step gates and executes one plan step.
func (r *run) step(ctx context.Context, st *plan.Step) error {
	if why := r.blockedBy(st); why != "" {
		if cands := r.candidates(st); len(cands) > 0 {
			r.markMatched(cands)
			why += "; its signed request is kept for the next run"
		}
		r.finish(st, StepResult{Outcome: OutcomeSkipped, Message: why})
		return nil
	}
	x, err := r.newStepRun(st)
	if err != nil {
		r.refused(st, gateResult{decision: "refused_params"}, err)
		r.finish(st, StepResult{Outcome: OutcomeFailed, Message: err.Error()})
		return nil
	}
	r.checkUnchanged(ctx, st)
	g := r.gate(ctx, x)
	if !g.allowed {
		r.finish(st, StepResult{Decision: g.decision, Outcome: g.outcome, Message: g.reason, Request: g.request})
		return nil
	}
	x.gate = g
	err = x.exec.run(ctx, x)
	if err != nil && x.calls == 0 {
		r.refused(st, g, err) // refused by a check right before its call
	}
	var je journalError
	switch {
	case errors.As(err, &je):
		r.finish(st, StepResult{Decision: g.decision, Outcome: OutcomeFailed, Message: err.Error(), UPID: x.lastUPID})
		return fmt.Errorf("apply: %w", err)
	case errors.Is(err, errInterrupted) || (err != nil && ctx.Err() != nil):
		r.finish(st, StepResult{Decision: g.decision, Outcome: OutcomeInterrupted, Message: err.Error(), UPID: x.lastUPID})
		if v := st.VMID(); v != 0 {
			// Nothing more on this guest until recovery knows how the
			// call ended.
			r.guest(v).gone = fmt.Sprintf("a call on guest %d is still in flight; 'felhom-converge recover' settles it", v)
		}
		return nil
	case err != nil:
		msg := err.Error()
		if rb := r.rollbackAfterFailure(ctx, st); rb != "" {
			msg += "; " + rb
		} else if left := r.lockLeft(ctx, st, err); left != "" {
			msg += "; " + left
		}
		r.finish(st, StepResult{Decision: g.decision, Outcome: OutcomeFailed, Message: msg, UPID: x.lastUPID})
		return nil
	}
	r.afterSuccess(ctx, st)
	r.finish(st, StepResult{Decision: g.decision, Outcome: OutcomeDone, Message: x.note, UPID: x.lastUPID})
	return nil
}

// lockLeft holds back the later steps of a failed step's guest while it
// is locked (by the failed task, or by someone else for longer than the
// run waits): each would only wait for the lock and fail. It returns what
// the failed task left, for the step's message.
func (r *run) lockLeft(ctx context.Context, st *plan.Step, err error) string {
	v := st.VMID()
	if v == 0 || ctx.Err() != nil {
		return ""
	}
	var le *LockedError
	if errors.As(err, &le) {
		r.guest(v).gone = fmt.Sprintf("guest %d is locked (%s); the next run tries again", v, le.Lock)
		return ""
	}
	cfg, cerr := r.o.Client.GuestConfig(ctx, v)
	if cerr != nil || cfg.Lock() == "" {
		return ""
	}
	r.guest(v).gone = fmt.Sprintf("guest %d was left locked (%s) by a failed step; the next run tries again", v, cfg.Lock())
	return fmt.Sprintf("guest %d is left locked (%s)%s; its later steps wait for the next run", v, cfg.Lock(), lockRemedy(v, cfg.Lock()))
}

// refused audits a step that made no call: its params or a check
// against the live guest refused it.
func (r *run) refused(st *plan.Step, g gateResult, err error) {
	entry := AuditEntry{Host: r.o.Host, Txn: r.txn, Step: st.ID, Op: st.Op, Guest: guestPtr(st.VMID()),
		Class: string(classOf(st)), Decision: g.decision, Signer: g.signer, Fingerprint: g.fp, Nonce: g.nonce,
		Result: ResultRefusedPrecheck, Reason: err.Error()}
	if aerr := r.o.Audit.Write(entry); aerr != nil {
		r.o.warnf("%v", aerr)
	}
}

// blockedBy says why a step cannot run: a step it depends on did not
// succeed, or its guest was rolled back in this run.
func (r *run) blockedBy(st *plan.Step) string {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, dep := range st.DependsOn {
		out, seen := r.status[dep]
		switch {
		case !seen:
			return fmt.Sprintf("depends on %s, which has not run", dep)
		case out != OutcomeDone:
			return fmt.Sprintf("depends on %s, which is %s", dep, strings.ReplaceAll(out, "_", " "))
		}
	}
	if v := st.VMID(); v != 0 {
		return r.guest(v).gone
	}
	return ""
}

// finish records a step's outcome in the result and prints it (one write,
// so concurrent workers' lines never mix).
func (r *run) finish(st *plan.Step, sr StepResult) {
	sr.ID, sr.Op, sr.Guest = st.ID, st.Op, st.VMID()
	what := st.Op
	if v := st.VMID(); v != 0 {
		what += fmt.Sprintf(" %d", v)
		if st.GuestName != "" {
			what += " (" + st.GuestName + ")"
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%-17s %s", sr.Outcome, what)
	if sr.Message != "" {
		b.WriteString(": " + sr.Message)
	}
	b.WriteString("\n")
	if sr.Request != "" {
		fmt.Fprintf(&b, "  sign it with: %s\n", trust.SignCommand(trust.RoleOperational, sr.Request))
		if st.Op == ops.SignersRotate {
			fmt.Fprintf(&b, "  or with a recovery key: %s\n", trust.SignCommand(trust.RoleRecovery, sr.Request))
		}
		fmt.Fprintf(&b, "  then put it and its .sig into %s and apply again\n", r.o.SignaturesDir)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.status[st.ID] = sr.Outcome
	r.settled.Broadcast()
	r.res.Steps = append(r.res.Steps, sr)
	io.WriteString(r.o.Out, b.String())
}

// afterSuccess records the guest's new digest.
func (r *run) afterSuccess(ctx context.Context, st *plan.Step) {
	v := st.VMID()
	switch {
	case st.Op == ops.GuestDestroy:
		r.guest(v).gone = fmt.Sprintf("guest %d was destroyed by an earlier step", v)
		r.guest(v).cur = ""
		r.recordDigest(v, "", st.ID)
	case v != 0 && !r.guest(v).tainted && changesConfig(st.Op):
		if cfg, err := r.o.Client.GuestConfig(ctx, v); err == nil && cfg.Digest != "" {
			r.guest(v).cur, r.guest(v).fresh = cfg.Digest, true
			r.recordDigest(v, cfg.Digest, st.ID)
		}
	}
}

// changesConfig reports whether a step of op may change its guest's
// config file (and so its digest): a stop does not (a start or a reboot
// applies the pending changes).
func changesConfig(op string) bool { return op != ops.GuestStop }

func (r *run) recordDigest(vmid int, digest, action string) {
	rec := journal.GuestDigest{Txn: r.txn, Guest: vmid, Digest: digest, Call: action}
	if digest != "" {
		rec.Owns = r.owns(vmid)
	}
	if err := r.o.Journal.Append(rec); err != nil {
		r.o.warnf("journal: record the digest of guest %d: %v", vmid, err)
	}
}

// owns is the lists of guest vmid the desired file owns after this run:
// those it declares and those owned before (plan.Owns).
func (r *run) owns(vmid int) string {
	last, _ := r.o.Journal.LastDigest(vmid)
	var g *schema.Guest
	if r.o.Desired != nil {
		g = r.o.Desired.GuestByVMID(vmid)
	}
	return plan.Owns(last.Owns, g)
}

// checkUnchanged reads the guest's digest before a step and compares it
// with the one the run expects (observed, or read after its own last
// step on the guest). A difference is someone else's change: the guest
// is tainted for the rest of the run.
func (r *run) checkUnchanged(ctx context.Context, st *plan.Step) {
	v := st.VMID()
	g := r.guest(v)
	if g.fresh {
		g.fresh = false // read right after this guest's previous step
		return
	}
	want := cmp.Or(g.cur, g.base)
	if v == 0 || want == "" || g.tainted || st.Op == ops.GuestCreate {
		return
	}
	cfg, err := r.o.Client.GuestConfig(ctx, v)
	if err != nil || cfg.Digest == want {
		return
	}
	g.tainted, g.cur = true, ""
	r.o.warnf("guest %d changed outside this run since it was observed; its config writes are checked against the observed digest (re-run apply to plan again)", v)
}

// digestFor is the digest a config write of st passes: the one observed
// at plan time, or, when this run already changed the guest, the digest
// read right after its own change (so a second step on the same guest is
// not refused because of the first).
func (r *run) digestFor(st *plan.Step) string {
	g := r.guest(st.VMID())
	if st.ObservedDigest != "" && st.ObservedDigest == g.base && g.cur != "" {
		return g.cur
	}
	return st.ObservedDigest
}

// inFlight reports whether a call of this run has no terminal record.
func (r *run) inFlight() bool {
	for _, f := range r.o.Journal.InFlight() {
		if f.Intent.Txn == r.txn {
			return true
		}
	}
	return false
}

// recordObserved records, for each managed guest the plan left alone, the
// digest observed this run when it differs from the one the journal has:
// a change made outside the tool is then reported (as drift) by the plan
// that saw it, not by every plan after.
func (r *run) recordObserved(p *plan.Plan) {
	touched := map[int]bool{}
	for _, st := range p.Steps {
		touched[st.VMID()] = true
	}
	vmids := make([]int, 0, len(p.Observed))
	for v := range p.Observed {
		vmids = append(vmids, v)
	}
	slices.Sort(vmids)
	for _, v := range vmids {
		d := p.Observed[v]
		if touched[v] || d == "" {
			continue
		}
		if last, ok := r.o.Journal.LastDigest(v); ok && last.Digest == d && last.Owns == r.owns(v) {
			continue
		}
		r.recordDigest(v, d, "observed")
	}
}

// whyUnmatched says, for a signed request no step matched, what the
// operator should know: that its signature was used already, or how its
// params differ from the planned step of the same op and guest.
func (r *run) whyUnmatched(p *plan.Plan, s *signedRequest) string {
	if s.Parsed == nil {
		return ""
	}
	if r.o.Verifier != nil && r.o.Verifier.Nonces != nil {
		if used, err := r.o.Verifier.Nonces.Consumed(s.Parsed.Nonce); err == nil && used {
			return fmt.Sprintf(": its signature was used already; remove %s.req and its .sig from the signatures directory", s.ID)
		}
	}
	for _, st := range p.Steps {
		if st.Op != s.Parsed.Op || st.VMID() != s.Parsed.Guest {
			continue
		}
		return fmt.Sprintf(": the planned %s on guest %d has params %s, the request %s; sign the step's own request %s",
			st.Op, st.VMID(), st.Params, s.Parsed.Params, st.ID)
	}
	return ""
}

func guestPtr(v int) *int {
	if v == 0 {
		return nil
	}
	return &v
}

func (o *Options) warnf(format string, args ...any) {
	fmt.Fprintf(o.Out, "warning: "+format+"\n", args...)
}
