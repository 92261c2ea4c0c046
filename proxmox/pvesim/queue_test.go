package pvesim_test

import (
	"strings"
	"testing"
	"time"

	"github.com/felhom/felhom-converge/proxmox/pvesim"
)

// startHolding runs a simulator whose tasks run for an hour, so a task
// holds its locks however slow the machine, with the given run-time
// settings. (queue_internal_test.go ends tasks on demand.)
func startHolding(t *testing.T, set pvesim.Settings) *rawAPI {
	t.Helper()
	a := startSim(t, pvesim.Options{TaskDuration: time.Hour})
	if err := a.sim.SetSettings(set); err != nil {
		t.Fatal(err)
	}
	return a
}

// TestConfigWriteTimesOutOnConfigFlock follows update_vm's lock_config:
// while a shutdown or resize task holds the CT's config flock, a config
// write waits and fails with lock_file_full's "got timeout" once the
// bound passes. The flock is per guest.
func TestConfigWriteTimesOutOnConfigFlock(t *testing.T) {
	t.Parallel()
	b := startHolding(t, pvesim.Settings{ConfigLockTimeout: 200 * time.Millisecond})
	b.ok("POST", "/nodes/pve/lxc/100/status/shutdown", nil)
	b.ok("PUT", "/nodes/pve/lxc/101/resize", form("disk", "rootfs", "size", "+1G"))
	for _, vmid := range []string{"100", "101"} {
		begun := time.Now()
		wantError(t, b.do("PUT", "/nodes/pve/lxc/"+vmid+"/config", form("description", "x")), 500,
			"can't lock file '/run/lock/lxc/pve-config-"+vmid+".lock' - got timeout")
		if waited := time.Since(begun); waited < 200*time.Millisecond {
			t.Errorf("CT %s: refused after %v, before the bound", vmid, waited)
		}
	}
	b.ok("PUT", "/nodes/pve/lxc/110/config", form("description", "free"))
}

// TestWorkerTimesOutOnConfigFlock: a snapshot task behind a start waits
// in its task ("trying to acquire lock...") and fails after the bound,
// leaving no snapshot.
func TestWorkerTimesOutOnConfigFlock(t *testing.T) {
	t.Parallel()
	b := startHolding(t, pvesim.Settings{ConfigLockTimeout: 100 * time.Millisecond})
	b.ok("POST", "/nodes/pve/lxc/110/status/start", nil)
	upid, st := b.task("POST", "/nodes/pve/lxc/110/snapshot", form("snapname", "late"))
	if st["exitstatus"] != "can't lock file '/run/lock/lxc/pve-config-110.lock' - got timeout" ||
		b.taskLog(upid) != "trying to acquire lock...\nTASK ERROR: can't lock file '/run/lock/lxc/pve-config-110.lock' - got timeout\n" {
		t.Errorf("snapshot behind a long start: %v\n%s", st["exitstatus"], b.taskLog(upid))
	}
	for _, e := range b.ok("GET", "/nodes/pve/lxc/110/snapshot", nil).dataList(t) {
		if e["name"] == "late" {
			t.Error("the snapshot that never got the lock is listed")
		}
	}
}

