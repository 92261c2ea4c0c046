package pvesim_test

import (
	"strings"
	"testing"

	"github.com/felhom/felhom-converge/proxmox/pvesim"
)

// TestFailedPutKeepsWhatHotplugWrote follows update_net and
// update_ipconfig: on a running CT they write the config themselves, so
// one PUT with a good net0, a bad net1 and a hostname leaves the hostname
// (fast-plugged first) and net0 written, net0's sent value and net1 still
// pending, and answers 400 for net1.
func TestFailedPutKeepsWhatHotplugWrote(t *testing.T) {
	t.Parallel()
	a := startSim(t, pvesim.Options{})
	before := a.config(101)
	net0 := "name=eth0,bridge=vmbr1,hwaddr=BC:24:11:5E:7A:02,ip=192.168.1.22/24,gw=192.168.1.1"
	r := a.do("PUT", "/nodes/pve/lxc/101/config", form("net0", net0, "net1", "name=eth1,bridge=vmbr9,hwaddr=BC:24:11:5E:7A:03", "hostname", "files2"))
	wantError(t, r, 400, "Parameter verification failed.")
	if errs, _ := r.Body["errors"].(map[string]any); len(errs) != 1 || errs["net1"] != "unable to hotplug net1: bridge 'vmbr9' does not exist" {
		t.Errorf("errors %v", r.Body["errors"])
	}
	cur := a.ok("GET", "/nodes/pve/lxc/101/config", map[string][]string{"current": {"1"}}).dataMap(t)
	if cur["hostname"] != "files2" {
		t.Errorf("hostname %v, want files2 written before the failure", cur["hostname"])
	}
	if cur["net0"] != "name=eth0,bridge=vmbr1,gw=192.168.1.1,hwaddr=BC:24:11:5E:7A:02,ip=192.168.1.22/24,type=veth" {
		t.Errorf("net0 %v, want the new bridge and address written", cur["net0"])
	}
	if cur["net1"] != nil {
		t.Errorf("net1 %v in the current config", cur["net1"])
	}
	if cur["digest"] == before["digest"] {
		t.Error("digest unchanged after the partial write")
	}
	p := a.pending(101)
	if p["net0"]["pending"] != net0 {
		t.Errorf("pending net0 %v, want the value as sent (written while it was pending)", p["net0"])
	}
	if !strings.Contains(fmtAny(p["net1"]["pending"]), "bridge=vmbr9") {
		t.Errorf("pending net1 %v, want the bad interface kept pending", p["net1"])
	}
}

// TestHotplugNewMACRewritesInterface: update_net removes an interface
// whose MAC changes and writes the config before plugging the new one, so
// a plug that fails leaves the interface gone from the current config.
func TestHotplugNewMACRewritesInterface(t *testing.T) {
	t.Parallel()
	a := startSim(t, pvesim.Options{})
	r := a.do("PUT", "/nodes/pve/lxc/100/config", form("net0", "name=eth0,bridge=vmbr9,hwaddr=BC:24:11:5E:7A:99,ip=dhcp"))
	wantError(t, r, 400, "Parameter verification failed.")
	cur := a.ok("GET", "/nodes/pve/lxc/100/config", map[string][]string{"current": {"1"}}).dataMap(t)
	if cur["net0"] != nil {
		t.Errorf("net0 %v, want it removed by the failed replug", cur["net0"])
	}
	if p := a.pending(100); p["net0"]["pending"] == nil {
		t.Errorf("net0 not pending: %v", p["net0"])
	}
}

func fmtAny(v any) string {
	s, _ := v.(string)
	return s
}
