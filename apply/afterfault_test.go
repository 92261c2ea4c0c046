package apply_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/felhom/felhom-converge/apply"
	"github.com/felhom/felhom-converge/journal"
	"github.com/felhom/felhom-converge/ops"
	"github.com/felhom/felhom-converge/plan"
	"github.com/felhom/felhom-converge/proxmox"
	"github.com/felhom/felhom-converge/trust"
)

// Errors after the effect: a proxy in front of pvedaemon answers "500
// proxy handler failed: got timeout" after the task started, or the
// connection drops before any answer. The call is settled from the node's
// task list and recorded as what really happened.

const proxyTimeout = "proxy handler failed: got timeout"

// signThenFail signs st (its first run leaves it pending), then makes the
// next request matching method and path answer status after its effect.
func (e *env) signThenFail(sign func(string), st plan.Step, method, path string, status int) {
	e.t.Helper()
	sign(outcome(e.t, e.run(st), st.ID, apply.OutcomePending).Request)
	if err := e.sim.FailNthAfter(method, path, 1, status, proxyTimeout); err != nil {
		e.t.Fatal(err)
	}
}

// lastAudit is the audit entry of a call's outcome (the last one with a
// result).
func (e *env) lastAudit(call string) apply.AuditEntry {
	e.t.Helper()
	var out apply.AuditEntry
	for _, a := range e.audit() {
		if a.Step == call && a.Result != "" {
			out = a
		}
	}
	return out
}

// wantTasks checks how many tasks of one type the node ran for a guest.
func (e *env) wantTasks(typ string, vmid, want int) {
	e.t.Helper()
	tasks, err := e.client.ListTasks(context.Background(), proxmox.TaskFilter{VMID: vmid, TypeFilter: typ, Limit: 500})
	if err != nil {
		e.t.Fatal(err)
	}
	if len(tasks) != want {
		e.t.Errorf("%d %s tasks of guest %d, want %d", len(tasks), typ, vmid, want)
	}
}

// A signed destroy answered 500 (or no answer at all) after the guest is
// gone is recorded ok in the journal and the audit, and is done.
func TestSignedDestroyAnsweredAnErrorAfterTheEffectIsOK(t *testing.T) {
	for _, tc := range []struct {
		name   string
		status int
	}{{"500", 500}, {"dropped connection", 0}} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			sign := e.signer("alice@ops", trust.RoleOperational)
			destroy := step("guest.destroy-110-a", ops.GuestDestroy, 110, `{"purge":true,"volumes":["local-lvm:vm-110-disk-0"]}`)
			e.signThenFail(sign, destroy, "DELETE", "/nodes/{node}/lxc/{vmid}", tc.status)
			r := outcome(t, e.run(destroy), destroy.ID, apply.OutcomeDone)
			if !strings.Contains(r.UPID, ":vzdestroy:110:") {
				t.Errorf("UPID %q, want the destroy's task", r.UPID)
			}
			if e.exists(110) {
				t.Fatal("guest 110 still exists")
			}
			if tm, ok := e.result(destroy.ID); !ok || tm.Result != apply.ResultOK {
				t.Errorf("journal %+v %v, want ok", tm, ok)
			}
			if a := e.lastAudit(destroy.ID); a.Result != apply.ResultOK || a.Nonce == "" {
				t.Errorf("audit %+v, want ok with the nonce", a)
			}
			if c := e.sim.Counters()["DELETE /nodes/{node}/lxc/{vmid}"]; c != 1 {
				t.Errorf("%d destroy requests, want 1", c)
			}
		})
	}
}

