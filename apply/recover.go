package apply

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"github.com/felhom/felhom-converge/atomicfile"
	"github.com/felhom/felhom-converge/journal"
	"github.com/felhom/felhom-converge/ops"
	"github.com/felhom/felhom-converge/proxmox"
)

// Recovered is what recovery decided for one call left in flight.
type Recovered struct {
	Txn, Call, Op string
	Guest         int
	UPID          string
	Result        string // ok, failed, rolled_back, aborted; "" when still unknown
	Message       string
}

// Recover settles every call a crashed run left in flight, before
// anything else mutates the host, and closes the crashed transactions:
//
//   - UPID recorded: the task's status; a running task is waited for, up
//     to RecoverWait (then it stays in flight for the next run).
//   - No UPID (a crash between the POST and its record, or an answer
//     that may have come after Proxmox acted): the task is looked for in
//     the node's task list (type, guest, this token's user, started no
//     earlier than the intent), for up to SettleWindow, and then followed
//     as above.
//   - No task: a task-less call (a config PUT, a mount, a file write) is
//     compared with the live state; otherwise the POST never took
//     effect and the call is aborted.
//
// Nothing is ever re-posted: a benign step that did not happen is planned
// again by the next plan, and an aborted destructive step needs a fresh
// signature (its nonce is spent). A job whose main call settles ok is
// done. A failed call whose transaction created the guest is rolled back
// (the guest destroyed: benign by provenance). Every decision goes to the
// journal and the audit log, and to Out.
func Recover(ctx context.Context, o Options) ([]Recovered, error) {
	if err := o.check(); err != nil {
		return nil, err
	}
	if o.AllowedSignersPath != "" {
		// What a signers.rotate killed before its rename left beside the
		// trust root: only a run, holding the lock, writes it.
		atomicfile.RemoveStale(filepath.Dir(o.AllowedSignersPath), filepath.Base(o.AllowedSignersPath), time.Time{})
	}
	var out []Recovered
	for _, f := range o.Journal.InFlight() {
		in := f.Intent
		rec := Recovered{Txn: in.Txn, Call: in.Call, Op: in.Op, Guest: in.Guest}
		r, upid := settleWithin(ctx, &o, f)
		rec.UPID = upidText(upid)
		if r.Status == "" {
			rec.Message = r.Error
			out = append(out, rec)
			fmt.Fprintf(o.Out, "recover: %s (%s): still unknown: %s\n", in.Call, in.Op, r.Error)
			continue
		}
		if err := conclude(ctx, &o, in, upid, &r, nil, journal.StatusOK); err != nil {
			return out, fmt.Errorf("recover: %w", err)
		}
		if err := finish(&o, in, r, nil); err != nil {
			return out, fmt.Errorf("recover: %w", err)
		}
		rec.Result, rec.Message = string(r.Status), r.Error
		entry := AuditEntry{Host: o.Host, Txn: in.Txn, Step: in.Call, Op: in.Op, Guest: guestPtr(in.Guest), Class: in.Class,
			Decision: "recovered", Nonce: in.Nonce, UPID: rec.UPID, Result: rec.Result, Reason: r.Error}
		if err := o.Audit.Write(entry); err != nil {
			o.warnf("%v", err)
		}
		fmt.Fprintf(o.Out, "recover: %s (%s): %s: %s\n", in.Call, in.Op, r.Status, r.Error)
		out = append(out, rec)
		if r.Status == journal.StatusFailed && in.Guest != 0 && in.Provenance != ProvenanceRollback && o.Journal.CreatedIn(in.Guest, in.Txn) {
			msg, err := rollbackGuest(ctx, &o, in.Txn, callOf(in.Call)+"#rollback", in.Guest)
			if err != nil {
				fmt.Fprintf(o.Out, "recover: rollback of guest %d failed: %v\n", in.Guest, err)
			} else if msg != "" {
				fmt.Fprintf(o.Out, "recover: %s\n", msg)
			}
		}
	}
	open := map[string]bool{}
	for _, f := range o.Journal.InFlight() {
		open[f.Intent.Txn] = true
	}
	for _, b := range o.Journal.OpenTxns() {
		if open[b.Txn] {
			continue // a call still unknown: the next recovery settles it
		}
		if err := o.Journal.Append(journal.TxnEnd{Txn: b.Txn, Result: journal.TxnAborted}); err != nil {
			return out, fmt.Errorf("recover: journal: %w", err)
		}
		fmt.Fprintf(o.Out, "recover: closed transaction %s, left open by a run that crashed or was interrupted\n", b.Txn)
	}
	return out, nil
}

// callOf is the step a call belongs to: its action id without a suffix.
func callOf(action string) string {
	for i := range len(action) {
		if action[i] == '#' {
			return action[:i]
		}
	}
	return action
}

