package apply

import (
	"context"
	"fmt"
	"strings"

	"github.com/felhom/felhom-converge/journal"
	"github.com/felhom/felhom-converge/ops"
	"github.com/felhom/felhom-converge/plan"
	"github.com/felhom/felhom-converge/proxmox"
)

// Removals by provenance: what the journal proves is the tool's own is
// removed without a signature (decision allowed_provenance), audited with
// its true class (destructive), and only when the live object is exactly
// the one the journal recorded.

// housekeeping removes the tool's own safety snapshots and safety backups
// once they are older than safety.keep. One that is gone, or whose guest
// is gone, is only recorded as gone; one that differs from its record
// (someone replaced it with an object of the same name) is left alone and
// its record dropped.
func (r *run) housekeeping(ctx context.Context) {
	keep := r.o.Safety.Keep
	if keep <= 0 || ctx.Err() != nil {
		return
	}
	now := r.o.Now()
	for _, tb := range r.o.Journal.ToolBackups() {
		if now.Sub(tb.Created) >= keep {
			r.removeBackup(ctx, tb)
		}
	}
	for _, ts := range r.o.Journal.ToolSnapshots() {
		if now.Sub(ts.Created) >= keep {
			r.removeSnapshot(ctx, ts)
		}
	}
}

func (r *run) removeSnapshot(ctx context.Context, ts journal.Snapshot) {
	v, name := ts.Guest, ts.Name
	if r.guest(v).gone != "" {
		return // a call on the guest is in flight, or it is gone
	}
	st := &plan.Step{ID: fmt.Sprintf("housekeeping-snapshot.delete-%d-%s", v, name), Op: ops.SnapshotDelete, Guest: &v}
	if cfg, err := r.o.Client.GuestConfig(ctx, v); err == nil && cfg.Lock() != "" {
		// Someone else's task (or a failed one's leftover) holds it: the
		// snapshot waits for a later run rather than this run for the lock.
		r.o.warnf("guest %d is locked (%s): its safety snapshot %s is removed by a later run%s", v, cfg.Lock(), name, lockRemedy(v, cfg.Lock()))
		return
	}
	snaps, err := r.o.Client.ListSnapshots(ctx, v)
	if err != nil && !proxmox.IsNotFound(err) {
		r.finish(st, StepResult{Decision: DecisionProvenance, Outcome: OutcomeFailed, Message: "list snapshots: " + err.Error()})
		return
	}
	var live *proxmox.Snapshot
	for i := range snaps {
		if snaps[i].Name == name {
			live = &snaps[i]
		}
	}
	gone := journal.SnapshotRemoved{Txn: r.txn, Guest: v, Name: name}
	switch {
	case live == nil:
		r.appendOrWarn(gone)
		return
	case !sameSnapshot(*live, ts):
		r.o.warnf("snapshot %s of guest %d is not the safety snapshot the tool took (snaptime %d, recorded %d); left alone, no longer tracked",
			name, v, live.SnapTime, ts.SnapTime)
		r.appendOrWarn(gone)
		return
	}
	why := fmt.Sprintf("safety snapshot %s of guest %d, taken %s, is older than safety.keep (%s)",
		name, v, ts.Created.UTC().Format("2006-01-02T15:04:05Z"), r.o.Safety.Keep)
	p := ops.SnapshotParams{Snapshot: name}
	r.removeOwn(ctx, st, why, func(x *stepRun) error {
		_, err := x.do(ctx, call{op: ops.SnapshotDelete, params: p, destructive: true,
			post: func(ctx context.Context) (proxmox.UPID, error) { return r.o.Client.DeleteSnapshot(ctx, v, name) }})
		return err
	}, gone)
}

func (r *run) removeBackup(ctx context.Context, tb journal.Backup) {
	v, volid := tb.Guest, tb.VolID
	if strings.Contains(r.guest(v).gone, "in flight") {
		return // nothing more on the guest until recovery settles its call
	}
	st := &plan.Step{ID: fmt.Sprintf("housekeeping-backup.delete-%d-%s", v, volid), Op: ops.BackupPrune, Guest: &v}
	it, found, err := lookupArchive(ctx, r.o.Client, volid)
	gone := journal.BackupRemoved{Txn: r.txn, VolID: volid}
	switch {
	case err != nil:
		r.finish(st, StepResult{Decision: DecisionProvenance, Outcome: OutcomeFailed, Message: err.Error()})
		return
	case !found:
		r.appendOrWarn(gone)
		return
	case !sameArchive(it, tb):
		r.o.warnf("%s is not the safety backup the tool took (ctime %d size %d, recorded %d and %d); left alone, no longer tracked",
			volid, it.CTime, it.Size, tb.Created.Unix(), tb.Size)
		r.appendOrWarn(gone)
		return
	case bool(it.Protected):
		return // someone protected it: theirs to remove now
	}
	why := fmt.Sprintf("safety backup %s of guest %d, taken %s by task %s, is older than safety.keep (%s)",
		volid, v, tb.Created.UTC().Format("2006-01-02T15:04:05Z"), tb.UPID, r.o.Safety.Keep)
	r.removeOwn(ctx, st, why, func(x *stepRun) error { return x.deleteArchive(ctx, "#delete0", volid, true) }, gone)
}

