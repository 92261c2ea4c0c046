package pvesim_test

import (
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/felhom/felhom-converge/proxmox/pvesim"
)

// TestLockHeldByEachTask: while a task holds a guest's config lock (not
// the flock, see queue_test.go), the calls that check it before forking
// (PUT config, resize, destroy) fail with "CT is locked (<lock>)" at once,
// and the ones that check it in the worker (snapshot create and delete,
// even with force) return a UPID whose task fails with the same text.
func TestLockHeldByEachTask(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		lock   string
		vmid   int
		method string
		path   string
		params url.Values
	}{
		{"backup", 101, "POST", "/nodes/pve/vzdump", form("vmid", "101", "remove", "0")},
		{"snapshot", 100, "POST", "/nodes/pve/lxc/100/snapshot", form("snapname", "holding")},
		{"snapshot-delete", 100, "DELETE", "/nodes/pve/lxc/100/snapshot/pre-upgrade", nil},
		{"rollback", 100, "POST", "/nodes/pve/lxc/100/snapshot/pre-upgrade/rollback", nil},
		{"disk", 110, "POST", "/nodes/pve/lxc/110/move_volume", form("volume", "rootfs", "storage", "local-lvm")},
	} {
		t.Run(tc.lock, func(t *testing.T) {
			t.Parallel()
			// The holder outlasts the test, however slow the machine.
			a := startSim(t, pvesim.Options{TaskDuration: time.Hour})
			vmid := tc.vmid
			holder := a.ok(tc.method, tc.path, tc.params).data().(string)
			ct := fmt.Sprintf("/nodes/pve/lxc/%d", vmid)
			want := "CT is locked (" + tc.lock + ")"
			if c := a.config(vmid); c["lock"] != tc.lock {
				t.Fatalf("lock %v while the task runs, want %s", c["lock"], tc.lock)
			}
			wantError(t, a.do("PUT", ct+"/config", form("description", "x")), 500, want)
			wantError(t, a.do("PUT", ct+"/resize", form("disk", "rootfs", "size", "+1G")), 500, want)
			wantError(t, a.do("DELETE", ct, nil), 500, want)
			if _, st := a.task("POST", ct+"/snapshot", form("snapname", "racing")); st["exitstatus"] != want {
				t.Errorf("snapshot while locked: exitstatus %v, want %q", st["exitstatus"], want)
			}
			if tc.lock != "snapshot-delete" {
				if _, st := a.task("DELETE", ct+"/snapshot/pre-upgrade", form("force", "1")); vmid == 100 && st["exitstatus"] != want {
					t.Errorf("snapshot delete with force while locked: exitstatus %v, want %q", st["exitstatus"], want)
				}
			}
			if st := a.ok("GET", "/nodes/pve/tasks/"+url.PathEscape(holder)+"/status", nil).dataMap(t); st["status"] != "running" {
				t.Fatalf("the task holding the lock: %v", st)
			}
		})
	}
}

// status reports whether a CT runs ("running" or "stopped").
func (a *rawAPI) status(vmid int) string {
	a.t.Helper()
	return fmt.Sprint(a.ok("GET", fmt.Sprintf("/nodes/pve/lxc/%d/status/current", vmid), nil).dataMap(a.t)["status"])
}

