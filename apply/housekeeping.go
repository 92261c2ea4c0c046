package apply

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/felhom/felhom-converge/ops"
	"github.com/felhom/felhom-converge/plan"
	"github.com/felhom/felhom-converge/proxmox"
)

// housekeeping removes the tool's own safety snapshots and safety backups
// once they are older than safety.keep: benign by provenance (the journal
// proves the tool took them), journaled and audited like any call. One
// that someone else removed, or whose guest is gone, is only recorded as
// gone.
func (r *run) housekeeping(ctx context.Context) {
	r.backupHousekeeping(ctx)
	keep := r.o.Safety.Keep
	if keep <= 0 || ctx.Err() != nil {
		return
	}
	now := r.o.Now()
	for _, ts := range r.o.Journal.ToolSnapshots() {
		if now.Sub(ts.Created) < keep {
			continue
		}
		v, name := ts.Guest, ts.Name
		if _, blocked := r.gone[v]; blocked {
			continue // a call on the guest is in flight, or it is gone
		}
		id := fmt.Sprintf("housekeeping-snapshot.delete-%d-%s", v, name)
		st := &plan.Step{ID: id, Op: ops.SnapshotDelete, Guest: &v}
		snaps, err := r.o.Client.ListSnapshots(ctx, v)
		if err != nil && !proxmox.IsNotFound(err) {
			r.finish(st, StepResult{Decision: DecisionProvenance, Outcome: OutcomeFailed, Message: "list snapshots: " + err.Error()})
			continue
		}
		present := false
		for _, s := range snaps {
			present = present || s.Name == name
		}
		if !present {
			if err := r.o.Journal.SnapshotRemoved(r.txn, v, name); err != nil {
				fmt.Fprintf(r.o.Out, "warning: journal: %v\n", err)
			}
			continue
		}
		st.Params, _ = json.Marshal(map[string]string{"snapshot": name})
		why := fmt.Sprintf("safety snapshot %s of guest %d, taken %s, is older than safety.keep (%s)",
			name, v, ts.Created.UTC().Format("2006-01-02T15:04:05Z"), keep)
		r.removeOwn(ctx, st, why, func(x *stepRun) error {
			_, err := x.do(ctx, call{op: ops.SnapshotDelete, params: st.Params, task: "vzdelsnapshot",
				post: func(ctx context.Context) (proxmox.UPID, error) { return r.o.Client.DeleteSnapshot(ctx, v, name) }})
			return err
		}, func() error { return r.o.Journal.SnapshotRemoved(r.txn, v, name) })
	}
}

// removeOwn runs the removal of something the journal proves is the
// tool's own (decision allowed_provenance): it audits the decision (no
// audit line, no removal), makes the call, records it gone, and reports
// the outcome as a step of the run.
func (r *run) removeOwn(ctx context.Context, st *plan.Step, why string, remove func(*stepRun) error, gone func() error) {
	entry := AuditEntry{Host: r.o.Host, Txn: r.txn, Step: st.ID, Op: st.Op, Guest: guestPtr(st.VMID()),
		Class: string(ops.Destructive), Decision: DecisionProvenance, Reason: why}
	if err := r.o.Audit.Write(entry); err != nil {
		r.finish(st, StepResult{Decision: DecisionProvenance, Outcome: OutcomeFailed, Message: "not run: " + err.Error()})
		return
	}
	x := &stepRun{run: r, st: st, gate: gateResult{allowed: true, decision: DecisionProvenance}}
	if err := remove(x); err != nil {
		r.finish(st, StepResult{Decision: DecisionProvenance, Outcome: OutcomeFailed, Message: err.Error(), UPID: x.lastUPID})
		return
	}
	if err := gone(); err != nil {
		fmt.Fprintf(r.o.Out, "warning: journal: %v\n", err)
	}
	if st.Op == ops.SnapshotDelete {
		r.afterSuccess(ctx, st) // the guest's config changed (its snapshot list)
	}
	r.finish(st, StepResult{Decision: DecisionProvenance, Outcome: OutcomeDone, Message: "removed: " + why, UPID: x.lastUPID})
}

// backupHousekeeping deletes the tool's safety backups older than
// safety.keep, each checked right before (still there, still the guest's
// backup, not protected by someone since).
func (r *run) backupHousekeeping(ctx context.Context) {
	keep := r.o.Safety.Keep
	if keep <= 0 || ctx.Err() != nil {
		return
	}
	now := r.o.Now()
	for _, tb := range r.o.Journal.ToolBackups() {
		if now.Sub(tb.Created) < keep {
			continue
		}
		v, volid := tb.Guest, tb.VolID
		if why, blocked := r.gone[v]; blocked && strings.Contains(why, "in flight") {
			continue // nothing more on the guest until recovery settles its call
		}
		id := fmt.Sprintf("housekeeping-backup.delete-%d-%s", v, volid)
		st := &plan.Step{ID: id, Op: ops.BackupPrune, Guest: &v}
		it, found, err := findArchive(ctx, r.o.Client, volid)
		switch {
		case err != nil:
			r.finish(st, StepResult{Decision: DecisionProvenance, Outcome: OutcomeFailed, Message: err.Error()})
			continue
		case !found:
			if err := r.o.Journal.BackupRemoved(r.txn, volid); err != nil {
				fmt.Fprintf(r.o.Out, "warning: journal: %v\n", err)
			}
			continue
		case bool(it.Protected):
			continue // someone protected it: theirs to remove now
		}
		st.Params, _ = json.Marshal(map[string]any{"archives": []string{volid}, "storage": storageOfVolume(volid)})
		why := fmt.Sprintf("safety backup %s of guest %d, taken %s, is older than safety.keep (%s)",
			volid, v, tb.Created.UTC().Format("2006-01-02T15:04:05Z"), keep)
		r.removeOwn(ctx, st, why, func(x *stepRun) error { return x.deleteArchive(ctx, 0, volid, false) },
			func() error { return r.o.Journal.BackupRemoved(r.txn, volid) })
	}
}

func storageOfVolume(volid string) string {
	s, _, _ := strings.Cut(volid, ":")
	return s
}
