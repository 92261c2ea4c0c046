package pvesim_test

// Places where a real PVE 8 node is less convenient than a naive
// simulator would be, each probed over HTTP as a client would.

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/felhom/felhom-converge/proxmox/pvesim"
)

// volumes lists the volids on a storage.
func (a *rawAPI) volumes(storage string) map[string]map[string]any {
	a.t.Helper()
	out := map[string]map[string]any{}
	for _, e := range a.ok("GET", "/nodes/pve/storage/"+storage+"/content", nil).dataList(a.t) {
		out[e["volid"].(string)] = e
	}
	return out
}

func (a *rawAPI) pending(vmid int) map[string]map[string]any {
	a.t.Helper()
	out := map[string]map[string]any{}
	for _, e := range a.ok("GET", fmt.Sprintf("/nodes/pve/lxc/%d/pending", vmid), nil).dataList(a.t) {
		out[e["key"].(string)] = e
	}
	return out
}

// rootfs written through PUT config is stored verbatim: no allocation, no
// size rescan, no unusedN for the old volume. The CT then fails to start.
func TestRootfsPutIsVerbatim(t *testing.T) {
	t.Parallel()
	a := startSim(t, pvesim.Options{})
	before := a.volumes("local-lvm")
	a.ok("PUT", "/nodes/pve/lxc/110/config", form("rootfs", "local-lvm:vm-110-disk-0,size=20G"))
	if c := a.config(110); c["rootfs"] != "local-lvm:vm-110-disk-0,size=20G" {
		t.Errorf("rootfs %v, want the size as written", c["rootfs"])
	}
	if got := before["local-lvm:vm-110-disk-0"]["size"]; a.volumes("local-lvm")["local-lvm:vm-110-disk-0"]["size"] != got {
		t.Errorf("the volume's size changed through a config write")
	}
	a.ok("PUT", "/nodes/pve/lxc/110/config", form("rootfs", "local-lvm:6"))
	c := a.config(110)
	if c["rootfs"] != "local-lvm:6" || c["unused0"] != nil {
		t.Errorf("config %v, want rootfs local-lvm:6 verbatim and no unused0", c)
	}
	after := a.volumes("local-lvm")
	if len(after) != len(before) || after["local-lvm:vm-110-disk-0"] == nil {
		t.Errorf("volumes %v, want no new volume and the old one orphaned", after)
	}
	upid, st := a.task("POST", "/nodes/pve/lxc/110/status/start", nil)
	if st["exitstatus"] != "startup for container '110' failed" {
		t.Errorf("start with a verbatim rootfs: %v", st["exitstatus"])
	}
	if log := a.taskLog(upid); !strings.Contains(log, "unable to parse lvm volume name '6'\n") {
		t.Errorf("start log:\n%s", log)
	}
}

// restore with unique=1 takes every netN from the archive with a new MAC,
// ignoring the interfaces given.
func TestRestoreUniqueReplacesNetworks(t *testing.T) {
	t.Parallel()
	a := startSim(t, pvesim.Options{})
	golden := "local:backup/vzdump-lxc-9000-2026_10_01-12_00_00.tar.zst"
	given := "name=eth0,bridge=vmbr1,hwaddr=BC:24:11:00:00:01,ip=10.0.0.5/24,type=veth"
	_, st := a.task("POST", "/nodes/pve/lxc", form("vmid", "105", "ostemplate", golden, "restore", "1",
		"storage", "local-lvm", "unique", "1", "net0", given))
	if st["exitstatus"] != "OK" {
		t.Fatal(st)
	}
	net0, _ := a.config(105)["net0"].(string)
	if !strings.HasPrefix(net0, "name=eth0,bridge=vmbr0,hwaddr=BC:24:11:") || !strings.HasSuffix(net0, ",ip=dhcp,type=veth") ||
		strings.Contains(net0, "5E:90:00") {
		t.Errorf("net0 %q, want the archive's interface with a new MAC", net0)
	}
	// Without unique the given interface wins.
	_, st = a.task("POST", "/nodes/pve/lxc", form("vmid", "106", "ostemplate", golden, "restore", "1",
		"storage", "local-lvm", "net0", given))
	if st["exitstatus"] != "OK" {
		t.Fatal(st)
	}
	if net0 := a.config(106)["net0"]; net0 != given {
		t.Errorf("net0 %v, want the given %s", net0, given)
	}
}

