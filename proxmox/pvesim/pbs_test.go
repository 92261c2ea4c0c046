package pvesim_test

import (
	"encoding/json"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/felhom/felhom-converge/proxmox/pvesim"
)

// manualClock is a clock a test moves by hand.
type manualClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *manualClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *manualClock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// startPBS runs a simulator with a Proxmox Backup Server storage "pbs"
// (datastore store1 on 192.168.1.5, keep-last=2).
func startPBS(t *testing.T, clock *manualClock) *rawAPI {
	t.Helper()
	a := startSim(t, pvesim.Options{Clock: clock.Now})
	if err := a.sim.AddStorage(pvesim.StorageSpec{ID: "pbs", Type: "pbs", Server: "192.168.1.5", Datastore: "store1",
		Content: "backup", PruneBackups: "keep-last=2"}); err != nil {
		t.Fatal(err)
	}
	return a
}

// TestPBSBackup follows PVE/VZDump.pm and PVE/VZDump/LXC.pm with a pbs
// target: the archive is the snapshot ct/VMID/TIME (UTC, PBSPlugin
// print_volid), made by proxmox-backup-client, listed with its format,
// notes and protection; a second one in the same second is refused by the
// server.
func TestPBSBackup(t *testing.T) {
	t.Parallel()
	clock := &manualClock{now: time.Date(2026, 12, 1, 2, 0, 3, 0, time.UTC)}
	a := startPBS(t, clock)
	upid, st := a.task("POST", "/nodes/pve/vzdump", form("vmid", "100", "storage", "pbs", "remove", "0",
		"prune-backups", "keep-all=1", "notes-template", "{{guestname}} nightly", "protected", "1"))
	log := a.taskLog(upid)
	if st["exitstatus"] != "OK" {
		t.Fatalf("backup to pbs: %v\n%s", st["exitstatus"], log)
	}
	for _, want := range []string{
		"INFO: creating Proxmox Backup Server archive 'ct/100/2026-12-01T02:00:03Z'\n",
		"--backup-type ct --backup-id 100 --backup-time 1796090403 --repository root@pam@192.168.1.5:store1\n",
		"INFO: run: lxc-usernsexec -m u:0:100000:65536 -m g:0:100000:65536 -- /usr/bin/proxmox-backup-client backup --crypt-mode=none pct.conf:",
		"INFO: Upload directory '/mnt/vzsnap0' to 'root@pam@192.168.1.5:8007:store1' as root.pxar.didx\n",
		"INFO: adding notes to backup\nINFO: marking backup as protected\n",
	} {
		if !strings.Contains(log, want) {
			t.Errorf("the log lacks %q:\n%s", want, log)
		}
	}
	if strings.Contains(log, "archive file size") || strings.Contains(log, "vzdump archive") {
		t.Errorf("a pbs backup logs a vzdump archive:\n%s", log)
	}
	volid := "pbs:backup/ct/100/2026-12-01T02:00:03Z"
	e := a.volumes("pbs")[volid]
	if e == nil || e["format"] != "pbs-ct" || e["subtype"] != "lxc" || e["notes"] != "web nightly" || e["protected"] != json.Number("1") ||
		e["ctime"] != json.Number("1796090403") || e["vmid"] != json.Number("100") {
		t.Errorf("content entry %v", e)
	}
	upid, st = a.task("POST", "/nodes/pve/vzdump", form("vmid", "100", "storage", "pbs", "remove", "0", "prune-backups", "keep-all=1"))
	if log := a.taskLog(upid); st["exitstatus"] != "job errors" || !strings.Contains(log, "INFO: Error: backup timestamp is older than last backup.\n") ||
		!strings.Contains(log, "ERROR: Backup of VM 100 failed - command 'lxc-usernsexec ") {
		t.Errorf("a second backup in the same second: %v\n%s", st["exitstatus"], log)
	}
	if s := a.ok("GET", "/nodes/pve/storage/pbs/status", nil).dataMap(t); s["shared"] != json.Number("1") || s["active"] != json.Number("1") {
		t.Errorf("pbs status %v", s)
	}
	// A restore from the snapshot: proxmox-backup-client restores, no
	// tar extraction.
	upid, st = a.task("POST", "/nodes/pve/lxc", form("vmid", "150", "ostemplate", volid, "restore", "1", "storage", "local-lvm"))
	if log := a.taskLog(upid); st["exitstatus"] != "OK" || strings.Contains(log, "extracting archive") ||
		!strings.Contains(log, "restoring '"+volid+"' now..\n") {
		t.Errorf("restore from pbs: %v\n%s", st["exitstatus"], log)
	}
	if c := a.config(150); c["hostname"] != "web" {
		t.Errorf("restored config %v", c)
	}
}

