package pvesim_test

import (
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
