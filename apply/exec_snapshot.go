package apply

import (
	"context"
	"fmt"
	"strings"

	"github.com/felhom/felhom-converge/ops"
	"github.com/felhom/felhom-converge/proxmox"
)

type snapshotCreate struct{ p ops.SnapshotCreateParams }

func (e snapshotCreate) check(context.Context, *stepRun) error { return nil }

func (e snapshotCreate) run(ctx context.Context, x *stepRun) error {
	c := x.main(e.p)
	c.post = func(ctx context.Context) (proxmox.UPID, error) {
		return x.o.Client.Snapshot(ctx, x.vmid(), e.p.Snapshot, e.p.Description)
	}
	_, err := x.do(ctx, c)
	return err
}

// snapshotDelete deletes a snapshot the signature names.
type snapshotDelete struct{ p ops.SnapshotParams }

func (e snapshotDelete) check(ctx context.Context, x *stepRun) error {
	return x.checkSnapshot(ctx, e.p)
}

func (e snapshotDelete) run(ctx context.Context, x *stepRun) error {
	c := x.main(e.p)
	c.post = func(ctx context.Context) (proxmox.UPID, error) {
		return x.o.Client.DeleteSnapshot(ctx, x.vmid(), e.p.Snapshot)
	}
	_, err := x.do(ctx, c)
	return err
}

// snapshotRollback rolls a guest back to a signed snapshot, after a
// safety snapshot of the state it throws away (a backup where a snapshot
// would block the rollback), and starts it again if it ran.
type snapshotRollback struct{ p ops.SnapshotRollbackParams }

// check refuses, before the signature is spent, a rollback to a snapshot
// that is not the one signed, or one whose way back, should it be a
// backup, would not keep a volume the signed params do not name
// unprotected (the live config predicts what a backup keeps).
func (e snapshotRollback) check(ctx context.Context, x *stepRun) error {
	if err := x.checkSnapshot(ctx, e.p.SnapshotParams); err != nil {
		return err
	}
	g, err := x.readGuest(ctx)
	if err != nil {
		return err
	}
	if err := g.unsafeMountPath(x.vmid()); err != nil {
		return err
	}
	if err := g.checkCovered(x.vmid(), e.p.Unprotected, x.o.Safety.Enabled, nil); err != nil {
		return err
	}
	if snapshotSafe, err := x.snapshotKeepsRollback(ctx, e.p.Snapshot); err != nil || snapshotSafe {
		return err
	}
	return x.safetyStorageReady(ctx) // the way back is a safety backup
}

func (e snapshotRollback) run(ctx context.Context, x *stepRun) error {
	running, err := x.running(ctx)
	if err != nil {
		return err
	}
	snapshotSafe, err := x.snapshotKeepsRollback(ctx, e.p.Snapshot)
	if err != nil {
		return err
	}
	// A safety snapshot becomes the newest snapshot, and ZFS rolls back
	// only to the newest: there (and for an older target anywhere) the
	// way back is a backup.
	var taken *[]string // what a safety backup holds, when it was one
	if snapshotSafe {
		taken, err = x.safetySnapshot(ctx)
	} else {
		var covered []string
		covered, err = x.safetyBackup(ctx)
		taken = &covered
	}
	if err != nil {
		return err
	}
	// Again right before the call: what the rollback rewinds and a backup
	// taken first does not hold must be signed as unprotected.
	g, err := x.readGuest(ctx)
	if err != nil {
		return err
	}
	if err := g.checkCovered(x.vmid(), e.p.Unprotected, x.o.Safety.Enabled, taken); err != nil {
		return err
	}
	c := x.main(e.p)
	c.post = func(ctx context.Context) (proxmox.UPID, error) {
		return x.o.Client.Rollback(ctx, x.vmid(), e.p.Snapshot, false)
	}
	if _, err := x.do(ctx, c); err != nil {
		return err
	}
	if running {
		return x.start(ctx)
	}
	return nil
}