// On a running CT a value Proxmox cannot hotplug stays in pending exactly
// as sent and is allocated only when applied; revert leaks nothing.
func TestPendingStaysRawOnRunningCT(t *testing.T) {
	t.Parallel()
	a := startSim(t, pvesim.Options{})
	before := a.volumes("local-lvm")
	a.ok("PUT", "/nodes/pve/lxc/101/config", form("mp0", "local-lvm:3,mp=/x"))
	p := a.pending(101)
	if p["mp0"]["pending"] != "local-lvm:3,mp=/x" || p["mp0"]["value"] != "local-lvm:vm-101-disk-1,mp=/srv/share,backup=1,size=64G" {
		t.Errorf("pending mp0 %v, want the raw value beside the current one", p["mp0"])
	}
	if len(a.volumes("local-lvm")) != len(before) {
		t.Error("a pending mount point was allocated")
	}
	a.ok("PUT", "/nodes/pve/lxc/101/config", form("revert", "mp0"))
	if p := a.pending(101); p["mp0"]["pending"] != nil {
		t.Errorf("mp0 still pending after revert: %v", p["mp0"])
	}
	if len(a.volumes("local-lvm")) != len(before) {
		t.Error("revert left a volume behind")
	}
	// Applied at the next start: allocated then, the old volume kept unused.
	a.ok("PUT", "/nodes/pve/lxc/101/config", form("mp0", "local-lvm:3,mp=/x"))
	a.task("POST", "/nodes/pve/lxc/101/status/stop", nil)
	if _, st := a.task("POST", "/nodes/pve/lxc/101/status/start", nil); st["exitstatus"] != "OK" {
		t.Fatal(st)
	}
	c := a.config(101)
	if c["mp0"] != "local-lvm:vm-101-disk-2,mp=/x,size=3G" || c["unused0"] != "local-lvm:vm-101-disk-1" {
		t.Errorf("after start: mp0 %v unused0 %v", c["mp0"], c["unused0"])
	}
	// A raw pending value is no volume: destroying the CT frees only real ones.
	a.ok("PUT", "/nodes/pve/lxc/101/config", form("mp0", "local-lvm:2,mp=/y"))
	upid, st := a.task("DELETE", "/nodes/pve/lxc/101", form("force", "1", "purge", "1"))
	if st["exitstatus"] != "OK" {
		t.Fatal(st)
	}
	if log := a.taskLog(upid); strings.Contains(log, "\"2\"") || !strings.Contains(log, "vm-101-disk-2") {
		t.Errorf("destroy log:\n%s", log)
	}
}

// cleanup_pending: re-sending an unchanged value is no change; deleting a
// key that is only pending or not set at all changes nothing.
func TestCleanupPending(t *testing.T) {
	t.Parallel()
	a := startSim(t, pvesim.Options{})
	d0 := a.config(100)["digest"]
	a.ok("PUT", "/nodes/pve/lxc/100/config", form("features", "nesting=1", "net0", a.config(100)["net0"].(string)))
	if c := a.config(100); c["digest"] != d0 {
		t.Errorf("digest changed by re-sending unchanged values")
	}
	for k, e := range a.pending(100) {
		if e["pending"] != nil || e["delete"] != nil {
			t.Errorf("phantom pending change %s: %v", k, e)
		}
	}
	a.ok("PUT", "/nodes/pve/lxc/100/config", form("nameserver", "192.168.1.1"))
	d1 := a.config(100)["digest"]
	if a.pending(100)["nameserver"]["pending"] != "192.168.1.1" {
		t.Fatal("nameserver on a running CT should be pending")
	}
	a.ok("PUT", "/nodes/pve/lxc/100/config", form("delete", "nameserver,searchdomain"))
	if p := a.pending(100)["nameserver"]; p["pending"] != "192.168.1.1" || p["delete"] != nil {
		t.Errorf("nameserver after deleting a key that is only pending: %v, want it unchanged", p)
	}
	if a.config(100)["digest"] != d1 {
		t.Error("digest changed by deleting keys that are not set")
	}
	r := a.do("PUT", "/nodes/pve/lxc/100/config", form("delete", "nameserver", "revert", "nameserver"))
	wantError(t, r, 400, "Parameter verification failed.")
	if e, _ := r.Body["errors"].(map[string]any); e["delete"] != "you can't use '-delete nameserver' and '-revert nameserver' at the same time" {
		t.Errorf("errors %v", r.Body["errors"])
	}
}

