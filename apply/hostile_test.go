package apply_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/felhom/felhom-converge/apply"
	"github.com/felhom/felhom-converge/ops"
	"github.com/felhom/felhom-converge/plan"
	"github.com/felhom/felhom-converge/proxmox"
	"github.com/felhom/felhom-converge/proxmox/pvesim"
	"github.com/felhom/felhom-converge/trust"
)

// hostData is what a step may not lose without a signature: every guest,
// the volumes each one owns (active config and pending), its snapshots
// with their times, and every volume on every storage.
func (e *env) hostData() []string {
	e.t.Helper()
	ctx := context.Background()
	var out []string
	for _, v := range []int{100, 101, 110, 9000} {
		if !e.exists(v) {
			out = append(out, fmt.Sprintf("guest %d absent", v))
			continue
		}
		entries, err := e.client.GuestPending(ctx, v)
		if err != nil {
			e.t.Fatal(err)
		}
		cur, eff, _ := plan.Configs(entries)
		for _, vol := range plan.OwnedVolumes(cur, eff) {
			out = append(out, fmt.Sprintf("guest %d owns %s", v, vol))
		}
		snaps, err := e.client.ListSnapshots(ctx, v)
		if err != nil {
			e.t.Fatal(err)
		}
		for _, s := range snaps {
			if s.Name != "current" {
				out = append(out, fmt.Sprintf("guest %d snapshot %s %d", v, s.Name, s.SnapTime))
			}
		}
	}
	for _, st := range []string{"local", "local-lvm"} {
		items, err := e.client.StorageContent(ctx, st, "", 0)
		if err != nil {
			e.t.Fatal(err)
		}
		for _, it := range items {
			out = append(out, fmt.Sprintf("volume %s %d %d", it.VolID, it.Size, it.CTime))
		}
	}
	slices.Sort(out)
	return out
}

// lost lists what before has and after lacks.
func lost(before, after []string) []string {
	var out []string
	for _, s := range before {
		if !slices.Contains(after, s) {
			out = append(out, s)
		}
	}
	return out
}

// noRoot is a root runner that must never be asked to run anything.
type noRoot struct{ t *testing.T }

func (r noRoot) Run(_ context.Context, argv []string) ([]byte, []byte, error) {
	r.t.Errorf("the root runner was asked to run %q", argv)
	return nil, nil, errors.New("no root here")
}

// refused is a step the tool refuses before making any call: its params
// do not decode, or its executor's check of the live guest fails.
const refused = "refused"

