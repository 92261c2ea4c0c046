package pvesim_test

import (
	"encoding/json"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/felhom/felhom-converge/proxmox"
	"github.com/felhom/felhom-converge/proxmox/pvesim"
)

func TestConfigPutNormalisesAndChangesDigest(t *testing.T) {
	t.Parallel()
	a := startSim(t, pvesim.Options{})
	before := a.config(110)
	r := a.ok("PUT", "/nodes/pve/lxc/110/config", form(
		"tags", "Web,prod web", "description", "hello", "memory", "1024",
		"net1", "name=eth1,bridge=vmbr0,ip=dhcp", "digest", before["digest"].(string)))
	if r.RawBody != `{"data":null}` {
		t.Errorf("PUT config answered %s, want {\"data\":null} (synchronous, no UPID)", r.RawBody)
	}
	after := a.config(110)
	if after["digest"] == before["digest"] {
		t.Error("digest did not change after a write")
	}
	if after["tags"] != "prod;web" {
		t.Errorf("tags %v, want prod;web (lower-cased, de-duplicated, sorted)", after["tags"])
	}
	if after["description"] != "hello\n" {
		t.Errorf("description %q, want a trailing newline", after["description"])
	}
	if after["memory"] != json.Number("1024") {
		t.Errorf("memory %v", after["memory"])
	}
	net1, _ := after["net1"].(string)
	if !strings.HasPrefix(net1, "name=eth1,bridge=vmbr0,hwaddr=BC:24:11:") || !strings.HasSuffix(net1, ",ip=dhcp,type=veth") {
		t.Errorf("net1 %q: want name first, a generated BC:24:11 hwaddr and type=veth", net1)
	}
	// The old digest is now stale.
	r = a.do("PUT", "/nodes/pve/lxc/110/config", form("memory", "512", "digest", before["digest"].(string)))
	wantError(t, r, 500, "detected modified configuration - file changed by other user? Try again.")
}

func TestMountPointRemovalKeepsVolumeUntilFreed(t *testing.T) {
	t.Parallel()
	a := startSim(t, pvesim.Options{})
	// 101 runs, so a removed mp0 waits in the pending section until restart.
	a.ok("PUT", "/nodes/pve/lxc/101/config", form("delete", "mp0"))
	if _, ok := a.config(101)["mp0"]; ok {
		t.Fatal("mp0 still shown after delete (GET config overlays pending)")
	}
	cur := a.ok("GET", "/nodes/pve/lxc/101/config", form("current", "1")).dataMap(t)
	if cur["mp0"] == nil {
		t.Fatal("mp0 gone from the current config of a running CT; it should be pending")
	}
	pendingDelete := false
	for _, e := range a.ok("GET", "/nodes/pve/lxc/101/pending", nil).dataList(t) {
		if e["key"] == "mp0" {
			pendingDelete = e["delete"] == json.Number("1") && e["value"] == "local-lvm:vm-101-disk-1,mp=/srv/share,backup=1,size=64G"
		}
	}
	if !pendingDelete {
		t.Error("GET pending does not show mp0 with its value and delete=1")
	}
	a.task("POST", "/nodes/pve/lxc/101/status/stop", nil)
	_, st := a.task("POST", "/nodes/pve/lxc/101/status/start", nil)
	if st["exitstatus"] != "OK" {
		t.Fatalf("start: %v", st)
	}
	c := a.config(101)
	if c["unused0"] != "local-lvm:vm-101-disk-1" {
		t.Fatalf("unused0 = %v, want the detached volume", c["unused0"])
	}
	if !a.hasVolume("local-lvm", "local-lvm:vm-101-disk-1") {
		t.Fatal("the detached volume was deleted")
	}
	// Only deleting unusedN frees it.
	a.ok("PUT", "/nodes/pve/lxc/101/config", form("delete", "unused0"))
	if a.hasVolume("local-lvm", "local-lvm:vm-101-disk-1") {
		t.Fatal("volume still on storage after deleting unused0")
	}
}

func (a *rawAPI) hasVolume(storage, volid string) bool {
	a.t.Helper()
	for _, e := range a.ok("GET", "/nodes/pve/storage/"+storage+"/content", nil).dataList(a.t) {
		if e["volid"] == volid {
			return true
		}
	}
	return false
}

