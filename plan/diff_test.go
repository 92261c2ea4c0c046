package plan

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/felhom/felhom-converge/journal"
	"github.com/felhom/felhom-converge/ops"
	"github.com/felhom/felhom-converge/proxmox"
	"github.com/felhom/felhom-converge/schema"
	"github.com/felhom/felhom-converge/trust"
)

var testNow = time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)

func desired(t *testing.T, body string) *schema.Host {
	t.Helper()
	src := "host \"pve-demo\" {\n  node = \"pve\"\n}\n" + body
	h, diags := schema.Load([]byte(src), "host.hcl")
	if diags.HasErrors() {
		t.Fatalf("desired state: %v", diags)
	}
	return h
}

// web is CT 100 as the simulator seeds it.
func web() map[string]string {
	return map[string]string{
		"hostname": "web", "ostype": "debian", "arch": "amd64", "cores": "2", "memory": "1024", "swap": "512",
		"unprivileged": "1", "onboot": "1", "features": "nesting=1", "tags": "prod;web",
		"description": "Company website\n", "rootfs": "local-lvm:vm-100-disk-0,size=8G",
		"net0": "name=eth0,bridge=vmbr0,firewall=1,hwaddr=BC:24:11:5E:7A:01,ip=dhcp,type=veth",
	}
}

const webHCL = `
guest "web" {
  vmid         = 100
  hostname     = "web"
  cores        = 2
  memory       = 1024
  swap         = 512
  unprivileged = true
  onboot       = true
  tags         = ["web", "PROD"]
  description  = "Company website"
  features {
    nesting = true
  }
  rootfs {
    storage = "local-lvm"
    size    = "8G"
  }
  network "eth0" {
    bridge   = "vmbr0"
    ip       = "dhcp"
    hwaddr   = "bc:24:11:5e:7a:01"
    firewall = true
  }
%s
}
`

func liveWith(guests ...*LiveGuest) *Live {
	l := &Live{Node: "pve", Guests: map[int]*LiveGuest{}}
	for _, g := range guests {
		l.Guests[g.VMID] = g
	}
	return l
}

func running(vmid int, name string, conf map[string]string) *LiveGuest {
	return &LiveGuest{VMID: vmid, Name: name, Running: true, Observed: true, Digest: "d" + name,
		Current: conf, Effective: conf, SnapshotsRead: true}
}

func stopped(vmid int, name string, conf map[string]string) *LiveGuest {
	g := running(vmid, name, conf)
	g.Running = false
	return g
}

func diff(t *testing.T, h *schema.Host, l *Live, prov Provenance) *Plan {
	t.Helper()
	if prov == nil {
		prov = NoProvenance{}
	}
	return Diff(h, l, Inputs{DesiredFile: "host.hcl", Provenance: prov, Now: testNow})
}

func ops_(p *Plan) string {
	var out []string
	for _, s := range p.Steps {
		out = append(out, s.Op+":"+string(s.Class))
	}
	return strings.Join(out, " ")
}