// Every op, with params a forged or tampered plan could carry, reaches
// the executor as a plan step with no signature: none of them loses a
// guest, a volume, a snapshot or an archive. Benign ops refuse what they
// may not do (their own checks against the live guest); destructive ones
// wait for a signature whatever class the plan claims.
func TestHostileStepsWithoutASignatureLoseNothing(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	mounter, err := proxmox.NewPrivileged(proxmox.ModeDirect, noRoot{t}, proxmox.Tools{})
	if err != nil {
		t.Fatal(err)
	}
	e.opts.Mounter = mounter
	// Guest 110 gets a detached volume (unused0) by benign steps, as an
	// honest earlier run leaves one.
	add := step("mount.add-110-a", ops.MountAdd, 110, `{"slot":"mp1","value":"local-lvm:2,mp=/srv/x,backup=1"}`)
	outcome(t, e.run(add), add.ID, apply.OutcomeDone)
	cfg, err := e.client.GuestConfig(ctx, 110)
	if err != nil {
		t.Fatal(err)
	}
	detached, _, _ := strings.Cut(cfg.Values["mp1"], ",")
	det := step("mount.detach-110-a", ops.MountDetach, 110, `{"slot":"mp1","path":"/srv/x","volume":"`+detached+`"}`)
	outcome(t, e.run(det), det.ID, apply.OutcomeDone)
	if cfg, _ = e.client.GuestConfig(ctx, 110); cfg.Values["unused0"] != detached {
		t.Fatalf("110 has no unused0 %s: %v", detached, cfg.Values)
	}
	items, err := e.client.StorageContent(ctx, "local", "backup", 100)
	if err != nil || len(items) == 0 {
		t.Fatalf("no backup of 100: %v", err)
	}
	archive100 := items[0].VolID
	const archive101 = "local:backup/vzdump-lxc-101-2026_11_26-02_15_41.tar.zst"
	vols110 := `["local-lvm:vm-110-disk-0","` + detached + `"]`

	hostile := []struct {
		op     string
		guest  int
		params string
		want   string // refused (by the tool, before any call), failed (by Proxmox) or pending_signature
	}{
		// guest.create never restores over a guest, attaches a volume
		// that exists, or hands a live guest's data to another unsigned.
		{ops.GuestCreate, 101, `{"storage":"local-lvm","archive":"` + archive100 + `"}`, refused},
		{ops.GuestCreate, 120, `{"storage":"local-lvm","archive":"` + golden + `","config":{"rootfs":"local-lvm:vm-101-disk-1"}}`, refused},
		{ops.GuestCreate, 120, `{"storage":"local-lvm","archive":"` + golden + `","config":{"mp0":"local-lvm:vm-101-disk-1,mp=/steal"}}`, refused},
		{ops.GuestCreate, 120, `{"storage":"local-lvm","archive":"` + golden + `","config":{"unused0":"` + detached + `"}}`, refused},
		{ops.GuestCreate, 120, `{"storage":"local-lvm","archive":"` + golden + `","config":{"mp0":"/var/lib/vz,mp=/host"}}`, refused},
		{ops.GuestCreate, 120, `{"storage":"local-lvm","archive":"` + archive101 + `"}`, refused},
		{ops.GuestCreate, 120, `{"storage":"local-lvm","archive":"local:vztmpl/debian-12-standard_12.7-1_amd64.tar.zst"}`, refused},
		{ops.GuestCreate, 120, `{"storage":"local-lvm","archive":"` + golden + `","force":true}`, refused},
		// guest.set never frees, re-points, resizes or drops a volume
		// from backups.
		{ops.GuestSet, 110, `{"set":{},"delete":["unused0"]}`, refused},
		{ops.GuestSet, 110, `{"set":{"unused0":"local-lvm:vm-101-disk-1"}}`, refused},
		{ops.GuestSet, 101, `{"set":{},"delete":["mp0"]}`, refused},
		{ops.GuestSet, 101, `{"set":{},"delete":["rootfs"]}`, refused},
		{ops.GuestSet, 101, `{"set":{"rootfs":"local-lvm:1"}}`, refused},
		{ops.GuestSet, 101, `{"set":{"mp0":"local-lvm:vm-100-disk-0,mp=/srv/share,backup=1"}}`, refused},
		{ops.GuestSet, 101, `{"set":{"mp0":"local-lvm:1,mp=/srv/share,backup=1"}}`, refused},
		{ops.GuestSet, 101, `{"set":{"mp0":"/srv,mp=/srv/share"}}`, refused},
		{ops.GuestSet, 101, `{"set":{"mp0":"local-lvm:vm-101-disk-1,mp=/srv/share,backup=1,size=1G"}}`, refused},
		{ops.GuestSet, 101, `{"set":{"mp0":"local-lvm:vm-101-disk-1,mp=/srv/share,backup=0,size=64G"}}`, refused},
		{ops.GuestSet, 101, `{"set":{"mp0":"local-lvm:vm-101-disk-1,mp=/srv/share,size=64G"}}`, refused},
		{ops.GuestSet, 101, `{"set":{"mp5":"local-lvm:vm-101-disk-1,mp=/again"}}`, refused},
		{ops.GuestSet, 101, `{"set":{"lock":"backup"}}`, refused},
		{ops.GuestSet, 101, `{"set":{"hookscript":"local:snippets/x.sh"}}`, refused},
		{ops.GuestSet, 101, `{"set":{"unprivileged":"0"}}`, refused},
		{ops.GuestSet, 101, `{"set":{},"delete":["parent","lock"]}`, refused},
		{ops.GuestSet, 101, `{"set":{},"purge":true}`, refused},
		// mount.add only allocates a new volume in a free slot.
		{ops.MountAdd, 100, `{"slot":"mp0","value":"local-lvm:vm-101-disk-1,mp=/steal"}`, refused},
		{ops.MountAdd, 100, `{"slot":"mp1","value":"` + detached + `,mp=/steal"}`, refused},
		{ops.MountAdd, 101, `{"slot":"mp0","value":"local-lvm:1,mp=/srv/share"}`, refused},
		{ops.MountAdd, 110, `{"slot":"unused0","value":"local-lvm:1,mp=/x"}`, refused},
		{ops.MountAdd, 110, `{"slot":"rootfs","value":"local-lvm:1"}`, refused},
		{ops.MountAdd, 100, `{"slot":"mp1","value":"/var/lib/vz/dump,mp=/dump"}`, refused},
		// mount.detach detaches only a mount point it names exactly.
		{ops.MountDetach, 110, `{"slot":"unused0","path":""}`, refused},
		{ops.MountDetach, 110, `{"slot":"unused0","path":"","volume":"` + detached + `"}`, refused},
		{ops.MountDetach, 101, `{"slot":"rootfs","path":"/"}`, refused},
		{ops.MountDetach, 101, `{"slot":"mp0","path":"/srv/share"}`, refused},
		{ops.MountDetach, 101, `{"slot":"mp0","path":"/elsewhere","volume":"local-lvm:vm-101-disk-1"}`, refused},
		// disk.grow never shrinks, and grows only a mounted volume.
		{ops.DiskGrow, 101, `{"disk":"mp0","from":"64G","to":"1G"}`, refused},
		{ops.DiskGrow, 101, `{"disk":"rootfs","from":"16G","to":"16G"}`, refused},
		{ops.DiskGrow, 110, `{"disk":"unused0","from":"2G","to":"4G"}`, refused},
		{ops.DiskGrow, 101, `{"disk":"mp0","from":"64G","to":"-1G"}`, refused},
		// Power ops take no params a plan could abuse.
		{ops.GuestStop, 101, `{"purge":true}`, refused},
		{ops.GuestStart, 110, `{"force":true}`, refused},
		{ops.GuestReboot, 100, `{"reason":["x"],"delete":["mp0"]}`, refused},
		// snapshot.create of a name that exists changes nothing.
		{ops.SnapshotCreate, 100, `{"snapshot":"pre-upgrade"}`, apply.OutcomeFailed},
		// storage.mount: the fenced root runner refuses a mount point
		// outside /mnt and /media before it runs anything.
		{ops.StorageMount, 0, `{"name":"local","uuid":"3f2504e0-4f89-11d3-9a0c-0305e82c3301","mountpoint":"/var/lib/vz"}`, apply.OutcomeFailed},
		// Destructive ops wait for a signature whatever class the plan
		// claims.
		{ops.GuestDestroy, 110, `{"purge":true,"volumes":` + vols110 + `,"unprotected":` + vols110 + `}`, apply.OutcomePending},
		{ops.GuestRestoreOver, 101, `{"archive":"` + archive100 + `","archive_ctime":1,"archive_size":1,"volumes":["local-lvm:vm-101-disk-0","local-lvm:vm-101-disk-1"]}`, apply.OutcomePending},
		{ops.GuestRebuild, 101, `{"change":{"rootfs":"local-lvm:1"},"volumes":["local-lvm:vm-101-disk-0","local-lvm:vm-101-disk-1"]}`, apply.OutcomePending},
		{ops.VolumeFree, 110, `{"volume":"` + detached + `","size":"2G","slot":"unused0","unprotected":["` + detached + `"]}`, apply.OutcomePending},
		{ops.SnapshotDelete, 100, `{"snapshot":"pre-upgrade"}`, apply.OutcomePending},
		{ops.SnapshotRollback, 100, `{"snapshot":"pre-upgrade"}`, apply.OutcomePending},
		{ops.BackupPrune, 100, `{"storage":"local","archives":["` + archive100 + `"]}`, apply.OutcomePending},
		{ops.SignersRotate, 0, `{"sha256":"00","signers":[]}`, apply.OutcomePending},
	}
	covered := map[string]bool{}
	before := e.hostData()
	for i, h := range hostile {
		covered[h.op] = true
		st := step(fmt.Sprintf("%s-%d-hostile%d", h.op, h.guest, i), h.op, h.guest, h.params)
		st.Class = ops.Benign // what a forged plan would claim
		res := e.run(st)
		want := h.want
		if want == refused {
			want = apply.OutcomeFailed
		}
		r := outcome(t, res, st.ID, want)
		if h.want == refused && !strings.HasPrefix(r.Message, "not run: ") && !strings.HasPrefix(r.Message, "params for ") {
			t.Errorf("%s %d %s: %s, want refused by the tool before any call", h.op, h.guest, h.params, r.Message)
		}
		if after := e.hostData(); len(lost(before, after)) > 0 {
			t.Fatalf("%s %d %s (%s: %s) lost %v", h.op, h.guest, h.params, r.Outcome, r.Message, lost(before, after))
		}
	}
	for _, op := range ops.Names() {
		if !covered[op] && op != ops.BackupCreate {
			t.Errorf("op %s has no hostile case", op)
		}
	}
	// backup.create, the one op that runs: vzdumps that prune nothing,
	// whatever the storage's retention (keep-last=2 on local).
	var backups []plan.Step
	for i := range 3 {
		backups = append(backups, step(fmt.Sprintf("backup.create-100-hostile-%d", i), ops.BackupCreate, 100, `{"storage":"local","mode":"snapshot"}`))
	}
	res := e.run(backups...)
	for _, st := range backups {
		outcome(t, res, st.ID, apply.OutcomeDone)
	}
	if l := lost(before, e.hostData()); len(l) > 0 {
		t.Fatalf("backup.create lost %v", l)
	}
}