// A restore over an existing CT made to fail (FailTask on vzrestore) fails
// as one failing during the extraction: the old volumes are gone, and so
// is the config.
func TestFailedRestoreOverLeavesNoCT(t *testing.T) {
	t.Parallel()
	a := startSim(t, pvesim.Options{})
	a.sim.FailTask("vzrestore", "110", "tar: write error")
	_, st := a.task("POST", "/nodes/pve/lxc", form("vmid", "110", "ostemplate", "local:backup/vzdump-lxc-9000-2026_10_01-12_00_00.tar.zst",
		"restore", "1", "force", "1", "storage", "local-lvm"))
	if st["exitstatus"] != "tar: write error" {
		t.Errorf("exitstatus %v", st["exitstatus"])
	}
	wantError(t, a.do("GET", "/nodes/pve/lxc/110/config", nil), 500, "Configuration file 'nodes/pve/lxc/110.conf' does not exist")
	for volid := range a.volumes("local-lvm") {
		if strings.Contains(volid, "vm-110-") {
			t.Errorf("volume %s left behind", volid)
		}
	}
}

// start=1 on create, restore and rollback: the first task ends OK and a
// separate vzstart task starts the CT, and can fail on its own.
func TestStartAfterForksVzstart(t *testing.T) {
	t.Parallel()
	a := startSim(t, pvesim.Options{})
	tmpl := "local:vztmpl/debian-12-standard_12.7-1_amd64.tar.zst"
	_, st := a.task("POST", "/nodes/pve/lxc", form("vmid", "120", "ostemplate", tmpl, "storage", "local-lvm", "start", "1"))
	if st["exitstatus"] != "OK" {
		t.Fatal(st)
	}
	start := a.lastTask("vzstart", "120")
	if start == "" {
		t.Fatal("no vzstart task after create with start=1")
	}
	if st := a.wait(start); st["exitstatus"] != "OK" {
		t.Fatalf("vzstart: %v", st)
	}
	if s := a.ok("GET", "/nodes/pve/lxc/120/status/current", nil).dataMap(t)["status"]; s != "running" {
		t.Errorf("status %v after the forked start", s)
	}
	// The restore succeeds, its start fails on its own.
	a.sim.FailTask("vzstart", "121", "startup for container '121' failed")
	_, st = a.task("POST", "/nodes/pve/lxc", form("vmid", "121", "ostemplate", "local:backup/vzdump-lxc-9000-2026_10_01-12_00_00.tar.zst",
		"restore", "1", "storage", "local-lvm", "start", "1"))
	if st["exitstatus"] != "OK" {
		t.Fatalf("restore with a failing start: %v", st)
	}
	if st := a.wait(a.lastTask("vzstart", "121")); st["exitstatus"] != "startup for container '121' failed" {
		t.Errorf("vzstart %v", st)
	}
	if s := a.ok("GET", "/nodes/pve/lxc/121/status/current", nil).dataMap(t)["status"]; s != "stopped" {
		t.Errorf("status %v after a failed start", s)
	}
	// Rollback with start=1.
	_, st = a.task("POST", "/nodes/pve/lxc/100/snapshot/pre-upgrade/rollback", form("start", "1"))
	if st["exitstatus"] != "OK" {
		t.Fatal(st)
	}
	if s := a.lastTask("vzstart", "100"); s == "" || a.wait(s)["exitstatus"] != "OK" {
		t.Errorf("no successful vzstart after rollback with start=1 (%q)", s)
	}
}

// lastTask returns the newest task of a type for a guest in the task list.
func (a *rawAPI) lastTask(typ, id string) string {
	a.t.Helper()
	for _, e := range a.ok("GET", "/nodes/pve/tasks", form("source", "all", "typefilter", typ, "vmid", id)).dataList(a.t) {
		return e["upid"].(string)
	}
	return ""
}