// TestPBSRetentionAndProtection: vzdump prunes a pbs group through
// proxmox-backup-client prune (PBSPlugin prune_backups), the dry run
// marks protected snapshots, the retention limit of a remove=0 backup
// counts pbs snapshots, and the server refuses to forget a protected one.
func TestPBSRetentionAndProtection(t *testing.T) {
	t.Parallel()
	clock := &manualClock{now: time.Date(2026, 12, 1, 2, 0, 0, 0, time.UTC)}
	a := startPBS(t, clock)
	var logs []string
	for i := 0; i < 3; i++ {
		upid, st := a.task("POST", "/nodes/pve/vzdump", form("vmid", "110", "storage", "pbs"))
		if st["exitstatus"] != "OK" {
			t.Fatalf("backup %d: %v\n%s", i+1, st["exitstatus"], a.taskLog(upid))
		}
		logs = append(logs, a.taskLog(upid))
		clock.Add(time.Hour)
	}
	if !strings.Contains(logs[2], "INFO: prune older backups with retention: keep-last=2\nINFO: running 'proxmox-backup-client prune' for 'ct/110'\nINFO: pruned 1 backup(s) not covered by keep-retention policy\n") {
		t.Errorf("the third backup's pruning:\n%s", logs[2])
	}
	if !strings.Contains(logs[0], "INFO: pruned 0 backup(s)\n") {
		t.Errorf("the first backup's pruning:\n%s", logs[0])
	}
	vols := a.volumes("pbs")
	if len(vols) != 2 || vols["pbs:backup/ct/110/2026-12-01T02:00:00Z"] != nil {
		t.Errorf("snapshots after pruning: %v", vols)
	}
	// remove=0 under keep-last=2 with two snapshots: over the limit.
	upid, st := a.task("POST", "/nodes/pve/vzdump", form("vmid", "110", "storage", "pbs", "remove", "0"))
	if !strings.Contains(a.taskLog(upid), "ERROR: Backup of VM 110 failed - There is a max backup limit of 2 enforced by the target storage") {
		t.Errorf("remove=0 over the limit: %v\n%s", st["exitstatus"], a.taskLog(upid))
	}
	// A protected backup an hour later; the dry run and the refusal to
	// forget it.
	clock.Add(time.Hour)
	if _, st := a.task("POST", "/nodes/pve/vzdump", form("vmid", "110", "storage", "pbs", "protected", "1", "prune-backups", "keep-all=1")); st["exitstatus"] != "OK" {
		t.Fatal(st)
	}
	prot := "pbs:backup/ct/110/2026-12-01T06:00:00Z"
	marks := map[string]any{}
	for _, e := range a.ok("GET", "/nodes/pve/storage/pbs/prunebackups", form("prune-backups", "keep-last=1", "vmid", "110", "type", "lxc")).dataList(t) {
		marks[e["volid"].(string)] = e["mark"]
	}
	if marks[prot] != "protected" || marks["pbs:backup/ct/110/2026-12-01T04:00:00Z"] != "keep" || marks["pbs:backup/ct/110/2026-12-01T03:00:00Z"] != "remove" {
		t.Errorf("dry run marks %v", marks)
	}
	upid, st = a.task("DELETE", "/nodes/pve/storage/pbs/content/"+url.PathEscape(prot), nil)
	if !strings.Contains(upid, ":imgdel:110@pbs:") || st["exitstatus"] != "proxmox-backup-client failed: Error: cannot remove protected snapshot" {
		t.Errorf("forget a protected snapshot: %s %v", upid, st["exitstatus"])
	}
	if _, st := a.task("DELETE", "/nodes/pve/storage/pbs/content/"+url.PathEscape("pbs:backup/ct/110/2026-12-01T03:00:00Z"), nil); st["exitstatus"] != "OK" {
		t.Errorf("forget a snapshot: %v", st["exitstatus"])
	}
	wantError(t, a.do("DELETE", "/nodes/pve/storage/pbs/content/"+url.PathEscape("pbs:backup/vzdump-lxc-110-2026_12_01-02_00_00.tar.zst"), nil), 500,
		"unable to parse PBS volume name 'backup/vzdump-lxc-110-2026_12_01-02_00_00.tar.zst'")
}