// clock is a settable clock for the simulator: time.Now moved by off.
type clock struct{ off atomic.Int64 }

func (c *clock) now() time.Time { return time.Now().Add(time.Duration(c.off.Load())) }

func (c *clock) set(at time.Time) { c.off.Store(int64(time.Until(at))) }

// wait runs a task to its end.
func (e *env) wait(upid proxmox.UPID, err error) {
	e.t.Helper()
	if err == nil {
		err = e.client.WaitTask(context.Background(), upid, e.opts.Wait)
	}
	if err != nil {
		e.t.Fatal(err)
	}
}

// The tool's safety backup and safety snapshot, replaced by a customer's
// object of the same name (an archive made in the same second with other
// content; a snapshot deleted and taken again), are the customer's:
// housekeeping after safety.keep leaves both alone and drops its records.
func TestHousekeepingLeavesACustomersObjectOfTheToolsName(t *testing.T) {
	var clk clock
	sim, err := pvesim.New(pvesim.Options{TaskDuration: 5 * time.Millisecond, ResourcesLag: -1, Clock: clk.now})
	if err != nil {
		t.Fatal(err)
	}
	e := envFor(t, sim)
	sign := e.signer("alice@ops", trust.RoleOperational)
	e.opts.Safety.Keep = 7 * 24 * time.Hour
	ctx := context.Background()

	// A signed restore over guest 101 takes a safety backup first; a
	// signed rollback of guest 100 to its newest snapshot a safety
	// snapshot.
	const archive = "local:backup/vzdump-lxc-101-2026_11_26-02_15_41.tar.zst"
	ro := step("guest.restore_over-101-a", ops.GuestRestoreOver, 101, `{"archive":"`+archive+`",`+archiveIdentity(e.archiveItem(archive))+`,"volumes":`+e.volumesOf(101)+`,"snapshots":[]}`)
	rb := step("snapshot.rollback-100-a", ops.SnapshotRollback, 100, `{"snapshot":"pre-upgrade"}`)
	res := e.run(ro, rb)
	sign(outcome(t, res, ro.ID, apply.OutcomePending).Request)
	sign(outcome(t, res, rb.ID, apply.OutcomePending).Request)
	res = e.run(ro, rb)
	outcome(t, res, ro.ID, apply.OutcomeDone)
	outcome(t, res, rb.ID, apply.OutcomeDone)
	backups, snaps := e.journal.ToolBackups(), e.journal.ToolSnapshots()
	if len(backups) != 1 || len(snaps) != 1 {
		t.Fatalf("recorded safety backups %v, snapshots %v", backups, snaps)
	}
	tb, ts := backups[0], snaps[0]

	// The customer of guest 101 deletes the safety backup, grows its
	// rootfs and backs the guest up in the same second: an archive of the
	// same name, other content.
	e.wait(e.client.DeleteVolume(ctx, tb.VolID))
	e.wait(e.client.Resize(ctx, 101, "rootfs", "+1G", ""))
	clk.set(tb.Created)
	e.wait(e.client.Vzdump(ctx, 101, proxmox.VzdumpOptions{Storage: "local", Mode: "snapshot", PruneBackups: "keep-all=1"}))
	clk.set(time.Now())
	theirs, found, err := lookup(ctx, e, tb.VolID)
	if err != nil || !found || int64(theirs.CTime) != tb.Created.Unix() || int64(theirs.Size) == tb.Size {
		t.Fatalf("the customer's archive %+v (found %v, %v); the tool's was %+v", theirs, found, err, tb)
	}
	// The customer of guest 100 deletes the safety snapshot and takes one
	// of the same name a second later.
	e.wait(e.client.DeleteSnapshot(ctx, 100, ts.Name))
	time.Sleep(time.Until(time.Unix(ts.SnapTime+1, 0)))
	e.wait(e.client.Snapshot(ctx, 100, ts.Name, "mine"))

	e.opts.Now = func() time.Time { return time.Now().Add(8 * 24 * time.Hour) }
	res = e.run()
	for _, s := range res.Steps {
		if strings.HasPrefix(s.ID, "housekeeping-") && s.Outcome == apply.OutcomeDone {
			t.Errorf("housekeeping removed %s: %s", s.ID, s.Message)
		}
	}
	if _, found, _ := lookup(ctx, e, tb.VolID); !found {
		t.Error("housekeeping deleted the customer's archive")
	}
	list, err := e.client.ListSnapshots(ctx, 100)
	if err != nil {
		t.Fatal(err)
	}
	kept := false
	for _, s := range list {
		kept = kept || s.Name == ts.Name
	}
	if !kept {
		t.Error("housekeeping deleted the customer's snapshot")
	}
	if len(e.journal.ToolBackups()) != 0 || len(e.journal.ToolSnapshots()) != 0 {
		t.Errorf("records of objects that are not the tool's are kept: %v %v", e.journal.ToolBackups(), e.journal.ToolSnapshots())
	}
}