// Interfaces are checked against the host's bridges (MTU 1500).
func TestNetworksCheckedAgainstHost(t *testing.T) {
	t.Parallel()
	a := startSim(t, pvesim.Options{})
	d := a.config(110)["digest"]
	wantError(t, a.do("PUT", "/nodes/pve/lxc/110/config", form("net1", "name=eth1,bridge=vmbr0,mtu=9000")), 500,
		"net1: MTU size '9000' is bigger than bridge MTU '1500'")
	if c := a.config(110); c["digest"] != d || c["net1"] != nil {
		t.Errorf("a refused MTU was written: %v", c)
	}
	// On create the same check fails the call, before any task.
	wantError(t, a.do("POST", "/nodes/pve/lxc", form("vmid", "140", "ostemplate", "local:vztmpl/debian-12-standard_12.7-1_amd64.tar.zst",
		"storage", "local-lvm", "net0", "name=eth0,bridge=vmbr0,mtu=9000")), 500, "net0: MTU size '9000' is bigger than bridge MTU '1500'")
	// An unknown bridge on a stopped CT: written, then update_lxc_config fails.
	wantError(t, a.do("PUT", "/nodes/pve/lxc/110/config", form("net1", "name=eth1,bridge=vmbr9")), 500, "bridge 'vmbr9' does not exist")
	if c := a.config(110); c["net1"] == nil {
		t.Error("net1 with an unknown bridge was not written on a stopped CT")
	}
	if _, st := a.task("POST", "/nodes/pve/lxc/110/status/start", nil); st["exitstatus"] != "bridge 'vmbr9' does not exist" {
		t.Errorf("start with an unknown bridge: %v", st["exitstatus"])
	}
}

// A thin pool over-provisions, and its used space is the data written.
func TestThinPoolOverProvisions(t *testing.T) {
	t.Parallel()
	a := startSim(t, pvesim.Options{})
	status := func() (used, total int64) {
		s := a.ok("GET", "/nodes/pve/storage/local-lvm/status", nil).dataMap(t)
		u, _ := s["used"].(json.Number).Int64()
		tt, _ := s["total"].(json.Number).Int64()
		return u, tt
	}
	var virtual int64
	for _, v := range a.volumes("local-lvm") {
		n, _ := v["size"].(json.Number).Int64()
		virtual += n
	}
	used, total := status()
	if used <= 0 || used >= virtual {
		t.Errorf("thin pool used %d, want a fraction of the %d virtual bytes", used, virtual)
	}
	a.ok("PUT", "/nodes/pve/lxc/110/config", form("mp0", "local-lvm:1000,mp=/big"))
	if c := a.config(110); !strings.HasPrefix(fmt.Sprint(c["mp0"]), "local-lvm:vm-110-disk-1,mp=/big,size=1000G") {
		t.Errorf("mp0 %v, want 1000G allocated on a 400G pool", c["mp0"])
	}
	if u, tt := status(); u > tt || tt != total {
		t.Errorf("used %d of %d after over-provisioning", u, tt)
	}
}

