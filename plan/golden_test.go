package plan

import (
	"strings"
	"testing"
	"time"

	"github.com/felhom/felhom-converge/journal"
	"github.com/felhom/felhom-converge/ops"
	"github.com/felhom/felhom-converge/proxmox"
)

const goldenHCL = `
golden "debian-base" {
  template = "local:vztmpl/debian-12-standard_12.7-1_amd64.tar.zst"
  vmid     = 9000
  storage  = "local-lvm"
  size     = "4G"
  bridge   = "vmbr0"
  features {
    keyctl  = true
    nesting = true
  }
}

guest "app" {
  vmid        = 120
  from_backup = golden.debian-base
  rootfs {
    storage = "local-lvm"
    size    = "8G"
  }
}
`

const (
	tmpl      = "local:vztmpl/debian-12-standard_12.7-1_amd64.tar.zst"
	goldenArc = "local:backup/vzdump-lxc-9000-2026_12_01-10_00_00.tar.zst"
)

// goldenProv is a journal that recorded the archives of golden images.
type goldenProv struct {
	NoProvenance
	archives map[string][]journal.Backup
	done     map[string]bool
}

func (p goldenProv) GoldenArchives(name string) []journal.Backup { return p.archives[name] }
func (p goldenProv) JobDone(id string) bool                      { return p.done[id] }

func goldenLive(archives ...proxmox.StorageItem) *Live {
	l := liveWith()
	l.Templates = map[string]bool{tmpl: true}
	l.Archives = map[string]proxmox.StorageItem{}
	for _, a := range archives {
		l.Archives[a.VolID] = a
	}
	return l
}

// With no archive the journal records, the image is built (through the
// root path), backed up and its container destroyed, benign by the
// transaction's provenance; the guest restored from it waits for that
// backup and takes the archive when its create runs.
func TestGoldenImageIsBuiltOnce(t *testing.T) {
	h := desired(t, goldenHCL)
	p := diff(t, h, goldenLive(), nil)
	if got := ops_(p); got != "guest.create:benign backup.create:benign guest.destroy:benign guest.create:benign guest.start:benign" {
		t.Fatalf("steps %s %v", got, p.Errors)
	}
	build, _ := ops.Decode[ops.GuestCreateParams](ops.GuestCreate, p.Steps[0].Params)
	if build.Template != tmpl || build.Golden != "debian-base" || build.Config["features"] != "keyctl=1,nesting=1" ||
		build.Config["rootfs"] != "local-lvm:4" || build.Config["net0"] != "name=eth0,bridge=vmbr0,ip=dhcp" || build.Config["unprivileged"] != "1" {
		t.Errorf("build params %+v", build)
	}
	backup, _ := ops.Decode[ops.BackupCreateParams](ops.BackupCreate, p.Steps[1].Params)
	if backup.Golden != "debian-base" || backup.Storage != "local" || backup.Mode != "stop" {
		t.Errorf("backup params %+v", backup)
	}
	if p.Steps[2].Provenance == "" || p.Steps[2].DependsOn[0] != p.Steps[1].ID {
		t.Errorf("destroy %+v", p.Steps[2])
	}
	app, _ := ops.Decode[ops.GuestCreateParams](ops.GuestCreate, p.Steps[3].Params)
	if app.Golden != "debian-base" || app.Archive != "" || !strings.Contains(strings.Join(p.Steps[3].DependsOn, " "), p.Steps[1].ID) {
		t.Errorf("guest create %+v depends on %v", app, p.Steps[3].DependsOn)
	}

	// Built: the journal's archive, unchanged on its storage, is the image.
	at := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	arc := proxmox.StorageItem{VolID: goldenArc, Content: "backup", VMID: 9000, CTime: proxmox.Int(at.Unix()), Size: 700}
	prov := goldenProv{archives: map[string][]journal.Backup{"debian-base": {{Guest: 9000, VolID: goldenArc, Created: at, Size: 700, Golden: "debian-base"}}}}
	p = diff(t, h, goldenLive(arc), prov)
	if got := ops_(p); got != "guest.create:benign guest.start:benign" {
		t.Fatalf("built: steps %s %v", got, p.Errors)
	}
	app, _ = ops.Decode[ops.GuestCreateParams](ops.GuestCreate, p.Steps[0].Params)
	if app.Archive != goldenArc || app.Golden != "" {
		t.Errorf("built: guest create %+v", app)
	}

	// Another file of that name (not the recorded ctime) is not the image.
	forged := arc
	forged.CTime++
	if p := diff(t, h, goldenLive(forged), prov); !strings.HasPrefix(ops_(p), "guest.create:benign backup.create:benign guest.destroy:benign") {
		t.Fatalf("forged archive: steps %s", ops_(p))
	}

	// A rebuild job builds it again, once.
	hj := desired(t, goldenHCL+"job \"refresh\" {\n  op = \"golden.rebuild\"\n  golden = \"debian-base\"\n}\n")
	p = diff(t, hj, goldenLive(arc), prov)
	if got := ops_(p); !strings.HasPrefix(got, "guest.create:benign backup.create:benign guest.destroy:benign") || p.Steps[1].Job != "refresh" {
		t.Fatalf("rebuild: steps %s job %q", got, p.Steps[1].Job)
	}
	prov.done = map[string]bool{"refresh": true}
	if p := diff(t, hj, goldenLive(arc), prov); ops_(p) != "guest.create:benign guest.start:benign" {
		t.Fatalf("rebuild done: steps %s", ops_(p))
	}
}

// A golden image is never built in a vmid a guest holds, and a guest
// restored from an image that cannot be built waits with it.
func TestGoldenImageNeedsAFreeVMID(t *testing.T) {
	l := goldenLive()
	l.Guests[9000] = stopped(9000, "tenant", map[string]string{})
	p := diff(t, desired(t, goldenHCL), l, nil)
	if len(p.Steps) != 0 || len(p.Errors) != 2 || !strings.Contains(p.Errors[0].Message, "vmid 9000 is taken by guest 9000 (tenant)") ||
		!strings.Contains(p.Errors[1].Message, "golden image debian-base cannot be built") {
		t.Fatalf("steps %s errors %v", ops_(p), p.Errors)
	}
}