// TestRebootOfLockedCTEndsStopped follows LXC.pm vm_reboot: the stop
// checks no lock, vm_start applies and writes the pending section, and
// lxc-pve-prestart-hook refuses every lock but "mounted". The CT ends
// stopped with its pending changes applied and the task failed.
func TestRebootOfLockedCTEndsStopped(t *testing.T) {
	t.Parallel()
	a := startSim(t, pvesim.Options{})
	a.ok("PUT", "/nodes/pve/lxc/101/config", form("nameserver", "192.168.1.1"))
	if p := a.pending(101); p["nameserver"]["pending"] != "192.168.1.1" {
		t.Fatalf("nameserver is not pending on the running CT: %v", p["nameserver"])
	}
	a.ok("PUT", "/nodes/pve/lxc/101/config", form("lock", "backup"))
	upid, st := a.task("POST", "/nodes/pve/lxc/101/status/reboot", nil)
	if st["exitstatus"] != "startup for container '101' failed" {
		t.Fatalf("reboot under lock backup: %v", st["exitstatus"])
	}
	if log := a.taskLog(upid); !strings.Contains(log, "Failed to run lxc.hook.pre-start for container \"101\"\n") {
		t.Errorf("reboot log:\n%s", log)
	}
	if s := a.status(101); s != "stopped" {
		t.Errorf("CT 101 is %s after the failed reboot, want stopped", s)
	}
	cur := a.ok("GET", "/nodes/pve/lxc/101/config", form("current", "1")).dataMap(t)
	if cur["nameserver"] != "192.168.1.1" || cur["lock"] != "backup" {
		t.Errorf("current config %v, want the pending nameserver applied and the lock kept", cur)
	}
	if p := a.pending(101); p["nameserver"]["pending"] != nil {
		t.Errorf("nameserver still pending: %v", p["nameserver"])
	}
	// A start refuses the lock before vm_start, in the task.
	if _, st := a.task("POST", "/nodes/pve/lxc/101/status/start", nil); st["exitstatus"] != "CT is locked (backup)" {
		t.Errorf("start under lock backup: %v", st["exitstatus"])
	}
}

// TestDetachKeepsVolumeASnapshotUses follows vmconfig_apply_pending: the
// detached volume always becomes unusedN (is_volume_in_use compares the
// whole mount string), deleting that unusedN drops the reference but not
// the volume a snapshot still uses, and deleting the snapshot
// (snapshot_delete) brings the volume back as unusedN.
func TestDetachKeepsVolumeASnapshotUses(t *testing.T) {
	t.Parallel()
	a := startSim(t, pvesim.Options{})
	a.ok("PUT", "/nodes/pve/lxc/110/config", form("mp0", "local-lvm:1,mp=/data"))
	vol := "local-lvm:vm-110-disk-1"
	if !strings.HasPrefix(fmt.Sprint(a.config(110)["mp0"]), vol+",") {
		t.Fatalf("mp0 %v, want %s", a.config(110)["mp0"], vol)
	}
	if _, st := a.task("POST", "/nodes/pve/lxc/110/snapshot", form("snapname", "keep")); st["exitstatus"] != "OK" {
		t.Fatal(st)
	}
	a.ok("PUT", "/nodes/pve/lxc/110/config", form("delete", "mp0"))
	if c := a.config(110); c["unused0"] != vol {
		t.Fatalf("unused0 = %v after detaching mp0 under a snapshot, want %s", c["unused0"], vol)
	}
	a.ok("PUT", "/nodes/pve/lxc/110/config", form("delete", "unused0"))
	if c := a.config(110); c["unused0"] != nil {
		t.Errorf("unused0 = %v after deleting it", c["unused0"])
	}
	if !a.hasVolume("local-lvm", vol) {
		t.Fatal("the volume the snapshot uses was freed")
	}
	if _, st := a.task("DELETE", "/nodes/pve/lxc/110/snapshot/keep", nil); st["exitstatus"] != "OK" {
		t.Fatal(st)
	}
	// Every volume of the snapshot is added in mount order (the rootfs
	// takes unused0 for a moment) and writing the config drops the
	// rootfs, still mounted: the volume comes back as unused1.
	c := a.config(110)
	if c["unused1"] != vol || c["unused0"] != nil {
		t.Errorf("config %v after deleting the snapshot, want unused1 = %s and no unused0", c, vol)
	}
}

// TestFailedRollbackLeavesCTLockedAndStopped follows AbstractConfig
// snapshot_rollback: a failure after the prepare step (a volume rollback)
// leaves the CT stopped and locked "rollback".
func TestFailedRollbackLeavesCTLockedAndStopped(t *testing.T) {
	t.Parallel()
	a := startSim(t, pvesim.Options{})
	a.sim.FailTask("vzrollback", "100", "lvconvert 'pve/snap_vm-100-disk-0_pre-upgrade' error: merge failed")
	if _, st := a.task("POST", "/nodes/pve/lxc/100/snapshot/pre-upgrade/rollback", form("start", "1")); st["exitstatus"] != "lvconvert 'pve/snap_vm-100-disk-0_pre-upgrade' error: merge failed" {
		t.Fatalf("rollback: %v", st["exitstatus"])
	}
	if s := a.status(100); s != "stopped" {
		t.Errorf("CT 100 is %s, want stopped", s)
	}
	if l := a.config(100)["lock"]; l != "rollback" {
		t.Errorf("lock %v, want rollback", l)
	}
	if _, st := a.task("POST", "/nodes/pve/lxc/100/status/start", nil); st["exitstatus"] != "CT is locked (rollback)" {
		t.Errorf("start after the failed rollback: %v", st["exitstatus"])
	}
}