// The smaller divergences of the audit, one probe each.
func TestLowFidelityItems(t *testing.T) {
	t.Parallel()
	a := startSim(t, pvesim.Options{})

	// GET pending lists the digest as a row.
	if p := a.pending(110); p["digest"]["value"] != a.config(110)["digest"] {
		t.Errorf("pending digest row %v", p["digest"])
	}
	// Snapshot names need at least two characters.
	r := a.do("POST", "/nodes/pve/lxc/100/snapshot", form("snapname", "a"))
	wantError(t, r, 400, "Parameter verification failed.")
	if e, _ := r.Body["errors"].(map[string]any); e["snapname"] != "invalid format - invalid configuration ID 'a'" {
		t.Errorf("errors %v", r.Body["errors"])
	}
	a.task("POST", "/nodes/pve/lxc/100/snapshot", form("snapname", "ab"))
	// GET config?snapshot= carries the snapshot's snaptime.
	if c := a.ok("GET", "/nodes/pve/lxc/100/config", form("snapshot", "pre-upgrade")).dataMap(t); c["snaptime"] == nil {
		t.Errorf("snapshot config %v without snaptime", c)
	}
	// A privileged seed guest has no unprivileged key; a CT without swap
	// reports maxswap 0.
	if _, ok := a.config(110)["unprivileged"]; ok {
		t.Error("privileged CT 110 has an unprivileged key")
	}
	a.ok("PUT", "/nodes/pve/lxc/110/config", form("delete", "swap"))
	if m := a.ok("GET", "/nodes/pve/lxc/110/status/current", nil).dataMap(t)["maxswap"]; m != json.Number("0") {
		t.Errorf("maxswap %v without a swap key, want 0", m)
	}
	// Volumes are allocated in the order rootfs, mp0, mp1, ..., mp10.
	_, st := a.task("POST", "/nodes/pve/lxc", form("vmid", "130", "ostemplate", "local:vztmpl/debian-12-standard_12.7-1_amd64.tar.zst",
		"rootfs", "local-lvm:1", "mp10", "local-lvm:1,mp=/j", "mp2", "local-lvm:1,mp=/c", "mp1", "local-lvm:1,mp=/b", "mp0", "local-lvm:1,mp=/a"))
	if st["exitstatus"] != "OK" {
		t.Fatal(st)
	}
	c := a.config(130)
	for i, k := range []string{"rootfs", "mp0", "mp1", "mp2", "mp10"} {
		if v := fmt.Sprint(c[k]); !strings.HasPrefix(v, fmt.Sprintf("local-lvm:vm-130-disk-%d,", i)) {
			t.Errorf("%s = %s, want disk-%d", k, v, i)
		}
	}
	// shutdown refuses a "mounted" lock, stop and reboot do not.
	a.ok("PUT", "/nodes/pve/lxc/100/config", form("lock", "mounted"))
	if _, st := a.task("POST", "/nodes/pve/lxc/100/status/shutdown", nil); st["exitstatus"] != "CT is locked (mounted)" {
		t.Errorf("shutdown with lock mounted: %v", st["exitstatus"])
	}
	if _, st := a.task("POST", "/nodes/pve/lxc/100/status/reboot", nil); st["exitstatus"] != "OK" {
		t.Errorf("reboot with lock mounted: %v", st["exitstatus"])
	}
	if _, st := a.task("POST", "/nodes/pve/lxc/100/status/stop", nil); st["exitstatus"] != "OK" {
		t.Errorf("stop with lock mounted: %v", st["exitstatus"])
	}
}

// Thousands of guests keep node memory and pool usage within their totals.
func TestScaleStaysWithinTotals(t *testing.T) {
	t.Parallel()
	a := startSim(t, pvesim.Options{ExtraGuests: 2000})
	n := a.ok("GET", "/nodes", nil).dataList(t)[0]
	mem, _ := n["mem"].(json.Number).Int64()
	maxmem, _ := n["maxmem"].(json.Number).Int64()
	if mem <= 0 || mem > maxmem {
		t.Errorf("node mem %d of %d", mem, maxmem)
	}
	for _, s := range a.ok("GET", "/nodes/pve/storage", nil).dataList(t) {
		used, _ := s["used"].(json.Number).Int64()
		total, _ := s["total"].(json.Number).Int64()
		if used < 0 || used > total {
			t.Errorf("storage %v uses %d of %d", s["storage"], used, total)
		}
	}
}

// A full thin pool also refuses the thin volumes snapshots are made of:
// a snapshot task and a snapshot-mode backup fail, and nothing is left.
func TestFullPoolRefusesSnapshots(t *testing.T) {
	t.Parallel()
	a := startSim(t, pvesim.Options{})
	if err := a.sim.FillStorage("local-lvm", true); err != nil {
		t.Fatal(err)
	}
	_, st := a.task("POST", "/nodes/pve/lxc/100/snapshot", form("snapname", "safety"))
	if st["exitstatus"] != "lvcreate snapshot 'pve/snap_vm-100-disk-0_safety' error:   Cannot create new thin volume, free space in thin pool pve/data reached threshold." {
		t.Errorf("snapshot on a full pool: %v", st["exitstatus"])
	}
	for _, e := range a.ok("GET", "/nodes/pve/lxc/100/snapshot", nil).dataList(t) {
		if e["name"] == "safety" {
			t.Error("a failed snapshot is listed")
		}
	}
	if _, ok := a.config(100)["lock"]; ok {
		t.Error("lock left after a failed snapshot")
	}
	upid, st := a.task("POST", "/nodes/pve/vzdump", form("vmid", "100", "remove", "0", "prune-backups", "keep-all=1"))
	if st["exitstatus"] != "job errors" || !strings.Contains(a.taskLog(upid), "ERROR: Backup of VM 100 failed - lvcreate snapshot 'pve/snap_vm-100-disk-0_vzdump' error:") {
		t.Errorf("snapshot-mode backup on a full pool: %v\n%s", st["exitstatus"], a.taskLog(upid))
	}
}
