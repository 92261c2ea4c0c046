package apply_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/felhom/felhom-converge/apply"
	"github.com/felhom/felhom-converge/ops"
	"github.com/felhom/felhom-converge/proxmox"
	"github.com/felhom/felhom-converge/proxmox/pvesim"
	"github.com/felhom/felhom-converge/trust"
)

// backupHolds starts a backup of guest v, which holds its lock while the
// simulator's task runs.
func (e *env) backupHolds(v int) {
	e.t.Helper()
	ctx := context.Background()
	if _, err := e.client.Vzdump(ctx, v, proxmox.VzdumpOptions{Storage: "local", Mode: "snapshot"}); err != nil {
		e.t.Fatal(err)
	}
	if cfg, _ := e.client.GuestConfig(ctx, v); cfg.Lock() != "backup" {
		e.t.Fatalf("the backup holds no lock on guest %d", v)
	}
}

// A signed step whose guest someone else keeps locked past the wait is not
// run and keeps its signature: once the lock is gone the same signature
// runs it.
func TestASignedStepKeepsItsSignatureWhileItsGuestIsLocked(t *testing.T) {
	e := newEnvWith(t, 1500*time.Millisecond)
	sign := e.signer("alice@ops", trust.RoleOperational)
	destroy := step("guest.destroy-110-a", ops.GuestDestroy, 110, `{"purge":true,"volumes":["local-lvm:vm-110-disk-0"]}`)
	sign(outcome(t, e.run(destroy), destroy.ID, apply.OutcomePending).Request)

	e.backupHolds(110)
	e.opts.LockWait = 100 * time.Millisecond
	r := outcome(t, e.run(destroy), destroy.ID, apply.OutcomeFailed)
	if !strings.Contains(r.Message, "guest 110 is still locked (backup)") || !strings.Contains(r.Message, "was not used") {
		t.Errorf("message %q", r.Message)
	}
	if !e.exists(110) {
		t.Fatal("guest 110 was destroyed")
	}
	if !e.sim.WaitIdle(10 * time.Second) {
		t.Fatal("the backup did not end")
	}
	outcome(t, e.run(destroy), destroy.ID, apply.OutcomeDone)
	if e.exists(110) {
		t.Fatal("guest 110 still exists")
	}
}

// A reboot never stops a guest it cannot start again: under a lock that
// outlasts the wait, it is not made.
func TestARebootUnderALastingLockIsNotMade(t *testing.T) {
	e := newEnvWith(t, 1500*time.Millisecond)
	e.backupHolds(100)
	e.opts.LockWait = 100 * time.Millisecond
	s := step("guest.reboot-100-a", ops.GuestReboot, 100, `{"reason":["cores"]}`)
	r := outcome(t, e.run(s), s.ID, apply.OutcomeFailed)
	if !strings.HasPrefix(r.Message, "not rebooted: guest 100 is still locked (backup)") {
		t.Errorf("message %q", r.Message)
	}
	if c := e.sim.Counters()["POST /nodes/{node}/lxc/{vmid}/status/reboot"]; c != 0 {
		t.Errorf("%d reboot requests, want none", c)
	}
	if st, err := e.client.GuestStatus(context.Background(), 100); err != nil || st.Status != "running" {
		t.Errorf("guest 100: %v %v", st.Status, err)
	}
}

// A benign call whose task ended on someone else's lock (Proxmox checks it
// inside the worker) is made again once the lock is gone.
func TestATaskThatEndedOnALockIsMadeAgain(t *testing.T) {
	e := newEnvWith(t, 800*time.Millisecond)
	e.backupHolds(100)
	e.opts.LockWait = time.Minute
	s := step("snapshot.create-100-a", ops.SnapshotCreate, 100, `{"snapshot":"s1"}`)
	outcome(t, e.run(s), s.ID, apply.OutcomeDone)
	list, err := e.client.ListSnapshots(context.Background(), 100)
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, sn := range list {
		found = found || sn.Name == "s1"
	}
	if !found {
		t.Errorf("no snapshot s1: %v", list)
	}
}