func TestProtection(t *testing.T) {
	t.Parallel()
	a := startSim(t, pvesim.Options{})
	a.ok("PUT", "/nodes/pve/lxc/110/config", form("mp0", "local-lvm:1,mp=/data"))
	a.ok("PUT", "/nodes/pve/lxc/110/config", form("delete", "mp0"))
	a.ok("PUT", "/nodes/pve/lxc/110/config", form("protection", "1"))
	wantError(t, a.do("DELETE", "/nodes/pve/lxc/110", nil), 500, "can't remove CT 110 - protection mode enabled")
	// Freeing a detached volume is a volume removal too.
	wantError(t, a.do("PUT", "/nodes/pve/lxc/110/config", form("delete", "unused0")), 500,
		"can't remove CT 110 drive 'unused0' - protection mode enabled")
	if !a.hasVolume("local-lvm", "local-lvm:vm-110-disk-1") {
		t.Error("the refused removal freed the volume")
	}
	wantError(t, a.do("PUT", "/nodes/pve/lxc/110/config", form("mp0", "local-lvm:1,mp=/data")), 500,
		"can't update CT 110 drive 'mp0' - protection mode enabled")
	a.ok("PUT", "/nodes/pve/lxc/110/config", form("delete", "protection"))
	_, st := a.task("DELETE", "/nodes/pve/lxc/110", form("purge", "1", "destroy-unreferenced-disks", "1"))
	if st["exitstatus"] != "OK" {
		t.Fatalf("destroy: %v", st)
	}
	wantError(t, a.do("GET", "/nodes/pve/lxc/110/config", nil), 500, "Configuration file 'nodes/pve/lxc/110.conf' does not exist")
	if a.hasVolume("local-lvm", "local-lvm:vm-110-disk-0") {
		t.Error("destroy left the rootfs volume")
	}
}

func TestTaskStatusAndLog(t *testing.T) {
	t.Parallel()
	a := startSim(t, pvesim.Options{TaskDuration: time.Second})
	r := a.ok("POST", "/nodes/pve/lxc/110/status/start", nil)
	upid := r.data().(string)
	u, err := proxmox.ParseUPID(upid)
	if err != nil {
		t.Fatal(err)
	}
	if u.String() != upid || u.Type != "vzstart" || u.ID != "110" || u.User != "felhom@pve!converge" || u.Node != "pve" {
		t.Fatalf("UPID %s parsed as %+v", upid, u)
	}
	running := a.ok("GET", "/nodes/pve/tasks/"+url.PathEscape(upid)+"/status", nil).dataMap(t)
	if running["status"] != "running" || running["exitstatus"] != nil {
		t.Fatalf("fresh task %v, want running without exitstatus", running)
	}
	// The default task list shows only finished tasks (source=archive).
	for _, e := range a.ok("GET", "/nodes/pve/tasks", nil).dataList(t) {
		if e["upid"] == upid {
			t.Fatal("running task listed without source=active|all")
		}
	}
	found := false
	for _, e := range a.ok("GET", "/nodes/pve/tasks", form("source", "all")).dataList(t) {
		found = found || e["upid"] == upid
	}
	if !found {
		t.Fatal("running task missing from source=all")
	}
	st := a.wait(upid)
	want := map[string]any{"status": "stopped", "exitstatus": "OK", "user": "felhom@pve", "tokenid": "converge", "id": "110", "type": "vzstart"}
	for k, v := range want {
		if st[k] != v {
			t.Errorf("task status %s = %v, want %v", k, st[k], v)
		}
	}
	if _, ok := st["endtime"]; ok {
		t.Error("task status must not carry endtime")
	}
	log := a.ok("GET", "/nodes/pve/tasks/"+url.PathEscape(upid)+"/log", form("start", "0", "limit", "0"))
	lines := log.dataList(t)
	if last := lines[len(lines)-1]; last["t"] != "TASK OK" || last["n"] != json.Number(itoa(len(lines))) {
		t.Errorf("last log line %v, want TASK OK numbered %d", last, len(lines))
	}
	if log.Body["total"] != json.Number(itoa(len(lines))) {
		t.Errorf("total %v, want %d", log.Body["total"], len(lines))
	}
}

func itoa(n int) string { b, _ := json.Marshal(n); return string(b) }

