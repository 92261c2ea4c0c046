package apply

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/felhom/felhom-converge/journal"
	"github.com/felhom/felhom-converge/ops"
	"github.com/felhom/felhom-converge/proxmox"
)

// call is one API call of a step, journaled on its own: the step's main
// call (suffix "") or one of its other calls ("#safety", "#stop", ...).
type call struct {
	suffix      string
	op          string
	params      any // the call's params (an ops params struct), as journaled
	destructive bool
	provenance  string                                          // what the call makes that is the tool's own
	post        func(ctx context.Context) (proxmox.UPID, error) // an async call (a task)
	do          func(ctx context.Context) error                 // a synchronous call
	// made records what a successful task made, before its terminal
	// record (nil: by the intent's provenance).
	made func(ctx context.Context, in journal.Intent, upid proxmox.UPID) error
}

// errInterrupted is a call whose outcome is not known yet (the wait was
// cut short, or Proxmox could not be asked): it stays in flight for
// recovery.
var errInterrupted = errors.New("interrupted")

// journalError is a journal record that could not be written: the run
// stops, because nothing may run unrecorded.
type journalError struct{ err error }

func (e journalError) Error() string { return "journal: " + e.err.Error() }
func (e journalError) Unwrap() error { return e.err }

// settledError is a call answered with an error and then settled from
// the host: the terminal status says what really happened.
type settledError struct {
	status journal.Status
	msg    string
	err    error
}

func (e *settledError) Error() string { return fmt.Sprintf("%v (%s: %s)", e.err, e.status, e.msg) }
func (e *settledError) Unwrap() error { return e.err }

// lockRefused reports a call Proxmox refused because the guest was locked
// (by a backup, a snapshot, another tool) and that never took effect: it
// may be made again once the lock is gone.
func lockRefused(err error) bool {
	var se *settledError
	if errors.As(err, &se) && se.status == journal.StatusAborted {
		return lockText(se.err.Error())
	}
	var te *proxmox.TaskError
	if errors.As(err, &te) {
		// A worker checks the lock before it acts (check_lock under the
		// config's flock): a task that ended on it did nothing.
		return strings.HasPrefix(te.ExitStatus, "CT is locked (") || strings.HasPrefix(te.ExitStatus, "VM is locked (")
	}
	return refusedBeforeAction(err) && lockText(err.Error())
}

// lockText reports Proxmox's refusals for a lock someone else holds: a
// guest lock, or the config file's lock a running task holds.
func lockText(s string) bool {
	return strings.Contains(s, "is locked") || strings.Contains(s, "can't lock file")
}

// refusedBeforeAction reports an answer that shows Proxmox refused the
// call before acting: a 4xx (bad parameter, permission, not found). Any
// other error (a 5xx, which a proxy may send after pvedaemon acted; a
// lost answer) may have reached Proxmox and is settled from the host.
func refusedBeforeAction(err error) bool {
	var api *proxmox.APIError
	return errors.As(err, &api) && api.Status >= 400 && api.Status < 500
}