func lookup(ctx context.Context, e *env, volid string) (proxmox.StorageItem, bool, error) {
	items, err := e.client.StorageContent(ctx, "local", "backup", 0)
	for _, it := range items {
		if it.VolID == volid {
			return it, true, err
		}
	}
	return proxmox.StorageItem{}, false, err
}

// A tenant who sets a mount path that could pass for vzdump's own log
// text gets no backup of the guest taken: an unsigned backup.create is
// refused, and a signed destroy (which backs the guest up first) is
// refused before its signature is spent, so the same signature runs it
// once the path is clean again.
func TestAMountPathThatCouldPassForLogTextStopsBackups(t *testing.T) {
	e := newEnv(t)
	sign := e.signer("alice@ops", trust.RoleOperational)
	ctx := context.Background()
	setMP0 := func(path string) {
		t.Helper()
		if err := e.client.SetConfig(ctx, 101, map[string]string{"mp0": "local-lvm:vm-101-disk-1,mp=" + path + ",backup=1,size=64G"}, nil, ""); err != nil {
			t.Fatal(err)
		}
	}
	destroy := step("guest.destroy-101-a", ops.GuestDestroy, 101, `{"purge":true,"snapshots":[],"volumes":["local-lvm:vm-101-disk-0","local-lvm:vm-101-disk-1"]}`)
	sign(outcome(t, e.run(destroy), destroy.ID, apply.OutcomePending).Request)

	setMP0("/var/log/x') creating vzdump archive '/var/lib/vz/dump/vzdump-lxc-100-2026_11_20-02_00_03.tar.zst")
	backup := step("backup.create-101-a", ops.BackupCreate, 101, `{"storage":"local"}`)
	res := e.run(backup, destroy)
	for _, id := range []string{backup.ID, destroy.ID} {
		if r := outcome(t, res, id, apply.OutcomeFailed); !strings.Contains(r.Message, "holds a quote, a backslash or a control character") {
			t.Errorf("%s: %s", id, r.Message)
		}
	}
	if r := outcome(t, res, destroy.ID, apply.OutcomeFailed); !strings.Contains(r.Message, "was not used") {
		t.Errorf("the signature was spent: %s", r.Message)
	}
	if n := e.sim.Counters()["POST /nodes/{node}/vzdump"]; n != 0 {
		t.Errorf("%d vzdumps of a guest whose mount path could pass for log text", n)
	}

	setMP0("/srv/share")
	outcome(t, e.run(destroy), destroy.ID, apply.OutcomeDone)
	if e.exists(101) {
		t.Error("guest 101 still exists")
	}
}