// TestLocksDuringTasks: a running vzdump holds lock "backup"; sync calls
// fail at once, task-checked calls fail inside their task.
func TestLocksDuringTasks(t *testing.T) {
	t.Parallel()
	a := startSim(t, pvesim.Options{TaskDuration: time.Second})
	r := a.ok("POST", "/nodes/pve/vzdump", form("vmid", "100", "storage", "local", "remove", "0", "compress", "zstd", "prune-backups", "keep-all=1"))
	backup := r.data().(string)
	if c := a.config(100); c["lock"] != "backup" {
		t.Fatalf("lock %v during vzdump, want backup", c["lock"])
	}
	wantError(t, a.do("PUT", "/nodes/pve/lxc/100/config", form("memory", "2048")), 500, "CT is locked (backup)")
	wantError(t, a.do("PUT", "/nodes/pve/lxc/100/config", form("delete", "lock")), 500, "CT is locked (backup)")
	wantError(t, a.do("PUT", "/nodes/pve/lxc/100/resize", form("disk", "rootfs", "size", "+1G")), 500, "CT is locked (backup)")
	_, st := a.task("POST", "/nodes/pve/lxc/100/snapshot", form("snapname", "during"))
	if st["exitstatus"] != "CT is locked (backup)" {
		t.Errorf("snapshot during backup: exitstatus %v, want the lock error without prefix", st["exitstatus"])
	}
	if st := a.wait(backup); st["exitstatus"] != "OK" {
		t.Fatalf("vzdump: %v", st)
	}
	if _, ok := a.config(100)["lock"]; ok {
		t.Error("lock still set after the backup")
	}
}

func TestVzdumpPruning(t *testing.T) {
	t.Parallel()
	old := "local:backup/vzdump-lxc-100-2026_11_20-02_00_03.tar.zst"
	for _, tc := range []struct {
		name     string
		params   url.Values
		exit     string
		archives int // of CT 100 afterwards
		kept     bool
	}{
		// The seed's local keeps 2 and CT 100 has 2 archives: with
		// remove=0 the backup would go beyond the retention.
		{"remove=0 at the storage's limit fails", form("vmid", "100", "remove", "0", "compress", "zstd"), "job errors", 2, true},
		{"keep-all=1 neither prunes nor counts", form("vmid", "100", "remove", "0", "compress", "zstd", "prune-backups", "keep-all=1"), "OK", 3, true},
		{"default remove=1 applies the storage's keep-last=2", form("vmid", "100", "compress", "zstd"), "OK", 2, false},
		{"an explicit prune-backups wins", form("vmid", "100", "compress", "zstd", "prune-backups", "keep-last=5"), "OK", 3, true},
		{"remove=0 below an explicit limit", form("vmid", "100", "remove", "0", "prune-backups", "keep-last=2,keep-daily=1"), "OK", 3, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := startSim(t, pvesim.Options{})
			upid, st := a.task("POST", "/nodes/pve/vzdump", tc.params)
			if st["exitstatus"] != tc.exit {
				t.Fatalf("vzdump: exitstatus %v, want %s", st["exitstatus"], tc.exit)
			}
			if u, _ := proxmox.ParseUPID(upid); u.ID != "100" || u.Type != "vzdump" {
				t.Errorf("UPID %s", upid)
			}
			if tc.exit != "OK" {
				log := a.taskLog(upid)
				want := "ERROR: Backup of VM 100 failed - There is a max backup limit of 2 enforced by the target storage or the vzdump parameters. Either increase the limit or delete old backups."
				if !strings.Contains(log, want+"\n") || !strings.HasSuffix(log, "TASK ERROR: job errors\n") {
					t.Errorf("log:\n%s\nwant the limit error and TASK ERROR: job errors", log)
				}
			}
			if got := a.hasVolume("local", old); got != tc.kept {
				t.Errorf("old archive kept=%v, want %v", got, tc.kept)
			}
			n := 0
			for _, e := range a.ok("GET", "/nodes/pve/storage/local/content", form("content", "backup", "vmid", "100")).dataList(t) {
				if strings.HasSuffix(e["volid"].(string), ".tar.zst") || strings.HasSuffix(e["volid"].(string), ".tar") {
					n++
				}
			}
			if n != tc.archives {
				t.Errorf("%d archives of 100, want %d", n, tc.archives)
			}
		})
	}
}

