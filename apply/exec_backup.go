package apply

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/felhom/felhom-converge/journal"
	"github.com/felhom/felhom-converge/ops"
	"github.com/felhom/felhom-converge/plan"
	"github.com/felhom/felhom-converge/proxmox"
)

// keepAll is the prune-backups value of every backup the tool takes: it
// neither prunes old archives nor fails on a full retention.
const keepAll = "keep-all=1"

// backupCreate takes a vzdump that prunes nothing.
type backupCreate struct{ p ops.BackupCreateParams }

func (e backupCreate) check(ctx context.Context, x *stepRun) error {
	g, err := x.readGuest(ctx)
	if err != nil {
		return err
	}
	return g.unsafeMountPath(x.vmid())
}

func (e backupCreate) run(ctx context.Context, x *stepRun) error {
	storage := e.p.Storage
	if storage == "" {
		storage = x.o.Safety.BackupStorage
	}
	c := x.main(e.p)
	if e.p.Golden != "" {
		c.provenance = ProvenanceGoldenArchive
	}
	it, err := x.backup(ctx, c, storage, e.p.Mode)
	if err == nil {
		x.note = it.VolID
	}
	return err
}

// backupPrune takes a vzdump without pruning, then deletes exactly the
// archives its signature names (the retention's own prune would delete
// whatever it finds at run time). A crash between the backup and the
// deletions leaves the archives (the job is done, its nonce spent): the
// safe side.
type backupPrune struct{ p ops.BackupPruneParams }

func (e backupPrune) check(ctx context.Context, x *stepRun) error {
	g, err := x.readGuest(ctx)
	if err != nil {
		return err
	}
	if err := g.unsafeMountPath(x.vmid()); err != nil {
		return err
	}
	for _, a := range e.p.Archives {
		if _, _, err := x.archiveToDelete(ctx, a); err != nil {
			return err
		}
	}
	return nil
}

func (e backupPrune) run(ctx context.Context, x *stepRun) error {
	// The backup is the step's main call: once it succeeded the job is
	// done, whoever settles it; the deletions follow as their own calls.
	it, err := x.backup(ctx, x.main(e.p), e.p.Storage, e.p.Mode)
	if err != nil {
		return err
	}
	x.note = it.VolID
	for i, a := range e.p.Archives {
		if err := x.deleteArchive(ctx, fmt.Sprintf("#delete%d", i), a, x.destructive()); err != nil {
			return err
		}
	}
	return nil
}

// safetyBackup takes the tool's own vzdump of the guest before a signed
// step that replaces or destroys its data, records it by identity, and
// returns the volumes it covers. With safety backups off it takes none
// and covers nothing.
func (x *stepRun) safetyBackup(ctx context.Context) ([]string, error) {
	if !x.o.Safety.Enabled {
		return nil, nil
	}
	storage := x.o.Safety.BackupStorage
	c := call{suffix: "#safety-backup", op: ops.BackupCreate, params: ops.BackupCreateParams{Storage: storage, Mode: "snapshot"},
		provenance: ProvenanceSafetyBackup}
	it, err := x.backup(ctx, c, storage, "snapshot")
	if err != nil {
		return nil, fmt.Errorf("safety backup failed, so the step did not run: %w", err)
	}
	x.note = "safety backup " + it.VolID
	return x.covers(ctx, it)
}

// backupStorageReady refuses, before a signature is spent, a step whose
// backup (the safety backup, or a rebuild's) could not be taken: its
// storage is missing on the node, inactive (a USB disk not plugged in,
// say), disabled, or holds no backups.
func (x *stepRun) backupStorageReady(ctx context.Context, storage string) error {
	list, err := x.o.Client.NodeStorage(ctx)
	if err != nil {
		return fmt.Errorf("list the node's storages: %w", err)
	}
	for _, st := range list {
		if st.Storage != storage {
			continue
		}
		switch {
		case !bool(st.Active) || !bool(st.Enabled):
			return fmt.Errorf("storage %s, where its backup goes, is not active; not run (the step runs once it is)", storage)
		case !strings.Contains(","+st.Content+",", ",backup,"):
			return fmt.Errorf("storage %s, where its backup goes, does not hold backups (its content is %s); not run", storage, st.Content)
		}
		return nil
	}
	return fmt.Errorf("storage %s, where its backup goes, does not exist on the node (or the token cannot see it); not run", storage)
}

// safetyStorageReady is backupStorageReady for the safety backup, when
// safety backups are on.
func (x *stepRun) safetyStorageReady(ctx context.Context) error {
	if !x.o.Safety.Enabled {
		return nil
	}
	return x.backupStorageReady(ctx, x.o.Safety.BackupStorage)
}

// excludedMount matches vzdump's log line for a mount point it left out
// (pve-container's VZDump.pm: "excluding TYPE mount point mpN ('PATH')
// from backup"), from the line's start: a mount path, which the line
// echoes, cannot make another line of it (control characters are refused
// in paths), so text a tenant chose in a path never reads as an exclusion.
var excludedMount = regexp.MustCompile(`^(?:INFO: )?excluding (?:volume |bind |device )?mount point (mp\d+) \('`)