// A snapshot answered 500 while its task still ran is recorded ok once the
// task ended, so the signed snapshot.delete after it in the same run finds
// the guest unlocked: it is not refused 'CT is locked', and its signature
// is spent on a deletion that ran.
func TestSnapshotAnsweredAnErrorAfterTheEffectDoesNotLockOutTheNextStep(t *testing.T) {
	e := newEnvWith(t, 300*time.Millisecond)
	sign := e.signer("alice@ops", trust.RoleOperational)
	snap := step("snapshot.create-100-a", ops.SnapshotCreate, 100, `{"snapshot":"before-update"}`)
	del := step("snapshot.delete-100-b", ops.SnapshotDelete, 100, `{"snapshot":"pre-upgrade"}`)
	e.signThenFail(sign, del, "POST", "/nodes/{node}/lxc/{vmid}/snapshot", 500)
	res := e.run(snap, del)
	outcome(t, res, snap.ID, apply.OutcomeDone)
	d := outcome(t, res, del.ID, apply.OutcomeDone)
	if strings.Contains(d.Message, "locked") {
		t.Errorf("the delete: %s", d.Message)
	}
	if tm, _ := e.result(snap.ID); tm.Result != apply.ResultOK {
		t.Errorf("snapshot journal %+v, want ok", tm)
	}
	if a := e.lastAudit(snap.ID); a.Result != apply.ResultOK {
		t.Errorf("snapshot audit %+v, want ok", a)
	}
	snaps, err := e.client.ListSnapshots(context.Background(), 100)
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	for _, s := range snaps {
		names[s.Name] = true
	}
	if !names["before-update"] || names["pre-upgrade"] {
		t.Errorf("snapshots %v, want before-update and not pre-upgrade", names)
	}
	e.wantTasks("vzsnapshot", 100, 1)
}

// A safety backup answered 500 after its vzdump ran is the tool's own:
// recorded by identity (volid, ctime, size, UPID), and the signed step
// goes on.
func TestSafetyBackupAnsweredAnErrorAfterTheEffectIsRecorded(t *testing.T) {
	e := newEnv(t)
	sign := e.signer("alice@ops", trust.RoleOperational)
	destroy := step("guest.destroy-110-a", ops.GuestDestroy, 110, `{"purge":true,"volumes":["local-lvm:vm-110-disk-0"]}`)
	e.signThenFail(sign, destroy, "POST", "/nodes/{node}/vzdump", 500)
	r := outcome(t, e.run(destroy), destroy.ID, apply.OutcomeDone)
	if !strings.Contains(r.Message, "safety backup local:backup/vzdump-lxc-110-") {
		t.Errorf("message %q", r.Message)
	}
	tb := e.journal.ToolBackups()
	if len(tb) != 1 {
		t.Fatalf("safety backups recorded: %v", tb)
	}
	if b := tb[0]; b.Guest != 110 || !strings.HasPrefix(b.VolID, "local:backup/vzdump-lxc-110-") || b.Size <= 0 || b.Created.IsZero() || !strings.Contains(b.UPID, ":vzdump:110:") {
		t.Errorf("safety backup recorded as %+v, want its identity", b)
	}
	if tm, _ := e.result(destroy.ID + "#safety-backup"); tm.Result != apply.ResultOK {
		t.Errorf("safety backup journal %+v, want ok", tm)
	}
	e.wantTasks("vzdump", 110, 1)
}

// A restore over a guest answered 500 after the restore started is not
// restored again: one restore task, recorded ok, and the guest runs as
// before.
func TestRestoreAnsweredAnErrorAfterTheEffectRunsOnce(t *testing.T) {
	e := newEnv(t)
	sign := e.signer("alice@ops", trust.RoleOperational)
	ctx := context.Background()
	items, err := e.client.StorageContent(ctx, "local", "backup", 101)
	if err != nil || len(items) == 0 {
		t.Fatalf("no backup of 101: %v", err)
	}
	ro := step("guest.restore_over-101-a", ops.GuestRestoreOver, 101, `{"archive":"`+items[0].VolID+`",`+archiveIdentity(items[0])+`,"volumes":`+e.volumesOf(101)+`}`)
	ro.Job = "restore-files"
	e.signThenFail(sign, ro, "POST", "/nodes/{node}/lxc", 500)
	outcome(t, e.run(ro), ro.ID, apply.OutcomeDone)
	if c := e.sim.Counters()["POST /nodes/{node}/lxc"]; c != 1 {
		t.Errorf("%d restore POSTs, want 1", c)
	}
	e.wantTasks("vzrestore", 101, 1)
	if tm, _ := e.result(ro.ID); tm.Result != apply.ResultOK {
		t.Errorf("journal %+v, want ok", tm)
	}
	if !e.journal.JobDone("restore-files") {
		t.Error("the job is not done")
	}
	if st, _ := e.client.GuestStatus(ctx, 101); st.Status != "running" {
		t.Errorf("guest 101 is %s, want running again", st.Status)
	}
	// The next run has nothing to do with the job: it is done.
	res, err := apply.Run(ctx, &plan.Plan{Host: "pve-demo"}, e.opts)
	if err != nil || len(res.Steps) != 0 {
		t.Errorf("next run: %v %+v", err, res)
	}
}