// Archive names use the host's local time, and a stopped CT is backed up
// in stop mode whatever mode was asked for.
func TestVzdumpStoppedCTAndLocalTime(t *testing.T) {
	t.Parallel()
	a := startSim(t, pvesim.Options{})
	upid, st := a.task("POST", "/nodes/pve/vzdump", form("vmid", "110", "remove", "0", "mode", "snapshot", "compress", "zstd"))
	if st["exitstatus"] != "OK" {
		t.Fatalf("vzdump: %v", st)
	}
	u, _ := proxmox.ParseUPID(upid)
	want := "local:backup/vzdump-lxc-110-" + u.StartTime.Local().Format("2006_01_02-15_04_05") + ".tar.zst"
	if !a.hasVolume("local", want) {
		t.Errorf("no archive %s", want)
	}
	if log := a.taskLog(upid); !strings.Contains(log, "INFO: backup mode: stop\n") {
		t.Errorf("log of a stopped CT's backup:\n%s\nwant backup mode: stop", log)
	}
}

func TestRestoreCreateAndForce(t *testing.T) {
	t.Parallel()
	a := startSim(t, pvesim.Options{})
	golden := "local:backup/vzdump-lxc-9000-2026_10_01-12_00_00.tar.zst"
	upid, st := a.task("POST", "/nodes/pve/lxc", form("vmid", "105", "ostemplate", golden, "restore", "1",
		"storage", "local-lvm", "hostname", "shop", "memory", "768", "rootfs", "local-lvm:6"))
	if st["exitstatus"] != "OK" {
		t.Fatalf("restore: %v", st)
	}
	if u, _ := proxmox.ParseUPID(upid); u.Type != "vzrestore" {
		t.Errorf("type %s, want vzrestore", u.Type)
	}
	c := a.config(105)
	if c["hostname"] != "shop" || c["memory"] != json.Number("768") || c["rootfs"] != "local-lvm:vm-105-disk-0,size=6G" ||
		c["unprivileged"] != json.Number("1") || c["features"] != "nesting=1" {
		t.Errorf("restored config %v", c)
	}
	// The same vmid again without force is refused synchronously.
	wantError(t, a.do("POST", "/nodes/pve/lxc", form("vmid", "105", "ostemplate", golden, "restore", "1")), 500, "CT 105 already exists on node 'pve'")
	// With force the old volumes go and new ones come.
	_, st = a.task("POST", "/nodes/pve/lxc", form("vmid", "105", "ostemplate", golden, "restore", "1", "force", "1", "storage", "local-lvm"))
	if st["exitstatus"] != "OK" {
		t.Fatalf("restore --force: %v", st)
	}
	// The new volume is allocated before the old one is destroyed.
	if c := a.config(105); c["rootfs"] != "local-lvm:vm-105-disk-1,size=4G" || c["hostname"] != "golden" || len(c) != 12 {
		t.Errorf("config after restore over: %v, want the archive's 11 keys and the digest", c)
	}
	if a.hasVolume("local-lvm", "local-lvm:vm-105-disk-0") {
		t.Error("the old rootfs survived a restore over it")
	}
	// Restoring over it onto a full pool: the allocation fails, and from
	// that point on a failure deletes the CT's config. The old volume is
	// not destroyed yet: it stays behind, orphaned.
	if err := a.sim.FillStorage("local-lvm", true); err != nil {
		t.Fatal(err)
	}
	_, st = a.task("POST", "/nodes/pve/lxc", form("vmid", "105", "ostemplate", golden, "restore", "1", "force", "1", "rootfs", "local-lvm:6"))
	if st["exitstatus"] != "unable to restore CT 105 - lvcreate 'pve/vm-105-disk-0' error:   Cannot create new thin volume, free space in thin pool pve/data reached threshold." {
		t.Errorf("restore over 105 onto a full pool: %v", st["exitstatus"])
	}
	wantError(t, a.do("GET", "/nodes/pve/lxc/105/config", nil), 500, "Configuration file 'nodes/pve/lxc/105.conf' does not exist")
	if !a.hasVolume("local-lvm", "local-lvm:vm-105-disk-1") {
		t.Error("the old rootfs was destroyed although the new one could not be allocated")
	}
	if err := a.sim.FillStorage("local-lvm", false); err != nil {
		t.Fatal(err)
	}
	// A missing archive fails inside the task, and nothing stays behind.
	_, st = a.task("POST", "/nodes/pve/lxc", form("vmid", "106", "ostemplate", "local:backup/vzdump-lxc-1-2020_01_01-00_00_00.tar.zst", "restore", "1", "storage", "local-lvm"))
	if st["exitstatus"] != "unable to restore CT 106 - volume 'local:backup/vzdump-lxc-1-2020_01_01-00_00_00.tar.zst' does not exist" {
		t.Errorf("exitstatus %v", st["exitstatus"])
	}
	if r := a.do("GET", "/nodes/pve/lxc/106/config", nil); r.Code != 500 {
		t.Errorf("failed restore left CT 106 behind: %s", r.RawBody)
	}
}

