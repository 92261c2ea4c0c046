package pvesim_test

import (
	"encoding/json"
	"net/url"
	"strings"
	"testing"

	"github.com/felhom/felhom-converge/proxmox/pvesim"
)

// TestContentDeleteIsATask follows Content.pm delete and vdisk_free: the
// task id is OWNER@STORAGE (STORAGE for a volume without owner), a
// protected backup is refused inside the task by free_image, a volume a
// guest still uses is freed all the same, and a storage ID in the volume
// must match the path's.
func TestContentDeleteIsATask(t *testing.T) {
	t.Parallel()
	a := startSim(t, pvesim.Options{})
	golden := "local:backup/vzdump-lxc-9000-2026_10_01-12_00_00.tar.zst"
	upid, st := a.task("DELETE", "/nodes/pve/storage/local/content/"+url.PathEscape(golden), nil)
	if !strings.Contains(upid, ":imgdel:9000@local:") ||
		st["exitstatus"] != "cannot remove protected volume 'backup/vzdump-lxc-9000-2026_10_01-12_00_00.tar.zst' on 'local'" {
		t.Errorf("delete of the protected golden image: %s %v", upid, st["exitstatus"])
	}
	if !a.hasVolume("local", golden) {
		t.Error("the protected archive was removed")
	}
	tmpl := "local:vztmpl/debian-12-standard_12.7-1_amd64.tar.zst"
	if upid, st := a.task("DELETE", "/nodes/pve/storage/local/content/"+url.PathEscape(tmpl), nil); !strings.Contains(upid, ":imgdel:local:") || st["exitstatus"] != "OK" {
		t.Errorf("delete of the template: %s %v", upid, st["exitstatus"])
	}
	// No "still in use" check: the running CT's rootfs goes.
	if _, st := a.task("DELETE", "/nodes/pve/storage/local-lvm/content/local-lvm:vm-100-disk-0", nil); st["exitstatus"] != "OK" {
		t.Errorf("delete of a rootfs in use: %v", st["exitstatus"])
	}
	if a.hasVolume("local-lvm", "local-lvm:vm-100-disk-0") {
		t.Error("the rootfs is still there")
	}
	r := a.do("DELETE", "/nodes/pve/storage/local/content/"+url.PathEscape("local-lvm:vm-101-disk-0"), nil)
	wantError(t, r, 400, "Parameter verification failed.")
	if e, _ := r.Body["errors"].(map[string]any); e["volume"] != "storage ID mismatch (local-lvm != local)" {
		t.Errorf("errors %v", r.Body["errors"])
	}
	wantError(t, a.do("DELETE", "/nodes/pve/storage/local-lvm/content/local-lvm:disk-of-nobody", nil), 500,
		"unable to parse lvm volume name 'disk-of-nobody'")
	// A missing file on a directory storage is only warned about.
	gone := "local:backup/vzdump-lxc-100-2020_01_01-00_00_00.tar.zst"
	upid, st = a.task("DELETE", "/nodes/pve/storage/local/content/"+url.PathEscape(gone), nil)
	if st["exitstatus"] != "OK" || !strings.HasPrefix(a.taskLog(upid), "disk image '/var/lib/vz/dump/vzdump-lxc-100-2020_01_01-00_00_00.tar.zst' does not exist\n") {
		t.Errorf("delete of a missing archive: %v\n%s", st["exitstatus"], a.taskLog(upid))
	}
}

// TestContentListFiltersPerVolume follows check_volume_access as the
// content listing applies it: without Datastore.Allocate a backup needs
// Datastore.AllocateSpace and VM.Backup on its guest, a guest volume
// Datastore.Audit and VM.Config.Disk, a template read access.
func TestContentListFiltersPerVolume(t *testing.T) {
	t.Parallel()
	a := startSim(t, pvesim.Options{})
	ro := a.as(a.sim.Token("readonly")) // VM.Audit, Datastore.Audit, Sys.Audit
	local := ro.ok("GET", "/nodes/pve/storage/local/content", nil).dataList(t)
	if len(local) != 1 || local[0]["content"] != "vztmpl" {
		t.Errorf("readonly sees %v on local, want only the template", local)
	}
	if l := ro.ok("GET", "/nodes/pve/storage/local-lvm/content", nil).dataList(t); len(l) != 0 {
		t.Errorf("readonly sees %d guest volumes without VM.Config.Disk", len(l))
	}
	if l := a.ok("GET", "/nodes/pve/storage/local/content", nil).dataList(t); len(l) != 5 {
		t.Errorf("the tool sees %d volumes on local, want 5", len(l))
	}
}

