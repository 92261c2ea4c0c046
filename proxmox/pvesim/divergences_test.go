package pvesim_test

import (
	"encoding/json"
	"net/url"
	"strings"
	"testing"

	"github.com/felhom/felhom-converge/proxmox"
	"github.com/felhom/felhom-converge/proxmox/pvesim"
)

// TestDestroyFreesOnlyWhatTheConfigOwns follows destroy_lxc_container:
// the volumes of the current config and the pending section go; a volume
// only a snapshot still references stays, and so does a volume of another
// guest ("isn't the owner").
func TestDestroyFreesOnlyWhatTheConfigOwns(t *testing.T) {
	t.Parallel()
	a := startSim(t, pvesim.Options{})
	a.ok("PUT", "/nodes/pve/lxc/110/config", form("mp0", "local-lvm:1,mp=/old"))
	a.task("POST", "/nodes/pve/lxc/110/snapshot", form("snapname", "before"))
	a.ok("PUT", "/nodes/pve/lxc/110/config", form("delete", "mp0"))
	a.ok("PUT", "/nodes/pve/lxc/110/config", form("delete", "unused0"))
	// 110 also names a volume of 100 as an unused volume.
	a.ok("PUT", "/nodes/pve/lxc/110/config", form("unused1", "local-lvm:vm-100-disk-0"))
	upid, st := a.task("DELETE", "/nodes/pve/lxc/110", nil)
	if st["exitstatus"] != "OK" || !strings.Contains(a.taskLog(upid), "ignore deletion of 'local-lvm:vm-100-disk-0', CT 110 isn't the owner!\n") {
		t.Errorf("destroy: %v\n%s", st["exitstatus"], a.taskLog(upid))
	}
	vols := a.volumes("local-lvm")
	if vols["local-lvm:vm-110-disk-0"] != nil {
		t.Error("the rootfs was not freed")
	}
	if vols["local-lvm:vm-110-disk-1"] == nil {
		t.Error("the volume only the snapshot referenced was freed")
	}
	if vols["local-lvm:vm-100-disk-0"] == nil {
		t.Error("another guest's volume was freed")
	}
}

// TestInterfacesOfRunningCT: GET .../interfaces (PVE 8.1) lists lo and the
// CT's interfaces with their addresses while it runs; otherwise null.
func TestInterfacesOfRunningCT(t *testing.T) {
	t.Parallel()
	a := startSim(t, pvesim.Options{})
	list := a.ok("GET", "/nodes/pve/lxc/101/interfaces", nil).dataList(t)
	if len(list) != 2 || list[0]["name"] != "lo" || list[1]["name"] != "eth0" {
		t.Fatalf("interfaces %v", list)
	}
	eth0 := list[1]
	if eth0["hardware-address"] != "bc:24:11:5e:7a:02" || eth0["inet"] != "192.168.1.21/24" ||
		eth0["inet6"] != "fe80::be24:11ff:fe5e:7a02/64" {
		t.Errorf("eth0 %v", eth0)
	}
	addrs, _ := eth0["ip-addresses"].([]any)
	if len(addrs) != 2 || addrs[0].(map[string]any)["prefix"] != json.Number("24") {
		t.Errorf("ip-addresses %v", addrs)
	}
	if r := a.ok("GET", "/nodes/pve/lxc/110/interfaces", nil); r.data() != nil {
		t.Errorf("interfaces of a stopped CT: %v", r.data())
	}
}

// TestUnknownTaskLog follows read_task_log: a UPID the node does not know
// has a log of one line, returned as an object (dump_logfile), while its
// status is a 400.
func TestUnknownTaskLog(t *testing.T) {
	t.Parallel()
	a := startSim(t, pvesim.Options{})
	u := proxmox.UPID{Node: "pve", PID: 4242, PStart: 99, Type: "vzdump", ID: "100", User: "felhom@pve!converge"}
	upid := url.PathEscape(u.String())
	r := a.ok("GET", "/nodes/pve/tasks/"+upid+"/log", nil)
	if m, ok := r.data().(map[string]any); !ok || m["t"] != "unable to open file - No such file or directory" || r.Body["total"] != json.Number("1") {
		t.Errorf("log of an unknown task: %s", r.RawBody)
	}
	wantError(t, a.do("GET", "/nodes/pve/tasks/"+upid+"/status", nil), 400, "Parameter verification failed.")
}