func TestCreateLockVisibleWhileRunning(t *testing.T) {
	t.Parallel()
	a := startSim(t, pvesim.Options{TaskDuration: time.Second})
	r := a.ok("POST", "/nodes/pve/lxc", form("vmid", "120", "ostemplate", "local:vztmpl/debian-12-standard_12.7-1_amd64.tar.zst",
		"storage", "local-lvm", "rootfs", "local-lvm:2"))
	if c := a.config(120); c["lock"] != "create" {
		t.Errorf("config during create: %v, want lock create", c)
	}
	wantError(t, a.do("POST", "/nodes/pve/lxc", form("vmid", "120", "ostemplate", "local:vztmpl/debian-12-standard_12.7-1_amd64.tar.zst")),
		500, "CT 120 already exists on node 'pve'")
	if st := a.wait(r.data().(string)); st["exitstatus"] != "OK" {
		t.Fatal(st)
	}
	c := a.config(120)
	if c["hostname"] != "CT120" || c["unprivileged"] != nil || c["memory"] != json.Number("512") || c["lock"] != nil {
		t.Errorf("created config %v: want defaults (hostname CT120, 512 MiB, privileged: no unprivileged key) and no lock", c)
	}
}

func TestSnapshotsRollbackDelete(t *testing.T) {
	t.Parallel()
	a := startSim(t, pvesim.Options{})
	_, st := a.task("POST", "/nodes/pve/lxc/100/snapshot", form("snapname", "before-change", "description", "safety"))
	if st["exitstatus"] != "OK" {
		t.Fatal(st)
	}
	if c := a.config(100); c["parent"] != "before-change" {
		t.Errorf("parent %v after snapshot", c["parent"])
	}
	_, st = a.task("POST", "/nodes/pve/lxc/100/snapshot", form("snapname", "before-change"))
	if st["exitstatus"] != "snapshot name 'before-change' already used" {
		t.Errorf("duplicate snapshot: %v", st["exitstatus"])
	}
	wantError(t, a.do("POST", "/nodes/pve/lxc/100/snapshot", form("snapname", "current")), 500, "unable to use snapshot name 'current' (reserved name)")
	a.ok("PUT", "/nodes/pve/lxc/100/config", form("memory", "4096"))
	// Rollback to the older snapshot (allowed on lvmthin) stops the CT.
	_, st = a.task("POST", "/nodes/pve/lxc/100/snapshot/pre-upgrade/rollback", nil)
	if st["exitstatus"] != "OK" {
		t.Fatal(st)
	}
	c := a.config(100)
	if c["memory"] != json.Number("1024") || c["parent"] != "pre-upgrade" {
		t.Errorf("after rollback: memory %v parent %v", c["memory"], c["parent"])
	}
	if s := a.ok("GET", "/nodes/pve/lxc/100/status/current", nil).dataMap(t); s["status"] != "stopped" {
		t.Errorf("rollback left CT %v, want stopped", s["status"])
	}
	_, st = a.task("DELETE", "/nodes/pve/lxc/100/snapshot/before-change", nil)
	if st["exitstatus"] != "OK" {
		t.Fatal(st)
	}
	_, st = a.task("DELETE", "/nodes/pve/lxc/100/snapshot/nope", nil)
	if st["exitstatus"] != "snapshot 'nope' does not exist" {
		t.Errorf("delete missing snapshot: %v", st["exitstatus"])
	}
}

