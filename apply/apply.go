package apply

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/felhom/felhom-converge/ops"
	"github.com/felhom/felhom-converge/plan"
	"github.com/felhom/felhom-converge/proxmox"
	"github.com/felhom/felhom-converge/schema"
	"github.com/felhom/felhom-converge/trust"
)

// Safety configures the safety steps taken before signed destructive
// steps.
type Safety struct {
	Enabled       bool
	BackupStorage string        // vzdump target of safety backups (default "local")
	Keep          time.Duration // how long the tool's safety snapshots and backups are kept
}

// Options are everything one apply run needs. Host, Client, Journal and
// Audit are required.
type Options struct {
	Host    string // this host's name (the local config's host)
	Client  Client
	Journal Journal
	Audit   *Audit
	// Verifier decides on signed requests. Nil trusts nobody: every
	// destructive step stays pending.
	Verifier *trust.Verifier
	// SignaturesDir holds <id>.req + <id>.req.sig pairs; RequestsDir is
	// where requests for pending steps are written.
	SignaturesDir, RequestsDir string
	// Desired is the desired state the plan came from; signers.rotate
	// takes the new trust root from it.
	Desired *schema.Host
	// AllowedSignersPath is the live trust root signers.rotate replaces.
	AllowedSignersPath string
	Safety             Safety
	// Mounter mounts host storage for storage.mount (nil: such steps fail).
	Mounter Mounter
	// TokenUser is the API token's id, USER@REALM!TOKENID: recovery finds
	// a task whose UPID was never recorded among this user's tasks.
	TokenUser string
	// Now is the clock (default time.Now).
	Now func() time.Time
	// Out receives one line per step and the summary (default: discard).
	Out io.Writer
	// Wait configures WaitTask.
	Wait proxmox.WaitOptions
	// ShutdownTimeout bounds a clean shutdown before the guest is
	// stopped hard (default 60s).
	ShutdownTimeout time.Duration
	// RequestTTL is how long a newly written request stays valid
	// (default 24h).
	RequestTTL time.Duration
	// Hook, when set, is called after each durable record of a call
	// ("intent", "upid", "terminal"), once while its task runs ("wait"),
	// and when the gate accepted a signature (its nonce spent, no intent
	// yet: "accepted"), with the op. Tests use it to crash at exactly
	// these points.
	Hook func(point, op string)
}

func (o *Options) check() error {
	switch {
	case o.Host == "":
		return errors.New("apply: no host name")
	case o.Client == nil:
		return errors.New("apply: no Proxmox client")
	case o.Journal == nil:
		return errors.New("apply: no journal")
	case o.Audit == nil:
		return errors.New("apply: no audit log")
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Out == nil {
		o.Out = io.Discard
	}
	if o.ShutdownTimeout <= 0 {
		o.ShutdownTimeout = 60 * time.Second
	}
	if o.RequestTTL <= 0 {
		o.RequestTTL = 24 * time.Hour
	}
	if o.Safety.BackupStorage == "" {
		o.Safety.BackupStorage = "local"
	}
	return nil
}

// Step outcomes.
const (
	OutcomeDone        = "done"
	OutcomeFailed      = "failed"
	OutcomePending     = "pending_signature"
	OutcomeRefused     = "refused" // a signature was offered and rejected (Decision says why)
	OutcomeSkipped     = "skipped"
	OutcomeInterrupted = "interrupted"
)

// StepResult is what happened to one plan step.
type StepResult struct {
	ID       string `json:"id"`
	Op       string `json:"op"`
	Guest    int    `json:"guest,omitempty"`
	Decision string `json:"decision,omitempty"`
	Outcome  string `json:"outcome"`
	Message  string `json:"message,omitempty"`
	UPID     string `json:"upid,omitempty"`
	Request  string `json:"request,omitempty"` // the request file to sign, for a pending step
}

// Result is the outcome of one run.
type Result struct {
	Txn   string       `json:"txn"`
	Steps []StepResult `json:"steps"`
	// Unmatched lists signed requests that match no planned step.
	Unmatched []string `json:"unmatched,omitempty"`
	// Outstanding counts changes that wait for a reboot that may not be
	// done (from the plan).
	Outstanding int `json:"outstanding"`
}

// Count returns how many steps ended with outcome.
func (r *Result) Count(outcome string) int {
	n := 0
	for _, s := range r.Steps {
		if s.Outcome == outcome {
			n++
		}
	}
	return n
}

// Failed reports whether a step failed (or was interrupted).
func (r *Result) Failed() bool {
	return r.Count(OutcomeFailed)+r.Count(OutcomeInterrupted) > 0
}

// Pending reports whether steps wait for a signature (or were refused
// one, or were skipped behind such a step) or changes wait for a reboot.
func (r *Result) Pending() bool {
	return r.Count(OutcomePending)+r.Count(OutcomeRefused)+r.Count(OutcomeSkipped) > 0 || r.Outstanding > 0
}

// Summary is the run's last line.
func (r *Result) Summary() string {
	parts := []string{fmt.Sprintf("%d done", r.Count(OutcomeDone))}
	for _, o := range []string{OutcomePending, OutcomeRefused, OutcomeFailed, OutcomeInterrupted, OutcomeSkipped} {
		if n := r.Count(o); n > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", n, strings.ReplaceAll(o, "_", " ")))
		}
	}
	if r.Outstanding > 0 {
		parts = append(parts, fmt.Sprintf("%d waiting for a reboot", r.Outstanding))
	}
	return "apply: " + strings.Join(parts, ", ")
}