// invoke makes one call under the journal: intent (durable) → call →
// UPID (durable) → wait → terminal record. ok is the status recorded on
// success (ok, or rolled_back for a rollback). A call that may have
// reached Proxmox without a usable answer is settled at once from the
// host, as recovery would; when that cannot be known it stays in flight.
func invoke(ctx context.Context, o *Options, in journal.Intent, c call, ok journal.Status) (proxmox.UPID, error) {
	if err := o.Journal.Append(in); err != nil {
		return proxmox.UPID{}, journalError{err}
	}
	o.hook("intent", in.Op)
	if c.post == nil {
		return proxmox.UPID{}, invokeSync(ctx, o, in, c, ok)
	}
	upid, err := c.post(ctx)
	if err != nil {
		if refusedBeforeAction(err) {
			return proxmox.UPID{}, finish(o, in, journal.Result{Status: journal.StatusFailed, Error: err.Error()}, err)
		}
		r, found := settle(ctx, o, journal.InFlight{Intent: in})
		if r.Status == "" {
			return found, fmt.Errorf("%w (%v); 'felhom-converge recover' settles it", errInterrupted, err)
		}
		if err := conclude(ctx, o, in, found, &r, c.made, ok); err != nil {
			return found, err
		}
		if r.Status == ok {
			return found, finish(o, in, r, nil)
		}
		return found, finish(o, in, r, &settledError{status: r.Status, msg: r.Error, err: err})
	}
	if err := o.Journal.Append(journal.TaskStarted{Txn: in.Txn, Call: in.Call, UPID: upid.String()}); err != nil {
		return upid, journalError{err}
	}
	o.hook("upid", in.Op)
	r, werr := waitOutcome(ctx, o, upid, in.Op)
	if r.Status == "" {
		return upid, fmt.Errorf("%w: %v; 'felhom-converge recover' settles it", errInterrupted, werr)
	}
	if err := conclude(ctx, o, in, upid, &r, c.made, ok); err != nil {
		return upid, err
	}
	return upid, finish(o, in, r, werr)
}

// invokeSync makes a synchronous call (a config PUT, a mount, a file
// write). A config PUT that may have reached Proxmox is settled from the
// live config.
func invokeSync(ctx context.Context, o *Options, in journal.Intent, c call, ok journal.Status) error {
	err := c.do(ctx)
	switch {
	case err == nil:
		r := journal.Result{Status: journal.StatusOK}
		if err := conclude(ctx, o, in, proxmox.UPID{}, &r, c.made, ok); err != nil {
			return err
		}
		return finish(o, in, r, nil)
	case in.Guest == 0 || !isConfigWrite(in.Op):
		return finish(o, in, journal.Result{Status: journal.StatusFailed, Error: err.Error()}, err)
	}
	// Even a refusal (400) may come after part of a PUT was written on a
	// running guest: the live config says what took effect.
	r := settleConfig(ctx, o, in, err)
	switch {
	case r.Status == "":
		return fmt.Errorf("%w (%v); 'felhom-converge recover' settles it", errInterrupted, err)
	case r.Status == journal.StatusOK:
		r.Status = ok
		return finish(o, in, r, nil)
	}
	return finish(o, in, r, &settledError{status: r.Status, msg: r.Error, err: err})
}

// finish writes a call's terminal record and returns callErr, or the
// journal's error when the record could not be written.
func finish(o *Options, in journal.Intent, r journal.Result, callErr error) error {
	r.Txn, r.Call, r.Time = in.Txn, in.Call, o.Now().UTC()
	if err := o.Journal.Append(r); err != nil {
		return journalError{err}
	}
	o.hook("terminal", in.Op)
	return callErr
}

// conclude records, for a call whose task ended ok, what it made that is
// the tool's own (made, or by the intent's provenance when made is nil)
// and the job its step completes, before the call's terminal record, and
// turns the status into ok's (ok, or rolled_back for a rollback).
func conclude(ctx context.Context, o *Options, in journal.Intent, upid proxmox.UPID, r *journal.Result, made func(context.Context, journal.Intent, proxmox.UPID) error, ok journal.Status) error {
	if r.Status != journal.StatusOK {
		return nil
	}
	if made == nil {
		made = func(ctx context.Context, in journal.Intent, upid proxmox.UPID) error {
			return recordMade(ctx, o, in, upid)
		}
	}
	if err := made(ctx, in, upid); err != nil {
		return journalError{err}
	}
	if err := recordJobDone(o, in); err != nil {
		return journalError{err}
	}
	r.Status = ok
	return nil
}

// recordJobDone marks the job of a step's main call done: a one-shot job
// is done once its main call succeeded, whoever settled that call (the
// run that made it, or recovery after a crash). A trailing call (the
// start after a rollback) is its own follow-up, not part of the job.
func recordJobDone(o *Options, in journal.Intent) error {
	if in.Job == "" || !mainCall(in.Call) || o.Journal.JobDone(in.Job) {
		return nil
	}
	return o.Journal.Append(journal.JobDone{Txn: in.Txn, Job: in.Job})
}