// covers returns the volumes the backup it (made by task it.upid) holds:
// those its own config (the archive's pct.conf, as vzdump saw the guest)
// backs up, less any mount point the task's log says it excluded. The
// log only ever removes a volume, so text a tenant controls in it can
// make a step refuse, never make it run.
func (x *stepRun) covers(ctx context.Context, it archiveMade) ([]string, error) {
	conf, err := x.o.Client.ExtractConfig(ctx, it.VolID)
	if err != nil {
		return nil, fmt.Errorf("read the config inside %s: %w", it.VolID, err)
	}
	covered := plan.CoveredVolumes(conf)
	lines, err := x.o.Client.TaskLogTail(ctx, it.upid, 0)
	if err != nil {
		return nil, fmt.Errorf("read the log of %s: %w", it.upid, err)
	}
	for _, l := range lines {
		if m := excludedMount.FindStringSubmatch(l); m != nil {
			if mnt, err := plan.ParseMount(m[1], conf[m[1]]); err == nil {
				covered = slices.DeleteFunc(covered, func(v string) bool { return v == mnt.Volume })
			}
		}
	}
	return covered, nil
}

// archiveMade is an archive a backup of this run made, and its task.
type archiveMade struct {
	proxmox.StorageItem
	upid proxmox.UPID
}

// backup runs one vzdump of the guest under call c and returns the
// archive it made, found in the storage's content (never in the task's
// log): the one backup of the guest that was not there before. A safety
// backup is recorded as the tool's own before the call's terminal record.
func (x *stepRun) backup(ctx context.Context, c call, storage, mode string) (archiveMade, error) {
	v := x.vmid()
	before, latest, err := backupListing(ctx, x.o.Client, storage, v)
	if err != nil {
		return archiveMade{}, err
	}
	waitNextSecond(ctx, latest, x.o.Now())
	var made proxmox.StorageItem
	var identErr error
	c.post = func(ctx context.Context) (proxmox.UPID, error) {
		return x.o.Client.Vzdump(ctx, v, proxmox.VzdumpOptions{Storage: storage, Mode: mode, PruneBackups: keepAll})
	}
	c.made = func(ctx context.Context, in journal.Intent, upid proxmox.UPID) error {
		made, identErr = findArchive(ctx, x.o, storage, v, upid, before)
		if identErr != nil || (c.provenance != ProvenanceSafetyBackup && c.provenance != ProvenanceGoldenArchive) {
			return nil
		}
		return recordBackup(x.o, in, made, upid)
	}
	upid, err := x.do(ctx, c)
	x.run.mu.Lock()
	delete(x.run.backups, storage) // a create later in the run lists it afresh
	x.run.mu.Unlock()
	if err != nil {
		return archiveMade{}, err
	}
	if identErr != nil {
		return archiveMade{}, fmt.Errorf("the backup task ended, but %w; the step goes no further", identErr)
	}
	return archiveMade{made, upid}, nil
}

// waitNextSecond keeps a backup out of the second of the guest's latest
// archive (a Unix time): archive names have a resolution of one second,
// and two backups of one guest in one second would share a name.
func waitNextSecond(ctx context.Context, latest int64, now time.Time) {
	if latest < now.Unix() || latest > now.Unix()+1 {
		return // an archive from the future (a wrong clock) shares no name with ours
	}
	select {
	case <-ctx.Done():
	case <-time.After(time.Until(time.Unix(latest+1, 0).Add(10 * time.Millisecond))):
	}
}

// archiveToDelete checks an archive a prune or housekeeping deletes: it
// must be a backup of this guest, not protected. found is false when it is
// gone already (nothing to delete).
func (x *stepRun) archiveToDelete(ctx context.Context, volid string) (proxmox.StorageItem, bool, error) {
	it, found, err := lookupArchive(ctx, x.o.Client, volid)
	switch {
	case err != nil || !found:
		return it, false, err
	case it.Content != "backup" || int(it.VMID) != x.vmid() || !archiveOfGuest(volid, x.vmid()):
		return it, false, fmt.Errorf("%s is not a backup of guest %d; not deleted", volid, x.vmid())
	case bool(it.Protected):
		return it, false, fmt.Errorf("%s is protected now; not deleted (unprotect it, or plan again)", volid)
	}
	return it, true, nil
}

// deleteArchive deletes one archive, checked right before (see
// archiveToDelete; one that is already gone needs nothing). The deletion
// is one journaled call with its imgdel task; recovery follows the task
// when its UPID was recorded, and otherwise settles the call by whether
// the archive is still there (the task of a storage volume names no guest
// to find it by).
func (x *stepRun) deleteArchive(ctx context.Context, suffix, volid string, destructive bool) error {
	_, found, err := x.archiveToDelete(ctx, volid)
	if err != nil || !found {
		return err
	}
	_, err = x.do(ctx, call{suffix: suffix, op: ops.BackupPrune, params: ops.ArchiveDeleteParams{Archive: volid}, destructive: destructive,
		post: func(ctx context.Context) (proxmox.UPID, error) { return x.o.Client.DeleteVolume(ctx, volid) }})
	return err
}

// lookupArchive looks a backup archive up on its storage.
func lookupArchive(ctx context.Context, c Client, volid string) (proxmox.StorageItem, bool, error) {
	storage, _, ok := strings.Cut(volid, ":")
	if !ok || storage == "" {
		return proxmox.StorageItem{}, false, fmt.Errorf("%q is not a volume id (STORAGE:NAME)", volid)
	}
	items, err := c.StorageContent(ctx, storage, "backup", 0)
	if err != nil {
		return proxmox.StorageItem{}, false, fmt.Errorf("list backups on %s: %w", storage, err)
	}
	for _, it := range items {
		if it.VolID == volid {
			return it, true, nil
		}
	}
	return proxmox.StorageItem{}, false, nil
}