func (r *run) appendOrWarn(rec journal.Record) {
	if err := r.o.Journal.Append(rec); err != nil {
		r.o.warnf("journal: %v", err)
	}
}

// removeOwn runs the removal of something the journal proves is the
// tool's own: it audits the decision (no audit line, no removal), makes
// the call, records it gone, and reports the outcome as a step of the run.
func (r *run) removeOwn(ctx context.Context, st *plan.Step, why string, remove func(*stepRun) error, gone journal.Record) {
	entry := AuditEntry{Host: r.o.Host, Txn: r.txn, Step: st.ID, Op: st.Op, Guest: guestPtr(st.VMID()),
		Class: journal.ClassDestructive, Decision: DecisionProvenance, Reason: why}
	if err := r.o.Audit.Write(entry); err != nil {
		r.finish(st, StepResult{Decision: DecisionProvenance, Outcome: OutcomeFailed, Message: "not run: " + err.Error()})
		return
	}
	x := &stepRun{run: r, st: st, gate: gateResult{allowed: true, provenance: true, decision: DecisionProvenance}}
	if err := remove(x); err != nil {
		r.finish(st, StepResult{Decision: DecisionProvenance, Outcome: OutcomeFailed, Message: err.Error(), UPID: x.lastUPID})
		return
	}
	r.appendOrWarn(gone)
	if st.Op == ops.SnapshotDelete {
		r.afterSuccess(ctx, st) // the guest's config changed (its snapshot list)
	}
	r.finish(st, StepResult{Decision: DecisionProvenance, Outcome: OutcomeDone, Message: "removed: " + why, UPID: x.lastUPID})
}

// rollbackAfterFailure destroys a guest this transaction created when a
// later step on it failed: it was the tool's own, half made. It returns
// what it did, for the step's message.
func (r *run) rollbackAfterFailure(ctx context.Context, st *plan.Step) string {
	v := st.VMID()
	if v == 0 || !r.o.Journal.CreatedIn(v, r.txn) {
		return ""
	}
	msg, err := rollbackGuest(ctx, r.o, r.txn, st.ID+"#rollback", v)
	if err != nil {
		r.guest(v).gone = fmt.Sprintf("guest %d was half made and its rollback failed", v)
		return "rollback failed: " + err.Error()
	}
	if msg != "" {
		r.guest(v).gone = fmt.Sprintf("guest %d was rolled back after %s failed", v, st.ID)
	}
	return msg
}

// rollbackGuest destroys guest vmid, created by the tool in txn, under
// its own call record. It returns "" when the guest no longer exists.
func rollbackGuest(ctx context.Context, o *Options, txn, action string, vmid int) (string, error) {
	if _, err := o.Client.GuestStatus(ctx, vmid); proxmox.IsNotFound(err) {
		return "", nil
	} else if err != nil {
		return "", err
	}
	entry := AuditEntry{Host: o.Host, Txn: txn, Step: action, Op: ops.GuestDestroy, Guest: guestPtr(vmid), Class: journal.ClassDestructive,
		Decision: DecisionProvenance, Reason: "created in transaction " + txn}
	if err := o.Audit.Write(entry); err != nil {
		return "", fmt.Errorf("not rolled back: %w", err)
	}
	p := ops.GuestDestroyParams{Purge: true, Replaced: ops.Replaced{Volumes: []string{}, Snapshots: []string{}}}
	c := call{op: ops.GuestDestroy, params: p, post: func(ctx context.Context) (proxmox.UPID, error) {
		return o.Client.DestroyLXC(ctx, vmid, proxmox.DestroyOptions{Purge: true, Force: true})
	}}
	in := journal.Intent{Txn: txn, Call: action, Op: c.op, Guest: vmid, Params: mustJSON(p), Class: journal.ClassBenign,
		Decision: DecisionProvenance, Provenance: ProvenanceRollback, Time: o.Now().UTC()}
	upid, err := invoke(ctx, o, in, c, journal.StatusRolledBack)
	entry.UPID, entry.Result = upidText(upid), ResultRolledBack
	if err != nil {
		entry.Result, entry.Reason = ResultFailed, err.Error()
	}
	if aerr := o.Audit.Write(entry); aerr != nil {
		o.warnf("%v", aerr)
	}
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("rolled back: guest %d (created in this transaction) destroyed", vmid), nil
}