// PlanID is the id of a plan: the SHA-256 of its JSON, hex.
func PlanID(p *plan.Plan) string {
	b, _ := json.Marshal(p)
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// run is the state of one apply run.
type run struct {
	o      *Options
	txn    string
	res    *Result
	sigs   []*signedRequest
	base   map[int]string    // the observed digest of each guest in the plan
	cur    map[int]string    // the digest read after this run's last step on the guest
	status map[string]string // step id → outcome, for dependants
	gone   map[int]string    // guests rolled back or destroyed in this run → why
	// tainted guests changed, between the observe (or this run's last
	// step on them) and a step, by someone else: later config writes to
	// them pass the observed digest (Proxmox then refuses them), and their
	// digest is not recorded as this run's.
	tainted map[int]bool
}

// Run applies p. The caller holds the journal's lock and has run Recover.
// Every step is gated, journaled and executed in plan order; a pending or
// failed step holds back only the steps that depend on it. The error is
// non-nil only when the run itself could not go on (the journal refused a
// record); step failures are in the Result.
func Run(ctx context.Context, p *plan.Plan, o Options) (*Result, error) {
	if err := o.check(); err != nil {
		return nil, err
	}
	if p.Host != "" && p.Host != o.Host {
		return nil, fmt.Errorf("apply: the plan is for host %q, this is %q", p.Host, o.Host)
	}
	r := &run{o: &o, res: &Result{Outstanding: unplannedReboots(p)}, base: map[int]string{}, cur: map[int]string{},
		status: map[string]string{}, gone: map[int]string{}, tainted: map[int]bool{}}
	for _, st := range p.Steps {
		if v := st.VMID(); v != 0 && st.ObservedDigest != "" && r.base[v] == "" {
			r.base[v] = st.ObservedDigest
		}
	}
	r.txn = newTxnID(o.Now())
	r.res.Txn = r.txn
	if err := o.Journal.Begin(TxnBegin{Txn: r.txn, Host: o.Host, PlanID: PlanID(p), DesiredDigest: p.DesiredDigest, Time: o.Now().UTC()}); err != nil {
		return nil, fmt.Errorf("apply: journal: %w", err)
	}
	var warnings []string
	r.sigs, warnings = scanSignatures(o.SignaturesDir)
	for _, w := range warnings {
		fmt.Fprintf(o.Out, "warning: %s\n", w)
	}
	var runErr error
	for i := range p.Steps {
		if err := ctx.Err(); err != nil {
			r.finish(&p.Steps[i], StepResult{Outcome: OutcomeSkipped, Message: "not started: the run was interrupted"})
			continue
		}
		if err := r.step(ctx, &p.Steps[i]); err != nil {
			runErr = err
			break
		}
	}
	if runErr == nil {
		r.recordObserved(p) // first: housekeeping records the digests it changes
		r.housekeeping(ctx)
	}
	for _, s := range r.sigs {
		if !s.matched {
			r.res.Unmatched = append(r.res.Unmatched, s.ID)
			fmt.Fprintf(o.Out, "signed request %s matches no planned step (left alone)%s\n", trust.QuoteName(s.ID), r.whyUnmatched(p, s))
		}
	}
	outcome := "converged"
	switch {
	case runErr != nil || r.res.Failed():
		outcome = "failed"
	case r.res.Pending():
		outcome = "pending"
	}
	// A call still in flight keeps its transaction open: recovery settles
	// the call, then closes it (what the transaction made stays its own
	// until then).
	if !r.inFlight() {
		if err := o.Journal.End(r.txn, outcome); err != nil && runErr == nil {
			runErr = fmt.Errorf("apply: journal: %w", err)
		}
	}
	fmt.Fprintln(o.Out, r.res.Summary())
	return r.res, runErr
}

func newTxnID(now time.Time) string {
	var b [4]byte
	rand.Read(b[:])
	return "txn-" + now.UTC().Format("20060102T150405Z") + "-" + hex.EncodeToString(b[:])
}

// journalError is a journal record that could not be written: the run
// stops, because nothing may run unrecorded.
type journalError struct{ err error }

func (e journalError) Error() string { return "journal: " + e.err.Error() }
func (e journalError) Unwrap() error { return e.err }

// step gates and executes one plan step.
func (r *run) step(ctx context.Context, st *plan.Step) error {
	if why := r.blockedBy(st); why != "" {
		r.finish(st, StepResult{Outcome: OutcomeSkipped, Message: why})
		return nil
	}
	if err := ops.CheckParams(st.Op, st.Params); err != nil {
		r.finish(st, StepResult{Outcome: OutcomeFailed, Message: err.Error()})
		return nil
	}
	g := r.gate(st)
	if !g.allowed {
		r.finish(st, StepResult{Decision: g.decision, Outcome: g.outcome, Message: g.reason, Request: g.request})
		return nil
	}
	r.checkUnchanged(ctx, st)
	x := &stepRun{run: r, st: st, gate: g}
	err := x.execute(ctx)
	if err != nil && x.calls == 0 {
		// Refused before any call (a check against live state, bad
		// params): the decision's audit line gets its outcome too.
		entry := AuditEntry{Host: r.o.Host, Txn: r.txn, Step: st.ID, Op: st.Op, Guest: guestPtr(st.VMID()),
			Class: string(classOf(st)), Decision: g.decision, Signer: g.signer, Fingerprint: g.fp, Nonce: g.nonce,
			Result: ResultRefusedPrecheck, Reason: err.Error()}
		if aerr := r.o.Audit.Write(entry); aerr != nil {
			fmt.Fprintf(r.o.Out, "warning: %v\n", aerr)
		}
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
			r.gone[v] = fmt.Sprintf("a call on guest %d is still in flight; 'felhom-converge recover' settles it", v)
		}
		return nil
	case err != nil:
		msg := err.Error()
		if rb := r.rollbackAfterFailure(ctx, st); rb != "" {
			msg += "; " + rb
		}
		r.finish(st, StepResult{Decision: g.decision, Outcome: OutcomeFailed, Message: msg, UPID: x.lastUPID})
		return nil
	}
	r.afterSuccess(ctx, st)
	r.finish(st, StepResult{Decision: g.decision, Outcome: OutcomeDone, Message: x.note, UPID: x.lastUPID})
	return nil
}

