package pvesim_test

import (
	"strings"
	"testing"

	"github.com/felhom/felhom-converge/proxmox/pvesim"
)

// paramErr sends a request that must fail schema validation and returns
// the error named for param.
func (a *rawAPI) paramErr(method, path string, params map[string][]string, param string) string {
	a.t.Helper()
	r := a.do(method, path, params)
	if r.Code != 400 {
		a.t.Errorf("%s %s %v: %s, want 400", method, path, params, r.Status)
		return ""
	}
	e, _ := r.Body["errors"].(map[string]any)
	s, _ := e[param].(string)
	return s
}

// TestConfigFormats follows the formats of pve-container's netconf_desc,
// rootfs_desc/mp_desc and unused_desc and pve-common's named formats:
// what they refuse is a 400 naming the key; booleans inside property
// strings may be yes/on/true and are stored as 1.
func TestConfigFormats(t *testing.T) {
	t.Parallel()
	a := startSim(t, pvesim.Options{})
	ct := "/nodes/pve/lxc/110/config"
	for _, tc := range []struct{ key, value, want string }{
		{"net1", "name=eth1,bridge=vmbr0,ip=10.0.0.5", "invalid format - ip: value does not look like a valid ipv4 network configuration"},
		{"net1", "name=eth1,bridge=vmbr0,ip=10.0.0.5/4", "invalid format - ip: value does not look like a valid ipv4 network configuration"},
		{"net1", "name=eth1,bridge=vmbr0,ip6=fe80::1", "invalid format - ip6: value does not look like a valid ipv6 network configuration"},
		{"net1", "name=eth1,bridge=vmbr0,gw=10.0.0.256", "invalid format - gw: value does not look like a valid IPv4 address"},
		{"net1", "name=eth1,bridge=vmbr0,gw6=10.0.0.1", "invalid format - gw6: value does not look like a valid IPv6 address"},
		{"net1", "name=eth1,bridge=vmbr0,rate=fast", "invalid format - rate: type check ('number') failed - got 'fast'"},
		{"net1", "name=eth1,bridge=vmbr0,hwaddr=01:24:11:00:00:01", "invalid format - hwaddr: value does not look like a valid unicast MAC address"},
		{"net1", "name=eth1,bridge=vmbr0,mtu=32", "invalid format - mtu: value must have a minimum value of 64"},
		{"net1", "name=eth1,bridge=vmbr0,firewall=maybe", "invalid format - firewall: type check ('boolean') failed - got 'maybe'"},
		{"mp0", "local-lvm:1,mp=/srv/../etc", "invalid format - mp: /srv/../etc contains illegal character sequences"},
		{"mp0", "local-lvm:1,mp=/data,mountoptions=rw", "invalid format - mountoptions: value does not match the regex pattern"},
		{"unused3", "not-a-volume", "invalid format - volume: unable to parse volume ID 'not-a-volume'"},
		{"searchdomain", "example.com bad_name", "invalid format - value does not look like a valid DNS name"},
		{"nameserver", "1.1.1.1 dns.google", "invalid format - value does not look like a valid IP address"},
		{"net1", "name=eth1,bridge=vmbr0,ip6=2001:db8::5/7", "invalid format - ip6: value does not look like a valid ipv6 network configuration"},
		{"net1", "name=eth1,bridge=vmbr0,ip=10.0.0.5/33", "invalid format - ip: value does not look like a valid ipv4 network configuration"},
		{"timezone", "Europe/Nowhere", "invalid format - invalid time zone 'Europe/Nowhere'"},
		{"timezone", "utc", "invalid format - invalid time zone 'utc'"},
		{"startup", "order=1,up=-5", "invalid format - up: value must have a minimum value of 0"},
		{"cpulimit", "8193", "value must have a maximum value of 8192"},
		{"cpuunits", "500001", "value must have a maximum value of 500000"},
	} {
		if got := a.paramErr("PUT", ct, form(tc.key, tc.value), tc.key); got != tc.want {
			t.Errorf("%s=%s: %q, want %q", tc.key, tc.value, got, tc.want)
		}
	}
	// Accepted and normalised.
	a.ok("PUT", ct, form("net1", "name=a-rather-long-interface-name,bridge=vmbr0,firewall=yes,link_down=OFF,ip=10.0.0.5/24,gw=10.0.0.1,rate=12.5",
		"mp0", "local-lvm:1,mp=/data,backup=true,ro=no,mountoptions=noatime;nodev",
		"nameserver", "1.1.1.1,8.8.8.8;fe80::1%eth0", "searchdomain", "example.com;corp.example.com",
		"timezone", "Europe/Budapest", "startup", "order=2,up=30", "cpulimit", "1.5", "cpuunits", "200"))
	a.ok("PUT", "/nodes/pve/lxc/101/config", form("features", "nesting=yes"))
	c := a.config(110)
	if net1, _ := c["net1"].(string); !strings.Contains(net1, "firewall=1") || !strings.Contains(net1, "link_down=0") {
		t.Errorf("net1 %q, want its booleans stored as 1 and 0", net1)
	}
	if mp0, _ := c["mp0"].(string); !strings.Contains(mp0, ",backup=1,") || !strings.Contains(mp0, "ro=0") {
		t.Errorf("mp0 %q, want its booleans stored as 1 and 0", mp0)
	}
	if c["nameserver"] != "1.1.1.1 8.8.8.8 fe80::1%eth0" || c["searchdomain"] != "example.com corp.example.com" {
		t.Errorf("nameserver %q, searchdomain %q: want them joined by spaces", c["nameserver"], c["searchdomain"])
	}
	// Top-level form booleans stay 0 or 1.
	if got := a.paramErr("PUT", ct, form("onboot", "yes"), "onboot"); got != "type check ('boolean') failed - got 'yes'" {
		t.Errorf("onboot=yes: %q", got)
	}
}

