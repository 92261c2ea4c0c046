package pvesim_test

import (
	"strings"
	"testing"
	"time"

	"github.com/felhom/felhom-converge/proxmox/pvesim"
)

// startSlow runs a simulator whose tasks take d, with the given run-time
// settings.
func startSlow(t *testing.T, d time.Duration, set pvesim.Settings) *rawAPI {
	t.Helper()
	a := startSim(t, pvesim.Options{TaskDuration: d})
	if err := a.sim.SetSettings(set); err != nil {
		t.Fatal(err)
	}
	return a
}

// TestConfigWriteWaitsForConfigFlock follows update_vm's lock_config
// (10 s by default): while a start task holds the CT's config flock, a
// config write waits for it, and fails with lock_file_full's "got
// timeout" once the bound passes.
func TestConfigWriteWaitsForConfigFlock(t *testing.T) {
	t.Parallel()
	a := startSlow(t, 600*time.Millisecond, pvesim.Settings{})
	holder := a.ok("POST", "/nodes/pve/lxc/110/status/start", nil).data().(string)
	begun := time.Now()
	a.ok("PUT", "/nodes/pve/lxc/110/config", form("description", "waited"))
	if waited := time.Since(begun); waited < 400*time.Millisecond {
		t.Errorf("the write took %v, want it to wait for the start task", waited)
	}
	if st := a.wait(holder); st["exitstatus"] != "OK" {
		t.Fatalf("start: %v", st)
	}
	if c := a.config(110); c["description"] != "waited\n" {
		t.Errorf("description %v", c["description"])
	}

	b := startSlow(t, 2*time.Second, pvesim.Settings{ConfigLockTimeout: 200 * time.Millisecond})
	for _, path := range []string{"/nodes/pve/lxc/100/status/shutdown", "/nodes/pve/lxc/101/resize"} {
		params := form()
		if strings.HasSuffix(path, "resize") {
			params = form("disk", "rootfs", "size", "+1G")
		}
		b.ok(map[bool]string{true: "PUT", false: "POST"}[strings.HasSuffix(path, "resize")], path, params)
	}
	for _, vmid := range []string{"100", "101"} {
		wantError(t, b.do("PUT", "/nodes/pve/lxc/"+vmid+"/config", form("description", "x")), 500,
			"can't lock file '/run/lock/lxc/pve-config-"+vmid+".lock' - got timeout")
	}
	// The flock is per guest: 110 is free.
	b.ok("PUT", "/nodes/pve/lxc/110/config", form("description", "free"))
}