// A failed rollback leaves the guest locked (and stopped), as Proxmox
// does: the step says so and how to clear it, and the guest's later steps
// wait for the next run instead of each waiting for the lock.
func TestAFailedRollbackSaysTheGuestIsLeftLocked(t *testing.T) {
	e := newEnv(t)
	sign := e.signer("alice@ops", trust.RoleOperational)
	e.opts.LockWait = time.Minute
	rb := step("snapshot.rollback-100-a", ops.SnapshotRollback, 100, `{"snapshot":"pre-upgrade"}`)
	sign(outcome(t, e.run(rb), rb.ID, apply.OutcomePending).Request)
	e.sim.FailTask("vzrollback", "100", "lvremove 'pve/vm-100-disk-0' error: volume is busy")
	later := step("snapshot.create-100-b", ops.SnapshotCreate, 100, `{"snapshot":"s2"}`)
	start := time.Now()
	res := e.run(rb, later)
	r := outcome(t, res, rb.ID, apply.OutcomeFailed)
	for _, want := range []string{"guest 100 is left locked (rollback)", "'pct unlock 100'", "its later steps wait for the next run"} {
		if !strings.Contains(r.Message, want) {
			t.Errorf("message %q lacks %q", r.Message, want)
		}
	}
	l := outcome(t, res, later.ID, apply.OutcomeSkipped)
	if !strings.Contains(l.Message, "left locked (rollback)") {
		t.Errorf("later step: %q", l.Message)
	}
	if d := time.Since(start); d > 30*time.Second {
		t.Errorf("the run took %s: a later step waited for the lock", d)
	}
}

// A failed removal of a safety snapshot leaves the guest locked
// "snapshot-delete": later runs leave the snapshot alone and say how to
// clear the lock, without waiting for it.
func TestHousekeepingLeavesALockedGuestAlone(t *testing.T) {
	e := newEnv(t)
	sign := e.signer("alice@ops", trust.RoleOperational)
	e.opts.Safety.Keep = 7 * 24 * time.Hour
	e.opts.LockWait = time.Minute
	rb := step("snapshot.rollback-100-a", ops.SnapshotRollback, 100, `{"snapshot":"pre-upgrade"}`)
	sign(outcome(t, e.run(rb), rb.ID, apply.OutcomePending).Request)
	msg := outcome(t, e.run(rb), rb.ID, apply.OutcomeDone).Message
	safety, ok := strings.CutPrefix(msg, "safety snapshot ")
	if !ok || !e.journal.ToolSnapshot(100, safety) {
		t.Fatalf("no safety snapshot recorded: %q", msg)
	}

	e.opts.Now = func() time.Time { return time.Now().Add(8 * 24 * time.Hour) }
	e.sim.FailTask("vzdelsnapshot", "100", "zfs error: dataset is busy")
	outcome(t, e.run(), "housekeeping-snapshot.delete-100-"+safety, apply.OutcomeFailed)
	if cfg, _ := e.client.GuestConfig(context.Background(), 100); cfg.Lock() != "snapshot-delete" {
		t.Fatalf("lock %q after the failed delete", cfg.Lock())
	}
	e.out.Reset()
	res := e.run()
	for _, s := range res.Steps {
		t.Errorf("step %s ran on a locked guest: %s %s", s.ID, s.Outcome, s.Message)
	}
	if !strings.Contains(e.out.String(), "guest 100 is locked (snapshot-delete): its safety snapshot "+safety+" is removed by a later run") {
		t.Errorf("output:\n%s", e.out.String())
	}
	if !e.journal.ToolSnapshot(100, safety) {
		t.Error("the journal no longer tracks the safety snapshot")
	}
}