// TestVzdumpParameterRules follows the vzdump schema (notes-template and
// protected require storage; prune-backups' validator) and
// verify_vzdump_parameters.
func TestVzdumpParameterRules(t *testing.T) {
	t.Parallel()
	a := startSim(t, pvesim.Options{})
	dump := "/nodes/pve/vzdump"
	for _, tc := range []struct {
		params map[string][]string
		key    string
		want   string
	}{
		{form("vmid", "100", "notes-template", "{{guestname}}"), "storage", "missing property - 'notes-template' requires this property"},
		{form("vmid", "100", "protected", "1"), "storage", "missing property - 'protected' requires this property"},
		{form("vmid", "100", "storage", "local", "prune-backups", "keep-all=1,keep-last=2"), "prune-backups", "invalid format - keep-all cannot be set together with other options."},
		{form("vmid", "100", "storage", "local", "prune-backups", "keep-last=-1"), "prune-backups", "invalid format - keep-last: value must have a minimum value of 0"},
		{form("vmid", "100", "storage", "local", "notes-template", "{{name}} \\t"), "notes-template", "found unknown: escape sequence '\\t' at char 9, variable 'name' at char 4"},
		{form("storage", "local"), "vmid", "property is missing"},
		{form("vmid", "100", "all", "1"), "all", "option conflicts with option 'vmid'"},
	} {
		if got := a.paramErr("POST", dump, tc.params, tc.key); got != tc.want {
			t.Errorf("%v: %s %q, want %q", tc.params, tc.key, got, tc.want)
		}
	}
	// keep-all=1 with keep-last=0 is fine: nothing else is above 0.
	if _, st := a.task("POST", dump, form("vmid", "110", "storage", "local", "remove", "0", "prune-backups", "keep-all=yes,keep-last=0")); st["exitstatus"] != "OK" {
		t.Errorf("keep-all=yes,keep-last=0: %v", st["exitstatus"])
	}
}
