package pvesim_test

import (
	"strings"
	"testing"
	"time"

	"github.com/felhom/felhom-converge/proxmox/pvesim"
)

// TestVzdumpSameSecondOverwrites: archive names have a resolution of one
// second, and vzdump (exec_backup_task) removes an old temporary
// directory and renames the new archive over an old one of the same name:
// a second backup in the same second replaces the first.
func TestVzdumpSameSecondOverwrites(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 12, 1, 3, 0, 0, 0, time.Local)
	a := startSim(t, pvesim.Options{Clock: func() time.Time { return at }})
	for i := 0; i < 2; i++ {
		if _, st := a.task("POST", "/nodes/pve/vzdump", form("vmid", "110", "remove", "0", "prune-backups", "keep-all=1")); st["exitstatus"] != "OK" {
			t.Fatalf("backup %d: %v", i+1, st["exitstatus"])
		}
	}
	n := 0
	for volid := range a.volumes("local") {
		if volid == "local:backup/vzdump-lxc-110-2026_12_01-03_00_00.tar" {
			n++
		}
	}
	if n != 1 {
		t.Errorf("%d archives of the same second, want 1", n)
	}
}

// TestVzdumpStopModeRestarts follows exec_backup_task's stop mode: a
// running CT is stopped for the backup and started again afterwards
// (vm_start, which applies its pending changes).
func TestVzdumpStopModeRestarts(t *testing.T) {
	t.Parallel()
	a := startSim(t, pvesim.Options{})
	a.ok("PUT", "/nodes/pve/lxc/101/config", form("nameserver", "192.168.1.1"))
	upid, st := a.task("POST", "/nodes/pve/vzdump", form("vmid", "101", "mode", "stop", "remove", "0", "prune-backups", "keep-all=1"))
	log := a.taskLog(upid)
	if !strings.HasPrefix(log, "INFO: starting new backup job: vzdump 101 --mode stop --node pve --prune-backups keep-all=1 --remove 0\n") {
		t.Errorf("the job's command line:\n%s", log)
	}
	if st["exitstatus"] != "OK" || !strings.Contains(log, "INFO: backup mode: stop\nINFO: ionice priority: 7\nINFO: stopping virtual guest\n") ||
		!strings.Contains(log, "INFO: restarting vm\nINFO: guest is online again after <1 seconds\n") {
		t.Errorf("stop-mode backup of a running CT: %v\n%s", st["exitstatus"], log)
	}
	if s := a.status(101); s != "running" {
		t.Errorf("CT 101 is %s after the backup", s)
	}
	cur := a.ok("GET", "/nodes/pve/lxc/101/config", form("current", "1")).dataMap(t)
	if cur["nameserver"] != "192.168.1.1" || cur["lock"] != nil {
		t.Errorf("config after the restart %v, want the pending nameserver applied and no lock", cur)
	}
}

// TestVzdumpSnapshotModeChecksIncludedVolumes follows the LXC plugin's
// prepare (has_feature with backup_only): a volume excluded from the
// backup need not support snapshots; an included one that cannot falls
// back to suspend mode.
func TestVzdumpSnapshotModeChecksIncludedVolumes(t *testing.T) {
	t.Parallel()
	a := startSim(t, pvesim.Options{})
	if err := a.sim.AddStorage(pvesim.StorageSpec{ID: "vols", Type: "dir", Path: "/srv/vols", Content: "rootdir,images"}); err != nil {
		t.Fatal(err)
	}
	a.ok("PUT", "/nodes/pve/lxc/110/config", form("mp0", "vols:1,mp=/data"))
	a.task("POST", "/nodes/pve/lxc/110/status/start", nil)
	backup := func() string {
		t.Helper()
		upid, st := a.task("POST", "/nodes/pve/vzdump", form("vmid", "110", "remove", "0", "prune-backups", "keep-all=1"))
		if st["exitstatus"] != "OK" {
			t.Fatalf("backup: %v\n%s", st["exitstatus"], a.taskLog(upid))
		}
		return a.taskLog(upid)
	}
	if log := backup(); !strings.Contains(log, "INFO: excluding volume mount point mp0 ('/data') from backup (disabled)\nINFO: backup mode: snapshot\n") {
		t.Errorf("backup with the dir volume excluded:\n%s", log)
	}
	a.task("POST", "/nodes/pve/lxc/110/status/stop", nil)
	mp0 := a.config(110)["mp0"].(string)
	a.ok("PUT", "/nodes/pve/lxc/110/config", form("mp0", mp0+",backup=1"))
	a.task("POST", "/nodes/pve/lxc/110/status/start", nil)
	if log := backup(); !strings.Contains(log, "INFO: mode failure - some volumes do not support snapshots\nINFO: trying 'suspend' mode instead\n") ||
		!strings.Contains(log, "INFO: backup mode: suspend\n") {
		t.Errorf("backup with the dir volume included:\n%s", log)
	}
}