func TestResizeGrows(t *testing.T) {
	t.Parallel()
	a := startSim(t, pvesim.Options{})
	upid, st := a.task("PUT", "/nodes/pve/lxc/100/resize", form("disk", "rootfs", "size", "+2G"))
	if st["exitstatus"] != "OK" {
		t.Fatal(st)
	}
	if u, _ := proxmox.ParseUPID(upid); u.Type != "resize" {
		t.Errorf("type %s", u.Type)
	}
	if c := a.config(100); c["rootfs"] != "local-lvm:vm-100-disk-0,size=10G" {
		t.Errorf("rootfs %v", c["rootfs"])
	}
	// A thin pool over-provisions: growing beyond its size is no refusal.
	if _, st = a.task("PUT", "/nodes/pve/lxc/100/resize", form("disk", "rootfs", "size", "1T")); st["exitstatus"] != "OK" {
		t.Errorf("thin resize beyond the pool: %v", st)
	}
	// A full pool fails the task (the volume grows in the worker), and
	// the disk keeps its size.
	if err := a.sim.FillStorage("local-lvm", true); err != nil {
		t.Fatal(err)
	}
	_, st = a.task("PUT", "/nodes/pve/lxc/100/resize", form("disk", "rootfs", "size", "2T"))
	if st["exitstatus"] != "error resizing volume '/dev/pve/vm-100-disk-0':   Cannot resize pve/vm-100-disk-0: free space in thin pool pve/data reached threshold." {
		t.Errorf("resize on a full pool: exitstatus %v", st["exitstatus"])
	}
	if c := a.config(100); c["rootfs"] != "local-lvm:vm-100-disk-0,size=1T" {
		t.Errorf("rootfs %v after a failed resize", c["rootfs"])
	}
}

func TestPrivilegesPerToken(t *testing.T) {
	t.Parallel()
	a := startSim(t, pvesim.Options{})
	ro := a.as(a.sim.Token("readonly"))
	perms := ro.ok("GET", "/access/permissions", form("path", "/vms/100")).dataMap(t)
	if got := perms["/vms/100"].(map[string]any); len(got) != 3 || got["VM.Audit"] != json.Number("1") || got["VM.PowerMgmt"] != nil {
		t.Errorf("read-only token's permissions on /vms/100: %v", got)
	}
	// Reads work for the read-only token.
	ro.ok("GET", "/nodes/pve/lxc/100/config", nil)
	// vzdump needs Datastore.AllocateSpace synchronously.
	wantError(t, ro.do("POST", "/nodes/pve/vzdump", form("vmid", "100")), 403, "Permission check failed (/storage/local, Datastore.AllocateSpace)")
	wantError(t, ro.do("POST", "/nodes/pve/lxc/100/snapshot/pre-upgrade/rollback", nil), 403,
		"Permission check failed (/vms/100, VM.Snapshot|VM.Snapshot.Rollback)")
	wantError(t, ro.do("DELETE", "/nodes/pve/lxc/110", nil), 403, "Permission check failed (/vms/110, VM.Allocate)")
}

func TestPruneBackupsEndpoint(t *testing.T) {
	t.Parallel()
	a := startSim(t, pvesim.Options{})
	older := "local:backup/vzdump-lxc-100-2026_11_20-02_00_03.tar.zst"
	newer := "local:backup/vzdump-lxc-100-2026_11_26-02_00_05.tar.zst"
	marks := map[string]string{}
	for _, e := range a.ok("GET", "/nodes/pve/storage/local/prunebackups", form("prune-backups", "keep-last=1", "type", "lxc")).dataList(t) {
		marks[e["volid"].(string)] = e["mark"].(string)
	}
	want := map[string]string{older: "remove", newer: "keep",
		"local:backup/vzdump-lxc-101-2026_11_26-02_15_41.tar.zst":  "keep",
		"local:backup/vzdump-lxc-9000-2026_10_01-12_00_00.tar.zst": "protected"}
	for k, v := range want {
		if marks[k] != v {
			t.Errorf("dry run mark of %s = %q, want %q", k, marks[k], v)
		}
	}
	if !a.hasVolume("local", older) {
		t.Fatal("the dry run removed an archive")
	}
	// Without a vmid, pruning needs Datastore.Allocate.
	wantError(t, a.as(a.sim.Token("readonly")).do("DELETE", "/nodes/pve/storage/local/prunebackups", form("prune-backups", "keep-last=1")), 403,
		"Permission check failed (/storage/local, Datastore.Allocate)")
	upid, st := a.task("DELETE", "/nodes/pve/storage/local/prunebackups", form("prune-backups", "keep-last=1", "vmid", "100"))
	if st["exitstatus"] != "OK" {
		t.Fatal(st)
	}
	if u, _ := proxmox.ParseUPID(upid); u.Type != "prunebackups" || u.ID != "100@local" {
		t.Errorf("UPID %s", upid)
	}
	if a.hasVolume("local", older) || !a.hasVolume("local", newer) {
		t.Error("prune removed the wrong archives")
	}
}

