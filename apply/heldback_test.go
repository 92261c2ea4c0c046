package apply_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/felhom/felhom-converge/apply"
	"github.com/felhom/felhom-converge/ops"
	"github.com/felhom/felhom-converge/proxmox"
	"github.com/felhom/felhom-converge/proxmox/pvesim"
	"github.com/felhom/felhom-converge/trust"
)

// A signed step skipped because a step it depends on failed says so and
// keeps its signature: the next run uses it.
func TestASignedStepSkippedForItsDependencyKeepsItsSignature(t *testing.T) {
	e := newEnv(t)
	sign := e.signer("alice@ops", trust.RoleOperational)
	snap := step("snapshot.create-110-a", ops.SnapshotCreate, 110, `{"snapshot":"s1"}`)
	destroy := step("guest.destroy-110-a", ops.GuestDestroy, 110, `{"purge":true,"volumes":["local-lvm:vm-110-disk-0"]}`, snap.ID)
	// A first run without the dependency wrote its request.
	sign(outcome(t, e.run(step(destroy.ID, destroy.Op, 110, string(destroy.Params))), destroy.ID, apply.OutcomePending).Request)

	e.sim.FailTask("vzsnapshot", "110", "snapshot feature is not available")
	res := e.run(snap, destroy)
	outcome(t, res, snap.ID, apply.OutcomeFailed)
	r := outcome(t, res, destroy.ID, apply.OutcomeSkipped)
	if !strings.Contains(r.Message, "depends on snapshot.create-110-a, which is failed") || !strings.Contains(r.Message, "its signed request is kept for the next run") {
		t.Errorf("message %q", r.Message)
	}
	if !e.exists(110) {
		t.Fatal("guest 110 was destroyed")
	}
	// The next run (planned again without the snapshot) uses it.
	outcome(t, e.run(step(destroy.ID, destroy.Op, 110, string(destroy.Params))), destroy.ID, apply.OutcomeDone)
}

// logless is a client whose task logs cannot be read.
type logless struct{ *proxmox.Client }

func (logless) TaskLogTail(context.Context, proxmox.UPID, int) ([]string, error) {
	return nil, errors.New("GET /nodes/pve/tasks/…/log: 596 connection timed out")
}

// A safety backup is recorded by its identity on the storage even when
// its task log cannot be read: housekeeping removes it later. The signed
// step does not run (what the backup covers is not known).
func TestASafetyBackupIsRecordedWhenItsLogCannotBeRead(t *testing.T) {
	e := newEnv(t)
	sign := e.signer("alice@ops", trust.RoleOperational)
	destroy := step("guest.destroy-110-a", ops.GuestDestroy, 110, `{"purge":true,"volumes":["local-lvm:vm-110-disk-0"]}`)
	sign(outcome(t, e.run(destroy), destroy.ID, apply.OutcomePending).Request)
	e.opts.Client = logless{e.client}
	r := outcome(t, e.run(destroy), destroy.ID, apply.OutcomeFailed)
	if !strings.Contains(r.Message, "596 connection timed out") {
		t.Errorf("message %q", r.Message)
	}
	if !e.exists(110) {
		t.Fatal("guest 110 was destroyed")
	}
	tb := e.journal.ToolBackups()
	if len(tb) != 1 || !strings.HasPrefix(tb[0].VolID, "local:backup/vzdump-lxc-110-") {
		t.Fatalf("safety backups recorded: %+v", tb)
	}
}

// A POST whose answer was lost, on a node that lists the new task only a
// while later: the task list is read again for the settle window before
// the call counts as never made, so nothing is posted twice.
func TestALateListedTaskIsFoundWithinTheSettleWindow(t *testing.T) {
	sim, err := pvesim.New(pvesim.Options{TaskDuration: 5 * time.Millisecond, ResourcesLag: -1, TaskListLag: 400 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	e := envFor(t, sim)
	e.opts.Client = lostAnswer{e.client}
	e.opts.SettleWindow = 3 * time.Second
	res := e.run(step("guest.create-102-a", ops.GuestCreate, 102, createParams))
	r := outcome(t, res, "guest.create-102-a", apply.OutcomeDone)
	if !strings.Contains(r.UPID, ":vzrestore:102:") {
		t.Errorf("UPID %q", r.UPID)
	}
	if c := e.sim.Counters()["POST /nodes/{node}/lxc"]; c != 1 {
		t.Errorf("%d create POSTs, want 1", c)
	}
}