// TestCreateAndDestroyHoldTheFlock: create_vm and destroy_vm hold the
// config flock for their whole worker. A config write during a create
// waits for it; checks made before a worker see the create lock at once;
// during a destroy the config carries no lock ("destroyed" is written
// only once the volumes are gone). A restore over a CT whose flock is
// held waits create_and_lock_config's bound and says "unable to restore".
func TestCreateAndDestroyHoldTheFlock(t *testing.T) {
	t.Parallel()
	a := startHolding(t, pvesim.Settings{ConfigLockTimeout: 200 * time.Millisecond})
	a.ok("POST", "/nodes/pve/lxc", form("vmid", "120", "ostemplate", "local:vztmpl/debian-12-standard_12.7-1_amd64.tar.zst", "storage", "local-lvm"))
	if c := a.config(120); c["lock"] != "create" {
		t.Errorf("lock %v while the create runs", c["lock"])
	}
	wantError(t, a.do("PUT", "/nodes/pve/lxc/120/config", form("description", "x")), 500,
		"can't lock file '/run/lock/lxc/pve-config-120.lock' - got timeout")
	wantError(t, a.do("PUT", "/nodes/pve/lxc/120/resize", form("disk", "rootfs", "size", "+1G")), 500, "CT is locked (create)")

	a.ok("DELETE", "/nodes/pve/lxc/110", nil)
	if c := a.config(110); c["lock"] != nil {
		t.Errorf("lock %v while the destroy frees the volumes, want none", c["lock"])
	}
	wantError(t, a.do("PUT", "/nodes/pve/lxc/110/config", form("description", "x")), 500,
		"can't lock file '/run/lock/lxc/pve-config-110.lock' - got timeout")

	a.ok("POST", "/nodes/pve/lxc/100/status/stop", nil)
	wantError(t, a.do("POST", "/nodes/pve/lxc", form("vmid", "100", "restore", "1", "force", "1", "storage", "local-lvm",
		"ostemplate", "local:backup/vzdump-lxc-100-2026_11_26-02_00_05.tar.zst")), 500,
		"unable to restore CT 100 - can't lock file '/run/lock/lxc/pve-config-100.lock' - got timeout")
}

// TestVzdumpGivesUpOnGlobalLock follows PVE::VZDump getlock: a backup
// started while another runs waits for the node-wide lock; past lockwait
// minutes (180 by default) it gives up and the worker exits without a
// TASK line, which Proxmox reads as "unexpected status". A storage that
// cannot take backups fails in PVE::VZDump->new, before the lock.
func TestVzdumpGivesUpOnGlobalLock(t *testing.T) {
	t.Parallel()
	b := startHolding(t, pvesim.Settings{VzdumpLockwaitMinute: time.Millisecond})
	b.ok("POST", "/nodes/pve/vzdump", form("vmid", "100", "remove", "0", "prune-backups", "keep-all=1"))
	late, st := b.task("POST", "/nodes/pve/vzdump", form("vmid", "101", "remove", "0", "prune-backups", "keep-all=1"))
	if log := b.taskLog(late); st["exitstatus"] != "unexpected status" ||
		log != "INFO: trying to get global lock - waiting...\nERROR: can't acquire lock '/var/run/vzdump.lock' - got timeout\n" {
		t.Errorf("a backup past its lockwait: %v\n%s", st["exitstatus"], log)
	}
	if c := b.config(101); c["lock"] != nil {
		t.Errorf("101 locked %v by a backup that never ran", c["lock"])
	}
	// lockwait=1: one minute.
	_, st = b.task("POST", "/nodes/pve/vzdump", form("vmid", "110", "remove", "0", "prune-backups", "keep-all=1", "lockwait", "1"))
	if st["exitstatus"] != "unexpected status" {
		t.Errorf("lockwait=1: %v", st["exitstatus"])
	}
	_, st = b.task("POST", "/nodes/pve/vzdump", form("vmid", "101", "storage", "local-lvm"))
	if st["exitstatus"] != "could not get storage information for 'local-lvm': can't use storage 'local-lvm' for backups - wrong content type" {
		t.Errorf("backup to local-lvm: %v", st["exitstatus"])
	}
}

// TestSettingsOverAdmin: the run-time settings are kept with the state
// and can be read and set over /_sim/settings.
func TestSettingsOverAdmin(t *testing.T) {
	t.Parallel()
	path := statePath(t)
	a := startSim(t, pvesim.Options{StatePath: path, EnableAdmin: true})
	admin := strings.TrimSuffix(a.base, "/api2/json") + "/_sim/settings"
	r := a.adminPost(admin, `{"config_lock_timeout":"250ms","vzdump_lockwait_minute":"2ms"}`)
	if r.Code != 200 {
		t.Fatalf("POST settings: %s", r.Status)
	}
	if r := a.adminPost(admin, `{"config_lock_timeout":"soon"}`); r.Code != 400 {
		t.Errorf("a bad duration: %s", r.Status)
	}
	other, err := pvesim.New(pvesim.Options{StatePath: path})
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	if got := other.Settings(); got.ConfigLockTimeout != 250*time.Millisecond || got.VzdumpLockwaitMinute != 2*time.Millisecond {
		t.Errorf("settings seen by another process: %+v", got)
	}
}