// blockedBy says why a step cannot run: a step it depends on did not
// succeed, or its guest was rolled back in this run.
func (r *run) blockedBy(st *plan.Step) string {
	for _, dep := range st.DependsOn {
		out, seen := r.status[dep]
		switch {
		case !seen:
			return fmt.Sprintf("depends on %s, which has not run", dep)
		case out != OutcomeDone:
			return fmt.Sprintf("depends on %s, which is %s", dep, strings.ReplaceAll(out, "_", " "))
		}
	}
	if why, ok := r.gone[st.VMID()]; ok && st.VMID() != 0 {
		return why
	}
	return ""
}

// finish records a step's outcome in the result and prints it.
func (r *run) finish(st *plan.Step, sr StepResult) {
	sr.ID, sr.Op, sr.Guest = st.ID, st.Op, st.VMID()
	r.status[st.ID] = sr.Outcome
	r.res.Steps = append(r.res.Steps, sr)
	what := st.Op
	if v := st.VMID(); v != 0 {
		what += fmt.Sprintf(" %d", v)
		if st.GuestName != "" {
			what += " (" + st.GuestName + ")"
		}
	}
	line := fmt.Sprintf("%-17s %s", sr.Outcome, what)
	if sr.Message != "" {
		line += ": " + sr.Message
	}
	fmt.Fprintln(r.o.Out, line)
	if sr.Request != "" {
		fmt.Fprintf(r.o.Out, "  sign it with: %s\n", trust.SignCommand(trust.RoleOperational, sr.Request))
		if st.Op == ops.SignersRotate {
			fmt.Fprintf(r.o.Out, "  or with a recovery key: %s\n", trust.SignCommand(trust.RoleRecovery, sr.Request))
		}
		fmt.Fprintf(r.o.Out, "  then put it and its .sig into %s and apply again\n", r.o.SignaturesDir)
	}
}

