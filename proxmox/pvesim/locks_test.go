package pvesim_test

import (
	"fmt"
	"net/url"
	"testing"
	"time"

	"github.com/felhom/felhom-converge/proxmox/pvesim"
)

// TestLockHeldByEachTask: while a task holds a guest's lock, the calls
// that check it before forking (PUT config, resize, destroy) fail with
// "CT is locked (<lock>)" at once, and the ones that check it in the
// worker (snapshot create and delete, even with force) return a UPID
// whose task fails with the same text.
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
		{"destroyed", 110, "DELETE", "/nodes/pve/lxc/110", nil},
		{"create", 100, "POST", "/nodes/pve/lxc", form("vmid", "120", "ostemplate", "local:vztmpl/debian-12-standard_12.7-1_amd64.tar.zst", "storage", "local-lvm")},
		{"disk", 110, "POST", "/nodes/pve/lxc/110/move_volume", form("volume", "rootfs", "storage", "local-lvm")},
	} {
		t.Run(tc.lock, func(t *testing.T) {
			t.Parallel()
			a := startSim(t, pvesim.Options{TaskDuration: 2 * time.Second})
			vmid := tc.vmid
			if tc.lock == "create" {
				vmid = 120
			}
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
			if tc.lock != "snapshot-delete" && tc.lock != "create" && tc.lock != "destroyed" {
				if _, st := a.task("DELETE", ct+"/snapshot/pre-upgrade", form("force", "1")); vmid == 100 && st["exitstatus"] != want {
					t.Errorf("snapshot delete with force while locked: exitstatus %v, want %q", st["exitstatus"], want)
				}
			}
			if st := a.wait(holder); st["exitstatus"] != "OK" {
				t.Fatalf("the task holding the lock: %v", st)
			}
		})
	}
}