// TestWorkerWaitsForConfigFlock: a worker that takes the config flock (a
// snapshot) while another task holds it logs "trying to acquire lock..."
// and goes on once it is free, or fails after the bound.
func TestWorkerWaitsForConfigFlock(t *testing.T) {
	t.Parallel()
	a := startSlow(t, 300*time.Millisecond, pvesim.Settings{})
	a.ok("POST", "/nodes/pve/lxc/110/status/start", nil)
	upid, st := a.task("POST", "/nodes/pve/lxc/110/snapshot", form("snapname", "after"))
	if st["exitstatus"] != "OK" || !strings.HasPrefix(a.taskLog(upid), "trying to acquire lock...\n OK\n") {
		t.Errorf("snapshot behind a start: %v\n%s", st["exitstatus"], a.taskLog(upid))
	}

	b := startSlow(t, 2*time.Second, pvesim.Settings{ConfigLockTimeout: 100 * time.Millisecond})
	b.ok("POST", "/nodes/pve/lxc/110/status/start", nil)
	upid, st = b.task("POST", "/nodes/pve/lxc/110/snapshot", form("snapname", "late"))
	if st["exitstatus"] != "can't lock file '/run/lock/lxc/pve-config-110.lock' - got timeout" {
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
// waits for it (here past its bound); during a destroy the config carries
// no lock ("destroyed" is written only once the volumes are gone) and a
// write waits, then finds the CT gone.
func TestCreateAndDestroyHoldTheFlock(t *testing.T) {
	t.Parallel()
	a := startSlow(t, time.Second, pvesim.Settings{ConfigLockTimeout: 200 * time.Millisecond})
	a.ok("POST", "/nodes/pve/lxc", form("vmid", "120", "ostemplate", "local:vztmpl/debian-12-standard_12.7-1_amd64.tar.zst", "storage", "local-lvm"))
	if c := a.config(120); c["lock"] != "create" {
		t.Errorf("lock %v while the create runs", c["lock"])
	}
	wantError(t, a.do("PUT", "/nodes/pve/lxc/120/config", form("description", "x")), 500,
		"can't lock file '/run/lock/lxc/pve-config-120.lock' - got timeout")
	// Checks made before the worker see the create lock at once.
	wantError(t, a.do("PUT", "/nodes/pve/lxc/120/resize", form("disk", "rootfs", "size", "+1G")), 500, "CT is locked (create)")

	b := startSlow(t, 400*time.Millisecond, pvesim.Settings{})
	holder := b.ok("DELETE", "/nodes/pve/lxc/110", nil).data().(string)
	if c := b.config(110); c["lock"] != nil {
		t.Errorf("lock %v while the destroy frees the volumes, want none", c["lock"])
	}
	wantError(t, b.do("PUT", "/nodes/pve/lxc/110/config", form("description", "x")), 500,
		"Configuration file 'nodes/pve/lxc/110.conf' does not exist")
	if st := b.wait(holder); st["exitstatus"] != "OK" {
		t.Fatal(st)
	}
	// A restore over a CT whose flock is held waits half the bound
	// (create_and_lock_config's 5 s).
	c := startSlow(t, time.Second, pvesim.Settings{ConfigLockTimeout: 200 * time.Millisecond})
	c.ok("POST", "/nodes/pve/lxc/110/status/start", nil)
	begun := time.Now()
	wantError(t, c.do("POST", "/nodes/pve/lxc", form("vmid", "110", "restore", "1", "force", "1", "storage", "local-lvm",
		"ostemplate", "local:backup/vzdump-lxc-100-2026_11_26-02_00_05.tar.zst")), 500,
		"unable to restore CT 110 - can't lock file '/run/lock/lxc/pve-config-110.lock' - got timeout")
	if waited := time.Since(begun); waited > 900*time.Millisecond {
		t.Errorf("the restore waited %v", waited)
	}
}

// TestVzdumpQueuesBehindRunningBackup follows PVE::VZDump getlock: a
// backup started while another runs waits for the node-wide lock
// ("trying to get global lock - waiting..."), then runs; past lockwait
// minutes (180 by default) it gives up and the worker exits without a
// TASK line, which Proxmox reads as "unexpected status".
func TestVzdumpQueuesBehindRunningBackup(t *testing.T) {
	t.Parallel()
	a := startSlow(t, 300*time.Millisecond, pvesim.Settings{})
	first := a.ok("POST", "/nodes/pve/vzdump", form("vmid", "100", "remove", "0", "prune-backups", "keep-all=1")).data().(string)
	second := a.ok("POST", "/nodes/pve/vzdump", form("vmid", "101", "remove", "0", "prune-backups", "keep-all=1")).data().(string)
	if c := a.config(101); c["lock"] != nil {
		t.Errorf("101 locked %v while its backup waits for the global lock", c["lock"])
	}
	if st := a.wait(first); st["exitstatus"] != "OK" {
		t.Fatal(st)
	}
	st := a.wait(second)
	log := a.taskLog(second)
	if st["exitstatus"] != "OK" || !strings.HasPrefix(log, "INFO: trying to get global lock - waiting...\nINFO: got global lock\nINFO: starting new backup job:") {
		t.Errorf("the queued backup: %v\n%s", st["exitstatus"], log)
	}

	b := startSlow(t, 2*time.Second, pvesim.Settings{VzdumpLockwaitMinute: time.Millisecond})
	b.ok("POST", "/nodes/pve/vzdump", form("vmid", "100", "remove", "0", "prune-backups", "keep-all=1"))
	late, st := b.task("POST", "/nodes/pve/vzdump", form("vmid", "101", "remove", "0", "prune-backups", "keep-all=1"))
	log = b.taskLog(late)
	if st["exitstatus"] != "unexpected status" || !strings.HasSuffix(log, "INFO: trying to get global lock - waiting...\nERROR: can't acquire lock '/var/run/vzdump.lock' - got timeout\n") {
		t.Errorf("a backup past its lockwait: %v\n%s", st["exitstatus"], log)
	}
	// A storage that cannot take backups fails in PVE::VZDump->new,
	// before the lock.
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