// TestInactiveStorage follows DirPlugin: a directory storage with
// is_mountpoint whose disk is not mounted is inactive (status and
// storage list say so, pvestatd records nothing), its content cannot be
// listed, and a backup to it fails in PVE::VZDump->new, before the lock.
func TestInactiveStorage(t *testing.T) {
	t.Parallel()
	a := startSim(t, pvesim.Options{EnableAdmin: true})
	admin := strings.TrimSuffix(a.base, "/api2/json") + "/_sim/"
	if r := a.adminPost(admin+"storage", `{"storage":"usb","type":"dir","path":"/mnt/usb","content":"backup","is_mountpoint":"yes","prune-backups":"keep-last=3"}`); r.Code != 200 {
		t.Fatalf("add storage: %s %s", r.Status, r.RawBody)
	}
	if r := a.adminPost(admin+"storage", `{"storage":"usb","type":"dir","path":"/mnt/usb2","content":"backup"}`); r.Code != 400 {
		t.Errorf("a second storage usb: %s", r.Status)
	}
	st := a.ok("GET", "/nodes/pve/storage/usb/status", nil).dataMap(t)
	if st["active"] != json.Number("0") || st["total"] != json.Number("0") || st["used_fraction"] != nil || st["storage"] != nil {
		t.Errorf("status of the unmounted storage %v", st)
	}
	for _, e := range a.ok("GET", "/nodes/pve/storage", nil).dataList(t) {
		if e["storage"] == "usb" && (e["active"] != json.Number("0") || e["enabled"] != json.Number("1")) {
			t.Errorf("storage list entry %v", e)
		}
	}
	for _, e := range a.ok("GET", "/cluster/resources", form("type", "storage")).dataList(t) {
		if e["storage"] == "usb" && (e["status"] != "unknown" || e["maxdisk"] != nil) {
			t.Errorf("cluster resource %v", e)
		}
	}
	wantError(t, a.do("GET", "/nodes/pve/storage/usb/content", nil), 500,
		"unable to activate storage 'usb' - directory is expected to be a mount point but is not mounted: '/mnt/usb'")
	upid, tst := a.task("POST", "/nodes/pve/vzdump", form("vmid", "110", "storage", "usb", "remove", "0"))
	if tst["exitstatus"] != "could not activate storage 'usb': unable to activate storage 'usb' - directory is expected to be a mount point but is not mounted: '/mnt/usb'" {
		t.Errorf("backup to the unmounted storage: %v\n%s", tst["exitstatus"], a.taskLog(upid))
	}
	if c := a.config(110); c["lock"] != nil {
		t.Errorf("lock %v after the failed backup", c["lock"])
	}
	// Mounted, it works.
	if r := a.adminPost(admin+"mount", `{"path":"/mnt/usb","mounted":true}`); r.Code != 200 {
		t.Fatalf("mount: %s", r.Status)
	}
	if st := a.ok("GET", "/nodes/pve/storage/usb/status", nil).dataMap(t); st["active"] != json.Number("1") {
		t.Errorf("status of the mounted storage %v", st)
	}
	if _, tst := a.task("POST", "/nodes/pve/vzdump", form("vmid", "110", "storage", "usb", "remove", "0")); tst["exitstatus"] != "OK" {
		t.Errorf("backup to the mounted storage: %v", tst["exitstatus"])
	}
	if err := a.sim.SetMounted("/mnt/usb", false); err != nil {
		t.Fatal(err)
	}
}

// TestPruneNeedsRetention follows PVE::Storage::prune_backups: without a
// retention given or configured it refuses, and a storage without backups
// is refused.
func TestPruneNeedsRetention(t *testing.T) {
	t.Parallel()
	a := startSim(t, pvesim.Options{})
	wantError(t, a.do("GET", "/nodes/pve/storage/local-lvm/prunebackups", nil), 500, "storage 'local-lvm' does not support backups")
	if err := a.sim.AddStorage(pvesim.StorageSpec{ID: "nas", Type: "dir", Path: "/mnt/nas", Content: "backup"}); err != nil {
		t.Fatal(err)
	}
	wantError(t, a.do("GET", "/nodes/pve/storage/nas/prunebackups", nil), 500, "no prune-backups options configured for storage 'nas'")
	if l := a.ok("GET", "/nodes/pve/storage/nas/prunebackups", form("prune-backups", "keep-last=1")).dataList(t); len(l) != 0 {
		t.Errorf("prune list of an empty storage: %v", l)
	}
}