func params(t *testing.T, s Step) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(s.Params, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func TestConvergedGuestHasNoSteps(t *testing.T) {
	p := diff(t, desired(t, strings.Replace(webHCL, "%s", "", 1)), liveWith(running(100, "web", web())), nil)
	if !p.Empty() {
		t.Fatalf("want no steps, got %s %v", ops_(p), p.Errors)
	}
	if p.Summary() != "No changes. The host matches its desired state." {
		t.Errorf("summary %q", p.Summary())
	}
}

func TestMemoryAndTagsAreOneBenignSet(t *testing.T) {
	h := desired(t, strings.Replace(strings.Replace(strings.Replace(webHCL, "%s", "", 1), "memory       = 1024", `memory       = "2G"`, 1), `["web", "PROD"]`, `["web", "prod", "docs"]`, 1))
	p := diff(t, h, liveWith(running(100, "web", web())), nil)
	if got := ops_(p); got != "guest.set:benign" {
		t.Fatalf("steps %s", got)
	}
	s := p.Steps[0]
	set := params(t, s)["set"].(map[string]any)
	if set["memory"] != "2048" || set["tags"] != "docs;prod;web" || len(set) != 2 {
		t.Errorf("set %v", set)
	}
	if s.ObservedDigest != "dweb" {
		t.Errorf("digest %q", s.ObservedDigest)
	}
	if s.RestartNeeded {
		t.Error("memory is hot: no restart")
	}
}

func TestCreateByRestore(t *testing.T) {
	h := desired(t, `
guest "wiki" {
  vmid        = 102
  hostname    = "wiki"
  from_backup = "local:backup/vzdump-lxc-9000-2026_10_01-12_00_00.tar.zst"
  memory      = "1G"
  rootfs {
    storage = "local-lvm"
    size    = "8G"
  }
  mount "data" {
    path    = "/srv/data"
    storage = "local-lvm"
    size    = "512M"
  }
  network "eth0" {
    bridge = "vmbr0"
    ip     = "dhcp"
  }
  snapshot "baseline" {}
}`)
	l := liveWith()
	l.Archives = map[string]proxmox.StorageItem{"local:backup/vzdump-lxc-9000-2026_10_01-12_00_00.tar.zst": {}}
	p := diff(t, h, l, nil)
	if got := ops_(p); got != "guest.create:benign guest.start:benign snapshot.create:benign" {
		t.Fatalf("steps %s", got)
	}
	conf := params(t, p.Steps[0])["config"].(map[string]any)
	if conf["rootfs"] != "local-lvm:8" || conf["mp0"] != "local-lvm:0.5,mp=/srv/data" || conf["memory"] != "1024" ||
		conf["net0"] != "name=eth0,bridge=vmbr0,ip=dhcp,type=veth" {
		t.Errorf("restore config %v", conf)
	}
	for _, s := range p.Steps[1:] {
		if len(s.DependsOn) != 1 || s.DependsOn[0] != p.Steps[0].ID {
			t.Errorf("%s depends on %v, want the create", s.Op, s.DependsOn)
		}
	}
}

func TestCreateWithMissingArchiveIsAnErrorAtItsLine(t *testing.T) {
	h := desired(t, `
guest "wiki" {
  vmid        = 102
  from_backup = "local:backup/vzdump-lxc-9000-2020_01_01-00_00_00.tar.zst"
  rootfs {
    storage = "local-lvm"
    size    = "8G"
  }
}`)
	l := liveWith()
	l.Archives = map[string]proxmox.StorageItem{}
	p := diff(t, h, l, nil)
	if len(p.Steps) != 0 || len(p.Errors) != 1 {
		t.Fatalf("steps %s errors %v", ops_(p), p.Errors)
	}
	if e := p.Errors[0].String(); !strings.HasPrefix(e, "host.hcl:7:") || !strings.Contains(e, "does not exist on storage local") {
		t.Errorf("error %q", e)
	}
}

func TestRootfsGrowIsBenignShrinkIsASignedRebuild(t *testing.T) {
	grow := desired(t, strings.Replace(strings.Replace(webHCL, "%s", "", 1), `size    = "8G"`, `size    = "12G"`, 1))
	p := diff(t, grow, liveWith(running(100, "web", web())), nil)
	if got := ops_(p); got != "disk.grow:benign" {
		t.Fatalf("grow: %s", got)
	}
	if m := params(t, p.Steps[0]); m["disk"] != "rootfs" || m["from"] != "8G" || m["to"] != "12G" {
		t.Errorf("grow params %v", m)
	}
	shrink := desired(t, strings.Replace(strings.Replace(webHCL, "%s", "", 1), `size    = "8G"`, `size    = "4G"`, 1))
	p = diff(t, shrink, liveWith(running(100, "web", web())), nil)
	if got := ops_(p); got != "guest.rebuild:destructive" {
		t.Fatalf("shrink: %s", got)
	}
	m := params(t, p.Steps[0])
	if m["change"].(map[string]any)["rootfs"] != "local-lvm:4" || m["volumes"].([]any)[0] != "local-lvm:vm-100-disk-0" {
		t.Errorf("rebuild params %v", m)
	}
}

func TestUnprivilegedFlipIsASignedRebuild(t *testing.T) {
	h := desired(t, strings.Replace(strings.Replace(webHCL, "%s", "", 1), "unprivileged = true", "unprivileged = false", 1))
	p := diff(t, h, liveWith(running(100, "web", web())), nil)
	if got := ops_(p); got != "guest.rebuild:destructive" {
		t.Fatalf("steps %s", got)
	}
	if !strings.Contains(p.Steps[0].Reason, "unprivileged") {
		t.Errorf("reason %q", p.Steps[0].Reason)
	}
}

func TestMountsAddDetachAndFree(t *testing.T) {
	conf := web()
	conf["mp0"] = "local-lvm:vm-100-disk-1,mp=/srv/old,backup=1,size=4G"
	conf["unused0"] = "local-lvm:vm-100-disk-2"
	h := desired(t, strings.Replace(strings.Replace(webHCL, "%s", `
  mount "data" {
    path    = "/srv/data"
    storage = "local-lvm"
    size    = "32G"
    backup  = true
  }`, 1), `description  = "Company website"`, `description  = "Company website"
  remove_volumes = ["local-lvm:vm-100-disk-2"]`, 1))
	l := liveWith(running(100, "web", conf))
	l.Volumes = map[string]proxmox.StorageItem{"local-lvm:vm-100-disk-2": {Size: 2 << 30}}
	p := diff(t, h, l, nil)
	if got := ops_(p); got != "mount.add:benign mount.detach:benign volume.free:destructive" {
		t.Fatalf("steps %s", got)
	}
	if m := params(t, p.Steps[0]); m["slot"] != "mp1" || m["value"] != "local-lvm:32,mp=/srv/data,backup=1" {
		t.Errorf("add %v", m)
	}
	if !p.Steps[1].RestartNeeded {
		t.Error("detach on a running guest waits for a restart")
	}
	if m := params(t, p.Steps[2]); m["volume"] != "local-lvm:vm-100-disk-2" || m["size"] != "2G" || m["slot"] != "unused0" {
		t.Errorf("free %v", m)
	}
	if len(p.Outstanding) != 1 || p.Outstanding[0].Keys[0] != "mp0" {
		t.Errorf("outstanding %v", p.Outstanding)
	}
}

func TestFeaturesOnRunningGuestRebootOnlyWhenAllowed(t *testing.T) {
	body := strings.Replace(strings.Replace(webHCL, "%s", "", 1), "nesting = true", "nesting = false", 1)
	p := diff(t, desired(t, body), liveWith(running(100, "web", web())), nil)
	if got := ops_(p); got != "guest.set:benign" || !p.Steps[0].RestartNeeded || len(p.Outstanding) != 1 {
		t.Fatalf("steps %s outstanding %v", got, p.Outstanding)
	}
	body = strings.Replace(body, `hostname     = "web"`, "hostname     = \"web\"\n  reboot_after_update = true", 1)
	p = diff(t, desired(t, body), liveWith(running(100, "web", web())), nil)
	if got := ops_(p); got != "guest.set:benign guest.reboot:benign" {
		t.Fatalf("steps %s", got)
	}
	if p.Steps[1].DependsOn[0] != p.Steps[0].ID {
		t.Errorf("reboot depends on %v", p.Steps[1].DependsOn)
	}
}

func TestPendingChangeIsOutstandingNotReapplied(t *testing.T) {
	lg := running(100, "web", web())
	lg.Current = web()
	lg.Current["features"] = "nesting=0"
	lg.PendingKeys = []string{"features"}
	p := diff(t, desired(t, strings.Replace(webHCL, "%s", "", 1)), liveWith(lg), nil)
	if len(p.Steps) != 0 || len(p.Outstanding) != 1 {
		t.Fatalf("steps %s outstanding %v", ops_(p), p.Outstanding)
	}
}

func TestAbsentGuestIsDestructiveWithItsVolumes(t *testing.T) {
	conf := web()
	conf["tags"] = "scratch"
	conf["description"] = "created by felhom-converge, scratch, safe to delete\n"
	conf["mp0"] = "/mnt/host,mp=/srv/bind"
	conf["unused3"] = "local-lvm:vm-100-disk-5"
	h := desired(t, `
guest "web" {
  vmid  = 100
  state = "absent"
}`)
	p := diff(t, h, liveWith(running(100, "web", conf)), nil)
	if got := ops_(p); got != "guest.destroy:destructive" {
		t.Fatalf("a live scratch tag or description must change nothing: %s", got)
	}
	vols := params(t, p.Steps[0])["volumes"].([]any)
	if len(vols) != 2 || vols[0] != "local-lvm:vm-100-disk-0" || vols[1] != "local-lvm:vm-100-disk-5" {
		t.Errorf("volumes %v (the bind mount is not the guest's)", vols)
	}
	p = diff(t, h, liveWith(running(100, "web", conf)), fakeProv{created: map[int]string{100: "t1"}})
	if got := ops_(p); got != "guest.destroy:benign" || !strings.Contains(p.Steps[0].Provenance, "t1") {
		t.Fatalf("journal provenance: %s %q", got, p.Steps[0].Provenance)
	}
}

func TestJobs(t *testing.T) {
	lg := running(100, "web", web())
	lg.Snapshots = []proxmox.Snapshot{{Name: "pre-upgrade"}, {Name: "felhom-safety-1"}}
	h := desired(t, strings.Replace(webHCL, "%s", "", 1)+`
job "undo" {
  op       = "snapshot.rollback"
  guest    = "web"
  snapshot = "pre-upgrade"
}
job "tidy" {
  op       = "snapshot.delete"
  guest    = 100
  snapshot = "felhom-safety-1"
}
job "gone" {
  op       = "snapshot.delete"
  guest    = 100
  snapshot = "never-existed"
}`)
	p := diff(t, h, liveWith(lg), nil)
	if got := ops_(p); got != "snapshot.rollback:destructive snapshot.delete:destructive" {
		t.Fatalf("steps %s", got)
	}
	// A job that ran is not planned again; deleting even the tool's own
	// safety snapshot on the file's request needs a signature.
	p = diff(t, h, liveWith(lg), fakeProv{snaps: map[string]bool{"felhom-safety-1": true}, done: map[string]bool{"undo": true}})
	if got := ops_(p); got != "snapshot.delete:destructive" {
		t.Fatalf("with provenance: %s", got)
	}
}

func TestUnmanagedGuestsAreListedAndLeftAlone(t *testing.T) {
	p := diff(t, desired(t, strings.Replace(webHCL, "%s", "", 1)),
		liveWith(running(100, "web", web()), stopped(110, "legacy", nil), running(101, "files", nil)), nil)
	if len(p.Steps) != 0 || len(p.Unmanaged) != 2 || p.Unmanaged[0] != 101 || p.Unmanaged[1] != 110 {
		t.Fatalf("steps %s unmanaged %v", ops_(p), p.Unmanaged)
	}
}

func TestEveryStepHasAKnownClass(t *testing.T) {
	for _, op := range schema.Ops {
		if op == schema.OpGoldenRebuild {
			continue // a build, planned as steps of known ops (TestGoldenImageIsBuiltOnce)
		}
		if !ops.Known(op) {
			t.Errorf("schema job op %s has no class in ops", op)
		}
	}
}

func TestPruneFollowsProxmoxRetention(t *testing.T) {
	day := func(d int) int64 { return time.Date(2026, 11, d, 2, 0, 0, 0, time.UTC).Unix() }
	group := []archive{{volid: "a20", ctime: day(20)}, {volid: "a26", ctime: day(26)}, {volid: "a10", ctime: day(10), protected: true}}
	if got := strings.Join(pruneRemoves("keep-last=2", group, testNow), ","); got != "a20" {
		t.Errorf("keep-last=2: removes %q, want a20", got)
	}
	if got := pruneRemoves("keep-all=1", group, testNow); len(got) != 0 {
		t.Errorf("keep-all: %v", got)
	}
	if got := strings.Join(pruneRemoves("keep-daily=1,keep-monthly=1", group, testNow), ","); got != "a20" {
		t.Errorf("daily+monthly: %q", got)
	}
}

type fakeProv struct {
	created map[int]string
	snaps   map[string]bool
	done    map[string]bool
}

func (f fakeProv) CreatedInTxn(v int) (string, bool)      { t, ok := f.created[v]; return t, ok }
func (f fakeProv) ToolSnapshot(_ int, n string) bool      { return f.snaps[n] }
func (f fakeProv) JobDone(id string) bool                 { return f.done[id] }
func (f fakeProv) LastDigest(int) (journal.Digest, bool)  { return journal.Digest{}, false }
func (f fakeProv) GoldenArchives(string) []journal.Backup { return nil }

// Text from the file or the host cannot forge plan lines or move the
// cursor: control characters are escaped.
func TestRenderEscapesControlCharacters(t *testing.T) {
	h := desired(t, `
guest "wiki" {
  vmid        = 102
  from_backup = "local:backup/vzdump-lxc-9000-2026_10_01-12_00_00.tar.zst"
  description = "ok\n  ! guest.destroy      fake\u001b[1A\u001b[2K"
  rootfs {
    storage = "local-lvm"
    size    = "8G"
  }
}`)
	l := liveWith()
	p := diff(t, h, l, nil)
	var b strings.Builder
	if err := p.Render(&b, RenderOptions{}); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	if strings.Contains(out, "\x1b") || strings.Contains(out, "\n  ! guest.destroy") {
		t.Fatalf("control characters reached the output:\n%q", out)
	}
	if !strings.Contains(out, `ok\n  ! guest.destroy      fake\u001b[1A`) {
		t.Errorf("escaped description missing:\n%s", out)
	}
}

// Two identical destructive steps (two jobs) get two requests, and a
// second plan keeps both.
func TestIdenticalDestructiveStepsKeepTheirOwnRequests(t *testing.T) {
	lg := running(100, "web", web())
	lg.Snapshots = []proxmox.Snapshot{{Name: "pre-upgrade"}}
	h := desired(t, strings.Replace(webHCL, "%s", "", 1)+`
job "rb1" {
  op       = "snapshot.rollback"
  guest    = 100
  snapshot = "pre-upgrade"
}
job "rb2" {
  op       = "snapshot.rollback"
  guest    = 100
  snapshot = "pre-upgrade"
}`)
	dir := t.TempDir()
	ids := func() []string {
		p := diff(t, h, liveWith(lg), nil)
		if err := p.AttachRequests(RequestOptions{Dir: trust.NewRequestDir(dir, nil), Host: "pve-demo", HostID: testHostID, Now: testNow}); err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, s := range p.Steps {
			out = append(out, s.ID)
		}
		return out
	}
	first, second := ids(), ids()
	if len(first) != 2 || first[0] == first[1] || strings.Join(first, ",") != strings.Join(second, ",") {
		t.Fatalf("first plan %v, second %v", first, second)
	}
}

// An explicit default (backup = false, keyctl = false) equals an absent
// one: no config write, no restart.
func TestExplicitDefaultsConverge(t *testing.T) {
	conf := web()
	conf["mp0"] = "local-lvm:vm-100-disk-1,mp=/srv/data,size=4G"
	h := desired(t, strings.Replace(strings.Replace(webHCL, "%s", `
  mount "data" {
    path      = "/srv/data"
    storage   = "local-lvm"
    size      = "4G"
    backup    = false
    read_only = false
  }`, 1), "nesting = true", "nesting = true\n    keyctl = false", 1))
	p := diff(t, h, liveWith(running(100, "web", conf)), nil)
	if !p.Empty() {
		t.Fatalf("steps %s outstanding %v", ops_(p), p.Outstanding)
	}
}

// A destroy names the volume of a mount point whose removal still waits
// for a restart, and the snapshots it loses.
func TestDestroyNamesPendingDetachedVolumeAndSnapshots(t *testing.T) {
	lg := stopped(101, "files", map[string]string{"rootfs": "local-lvm:vm-101-disk-0,size=16G"})
	lg.Current = map[string]string{"rootfs": "local-lvm:vm-101-disk-0,size=16G", "mp0": "local-lvm:vm-101-disk-1,mp=/srv/share,size=64G"}
	lg.PendingKeys = []string{"mp0"}
	lg.Snapshots = []proxmox.Snapshot{{Name: "before"}}
	h := desired(t, `
guest "files" {
  vmid  = 101
  state = "absent"
}`)
	p := diff(t, h, liveWith(lg), nil)
	m := params(t, p.Steps[0])
	vols := fmt.Sprint(m["volumes"])
	if vols != "[local-lvm:vm-101-disk-0 local-lvm:vm-101-disk-1]" || fmt.Sprint(m["snapshots"]) != "[before]" {
		t.Fatalf("params %v", m)
	}
	if !strings.Contains(p.Steps[0].Safety, "does not cover local-lvm:vm-101-disk-1") {
		t.Errorf("safety %q should say the backup does not cover the mount without backup=1", p.Steps[0].Safety)
	}
}

// Feature flags other than nesting are root@pam's to change: a plan error
// naming the flag, never a step that fails at apply time.
func TestRootOnlyFeatureIsAPlanError(t *testing.T) {
	body := strings.Replace(strings.Replace(webHCL, "%s", "", 1), "nesting = true", "nesting = true\n    keyctl = true", 1)
	p := diff(t, desired(t, body), liveWith(running(100, "web", web())), nil)
	if len(p.Steps) != 0 || len(p.Errors) != 1 || !strings.Contains(p.Errors[0].Message, "only root@pam") || !strings.Contains(p.Errors[0].Message, "keyctl") {
		t.Fatalf("steps %s errors %v", ops_(p), p.Errors)
	}
}

// A request whose signature was used is never offered again: the step
// gets a fresh one.
func TestSpentRequestIsNotReused(t *testing.T) {
	lg := running(100, "web", web())
	lg.Snapshots = []proxmox.Snapshot{{Name: "pre-upgrade"}}
	h := desired(t, strings.Replace(webHCL, "%s", "", 1)+`
job "undo" {
  op       = "snapshot.rollback"
  guest    = 100
  snapshot = "pre-upgrade"
}`)
	dir := t.TempDir()
	nonces := &trust.MemNonceStore{}
	plan := func() Step {
		p := diff(t, h, liveWith(lg), nil)
		if err := p.AttachRequests(RequestOptions{Dir: trust.NewRequestDir(dir, nonces), Host: "pve-demo", HostID: testHostID, Now: testNow}); err != nil {
			t.Fatal(err)
		}
		return p.Steps[0]
	}
	first := plan()
	if again := plan(); again.Nonce != first.Nonce {
		t.Fatalf("a live request was not reused: %s, then %s", first.ID, again.ID)
	}
	if err := nonces.Consume(first.Nonce, testNow.Add(48*time.Hour)); err != nil {
		t.Fatal(err)
	}
	second := plan()
	if second.Nonce == first.Nonce || second.ID == first.ID {
		t.Fatalf("the spent request %s was offered again", first.ID)
	}
}

// testHostID is a host identity as requests carry it.
var testHostID = strings.TrimSuffix(strings.Repeat("AB:", 32), ":")
