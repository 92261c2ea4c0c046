package apply

import (
	"cmp"
	"context"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/felhom/felhom-converge/ops"
	"github.com/felhom/felhom-converge/plan"
	"github.com/felhom/felhom-converge/proxmox"
	"github.com/felhom/felhom-converge/schema"
)

// The ops that replace or destroy a guest's data: guest.destroy,
// guest.restore_over, guest.rebuild and volume.free. Each runs on a
// signature over params that name everything it loses, and checks the
// live guest against them twice: before the nonce is spent, and right
// before its call (after the backup it takes first).

// checkReplaced refuses a step when the guest now owns a volume or a
// snapshot the signed params do not name, or when a volume it would lose
// for good is not named unprotected (liveGuest.checkCovered, with taken).
func (x *stepRun) checkReplaced(ctx context.Context, r ops.Replaced, backup bool, taken *[]string) (liveGuest, error) {
	v := x.vmid()
	g, err := x.readGuest(ctx)
	if err != nil {
		return g, err
	}
	var extra []string
	for _, vol := range g.owned() {
		if !slices.Contains(r.Volumes, vol) {
			extra = append(extra, vol)
		}
	}
	snaps, err := x.o.Client.ListSnapshots(ctx, v)
	if err != nil {
		return g, fmt.Errorf("list the snapshots of guest %d: %w", v, err)
	}
	for _, s := range snaps {
		if s.Name != "current" && !slices.Contains(r.Snapshots, s.Name) {
			extra = append(extra, "snapshot "+s.Name)
		}
	}
	if len(extra) > 0 {
		return g, fmt.Errorf("guest %d now owns %s, which the signed step does not name; not run (plan again and sign the new step)",
			v, strings.Join(extra, ", "))
	}
	if err := g.checkCovered(v, r.Unprotected, backup, taken); err != nil {
		return g, err
	}
	if backup {
		return g, g.unsafeMountPath(v)
	}
	return g, nil
}

// checkCovered refuses when a volume of guest v that a step loses for good
// (one the backup taken first does not cover; every volume when it takes
// none) is not named unprotected. taken is what that backup holds (see
// stepRun.covers), nil before it ran, when the live config predicts it: a
// volume counts as covered only if the backup holds it and the live config
// still backs it up.
func (g liveGuest) checkCovered(v int, unprotected []string, backup bool, taken *[]string) error {
	var covered []string
	if backup {
		covered = plan.CoveredVolumes(g.current)
		if taken != nil {
			covered = intersect(covered, *taken)
		}
	}
	var lost []string
	for _, vol := range plan.Uncovered(g.owned(), covered) {
		if !slices.Contains(unprotected, vol) {
			lost = append(lost, vol)
		}
	}
	if len(lost) == 0 {
		return nil
	}
	why := "no backup is taken first (safety backups are off)"
	if backup {
		why = "the backup taken first does not cover it (no backup=1 when it ran, or detached)"
	}
	return fmt.Errorf("guest %d: %s would be lost for good: %s, and the signed step does not name it as unprotected; not run (plan again: the new request names it)",
		v, strings.Join(lost, ", "), why)
}

func intersect(a, b []string) []string {
	var out []string
	for _, s := range a {
		if slices.Contains(b, s) {
			out = append(out, s)
		}
	}
	return out
}

type guestDestroy struct{ p ops.GuestDestroyParams }

func (e guestDestroy) check(ctx context.Context, x *stepRun) error {
	if x.gate.provenance {
		return nil // the tool's own guest, made in a transaction still open
	}
	if _, err := x.checkReplaced(ctx, e.p.Replaced, x.o.Safety.Enabled, nil); err != nil {
		return err
	}
	return x.safetyStorageReady(ctx)
}