// mainCall reports whether a call id is its step's main call: the step's
// action id, or that with the "#retryN" of a call made again after a lock.
func mainCall(action string) bool {
	_, suffix, ok := strings.Cut(action, "#")
	return !ok || strings.HasPrefix(suffix, "retry") && !strings.Contains(suffix, "#")
}

// waitOutcome waits for a task and turns its end into a terminal record;
// an empty Status means the outcome is not known.
func waitOutcome(ctx context.Context, o *Options, upid proxmox.UPID, op string) (journal.Result, error) {
	w := o.Wait
	once := false
	prev := w.Progress
	w.Progress = func(s proxmox.TaskStatus) {
		if prev != nil {
			prev(s)
		}
		if s.Running() && !once && op != "" {
			once = true
			o.hook("wait", op)
		}
	}
	err := o.Client.WaitTask(ctx, upid, w)
	var te *proxmox.TaskError
	switch {
	case err == nil:
		return journal.Result{Status: journal.StatusOK}, nil
	case proxmox.IsTaskWarnings(err):
		return journal.Result{Status: journal.StatusOK, Error: err.Error()}, nil
	case errors.As(err, &te):
		return journal.Result{Status: journal.StatusFailed, ExitStatus: te.ExitStatus, Error: err.Error()}, err
	}
	return journal.Result{}, err
}

// intentFor is the journal intent of one call of a step.
func (x *stepRun) intentFor(c call) (journal.Intent, error) {
	params, err := json.Marshal(c.params)
	if err != nil {
		return journal.Intent{}, fmt.Errorf("params of %s: %w", c.op, err)
	}
	// A destructive call's intent carries its signature's nonce; the
	// tool's removal of its own data (provenance) is journaled benign,
	// with the provenance that makes it so, and audited destructive.
	class := journal.ClassBenign
	if c.destructive && x.gate.nonce != "" {
		class = journal.ClassDestructive
	}
	// Every call of a signed step carries its nonce: the journal then
	// shows the signed step began even if it crashed in its safety step.
	return journal.Intent{Txn: x.txn, Call: x.st.ID + c.suffix, Op: c.op, Guest: x.st.VMID(), Params: params,
		Class: class, Decision: x.gate.decision, Nonce: x.gate.nonce, Provenance: c.provenance, Job: x.st.Job,
		Time: x.o.Now().UTC()}, nil
}

// do makes one call of the step and audits its outcome.
func (x *stepRun) do(ctx context.Context, c call) (proxmox.UPID, error) {
	var upid proxmox.UPID
	var in journal.Intent
	var err error
	suffix := c.suffix
	if c.destructive {
		// A destructive call is made once, right after the checks before
		// it: someone else's lock is waited out first, not retried after.
		if err := x.waitUnlocked(ctx); err != nil {
			return proxmox.UPID{}, fmt.Errorf("not run: %w", err)
		}
	}
	for attempt := 1; ; attempt++ {
		if in, err = x.intentFor(c); err != nil {
			return proxmox.UPID{}, err
		}
		x.calls++
		upid, err = invoke(ctx, x.o, in, c, journal.StatusOK)
		// A guest locked by someone else (a backup job, say) is waited
		// for, and the call made again under its own record: the first
		// never took effect.
		if c.destructive || !lockRefused(err) || attempt > lockRetries || x.waitLockHolder(ctx, err) != nil {
			break
		}
		c.suffix = fmt.Sprintf("%s#retry%d", suffix, attempt)
	}
	if !upid.IsZero() {
		x.lastUPID = upid.String()
	}
	entry := x.auditEntry(in.Call, c.op, classWord(c.destructive || x.gate.provenance))
	entry.UPID, entry.Result = x.lastUPID, ResultOK
	if c.destructive {
		entry.Nonce = x.gate.nonce
	}
	if err != nil {
		entry.Result, entry.Reason = ResultFailed, err.Error()
		if errors.Is(err, errInterrupted) {
			entry.Result = "unknown"
		}
	}
	if aerr := x.o.Audit.Write(entry); aerr != nil {
		x.o.warnf("%v", aerr)
	}
	return upid, err
}