// afterSuccess records the guest's new digest and a job's completion.
func (r *run) afterSuccess(ctx context.Context, st *plan.Step) {
	v := st.VMID()
	if st.Op == ops.GuestDestroy {
		r.gone[v] = fmt.Sprintf("guest %d was destroyed by an earlier step", v)
		delete(r.cur, v)
		if err := r.o.Journal.GuestDigest(r.txn, v, "", st.ID); err != nil {
			fmt.Fprintf(r.o.Out, "warning: journal: record that guest %d is gone: %v\n", v, err)
		}
	} else if v != 0 && !r.tainted[v] {
		if cfg, err := r.o.Client.GuestConfig(ctx, v); err == nil && cfg.Digest != "" {
			r.cur[v] = cfg.Digest
			if err := r.o.Journal.GuestDigest(r.txn, v, cfg.Digest, st.ID); err != nil {
				fmt.Fprintf(r.o.Out, "warning: journal: record the digest of guest %d: %v\n", v, err)
			}
		}
	}
	if st.Job != "" {
		if err := r.o.Journal.MarkJobDone(r.txn, st.Job); err != nil {
			fmt.Fprintf(r.o.Out, "warning: journal: record job %s as done: %v\n", st.Job, err)
		}
	}
}

// checkUnchanged reads the guest's digest before a step and compares it
// with the one the run expects (observed, or read after its own last
// step on the guest). A difference is someone else's change: the guest
// is tainted for the rest of the run.
func (r *run) checkUnchanged(ctx context.Context, st *plan.Step) {
	v := st.VMID()
	want := r.cur[v]
	if want == "" {
		want = r.base[v]
	}
	if v == 0 || want == "" || r.tainted[v] || st.Op == ops.GuestCreate {
		return
	}
	cfg, err := r.o.Client.GuestConfig(ctx, v)
	if err != nil || cfg.Digest == want {
		return
	}
	r.tainted[v] = true
	delete(r.cur, v)
	fmt.Fprintf(r.o.Out, "warning: guest %d changed outside this run since it was observed; its config writes are checked against the observed digest (re-run apply to plan again)\n", v)
}

// digestFor is the digest a config write of st passes: the one observed
// at plan time, or, when this run already changed the guest, the digest
// read right after its own change (so a second step on the same guest is
// not refused because of the first).
func (r *run) digestFor(st *plan.Step) string {
	v := st.VMID()
	if st.ObservedDigest != "" && st.ObservedDigest == r.base[v] && r.cur[v] != "" {
		return r.cur[v]
	}
	return st.ObservedDigest
}

// rollbackAfterFailure destroys a guest this transaction created when a
// later step on it failed: it was the tool's own, half made. Benign by
// provenance, audited. It returns what it did, for the step's message.
func (r *run) rollbackAfterFailure(ctx context.Context, st *plan.Step) string {
	v := st.VMID()
	if v == 0 {
		return ""
	}
	txn, ok := r.o.Journal.CreatedInTxn(v)
	if !ok || txn != r.txn {
		return ""
	}
	msg, err := rollbackGuest(ctx, r.o, r.txn, st.ID+"#rollback", v)
	if err != nil {
		r.gone[v] = fmt.Sprintf("guest %d was half made and its rollback failed", v)
		return "rollback failed: " + err.Error()
	}
	if msg != "" {
		r.gone[v] = fmt.Sprintf("guest %d was rolled back after %s failed", v, st.ID)
	}
	return msg
}