func (e guestDestroy) run(ctx context.Context, x *stepRun) error {
	if !x.gate.provenance {
		// Stopped first, so the safety backup holds the guest's last
		// writes: a backup of a running guest misses what it writes after.
		undo := func(err error) error { return err }
		if x.o.Safety.Enabled {
			var err error
			if undo, err = x.stopForStep(ctx); err != nil {
				return err
			}
		}
		covered, err := x.safetyBackup(ctx)
		if err != nil {
			return undo(err)
		}
		// Again right before the call: nothing may have joined the guest
		// while the safety backup ran, and what it freed must be in it.
		if _, err := x.checkReplaced(ctx, e.p.Replaced, x.o.Safety.Enabled, &covered); err != nil {
			return undo(err)
		}
	}
	c := x.main(e.p)
	c.post = func(ctx context.Context) (proxmox.UPID, error) {
		return x.o.Client.DestroyLXC(ctx, x.vmid(), proxmox.DestroyOptions{Purge: e.p.Purge, Force: true})
	}
	if _, err := x.do(ctx, c); err != nil {
		return err
	}
	x.noteLeftOver(ctx)
	return nil
}

type restoreOver struct{ p ops.GuestRestoreOverParams }

func (e restoreOver) check(ctx context.Context, x *stepRun) error {
	g, err := x.checkReplaced(ctx, e.p.Replaced, x.o.Safety.Enabled, nil)
	if err != nil {
		return err
	}
	if _, err := g.rootStorage(x.vmid()); err != nil {
		return err
	}
	it, found, err := lookupArchive(ctx, x.o.Client, e.p.Archive)
	switch {
	case err != nil:
		return err
	case !found || it.Content != "backup":
		return fmt.Errorf("guest %d: %s is not a backup archive on its storage", x.vmid(), e.p.Archive)
	case int64(it.CTime) != e.p.ArchiveCTime || int64(it.Size) != e.p.ArchiveSize:
		return fmt.Errorf("guest %d: %s is not the archive signed (ctime %d and size %d, signed %d and %d): another file under that name; not run",
			x.vmid(), e.p.Archive, it.CTime, it.Size, e.p.ArchiveCTime, e.p.ArchiveSize)
	}
	return x.safetyStorageReady(ctx)
}

// stopForStep stops a running guest before a step's backup, so the backup
// holds its last writes. undo, for a step that then goes no further
// (its backup failed, or a re-check refused it), starts the guest again
// and says so in the step's error; for a guest that was not running it
// returns the error as it is.
func (x *stepRun) stopForStep(ctx context.Context) (undo func(error) error, err error) {
	running, err := x.running(ctx)
	if err != nil {
		return nil, err
	}
	undo = func(err error) error { return err }
	if !running {
		return undo, nil
	}
	if err := x.stop(ctx); err != nil {
		return nil, err
	}
	return func(stepErr error) error {
		if err := x.start(ctx); err != nil {
			return fmt.Errorf("%w; guest %d, stopped for the step, could not be started again: %v", stepErr, x.vmid(), err)
		}
		return fmt.Errorf("%w; guest %d, stopped for the step, was started again", stepErr, x.vmid())
	}, nil
}

// rootAndRunning reads the storage of the guest's rootfs, where a restore
// over it puts the new volumes, and whether the guest runs now.
func (x *stepRun) rootAndRunning(ctx context.Context) (storage string, running bool, err error) {
	g, err := x.readGuest(ctx)
	if err != nil {
		return "", false, err
	}
	if storage, err = g.rootStorage(x.vmid()); err != nil {
		return "", false, err
	}
	running, err = x.running(ctx)
	return storage, running, err
}

func (e restoreOver) run(ctx context.Context, x *stepRun) error {
	storage, running, err := x.rootAndRunning(ctx)
	if err != nil {
		return err
	}
	// A snapshot would go with the volumes the restore destroys, so the
	// safety step is a backup, of the stopped guest: it holds the guest's
	// last writes.
	undo, err := x.stopForStep(ctx)
	if err != nil {
		return err
	}
	covered, err := x.safetyBackup(ctx)
	if err != nil {
		return undo(err)
	}
	if _, err := x.checkReplaced(ctx, e.p.Replaced, x.o.Safety.Enabled, &covered); err != nil {
		return undo(err) // again right before the call
	}
	c := x.main(e.p)
	c.post = func(ctx context.Context) (proxmox.UPID, error) {
		return x.o.Client.RestoreLXC(ctx, x.vmid(), e.p.Archive, proxmox.RestoreOptions{Storage: storage, Force: true})
	}
	if _, err := x.do(ctx, c); err != nil {
		return err
	}
	x.noteLeftOver(ctx)
	if running {
		return x.start(ctx) // as it was: the restore leaves it stopped
	}
	return nil
}