// The backup a rebuild restores from, answered 500 after its vzdump ran,
// is found in the storage as in the live path: the rebuild restores
// exactly that archive.
func TestRebuildBackupAnsweredAnErrorAfterTheEffectRestoresIt(t *testing.T) {
	e := newEnv(t)
	sign := e.signer("alice@ops", trust.RoleOperational)
	rb := step("guest.rebuild-110-a", ops.GuestRebuild, 110, `{"change":{"unprivileged":"1"},"volumes":`+e.volumesOf(110)+`}`)
	e.signThenFail(sign, rb, "POST", "/nodes/{node}/vzdump", 500)
	r := outcome(t, e.run(rb), rb.ID, apply.OutcomeDone)
	archive := strings.TrimPrefix(r.Message, "backup taken first: ")
	if !strings.HasPrefix(archive, "local:backup/vzdump-lxc-110-") {
		t.Fatalf("message %q, want the backup taken first", r.Message)
	}
	cfg, err := e.client.GuestConfig(context.Background(), 110)
	if err != nil || !cfg.Unprivileged() {
		t.Errorf("guest 110 after the rebuild: %v %v", cfg.Values, err)
	}
	e.wantTasks("vzrestore", 110, 1)
}

// Recovery waits for a task still in flight only up to RecoverWait: a hung
// task is left for the next run, the call stays in flight and the
// transaction open, and the message says why. Once the task ended, the
// next recovery settles it.
func TestRecoveryWaitsForARunningTaskOnlyUpToItsBound(t *testing.T) {
	e := newEnvWith(t, 2*time.Second)
	ctx := context.Background()
	txn := "txn-crashed"
	e.append(journal.TxnBegin{Txn: txn, Host: "pve-demo"})
	e.append(journal.Intent{Txn: txn, Call: "guest.start-110-a", Op: ops.GuestStart, Guest: 110,
		Params: json.RawMessage(`{}`), Class: "benign", Time: time.Now().UTC()})
	upid, err := e.client.Start(ctx, 110)
	if err != nil {
		t.Fatal(err)
	}
	e.append(journal.TaskStarted{Txn: txn, Call: "guest.start-110-a", UPID: upid.String()})
	e.opts.RecoverWait = 200 * time.Millisecond
	began := time.Now()
	rec, err := apply.Recover(ctx, e.opts)
	if err != nil {
		t.Fatal(err)
	}
	if d := time.Since(began); d > 1500*time.Millisecond {
		t.Errorf("recovery took %s, past its bound of 200ms", d)
	}
	if len(rec) != 1 || rec[0].Result != "" || !strings.Contains(rec[0].Message, "still running after 200ms (apply.recover_wait)") {
		t.Fatalf("recovered %+v, want it left in flight with the bound named", rec)
	}
	if len(e.journal.InFlight()) != 1 || len(e.journal.OpenTxns()) != 1 {
		t.Errorf("in flight %v, open %v", e.journal.InFlight(), e.journal.OpenTxns())
	}
	if err := e.client.WaitTask(ctx, upid, proxmox.WaitOptions{}); err != nil {
		t.Fatal(err)
	}
	rec, err = apply.Recover(ctx, e.opts)
	if err != nil || len(rec) != 1 || rec[0].Result != apply.ResultOK {
		t.Fatalf("after the task ended: %+v %v", rec, err)
	}
}
