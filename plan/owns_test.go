package plan

import (
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