// noteLeftOver names, in the step's note, the volumes of the guest's VMID
// that outlived a destroy or a restore over: Proxmox frees only what the
// guest's config names, so a volume only a snapshot referenced (or one
// left unreferenced by hand) stays on its storage, and nobody would know.
// Reading them is best effort: the step itself succeeded.
func (x *stepRun) noteLeftOver(ctx context.Context) {
	stores, err := x.o.Client.NodeStorage(ctx)
	if err != nil {
		return
	}
	named := map[string]bool{}
	if cfg, err := x.o.Client.GuestConfig(ctx, x.vmid()); err == nil {
		for _, v := range plan.OwnedVolumes(cfg.Values) {
			named[v] = true
		}
	}
	var left []string
	for _, st := range stores {
		if !bool(st.Active) || !strings.Contains(","+st.Content+",", ",rootdir,") {
			continue
		}
		items, err := x.o.Client.StorageContent(ctx, st.Storage, "rootdir", x.vmid())
		if err != nil {
			continue
		}
		for _, it := range items {
			if !named[it.VolID] {
				left = append(left, it.VolID)
			}
		}
	}
	if len(left) == 0 {
		return
	}
	slices.Sort(left)
	x.note = strings.TrimPrefix(x.note+"; ", "; ") + fmt.Sprintf("left on storage, owned by VMID %d but named by no config (Proxmox frees only what the config names): %s", x.vmid(), strings.Join(left, ", "))
}

// rebuild backs the guest up and restores it from exactly that backup
// with the change applied (a rootfs shrink, an unprivileged flip).
type rebuild struct{ p ops.GuestRebuildParams }

func (e rebuild) check(ctx context.Context, x *stepRun) error {
	for _, k := range slices.Sorted(maps.Keys(e.p.Change)) {
		switch v := e.p.Change[k]; {
		case k == "unprivileged" && (v == "0" || v == "1"):
		case k == "rootfs":
			if err := newVolume(k, v); err != nil {
				return fmt.Errorf("guest %d: %w", x.vmid(), err)
			}
		default:
			return fmt.Errorf("guest %d: a rebuild may not change %s=%q", x.vmid(), k, v)
		}
	}
	g, err := x.checkReplaced(ctx, e.p.Replaced, true, nil)
	if err != nil {
		return err
	}
	if _, err = g.rootStorage(x.vmid()); err != nil {
		return err
	}
	return x.backupStorageReady(ctx, cmp.Or(e.p.BackupStorage, x.o.Safety.BackupStorage))
}

func (e rebuild) run(ctx context.Context, x *stepRun) error {
	storage, running, err := x.rootAndRunning(ctx)
	if err != nil {
		return err
	}
	// Stopped first: vzdump's stop mode starts a running guest again once
	// its archive is written, and what the guest wrote then would be lost.
	undo, err := x.stopForStep(ctx)
	if err != nil {
		return err
	}
	bs := cmp.Or(e.p.BackupStorage, x.o.Safety.BackupStorage)
	backup := call{suffix: "#backup", op: ops.BackupCreate, params: ops.BackupCreateParams{Storage: bs, Mode: "stop"}}
	archive, err := x.backup(ctx, backup, bs, "stop")
	if err != nil {
		return undo(fmt.Errorf("backup before the rebuild: %w", err))
	}
	covered, err := x.covers(ctx, archive)
	if err != nil {
		return undo(err)
	}
	if _, err := x.checkReplaced(ctx, e.p.Replaced, true, &covered); err != nil {
		return undo(fmt.Errorf("%w (the backup taken first is %s)", err, archive.VolID)) // again right before the call
	}
	conf, err := e.restoreConfig(ctx, x, archive.VolID)
	if err != nil {
		return undo(fmt.Errorf("%w (the backup taken first is %s)", err, archive.VolID))
	}
	c := x.main(e.p)
	c.post = func(ctx context.Context) (proxmox.UPID, error) {
		return x.o.Client.RestoreLXC(ctx, x.vmid(), archive.VolID, proxmox.RestoreOptions{Storage: storage, Force: true, Config: conf})
	}
	if _, err := x.do(ctx, c); err != nil {
		return fmt.Errorf("%w (the backup taken first is %s)", err, archive.VolID)
	}
	x.note = "backup taken first: " + archive.VolID
	if running {
		return x.start(ctx)
	}
	return nil
}

