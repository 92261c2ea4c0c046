package pvesim

import (
	"net/url"
	"testing"
)

// withToken runs a simulator with an extra token felhom@pve!NAME (secret
// "s3cret") holding role on "/" and the given ACL entries.
func withToken(t *testing.T, name string, role []string, acl map[string][]string) (*Sim, string) {
	t.Helper()
	s, err := New(Options{TaskDuration: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	entries := map[string][]string{"/": role}
	for p, privs := range acl {
		entries[p] = privs
	}
	s.mu.Lock()
	s.st.Tokens["felhom@pve!"+name] = &token{Secret: "s3cret", Privsep: true, ACL: entries}
	s.mu.Unlock()
	return s, "felhom@pve!" + name + "=s3cret"
}

// TestResizeNeedsConfigOptions follows resize_vm: check_ct_modify_config_perm
// is given {disk => ...}, and a key it does not know needs
// VM.Config.Options, beside the route's VM.Config.Disk.
func TestResizeNeedsConfigOptions(t *testing.T) {
	t.Parallel()
	s, tok := withToken(t, "diskonly", withoutPriv("VM.Config.Options"), nil)
	code, b := callAs(t, s, tok, "PUT", "/nodes/pve/lxc/110/resize", "disk=rootfs&size=%2B1G")
	if code != 403 || b["message"] != "Permission check failed (/vms/110, VM.Config.Options)\n" {
		t.Errorf("resize without VM.Config.Options: %d %v", code, b["message"])
	}
	code, b = callAs(t, s, s.Token("converge"), "PUT", "/nodes/pve/lxc/110/resize", "disk=rootfs&size=%2B1G")
	if code != 200 || taskExit(s, b["data"]) != "OK" {
		t.Errorf("resize with the tool's role: %d %v", code, b)
	}
}

// TestRestoreNeedsSDNUseForArchiveInterfaces follows create_vm: each
// interface a restore takes from the archive (not given in the request)
// needs SDN.Use on its bridge, checked in the worker before any disk.
func TestRestoreNeedsSDNUseForArchiveInterfaces(t *testing.T) {
	t.Parallel()
	s, tok := withToken(t, "novmbr0", minimalRole, map[string][]string{"/sdn/zones/localnetwork/vmbr0": withoutPriv("SDN.Use")})
	form := "vmid=150&restore=1&storage=local-lvm&ostemplate=" + url.QueryEscape(goldenArchive)
	code, b := callAs(t, s, tok, "POST", "/nodes/pve/lxc", form)
	if code != 200 || taskExit(s, b["data"]) != "unable to restore CT 150 - Permission check failed (/sdn/zones/localnetwork/vmbr0, SDN.Use)" {
		t.Errorf("restore of an archive on vmbr0: %d %v", code, taskExit(s, b["data"]))
	}
	s.mu.Lock()
	g, vols := s.st.Guests[150], len(s.st.storage("local-lvm").Volumes)
	s.mu.Unlock()
	if g != nil {
		t.Error("the refused restore left CT 150")
	}
	// The interface given in the request replaces the archive's: vmbr1
	// is allowed.
	code, b = callAs(t, s, tok, "POST", "/nodes/pve/lxc", form+"&net0="+url.QueryEscape("name=eth0,bridge=vmbr1,ip=dhcp"))
	if code != 200 || taskExit(s, b["data"]) != "OK" {
		t.Errorf("restore with net0 on vmbr1: %d %v", code, taskExit(s, b["data"]))
	}
	s.mu.Lock()
	after := len(s.st.storage("local-lvm").Volumes)
	s.mu.Unlock()
	if after != vols+1 {
		t.Errorf("volumes %d → %d, want one new rootfs", vols, after)
	}
}

// TestRandomMACsAreUnique: random_ether_addr leaves a clash to chance
// (24 random bits; thousands of draws nearly always clash); the simulator
// draws again so seeded or restored guests never share a MAC.
func TestRandomMACsAreUnique(t *testing.T) {
	t.Parallel()
	st := &state{Guests: map[int]*guest{100: {Conf: map[string]string{"net0": "name=eth0,bridge=vmbr0,hwaddr=BC:24:11:00:00:01"}}}}
	seen := map[string]bool{"BC:24:11:00:00:01": true}
	for i := 0; i < 20000; i++ {
		mac := st.randomMAC()
		if seen[mac] {
			t.Fatalf("draw %d repeated %s", i, mac)
		}
		seen[mac] = true
	}
}
