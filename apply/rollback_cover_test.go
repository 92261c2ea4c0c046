package apply_test

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/felhom/felhom-converge/apply"
	"github.com/felhom/felhom-converge/ops"
	"github.com/felhom/felhom-converge/trust"
)

// A signed rollback whose way back is a backup runs only when every
// volume that backup does not keep is named unprotected: a tenant who
// turns backup off on a mount point after the signature (of the stopped
// guest, so the change is current, not pending) makes the step
// refuse before its nonce is spent, with no backup taken; a request that
// names the volume runs.
func TestRollbackRefusesAVolumeItsBackupDoesNotKeep(t *testing.T) {
	e := newEnv(t)
	sign := e.signer("alice@ops", trust.RoleOperational)
	for _, s := range []string{"older", "newer"} {
		outcome(t, e.run(step("snapshot.create-101-"+s, ops.SnapshotCreate, 101, `{"snapshot":"`+s+`"}`)), "snapshot.create-101-"+s, apply.OutcomeDone)
	}
	outcome(t, e.run(step("guest.stop-101-a", ops.GuestStop, 101, `{}`)), "guest.stop-101-a", apply.OutcomeDone)
	rb := step("snapshot.rollback-101-a", ops.SnapshotRollback, 101, `{"snapshot":"older"}`)
	sign(outcome(t, e.run(rb), rb.ID, apply.OutcomePending).Request)
	if err := e.client.SetConfig(context.Background(), 101, map[string]string{"mp0": "local-lvm:vm-101-disk-1,mp=/srv/share,backup=0,size=64G"}, nil, ""); err != nil {
		t.Fatal(err)
	}
	vzdumps := e.sim.Counters()["POST /nodes/{node}/vzdump"]
	r := outcome(t, e.run(rb), rb.ID, apply.OutcomeFailed)
	if !strings.Contains(r.Message, "local-lvm:vm-101-disk-1 would be lost for good") {
		t.Errorf("message %q", r.Message)
	}
	if slices.Contains(e.decisions(rb.ID), "accepted") {
		t.Errorf("the nonce was spent: %v", e.decisions(rb.ID))
	}
	if c := e.sim.Counters()["POST /nodes/{node}/vzdump"]; c != vzdumps {
		t.Errorf("%d backups taken, want none", c-vzdumps)
	}
	if c := e.sim.Counters()["POST /nodes/{node}/lxc/{vmid}/snapshot/{snapname}/rollback"]; c != 0 {
		t.Errorf("%d rollbacks, want none", c)
	}

	named := step("snapshot.rollback-101-b", ops.SnapshotRollback, 101, `{"snapshot":"older","unprotected":["local-lvm:vm-101-disk-1"]}`)
	sign(outcome(t, e.run(named), named.ID, apply.OutcomePending).Request)
	d := outcome(t, e.run(named), named.ID, apply.OutcomeDone)
	if !strings.Contains(d.Message, "safety backup local:backup/vzdump-lxc-101-") {
		t.Errorf("message %q, want a safety backup", d.Message)
	}
}