func TestSnapshotDescriptionUpdate(t *testing.T) {
	t.Parallel()
	a := startSim(t, pvesim.Options{})
	digest := a.config(100)["digest"]
	a.ok("PUT", "/nodes/pve/lxc/100/snapshot/pre-upgrade/config", form("description", "kept for audit"))
	c := a.ok("GET", "/nodes/pve/lxc/100/snapshot/pre-upgrade/config", nil).dataMap(t)
	if c["description"] != "kept for audit\n" {
		t.Errorf("snapshot description %q", c["description"])
	}
	if a.config(100)["digest"] == digest {
		t.Error("digest unchanged after a snapshot section changed")
	}
	wantError(t, a.do("PUT", "/nodes/pve/lxc/100/snapshot/nope/config", form("description", "x")), 500, "snapshot 'nope' does not exist")
}

func TestMoveVolumeHoldsDiskLock(t *testing.T) {
	t.Parallel()
	a := startSim(t, pvesim.Options{TaskDuration: time.Second})
	wantError(t, a.do("POST", "/nodes/pve/lxc/100/move_volume", form("volume", "rootfs", "storage", "local-lvm")), 500,
		"cannot move volumes of a running container")
	r := a.ok("POST", "/nodes/pve/lxc/110/move_volume", form("volume", "rootfs", "storage", "local-lvm"))
	if c := a.config(110); c["lock"] != "disk" {
		t.Fatalf("lock %v during move_volume, want disk", c["lock"])
	}
	wantError(t, a.do("PUT", "/nodes/pve/lxc/110/config", form("cores", "2")), 500, "CT is locked (disk)")
	if st := a.wait(r.data().(string)); st["exitstatus"] != "OK" {
		t.Fatal(st)
	}
	c := a.config(110)
	if c["rootfs"] != "local-lvm:vm-110-disk-1,size=4G" || c["unused0"] != "local-lvm:vm-110-disk-0" || c["lock"] != nil {
		t.Errorf("after the move: %v (the source stays as unused0)", c)
	}
}

// TestRollbackKeepsUnusedVolumes: a snapshot copies the config without
// the description, lock and unusedN keys; a rollback keeps the current
// description and unusedN entries and adds every volume the snapshot does
// not use as a new unusedN, so no data is lost by the config swap
// (AbstractConfig __snapshot_copy_config, __snapshot_apply_config).
func TestRollbackKeepsUnusedVolumes(t *testing.T) {
	t.Parallel()
	a := startSim(t, pvesim.Options{})
	// unused0: a mount point added and removed on the stopped CT.
	a.ok("PUT", "/nodes/pve/lxc/110/config", form("mp1", "local-lvm:1,mp=/old"))
	a.ok("PUT", "/nodes/pve/lxc/110/config", form("delete", "mp1"))
	if c := a.config(110); c["unused0"] != "local-lvm:vm-110-disk-1" {
		t.Fatalf("unused0 %v", c["unused0"])
	}
	if _, st := a.task("POST", "/nodes/pve/lxc/110/snapshot", form("snapname", "s1", "description", "first")); st["exitstatus"] != "OK" {
		t.Fatal(st)
	}
	sc := a.ok("GET", "/nodes/pve/lxc/110/snapshot/s1/config", nil).dataMap(t)
	if sc["unused0"] != nil || sc["description"] != "first\n" {
		t.Errorf("snapshot config %v: want no unusedN and the snapshot's own description", sc)
	}
	a.ok("PUT", "/nodes/pve/lxc/110/config", form("mp0", "local-lvm:2,mp=/data", "description", "after the snapshot"))
	if _, st := a.task("POST", "/nodes/pve/lxc/110/snapshot/s1/rollback", nil); st["exitstatus"] != "OK" {
		t.Fatal(st)
	}
	c := a.config(110)
	want := map[string]any{"mp0": nil, "unused0": "local-lvm:vm-110-disk-1", "unused1": "local-lvm:vm-110-disk-2",
		"description": "after the snapshot\n", "parent": "s1", "rootfs": "local-lvm:vm-110-disk-0,size=4G"}
	for k, v := range want {
		if c[k] != v {
			t.Errorf("after rollback %s = %v, want %v", k, c[k], v)
		}
	}
	if !a.hasVolume("local-lvm", "local-lvm:vm-110-disk-2") {
		t.Error("the volume of the mount point added after the snapshot was freed by the rollback")
	}
}

