package plan

import (
	"strings"
	"testing"
)

const optionsHCL = `
  nameserver   = ["192.168.1.1", "2001:db8::53"]
  searchdomain = "office.example, example.org"
  cpulimit     = 1.5
  cpuunits     = 200
  timezone     = "Europe/Budapest"
  startup {
    order = 2
    up    = 30
  }
`

// The options administrators set are written once and then compare
// equal in Proxmox's own spelling: no perpetual drift.
func TestOptionsConvergeInProxmoxsSpelling(t *testing.T) {
	h := desired(t, strings.Replace(webHCL, "%s", optionsHCL, 1))
	p := diff(t, h, liveWith(running(100, "web", web())), nil)
	if got := ops_(p); got != "guest.set:benign" {
		t.Fatalf("steps %s", got)
	}
	set := params(t, p.Steps[0])["set"].(map[string]any)
	want := map[string]string{"nameserver": "192.168.1.1 2001:db8::53", "searchdomain": "office.example example.org",
		"cpulimit": "1.5", "cpuunits": "200", "timezone": "Europe/Budapest", "startup": "order=2,up=30"}
	for k, v := range want {
		if set[k] != v {
			t.Errorf("set %s = %v, want %q", k, set[k], v)
		}
	}
	if len(set) != len(want) {
		t.Errorf("set %v", set)
	}
	if !p.Steps[0].RestartNeeded {
		t.Error("nameserver, searchdomain and timezone wait for the next start of a running guest")
	}

	// As Proxmox reads them back (a bare startup order, cpulimit as a
	// string with a trailing zero), nothing differs.
	live := web()
	for k, v := range map[string]string{"nameserver": "192.168.1.1 2001:db8::53", "searchdomain": "office.example example.org",
		"cpulimit": "1.50", "cpuunits": "200", "timezone": "Europe/Budapest", "startup": "2,up=30"} {
		live[k] = v
	}
	if p := diff(t, h, liveWith(running(100, "web", live)), nil); !p.Empty() {
		t.Fatalf("converged guest plans %s %v", ops_(p), p.Steps[0].Changes)
	}
}

// An empty list removes the DNS settings; cpulimit = 0 is the default
// (no limit) and equals an unset one.
func TestOptionsRemoveAndDefaults(t *testing.T) {
	h := desired(t, strings.Replace(webHCL, "%s", "  nameserver = []\n  cpulimit = 0\n", 1))
	live := web()
	live["nameserver"] = "1.1.1.1"
	p := diff(t, h, liveWith(stopped(100, "web", live)), nil)
	if got := ops_(p); got != "guest.set:benign guest.start:benign" {
		t.Fatalf("steps %s", got)
	}
	ps := params(t, p.Steps[0])
	if del, _ := ps["delete"].([]any); len(del) != 1 || del[0] != "nameserver" || len(ps["set"].(map[string]any)) != 0 {
		t.Errorf("params %v", ps)
	}
}

// Interface rate and MTU, and mount options, compare canonically: a
// rate of 10 equals "10.0", the options' order does not count.
func TestInterfaceAndMountOptions(t *testing.T) {
	h := desired(t, `
guest "files" {
  vmid = 101
  mount "share" {
    path          = "/srv/share"
    storage       = "local-lvm"
    size          = "64G"
    backup        = true
    mount_options = ["nodev", "noatime"]
  }
  network "eth0" {
    bridge = "vmbr0"
    mtu    = 1400
    rate   = 10
  }
}`)
	conf := map[string]string{
		"rootfs": "local-lvm:vm-101-disk-0,size=16G",
		"mp0":    "local-lvm:vm-101-disk-1,mp=/srv/share,backup=1,size=64G",
		"net0":   "name=eth0,bridge=vmbr0,hwaddr=BC:24:11:5E:7A:02,ip=dhcp,type=veth",
	}
	p := diff(t, h, liveWith(running(101, "files", conf)), nil)
	if got := ops_(p); got != "guest.set:benign" {
		t.Fatalf("steps %s", got)
	}
	set := params(t, p.Steps[0])["set"].(map[string]any)
	if set["mp0"] != "local-lvm:vm-101-disk-1,mp=/srv/share,backup=1,mountoptions=noatime;nodev,size=64G" {
		t.Errorf("mp0 = %v", set["mp0"])
	}
	if set["net0"] != "name=eth0,bridge=vmbr0,hwaddr=BC:24:11:5E:7A:02,ip=dhcp,mtu=1400,rate=10,type=veth" {
		t.Errorf("net0 = %v", set["net0"])
	}
	conf["mp0"] = "local-lvm:vm-101-disk-1,mp=/srv/share,backup=1,mountoptions=nodev;noatime,size=64G"
	conf["net0"] = "name=eth0,bridge=vmbr0,hwaddr=BC:24:11:5E:7A:02,ip=dhcp,mtu=1400,rate=10.0,type=veth"
	if p := diff(t, h, liveWith(running(101, "files", conf)), nil); !p.Empty() {
		t.Fatalf("converged guest plans %s", ops_(p))
	}
}

// Proxmox lets only root@pam set the features of a privileged container:
// a template create without unprivileged = true (privileged by Proxmox's
// default) and a change on a live privileged guest are plan errors that
// say so; a restore that does not say is a warning (the archive decides).
func TestFeaturesOfPrivilegedContainers(t *testing.T) {
	rootfs := "\n  rootfs {\n    storage = \"local-lvm\"\n    size = \"4G\"\n  }\n  features {\n    nesting = true\n  }\n}"
	l := liveWith()
	l.Templates = map[string]bool{"local:vztmpl/debian-12-standard_12.7-1_amd64.tar.zst": true}
	p := diff(t, desired(t, "guest \"a\" {\n  vmid = 120\n  from_template = \"local:vztmpl/debian-12-standard_12.7-1_amd64.tar.zst\""+rootfs), l, nil)
	if len(p.Steps) != 0 || len(p.Errors) != 1 || !strings.Contains(p.Errors[0].Message, "without unprivileged = true, it is a privileged container") {
		t.Fatalf("template: steps %s errors %v", ops_(p), p.Errors)
	}
	p = diff(t, desired(t, "guest \"a\" {\n  vmid = 120\n  from_backup = \"local:backup/vzdump-lxc-9000-2026_10_01-12_00_00.tar.zst\""+rootfs), liveWith(), nil)
	if ops_(p) != "guest.create:benign guest.start:benign" || len(p.Warnings) != 1 || !strings.Contains(p.Warnings[0].Message, "does not say unprivileged = true") {
		t.Fatalf("restore: steps %s warnings %v", ops_(p), p.Warnings)
	}
	legacy := map[string]string{"rootfs": "local-lvm:vm-110-disk-0,size=4G"}
	p = diff(t, desired(t, "guest \"legacy\" {\n  vmid = 110\n  state = \"stopped\"\n  features {\n    nesting = true\n  }\n}"), liveWith(stopped(110, "legacy", legacy)), nil)
	if len(p.Steps) != 0 || len(p.Errors) != 1 || !strings.Contains(p.Errors[0].Message, "is a privileged container: Proxmox lets only root@pam change its features") {
		t.Fatalf("privileged live guest: steps %s errors %v", ops_(p), p.Errors)
	}
}