// rollbackGuest destroys guest vmid, created by the tool in txn, under
// its own call record. It returns "" when the guest no longer exists.
func rollbackGuest(ctx context.Context, o *Options, txn, callID string, vmid int) (string, error) {
	if _, err := o.Client.GuestStatus(ctx, vmid); proxmox.IsNotFound(err) {
		return "", nil
	} else if err != nil {
		return "", err
	}
	guest := vmid
	entry := AuditEntry{Host: o.Host, Txn: txn, Step: callID, Op: ops.GuestDestroy, Guest: &guest, Class: string(ops.Destructive),
		Decision: DecisionProvenance, Reason: "created in transaction " + txn}
	if err := o.Audit.Write(entry); err != nil {
		return "", fmt.Errorf("not rolled back: %w", err)
	}
	params, _ := json.Marshal(map[string]any{"purge": true, "volumes": []string{}})
	c := call{suffix: "", op: ops.GuestDestroy, params: params, task: "vzdestroy",
		post: func(ctx context.Context) (proxmox.UPID, error) {
			return o.Client.DestroyLXC(ctx, vmid, proxmox.DestroyOptions{Purge: true, Force: true})
		}}
	in := Intent{Txn: txn, Call: callID, Op: c.op, Guest: vmid, Params: params, Class: string(ops.Benign),
		Decision: DecisionProvenance, Provenance: ProvenanceRollback, Time: o.Now().UTC()}
	upid, err := invoke(ctx, o, in, c, ResultRolledBack)
	entry.UPID, entry.Result = upidText(upid), ResultRolledBack
	if err != nil {
		entry.Result, entry.Reason = ResultFailed, err.Error()
	}
	if aerr := o.Audit.Write(entry); aerr != nil {
		fmt.Fprintf(o.Out, "warning: %v\n", aerr)
	}
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("rolled back: guest %d (created in this transaction) destroyed", vmid), nil
}

// stringMap turns a JSON object of config values into Proxmox's form:
// strings as they are, numbers in decimal, booleans as 1/0.
func stringMap(m map[string]any) (map[string]string, error) {
	out := make(map[string]string, len(m))
	for k, v := range m {
		switch v := v.(type) {
		case string:
			out[k] = v
		case bool:
			out[k] = "0"
			if v {
				out[k] = "1"
			}
		case float64:
			out[k] = strings.TrimSuffix(strings.TrimRight(fmt.Sprintf("%f", v), "0"), ".")
		case json.Number:
			out[k] = v.String()
		default:
			return nil, fmt.Errorf("config key %q: want a string, number or boolean", k)
		}
	}
	return out, nil
}

func sortedKeys[M ~map[string]V, V any](m M) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// unplannedReboots counts the guests whose pending changes wait for a
// reboot the plan does not include (a planned reboot is a step, counted by
// its own outcome).
func unplannedReboots(p *plan.Plan) int {
	n := 0
	for _, o := range p.Outstanding {
		if o.Reboot != plan.RebootPlanned {
			n++
		}
	}
	return n
}

// inFlight reports whether a call of this run has no terminal record.
func (r *run) inFlight() bool {
	for _, f := range r.o.Journal.InFlight() {
		if f.Txn == r.txn {
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
	sort.Ints(vmids)
	for _, v := range vmids {
		d := p.Observed[v]
		if touched[v] || d == "" {
			continue
		}
		if last, _, ok := r.o.Journal.LastDigest(v); ok && last == d {
			continue
		}
		if err := r.o.Journal.GuestDigest(r.txn, v, d, "observed"); err != nil {
			fmt.Fprintf(r.o.Out, "warning: journal: %v\n", err)
		}
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
		if st.Op == s.Parsed.Op && st.VMID() == s.Parsed.Guest {
			return fmt.Sprintf(": the planned %s on guest %d has params %s, the request %s; sign the step's own request %s",
				st.Op, st.VMID(), st.Params, s.Parsed.Params, st.ID)
		}
	}
	return ""
}