// TestContentDeleteVolumeInPath: DELETE .../content/{volume} takes the
// volume id whether its "/" comes escaped (as url.PathEscape sends it)
// or not (as Proxmox's GUI sends it), and removes the archive in an
// imgdel task.
func TestContentDeleteVolumeInPath(t *testing.T) {
	t.Parallel()
	a := startSim(t, pvesim.Options{})
	older := "local:backup/vzdump-lxc-100-2026_11_20-02_00_03.tar.zst"
	newer := "local:backup/vzdump-lxc-100-2026_11_26-02_00_05.tar.zst"
	for volid, path := range map[string]string{
		older: "/nodes/pve/storage/local/content/" + url.PathEscape(older),
		newer: "/nodes/pve/storage/local/content/" + newer,
	} {
		upid, st := a.task("DELETE", path, nil)
		if st["exitstatus"] != "OK" || !strings.Contains(upid, ":imgdel:100@local:") {
			t.Fatalf("DELETE %s: %s %v", path, upid, st)
		}
		if log := a.taskLog(upid); log != "Removed volume '"+volid+"'\nTASK OK\n" {
			t.Errorf("DELETE %s log:\n%s", path, log)
		}
		if a.hasVolume("local", volid) {
			t.Errorf("DELETE %s left the archive", path)
		}
	}
}

// TestConfigPutFailureWritesNothing: since PVE 8.3 a key that fails to
// apply abandons the update: update_vm writes nothing, and the answer is
// a 400 naming the key.
func TestConfigPutFailureWritesNothing(t *testing.T) {
	t.Parallel()
	a := startSim(t, pvesim.Options{})
	before := a.config(110)
	if err := a.sim.FillStorage("local-lvm", true); err != nil {
		t.Fatal(err)
	}
	r := a.do("PUT", "/nodes/pve/lxc/110/config", form("mp0", "local-lvm:3,mp=/data", "memory", "768"))
	wantError(t, r, 400, "Parameter verification failed.")
	errs, _ := r.Body["errors"].(map[string]any)
	if len(errs) != 1 || errs["mp0"] != "unable to apply pending change mp0 : lvcreate 'pve/vm-110-disk-1' error:   Cannot create new thin volume, free space in thin pool pve/data reached threshold." {
		t.Errorf("errors %v", errs)
	}
	if after := a.config(110); after["digest"] != before["digest"] || after["memory"] != before["memory"] || after["mp0"] != nil {
		t.Errorf("config after a failed update %v, want it unchanged (%v)", after, before)
	}
	for _, e := range a.ok("GET", "/nodes/pve/lxc/110/pending", nil).dataList(t) {
		if e["pending"] != nil || e["delete"] != nil {
			t.Errorf("pending entry %v after a failed update", e)
		}
	}
	if err := a.sim.FillStorage("local-lvm", false); err != nil {
		t.Fatal(err)
	}
	// mp1 allocates and hotplugs, then net1 fails to hotplug on a running
	// CT: nothing is written, and the volume allocated for mp1 stays on
	// the storage, referenced by nothing (update_vm frees nothing).
	before = a.config(101)
	r = a.do("PUT", "/nodes/pve/lxc/101/config", form("mp1", "local-lvm:1,mp=/x", "net1", "name=eth1,bridge=vmbr9"))
	wantError(t, r, 400, "Parameter verification failed.")
	if errs, _ := r.Body["errors"].(map[string]any); errs["net1"] != "unable to hotplug net1: bridge 'vmbr9' does not exist" || len(errs) != 1 {
		t.Errorf("errors %v", r.Body["errors"])
	}
	if !a.hasVolume("local-lvm", "local-lvm:vm-101-disk-2") {
		t.Error("the volume allocated for mp1 was freed")
	}
	if after := a.config(101); after["digest"] != before["digest"] {
		t.Errorf("config changed by a failed update: %v", after)
	}
}