// TestFailedSnapshotDeleteLeavesState follows AbstractConfig
// snapshot_delete: a failure removing a volume snapshot leaves the lock
// "snapshot-delete" and the snapshot with "snapstate: delete"; a rollback
// to it is refused as incomplete; with force=1 such a failure is only
// logged and the snapshot goes.
func TestFailedSnapshotDeleteLeavesState(t *testing.T) {
	t.Parallel()
	a := startSim(t, pvesim.Options{})
	a.sim.FailTask("vzdelsnapshot", "100", "lvremove 'pve/snap_vm-100-disk-0_pre-upgrade' error: device busy")
	if _, st := a.task("DELETE", "/nodes/pve/lxc/100/snapshot/pre-upgrade", nil); st["exitstatus"] != "lvremove 'pve/snap_vm-100-disk-0_pre-upgrade' error: device busy" {
		t.Fatalf("snapshot delete: %v", st["exitstatus"])
	}
	if l := a.config(100)["lock"]; l != "snapshot-delete" {
		t.Errorf("lock %v, want snapshot-delete", l)
	}
	found := false
	for _, e := range a.ok("GET", "/nodes/pve/lxc/100/snapshot", nil).dataList(t) {
		if e["name"] == "pre-upgrade" {
			found = true
			if e["snapstate"] != "delete" {
				t.Errorf("snapshot %v, want snapstate delete", e)
			}
		}
	}
	if !found {
		t.Fatal("the snapshot whose deletion failed is gone")
	}
	if c := a.ok("GET", "/nodes/pve/lxc/100/config", form("snapshot", "pre-upgrade")).dataMap(t); c["snapstate"] != "delete" {
		t.Errorf("snapshot config %v, want snapstate delete", c)
	}
	if _, st := a.task("POST", "/nodes/pve/lxc/100/snapshot/pre-upgrade/rollback", nil); st["exitstatus"] != "unable to rollback to incomplete snapshot (snapstate = delete)" {
		t.Errorf("rollback to the half-deleted snapshot: %v", st["exitstatus"])
	}

	b := startSim(t, pvesim.Options{})
	b.sim.FailTask("vzdelsnapshot", "100", "lvremove 'pve/snap_vm-100-disk-0_pre-upgrade' error: device busy")
	upid, st := b.task("DELETE", "/nodes/pve/lxc/100/snapshot/pre-upgrade", form("force", "1"))
	if st["exitstatus"] != "OK" || !strings.Contains(b.taskLog(upid), "lvremove 'pve/snap_vm-100-disk-0_pre-upgrade' error: device busy\n") {
		t.Errorf("forced snapshot delete: %v\n%s", st["exitstatus"], b.taskLog(upid))
	}
	if c := b.config(100); c["lock"] != nil || c["parent"] != nil {
		t.Errorf("config %v after the forced delete", c)
	}
}

// TestRestoreOverLockedCT: create_and_lock_config refuses a locked CT and
// create_vm prefixes its error with "unable to restore CT N -".
func TestRestoreOverLockedCT(t *testing.T) {
	t.Parallel()
	a := startSim(t, pvesim.Options{})
	a.ok("PUT", "/nodes/pve/lxc/110/config", form("lock", "backup"))
	r := a.do("POST", "/nodes/pve/lxc", form("vmid", "110", "ostemplate", "local:backup/vzdump-lxc-100-2026_11_26-02_00_05.tar.zst",
		"restore", "1", "force", "1", "storage", "local-lvm"))
	wantError(t, r, 500, "unable to restore CT 110 - CT is locked (backup)")
}
