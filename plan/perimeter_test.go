package plan

import (
	"strings"
	"testing"

	"github.com/felhom/felhom-converge/ops"
	"github.com/felhom/felhom-converge/proxmox"
)

// Turning backup off for a data volume loses every later backup of it:
// its own guest.set step, destructive, named; other option changes stay in
// the benign write.
func TestTurningBackupOffIsASignedStepOfItsOwn(t *testing.T) {
	conf := web()
	conf["mp0"] = "local-lvm:vm-100-disk-1,mp=/srv/data,backup=1,size=16G"
	conf["mp1"] = "local-lvm:vm-100-disk-2,mp=/srv/cache,size=4G"
	h := desired(t, strings.Replace(webHCL, "%s", `
  mount "data" {
    path    = "/srv/data"
    storage = "local-lvm"
    size    = "16G"
    backup  = false
  }
  mount "cache" {
    path      = "/srv/cache"
    storage   = "local-lvm"
    size      = "4G"
    read_only = true
  }`, 1))
	p := diff(t, h, liveWith(stopped(100, "web", conf)), nil)
	var off, benign *Step
	for i := range p.Steps {
		s := &p.Steps[i]
		if s.Op != ops.GuestSet {
			continue
		}
		if s.Destructive() {
			off = s
		} else {
			benign = s
		}
	}
	if off == nil || !strings.Contains(string(off.Params), `"mp0"`) || strings.Contains(string(off.Params), `"mp1"`) {
		t.Fatalf("backup-off step %+v", off)
	}
	if !strings.Contains(off.Reason, "local-lvm:vm-100-disk-1") || !strings.Contains(off.Reason, "leaves its data out") {
		t.Errorf("reason %q", off.Reason)
	}
	if benign == nil || !strings.Contains(string(benign.Params), `"mp1"`) || strings.Contains(string(benign.Params), `"mp0"`) {
		t.Fatalf("benign config write %+v", benign)
	}
}

// A new guest restored from another live guest's backup gets that
// guest's data: the create needs a signature. A golden image (no live
// guest) restores unsigned, unless the local config names other golden
// images.
func TestRestoringAnotherLiveGuestsArchiveNeedsASignature(t *testing.T) {
	const theirs = "local:backup/vzdump-lxc-101-2026_11_20-10_00_00.tar.zst"
	const golden = "local:backup/vzdump-lxc-9000-2026_10_01-12_00_00.tar.zst"
	archives := map[string]proxmox.StorageItem{
		theirs: {VolID: theirs, Content: "backup", VMID: 101},
		golden: {VolID: golden, Content: "backup", VMID: 9000},
	}
	guest := func(archive string) string {
		return `
guest "wiki" {
  vmid        = 102
  from_backup = "` + archive + `"
  rootfs {
    storage = "local-lvm"
    size    = "8G"
  }
}`
	}
	live := liveWith(running(101, "db", map[string]string{"hostname": "db"}))
	live.Archives = archives
	create := func(p *Plan) Step {
		for _, s := range p.Steps {
			if s.Op == ops.GuestCreate {
				return s
			}
		}
		t.Fatalf("no create in %s", ops_(p))
		return Step{}
	}
	s := create(diff(t, desired(t, guest(theirs)), live, nil))
	if !s.Destructive() || !strings.Contains(s.Reason, "live guest 101") {
		t.Errorf("create from guest 101's backup: class %s, reason %q", s.Class, s.Reason)
	}
	if s := create(diff(t, desired(t, guest(golden)), live, nil)); s.Destructive() {
		t.Errorf("create from the golden image: class %s (%s)", s.Class, s.Reason)
	}
	p := Diff(desired(t, guest(golden)), live, Inputs{DesiredFile: "host.hcl", Provenance: NoProvenance{}, Now: testNow, GoldenVMIDs: []int{9001}})
	if s := create(p); !s.Destructive() || !strings.Contains(s.Reason, "not one of the golden images") {
		t.Errorf("create from an archive the golden list lacks: class %s, reason %q", s.Class, s.Reason)
	}
}

// A guest whose live mount path could pass for a task log line gets no
// step that backs it up; its other steps stay.
func TestNoBackupOfAGuestWithAnUnsafeMountPath(t *testing.T) {
	conf := web()
	conf["mp0"] = "local-lvm:vm-100-disk-1,mp=/var/log/x') creating vzdump archive 'x,size=1G"
	h := desired(t, strings.Replace(webHCL, "%s", "", 1)+`
job "nightly" {
  op    = "backup.create"
  guest = "web"
}`)
	h.Guests[0].Memory = 2048
	live := liveWith(stopped(100, "web", conf))
	p := diff(t, h, live, nil)
	for _, s := range p.Steps {
		if s.Op == ops.BackupCreate {
			t.Fatalf("a backup of the guest is planned: %s", ops_(p))
		}
	}
	if len(p.Errors) != 1 || !strings.Contains(p.Errors[0].Message, "backup.create not planned") {
		t.Errorf("errors %v", p.Errors)
	}
	if !strings.Contains(ops_(p), "guest.set") {
		t.Errorf("the guest's other steps are gone too: %s", ops_(p))
	}
}