// A signed step whose safety backup would go to a storage that is not
// active (a USB disk not plugged in) is not run and keeps its signature;
// with the disk mounted the same signature runs it.
func TestASignedStepWaitsForItsSafetyStorage(t *testing.T) {
	e := newEnv(t)
	if err := e.sim.AddStorage(pvesim.StorageSpec{ID: "usb", Type: "dir", Path: "/mnt/usb", IsMountpoint: "yes", Content: "backup"}); err != nil {
		t.Fatal(err)
	}
	e.opts.Safety.BackupStorage = "usb"
	sign := e.signer("alice@ops", trust.RoleOperational)
	destroy := step("guest.destroy-110-a", ops.GuestDestroy, 110, `{"purge":true,"volumes":["local-lvm:vm-110-disk-0"]}`)
	sign(outcome(t, e.run(destroy), destroy.ID, apply.OutcomePending).Request)

	r := outcome(t, e.run(destroy), destroy.ID, apply.OutcomeFailed)
	if !strings.Contains(r.Message, "storage usb, where its backup goes, is not active") || !strings.Contains(r.Message, "was not used") {
		t.Errorf("message %q", r.Message)
	}
	if !e.exists(110) {
		t.Fatal("guest 110 was destroyed")
	}
	if c := e.sim.Counters()["POST /nodes/{node}/vzdump"]; c != 0 {
		t.Errorf("%d backups attempted, want none", c)
	}
	if err := e.sim.SetMounted("/mnt/usb", true); err != nil {
		t.Fatal(err)
	}
	r = outcome(t, e.run(destroy), destroy.ID, apply.OutcomeDone)
	if !strings.Contains(r.Message, "safety backup usb:backup/vzdump-lxc-110-") {
		t.Errorf("message %q", r.Message)
	}
}

// Safety backups to a Proxmox Backup Server storage: the archive is found
// by identity (backup/ct/VMID/TIME), covers the guest, and housekeeping
// removes it after safety.keep.
func TestSafetyBackupToProxmoxBackupServer(t *testing.T) {
	e := newEnv(t)
	if err := e.sim.AddStorage(pvesim.StorageSpec{ID: "pbs", Type: "pbs", Server: "192.0.2.5", Datastore: "store1", Content: "backup"}); err != nil {
		t.Fatal(err)
	}
	e.opts.Safety.BackupStorage = "pbs"
	e.opts.Safety.Keep = 7 * 24 * time.Hour
	sign := e.signer("alice@ops", trust.RoleOperational)
	destroy := step("guest.destroy-110-a", ops.GuestDestroy, 110, `{"purge":true,"volumes":["local-lvm:vm-110-disk-0"]}`)
	sign(outcome(t, e.run(destroy), destroy.ID, apply.OutcomePending).Request)
	r := outcome(t, e.run(destroy), destroy.ID, apply.OutcomeDone)
	if !strings.Contains(r.Message, "safety backup pbs:backup/ct/110/") {
		t.Errorf("message %q", r.Message)
	}
	if e.exists(110) {
		t.Fatal("guest 110 still exists")
	}
	tb := e.journal.ToolBackups()
	if len(tb) != 1 || !strings.HasPrefix(tb[0].VolID, "pbs:backup/ct/110/") {
		t.Fatalf("safety backups recorded: %+v", tb)
	}
	e.opts.Now = func() time.Time { return time.Now().Add(8 * 24 * time.Hour) }
	outcome(t, e.run(), "housekeeping-backup.delete-110-"+tb[0].VolID, apply.OutcomeDone)
	items, err := e.client.StorageContent(context.Background(), "pbs", "backup", 110)
	if err != nil || len(items) != 0 {
		t.Errorf("pbs holds %+v (%v), want no backup of guest 110", items, err)
	}
}