// checkSnapshot refuses a step on a snapshot that is gone, or that is not
// the one signed (another taken under the same name since).
func (x *stepRun) checkSnapshot(ctx context.Context, p ops.SnapshotParams) error {
	s, err := x.findSnapshot(ctx, p.Snapshot)
	if err != nil {
		return err
	}
	if p.SnapTime != 0 && int64(s.SnapTime) != p.SnapTime {
		return fmt.Errorf("guest %d: snapshot %q was taken at %d, not at %d as signed: another snapshot of that name; not run (plan again)", x.vmid(), p.Snapshot, s.SnapTime, p.SnapTime)
	}
	return nil
}

// findSnapshot returns the guest's snapshot name, or why it cannot be
// acted on.
func (x *stepRun) findSnapshot(ctx context.Context, name string) (proxmox.Snapshot, error) {
	snaps, err := x.o.Client.ListSnapshots(ctx, x.vmid())
	if err != nil {
		return proxmox.Snapshot{}, fmt.Errorf("list the snapshots of guest %d: %w", x.vmid(), err)
	}
	for _, s := range snaps {
		if s.Name == name && name != "current" {
			return s, nil
		}
	}
	return proxmox.Snapshot{}, fmt.Errorf("guest %d has no snapshot %q now; plan again", x.vmid(), name)
}

// safetySnapshot takes the tool's own snapshot before a rollback; where
// the guest's storage cannot snapshot, a backup instead, and then taken is
// what that backup holds (nil after a snapshot, which keeps every volume).
func (x *stepRun) safetySnapshot(ctx context.Context) (taken *[]string, err error) {
	if !x.o.Safety.Enabled {
		return nil, nil
	}
	v := x.vmid()
	p := ops.SnapshotCreateParams{Snapshot: "felhom-safety-" + x.o.Now().UTC().Format("20060102150405"), Description: "safety snapshot before " + x.st.ID}
	_, err = x.do(ctx, call{suffix: "#safety", op: ops.SnapshotCreate, params: p, provenance: ProvenanceSafetySnapshot,
		post: func(ctx context.Context) (proxmox.UPID, error) {
			return x.o.Client.Snapshot(ctx, v, p.Snapshot, p.Description)
		}})
	if err != nil && strings.Contains(err.Error(), "snapshot feature is not available") {
		covered, err := x.safetyBackup(ctx)
		return &covered, err
	}
	if err != nil {
		return nil, fmt.Errorf("safety snapshot failed, so the step did not run: %w", err)
	}
	x.note = "safety snapshot " + p.Snapshot
	return nil, nil
}

// snapshotKeepsRollback reports whether a safety snapshot taken now still
// lets the rollback to name run: name must be the newest snapshot, and no
// volume of the guest may be on ZFS (which rolls back only to the newest,
// and the safety snapshot would be newer).
func (x *stepRun) snapshotKeepsRollback(ctx context.Context, name string) (bool, error) {
	snaps, err := x.o.Client.ListSnapshots(ctx, x.vmid())
	if err != nil {
		return false, err
	}
	newest, parent := "", ""
	var at int64 = -1
	for _, s := range snaps {
		switch {
		case s.Name == "current":
			parent = s.Parent
		case int64(s.SnapTime) > at:
			newest, at = s.Name, int64(s.SnapTime)
		}
	}
	if newest != name || parent != name {
		return false, nil
	}
	g, err := x.readGuest(ctx)
	if err != nil {
		return false, err
	}
	storages, err := x.o.Client.ListStorage(ctx)
	if err != nil {
		return false, err
	}
	kind := map[string]string{}
	for _, s := range storages {
		kind[s.Storage] = s.Type
	}
	for _, vol := range g.owned() {
		if kind[storageOf(vol)] == "zfspool" {
			return false, nil
		}
	}
	return true, nil
}