// lockRetries bounds how often a call refused for a guest lock is made
// again, each after the lock was seen gone.
const lockRetries = 3

// waitUnlocked waits until the step's guest has no lock, up to LockWait. It
// returns nil once the lock is gone (or the guest is: the call then says
// so itself), a *LockedError when someone still holds it.
func (x *stepRun) waitUnlocked(ctx context.Context) error {
	if x.vmid() == 0 {
		return nil // a host-level step: no guest lock guards it
	}
	deadline := x.o.Now().Add(x.o.LockWait)
	for {
		cfg, err := x.o.Client.GuestConfig(ctx, x.vmid())
		if proxmox.IsNotFound(err) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("read guest %d for its lock: %w", x.vmid(), err)
		}
		if cfg.Lock() == "" {
			return nil
		}
		if !x.o.Now().Before(deadline) {
			return &LockedError{Guest: x.vmid(), Lock: cfg.Lock(), Waited: x.o.LockWait}
		}
		select {
		case <-ctx.Done():
			return errInterrupted
		case <-time.After(time.Second):
		}
	}
}

// waitLockHolder waits for whoever made Proxmox refuse a call: the
// guest's lock (a backup, a snapshot), or, for the config file's flock
// ("can't lock file ... got timeout", which no config shows), the task
// holding it (a start, a shutdown, a resize of someone else) to end.
func (x *stepRun) waitLockHolder(ctx context.Context, refusal error) error {
	if !strings.Contains(refusal.Error(), "can't lock file") {
		return x.waitUnlocked(ctx)
	}
	deadline := x.o.Now().Add(x.o.LockWait)
	for {
		tasks, err := x.o.Client.ListTasks(ctx, proxmox.TaskFilter{VMID: x.vmid(), Limit: 20})
		if err != nil {
			return fmt.Errorf("list the tasks of guest %d: %w", x.vmid(), err)
		}
		running := ""
		for _, t := range tasks {
			if t.Running() {
				running = t.Type
			}
		}
		switch {
		case running == "":
			return nil
		case !x.o.Now().Before(deadline):
			return fmt.Errorf("guest %d's config is still locked by a %s task after %s; the next run tries again", x.vmid(), running, x.o.LockWait)
		}
		select {
		case <-ctx.Done():
			return errInterrupted
		case <-time.After(time.Second):
		}
	}
}

// LockedError is a guest someone else kept locked (a backup, a snapshot,
// a failed task's leftover) for longer than the run waits.
type LockedError struct {
	Guest  int
	Lock   string
	Waited time.Duration
}

func (e *LockedError) Error() string {
	return fmt.Sprintf("guest %d is still locked (%s) after %s; the next run tries again%s", e.Guest, e.Lock, e.Waited, lockRemedy(e.Guest, e.Lock))
}

// lockRemedy says what clears a lock a failed task of Proxmox leaves
// behind (a running backup's or snapshot's lock clears itself).
func lockRemedy(vmid int, lock string) string {
	switch lock {
	case "rollback", "snapshot-delete", "create", "destroyed", "disk", "migrate", "mounted":
		return fmt.Sprintf(" (a %s lock stays after a failed task: once you checked the guest, 'pct unlock %d' clears it)", lock, vmid)
	}
	return ""
}

// isConfigWrite reports whether op is a synchronous config PUT.
func isConfigWrite(op string) bool {
	switch op {
	case ops.GuestSet, ops.MountAdd, ops.MountDetach, ops.VolumeFree:
		return true
	}
	return false
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err) // params structs of plain values always marshal
	}
	return b
}