// restoreConfig is what the restore is given: the signed change, and,
// when it sets rootfs (which makes Proxmox restore only the volumes it is
// given), every volume mount point of the archive as a new volume of the
// same size and options, so its data is restored too.
func (e rebuild) restoreConfig(ctx context.Context, x *stepRun, archive string) (map[string]string, error) {
	conf := maps.Clone(e.p.Change)
	if _, ok := conf["rootfs"]; !ok {
		return conf, nil
	}
	archived, err := x.o.Client.ExtractConfig(ctx, archive)
	if err != nil {
		return nil, fmt.Errorf("read the config inside %s: %w", archive, err)
	}
	for _, k := range slices.Sorted(maps.Keys(archived)) {
		if !plan.MountKey(k) {
			continue
		}
		m, err := plan.ParseMount(k, archived[k])
		switch {
		case err != nil:
			return nil, fmt.Errorf("%s in %s: %w", k, archive, err)
		case m.Bind:
			return nil, fmt.Errorf("%s is a bind mount of %s, which only root@pam may restore; not rebuilt", k, m.Volume)
		case m.Size <= 0:
			return nil, fmt.Errorf("%s in %s has no size to allocate its new volume with", k, archive)
		}
		ps := maps.Clone(m.Props)
		delete(ps, "size")
		ps["volume"] = storageOf(m.Volume) + ":" + strconv.FormatFloat(float64(m.Size)/float64(schema.GiB), 'f', -1, 64)
		conf[k] = plan.PropertyString("volume", ps)
	}
	return conf, nil
}

// volumeFree deletes one detached (unusedN) volume. No backup covers a
// detached volume, so its params must name it unprotected.
type volumeFree struct{ p ops.VolumeFreeParams }

func (e volumeFree) check(ctx context.Context, x *stepRun) error {
	if !slices.Contains(e.p.Unprotected, e.p.Volume) {
		return fmt.Errorf("guest %d: no backup covers the detached volume %s, and the signed step does not name it as unprotected; not freed (plan again: the new request names it)", x.vmid(), e.p.Volume)
	}
	_, _, err := x.findUnused(ctx, e.p.Volume, e.p.Slot)
	return err
}

func (e volumeFree) run(ctx context.Context, x *stepRun) error {
	// Read again right before the call, and pass that read's digest.
	slot, digest, err := x.findUnused(ctx, e.p.Volume, e.p.Slot)
	if err != nil {
		return err
	}
	if err := x.setConfig(ctx, x.main(e.p), nil, []string{slot}, digest); err != nil {
		return err
	}
	// Proxmox drops only the reference while a snapshot still uses the
	// volume: say so, rather than that its data is gone.
	items, err := x.o.Client.StorageContent(ctx, storageOf(e.p.Volume), "", x.vmid())
	if err != nil {
		return nil // the volume was freed as far as the guest knows; the storage could not be read to tell more
	}
	for _, it := range items {
		if it.VolID == e.p.Volume {
			x.note = fmt.Sprintf("%s is detached from the guest but stays on its storage while a snapshot of guest %d uses it (once that snapshot is deleted, it comes back as an unusedN entry to free)", e.p.Volume, x.vmid())
		}
	}
	return nil
}

// findUnused finds the unusedN slot holding volume (slot, when given,
// must be it) and returns it with the config's digest.
func (x *stepRun) findUnused(ctx context.Context, volume, slot string) (string, string, error) {
	v := x.vmid()
	g, err := x.readGuest(ctx)
	if err != nil {
		return "", "", err
	}
	for _, k := range slices.Sorted(maps.Keys(g.current)) {
		if plan.UnusedKey(k) && g.current[k] == volume {
			if slot != "" && slot != k {
				return "", "", fmt.Errorf("guest %d: volume %s is now in %s, not %s; not freed (plan again)", v, volume, k, slot)
			}
			return k, g.digest, nil
		}
	}
	if cur, ok := g.current[slot]; ok && slot != "" {
		return "", "", fmt.Errorf("guest %d: %s now holds %s, not %s; not freed", v, slot, cur, volume)
	}
	return "", "", fmt.Errorf("guest %d: volume %s is not a detached (unusedN) volume of the guest; not freed", v, volume)
}