// settleWithin settles a call as settle does, waiting for a task that
// still runs at most o.RecoverWait: one hung task must not hold every run
// (and the lock) for as long as it hangs. Past the bound the call stays in
// flight, and the next run looks again.
func settleWithin(ctx context.Context, o *Options, f journal.InFlight) (journal.Result, proxmox.UPID) {
	wctx, cancel := context.WithTimeout(ctx, o.RecoverWait)
	defer cancel()
	r, upid := settle(wctx, o, f)
	if r.Status == "" && ctx.Err() == nil && wctx.Err() != nil {
		what := "its task"
		if !upid.IsZero() {
			what = "task " + upid.String()
		}
		r.Error = fmt.Sprintf("%s still running after %s (apply.recover_wait); left in flight for the next run", what, o.RecoverWait)
	}
	return r, upid
}

// settle finds out how a call ended. An empty Status means it cannot be
// known yet (the task still runs past the wait, or Proxmox does not
// answer); the call then stays in flight.
func settle(ctx context.Context, o *Options, f journal.InFlight) (journal.Result, proxmox.UPID) {
	in := f.Intent
	upid, _ := proxmox.ParseUPID(f.UPID) // a UPID that does not parse is looked for again
	typ := callTaskType(in)
	if typ == "" && (upid.IsZero() || !isArchiveDelete(in)) {
		return settleSync(ctx, o, in), proxmox.UPID{}
	}
	if upid.IsZero() {
		found, err := findTask(ctx, o, in, typ)
		if err != nil {
			return journal.Result{Error: "cannot read the node's task list: " + err.Error()}, upid
		}
		if found.IsZero() {
			return aborted(in, "no task was started: the POST never took effect"), upid
		}
		upid = found
		if err := o.Journal.Append(journal.TaskStarted{Txn: in.Txn, Call: in.Call, UPID: upid.String()}); err != nil {
			return journal.Result{Error: "journal: " + err.Error()}, upid
		}
	}
	st, err := o.Client.TaskStatusOnce(ctx, upid)
	if unknownTask(err) {
		// Proxmox answered that it does not know the task (its task
		// index was lost, say): what it did cannot be learnt from it.
		// Nothing is posted again; the next plan looks at the host.
		return aborted(in, fmt.Sprintf("Proxmox does not know task %s (%v); the next plan looks at the host again", upid, err)), upid
	}
	if err != nil {
		return journal.Result{Error: fmt.Sprintf("cannot read task %s: %v", upid, err)}, upid
	}
	if st.Running() {
		fmt.Fprintf(o.Out, "recover: %s (%s): task %s still running; waiting\n", in.Call, in.Op, upid)
	}
	r, werr := waitOutcome(ctx, o, upid, "")
	if r.Status == "" {
		return journal.Result{Error: werr.Error()}, upid
	}
	if r.Error == "" {
		r.Error = fmt.Sprintf("task %s finished %s", upid, exitStatus(r))
	}
	return r, upid
}

// unknownTask reports Proxmox answering that it does not know a task (a
// 4xx other than a refused token or permission).
func unknownTask(err error) bool {
	var api *proxmox.APIError
	return errors.As(err, &api) && api.Status >= 400 && api.Status < 500 && api.Status != 401 && api.Status != 403
}

func exitStatus(r journal.Result) string {
	if r.ExitStatus != "" {
		return r.ExitStatus
	}
	return "OK"
}

// aborted is the terminal record of a call that never took effect.
func aborted(in journal.Intent, msg string) journal.Result {
	if in.Class == journal.ClassDestructive {
		msg += "; a fresh signature is needed to run it"
	}
	return journal.Result{Status: journal.StatusAborted, Error: msg}
}

// callTaskType is the Proxmox task type the call of in starts ("" for a
// call recovery settles from live state): the archive deletions of a
// backup.prune are settled by whether the archive is still there.
func callTaskType(in journal.Intent) string {
	if isArchiveDelete(in) {
		return ""
	}
	if in.Op == ops.GuestCreate {
		p, err := ops.DecodeStrict[ops.GuestCreateParams](in.Params)
		switch {
		case err == nil && p.Template != "" && p.Golden != "":
			return "" // pct as root: no task of this token's to find
		case err == nil && p.Template != "":
			return "vzcreate" // a create from a template, not a restore
		}
	}
	return taskTypes[in.Op]
}

func isArchiveDelete(in journal.Intent) bool {
	return in.Op == ops.BackupPrune && strings.Contains(in.Call, "#delete")
}

// taskTypes is the Proxmox task type a call of each op starts (none for a
// synchronous call): recovery looks for it in the node's task list.
var taskTypes = map[string]string{
	ops.GuestCreate: "vzrestore", ops.GuestRestoreOver: "vzrestore", ops.GuestRebuild: "vzrestore",
	ops.GuestDestroy: "vzdestroy", ops.DiskGrow: "resize",
	ops.GuestStart: "vzstart", ops.GuestStop: "vzshutdown", ops.GuestReboot: "vzreboot",
	ops.SnapshotCreate: "vzsnapshot", ops.SnapshotDelete: "vzdelsnapshot", ops.SnapshotRollback: "vzrollback",
	ops.BackupCreate: "vzdump", ops.BackupPrune: "vzdump",
}
