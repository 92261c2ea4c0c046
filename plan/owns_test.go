package plan

import (
	"strings"
	"testing"

	"github.com/felhom/felhom-converge/journal"
	"github.com/felhom/felhom-converge/ops"
)

// ownsProv is a journal whose last digest of every guest records the
// lists a desired file owns.
type ownsProv struct {
	NoProvenance
	owns string
}

func (p ownsProv) LastDigest(vmid int) (journal.Digest, bool) {
	return journal.Digest{Guest: vmid, Digest: "dfiles", Owns: p.owns}, true
}

// A file that never declared a guest's mounts or interfaces leaves them
// alone; once a file has declared them, removing the last block detaches
// the mount point (its volume kept) and removes the interface, as
// removing any other block does.
func TestRemovingTheLastBlockOfAnOwnedList(t *testing.T) {
	conf := map[string]string{
		"rootfs": "local-lvm:vm-101-disk-0,size=16G",
		"mp0":    "local-lvm:vm-101-disk-1,mp=/srv/share,backup=1,size=64G",
		"net0":   "name=eth0,bridge=vmbr0,hwaddr=BC:24:11:5E:7A:02,ip=dhcp,type=veth",
	}
	h := desired(t, `
guest "files" {
  vmid = 101
}`)
	if p := diff(t, h, liveWith(stopped(101, "files", conf)), nil); ops_(p) != "guest.start:benign" {
		t.Fatalf("never declared: steps %s", ops_(p))
	}
	p := diff(t, h, liveWith(stopped(101, "files", conf)), ownsProv{owns: "mounts,networks"})
	if got := ops_(p); got != "guest.set:benign mount.detach:benign guest.start:benign" {
		t.Fatalf("owned: steps %s", got)
	}
	if del := params(t, p.Steps[0])["delete"].([]any); len(del) != 1 || del[0] != "net0" {
		t.Errorf("guest.set deletes %v, want net0", del)
	}
	det, _ := ops.Decode[ops.MountDetachParams](p.Steps[1].Op, p.Steps[1].Params)
	if det.Slot != "mp0" || det.Volume != "local-lvm:vm-101-disk-1" {
		t.Errorf("detach %+v", det)
	}
	if p := diff(t, h, liveWith(stopped(101, "files", conf)), ownsProv{owns: "networks"}); ops_(p) != "guest.set:benign guest.start:benign" {
		t.Fatalf("only the networks owned: steps %s", ops_(p))
	}
}

func TestOwnsAccumulates(t *testing.T) {
	h := desired(t, `
guest "files" {
  vmid = 101
  network "eth0" {
    bridge = "vmbr0"
  }
}`)
	g := h.GuestByVMID(101)
	for _, tc := range []struct{ last, want string }{
		{"", "networks"},
		{"mounts", "mounts,networks"},
		{"networks,mounts", "mounts,networks"},
	} {
		if got := Owns(tc.last, g); got != tc.want {
			t.Errorf("Owns(%q) = %q, want %q", tc.last, got, tc.want)
		}
	}
	if got := Owns("mounts", nil); got != "mounts" {
		t.Errorf("a guest the file no longer declares keeps what was owned: %q", got)
	}
}

// Protection turned on in the same plan as mount point changes is set
// after them (Proxmox refuses them on a protected guest); protection that
// is on and stays on makes them a plan error that says why.
func TestProtectionAroundDiskChanges(t *testing.T) {
	conf := map[string]string{"rootfs": "local-lvm:vm-101-disk-0,size=16G"}
	file := func(prot string) string {
		return `
guest "files" {
  vmid       = 101
  state      = "stopped"
  protection = ` + prot + `
  mount "scratch" {
    path    = "/srv/scratch"
    storage = "local-lvm"
    size    = "8G"
  }
}`
	}
	p := diff(t, desired(t, file("true")), liveWith(stopped(101, "files", conf)), nil)
	if got := ops_(p); got != "mount.add:benign guest.set:benign" {
		t.Fatalf("turning protection on: steps %s", got)
	}
	if set := params(t, p.Steps[1])["set"].(map[string]any); len(set) != 1 || set["protection"] != "1" {
		t.Errorf("last step sets %v, want protection only", set)
	}

	conf["protection"] = "1"
	p = diff(t, desired(t, file("true")), liveWith(stopped(101, "files", conf)), nil)
	if len(p.Steps) != 0 || len(p.Errors) != 1 || !strings.Contains(p.Errors[0].Message, "has protection on") || !strings.Contains(p.Errors[0].Message, "mp0") {
		t.Fatalf("protected: steps %s, errors %v", ops_(p), p.Errors)
	}
	if !strings.HasSuffix(p.Errors[0].Range, ":8:16") {
		t.Errorf("error at %q, want the protection line", p.Errors[0].Range)
	}
	p = diff(t, desired(t, file("false")), liveWith(stopped(101, "files", conf)), nil)
	if got := ops_(p); got != "guest.set:benign mount.add:benign" {
		t.Fatalf("turning protection off: steps %s", got)
	}
}

// A volume remove_volumes names that a snapshot keeps is said so: as a
// warning when the guest lists it no more, in the step's reason when it
// is still an unusedN entry.
func TestRemoveVolumesKeptBySnapshot(t *testing.T) {
	h := desired(t, `
guest "files" {
  vmid           = 101
  state          = "stopped"
  remove_volumes = ["local-lvm:vm-101-disk-1", "local-lvm:vm-101-disk-2"]
}`)
	lg := stopped(101, "files", map[string]string{"rootfs": "local-lvm:vm-101-disk-0,size=16G", "unused0": "local-lvm:vm-101-disk-2"})
	lg.SnapshotVolumes = map[string][]string{"local-lvm:vm-101-disk-1": {"before"}, "local-lvm:vm-101-disk-2": {"before", "later"}}
	p := diff(t, h, liveWith(lg), nil)
	if got := ops_(p); got != "volume.free:destructive" {
		t.Fatalf("steps %s", got)
	}
	if r := p.Steps[0].Reason; !strings.Contains(r, "snapshots still use it, so Proxmox keeps its data") {
		t.Errorf("reason %q", r)
	}
	if len(p.Warnings) != 1 || !strings.Contains(p.Warnings[0].Message, "local-lvm:vm-101-disk-1, which is no detached volume of the guest: snapshot before still uses it") {
		t.Fatalf("warnings %v", p.Warnings)
	}
}