// Proxmox frees only the volumes a guest's config names: a volume only a
// snapshot still referenced outlives the destroy, and the step says so.
func TestADestroyNamesTheVolumesItLeftBehind(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(e.client.SetConfig(ctx, 110, map[string]string{"mp0": "local-lvm:1,mp=/srv/data"}, nil, ""))
	cfg, err := e.client.GuestConfig(ctx, 110)
	must(err)
	kept, _, _ := strings.Cut(cfg.Values["mp0"], ",") // the new volume's id
	upid, err := e.client.Snapshot(ctx, 110, "s1", "")
	must(err)
	must(e.client.WaitTask(ctx, upid, e.opts.Wait))
	must(e.client.SetConfig(ctx, 110, nil, []string{"mp0"}, ""))
	must(e.client.SetConfig(ctx, 110, nil, []string{"unused0"}, ""))

	sign := e.signer("alice@ops", trust.RoleOperational)
	destroy := step("guest.destroy-110-a", ops.GuestDestroy, 110, `{"purge":true,"snapshots":["s1"],"volumes":["local-lvm:vm-110-disk-0"]}`)
	sign(outcome(t, e.run(destroy), destroy.ID, apply.OutcomePending).Request)
	r := outcome(t, e.run(destroy), destroy.ID, apply.OutcomeDone)
	if !strings.Contains(r.Message, "left on storage, owned by VMID 110 but named by no config") || !strings.Contains(r.Message, kept) {
		t.Errorf("message %q does not name %s", r.Message, kept)
	}
}

// A config write refused because a task of someone else holds the
// config file's lock ("can't lock file ... got timeout": no lock shows in
// the config) waits for that task to end and is made again.
func TestAConfigWriteWaitsForTheTaskHoldingTheConfigFile(t *testing.T) {
	e := newEnvWith(t, 2500*time.Millisecond)
	if err := e.sim.SetSettings(pvesim.Settings{ConfigLockTimeout: 200 * time.Millisecond}); err != nil {
		t.Fatal(err)
	}
	e.opts.LockWait = time.Minute
	if _, err := e.client.Shutdown(context.Background(), 100, proxmox.ShutdownOptions{Timeout: time.Minute}); err != nil {
		t.Fatal(err)
	}
	s := step("guest.set-100-a", ops.GuestSet, 100, `{"set":{"memory":"2048"}}`)
	outcome(t, e.run(s), s.ID, apply.OutcomeDone)
	cfg, err := e.client.GuestConfig(context.Background(), 100)
	if err != nil || cfg.Values["memory"] != "2048" {
		t.Errorf("memory %q (%v)", cfg.Values["memory"], err)
	}
	if c := e.sim.Counters()["PUT /nodes/{node}/lxc/{vmid}/config"]; c != 2 {
		t.Errorf("%d config writes, want 2 (one refused, one made again after the shutdown)", c)
	}
}

// A backup queued behind another running backup (vzdump's node-wide
// lock) waits in its task, as Proxmox's does, and the step succeeds.
func TestABackupQueuedBehindAnotherWaits(t *testing.T) {
	e := newEnvWith(t, 800*time.Millisecond)
	e.backupHolds(101)
	s := step("backup.create-100-a", ops.BackupCreate, 100, `{"storage":"local","mode":"snapshot"}`)
	r := outcome(t, e.run(s), s.ID, apply.OutcomeDone)
	if !strings.HasPrefix(r.Message, "local:backup/vzdump-lxc-100-") {
		t.Errorf("message %q", r.Message)
	}
	if log := strings.Join(e.taskLog(r.UPID), "\n"); !strings.Contains(log, "trying to get global lock - waiting...") {
		t.Errorf("the backup did not queue:\n%s", log)
	}
}

func (e *env) taskLog(upid string) []string {
	e.t.Helper()
	u, err := proxmox.ParseUPID(upid)
	if err != nil {
		e.t.Fatal(err)
	}
	lines, err := e.client.TaskLogTail(context.Background(), u, 0)
	if err != nil {
		e.t.Fatal(err)
	}
	return lines
}
