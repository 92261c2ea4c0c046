package plan

import (
	"fmt"
	"strings"
	"time"

	"github.com/felhom/felhom-converge/ops"
	"github.com/felhom/felhom-converge/schema"
)

// job plans one desired-state job, unless the journal shows it ran.
func (d *guestDiff) job(j schema.Job) {
	if d.b.in.Provenance.JobDone(j.ID) {
		return
	}
	if !j.NotAfter.IsZero() && d.b.in.Now.After(j.NotAfter) {
		d.b.plan.Notes = append(d.b.plan.Notes, fmt.Sprintf("job %q (%s) is not planned: its not_after passed at %s", j.ID, j.Op, j.NotAfter.UTC().Format(time.RFC3339)))
		return
	}
	jobErr := func(attr, format string, args ...any) {
		d.errors++
		d.b.errorf(j.VMID, rangeOf(j.AttrRanges, attr, j.DeclRange), "job %q: "+format, append([]any{j.ID}, args...)...)
	}
	lg := d.lg
	if lg == nil && d.createID == "" {
		jobErr("guest", "guest %d does not exist", j.VMID)
		return
	}
	if lg != nil && !lg.Observed {
		jobErr("guest", "guest %d was not observed", j.VMID)
		return
	}
	var s Step
	switch j.Op {
	case schema.OpSnapshotRollback, schema.OpSnapshotDelete:
		if lg == nil || !hasSnapshot(lg, j.Snapshot) {
			if j.Op == schema.OpSnapshotDelete {
				return // already gone: nothing to delete
			}
			jobErr("snapshot", "guest %d has no snapshot %q; list them with 'pct listsnapshot %d'", j.VMID, j.Snapshot, j.VMID)
			return
		}
		p := ops.SnapshotParams{Snapshot: j.Snapshot, SnapTime: snapTime(lg, j.Snapshot), Job: j.ID}
		if j.Op == schema.OpSnapshotRollback {
			s = d.rollback(p)
			break
		}
		// Even the tool's own safety snapshot: a deletion the file asks
		// for needs a signature (apply's housekeeping removes safety
		// snapshots once they are older than safety.keep).
		s = d.b.newStep(j.VMID, d.name(), ops.SnapshotDelete, p)
		s.Reason = fmt.Sprintf("deletes snapshot %q of guest %d, a recovery point", j.Snapshot, j.VMID)
	case schema.OpGuestRestoreOver:
		if lg == nil {
			jobErr("guest", "guest %d does not exist; to create it, declare it with from_backup", j.VMID)
			return
		}
		if d.b.live.Archives != nil {
			if _, ok := d.b.live.Archives[j.Backup]; !ok {
				jobErr("backup", "the archive %s does not exist on storage %s", j.Backup, storageOf(j.Backup))
				return
			}
		}
		if why := d.privilegedRestoreOver(j.Backup); why != "" {
			jobErr("backup", "%s", why)
			return
		}
		r := d.replaced(d.uncovered())
		vols, snaps := r.Volumes, r.Snapshots
		arch := d.b.live.Archives[j.Backup]
		s = d.b.newStep(j.VMID, d.name(), ops.GuestRestoreOver, ops.GuestRestoreOverParams{Archive: j.Backup,
			ArchiveCTime: int64(arch.CTime), ArchiveSize: int64(arch.Size), Replaced: r, Job: j.ID})
		s.Reason = fmt.Sprintf("replaces guest %d's %s with the contents of %s", j.VMID, strings.TrimPrefix(volumeList(vols), "its "), j.Backup) + snapshotsLost(snaps)
		s.Safety = d.backupSafety() + " (its snapshots go with the volumes the restore replaces)"
	case schema.OpBackupCreate:
		s = d.backupJob(j)
	case schema.OpGuestReboot:
		if lg == nil || !lg.Running {
			return // nothing to reboot
		}
		s = d.b.newStep(j.VMID, d.name(), ops.GuestReboot, ops.GuestRebootParams{Reason: []string{"job " + j.ID}, Job: j.ID})
		s.Reason = "downtime: the guest restarts"
	default:
		jobErr("op", "op %q is not supported", j.Op)
		return
	}
	s.Job = j.ID
	s.Source = source(&j.DeclRange)
	d.add(s, d.configIDs...)
}

// snapTime is the snaptime of the guest's snapshot name (0: unknown).
func snapTime(lg *LiveGuest, name string) int64 {
	for _, s := range lg.Snapshots {
		if s.Name == name {
			return int64(s.SnapTime)
		}
	}
	return 0
}

func hasSnapshot(lg *LiveGuest, name string) bool {
	for _, s := range lg.Snapshots {
		if s.Name == name {
			return true
		}
	}
	return false
}

// backupJob plans a one-shot backup. Without prune it never deletes an
// archive; with prune it is destructive when the storage's retention would
// remove archives, and names them.
func (d *guestDiff) backupJob(j schema.Job) Step {
	s := d.backupJobStep(j)
	d.backupDowntime(&s, j.Mode)
	return s
}

// backupDowntime marks a backup of a running guest whose mode takes it
// down: stop mode shuts it down and starts it again (a reboot, which also
// applies pending changes), suspend mode freezes it for the last copy. A
// host's gate.sign listing guest.stop or guest.reboot holds such a job.
func (d *guestDiff) backupDowntime(s *Step, mode string) {
	if d.lg == nil || !d.lg.Running {
		return
	}
	switch mode {
	case "stop":
		s.Kinds = append(s.Kinds, ops.GuestStop, ops.GuestReboot)
		s.Reason += "; downtime: vzdump's stop mode shuts the guest down and starts it again (pending changes take effect)"
	case "suspend":
		s.Kinds = append(s.Kinds, ops.GuestStop)
		s.Reason += "; downtime: vzdump's suspend mode freezes the guest for the last copy"
	}
}

// backupJobStep is a backup job's step: a backup.create, or a
// backup.prune when the storage's retention would delete archives.
func (d *guestDiff) backupJobStep(j schema.Job) Step {
	storage := backupStorage(j, d.b.live)
	params := ops.BackupCreateParams{Storage: storage, Mode: j.Mode, Job: j.ID}
	if !j.Prune {
		s := d.b.newStep(j.VMID, d.name(), ops.BackupCreate, params)
		s.Reason = "prunes nothing (prune-backups keep-all=1)"
		return s
	}
	st := d.b.live.Storages[storage]
	removed := pruneRemoves(st.PruneBackups, archivesOf(d.b.live, storage, j.VMID), d.b.in.Now)
	if len(removed) == 0 {
		s := d.b.newStep(j.VMID, d.name(), ops.BackupCreate, params)
		s.Reason = "the storage's retention (" + orUnset(st.PruneBackups) + ") removes no archive"
		return s
	}
	s := d.b.newStep(j.VMID, d.name(), ops.BackupPrune, ops.BackupPruneParams{Storage: storage, Archives: removed, Mode: j.Mode, Job: j.ID})
	s.Reason = fmt.Sprintf("the storage's retention (%s) deletes %s", st.PruneBackups, strings.Join(removed, ", "))
	return s
}

// rollback plans a rollback to p's snapshot. Its way back is a safety
// snapshot, or a backup where a snapshot cannot keep it (as apply decides);
// the volumes a backup would not keep are named unprotected either way,
// since which one apply takes is decided on the live guest.
func (d *guestDiff) rollback(p ops.SnapshotParams) Step {
	u := d.uncovered()
	s := d.b.newStep(d.lg.VMID, d.name(), ops.SnapshotRollback, ops.SnapshotRollbackParams{SnapshotParams: p, Unprotected: u})
	s.Reason = fmt.Sprintf("throws away every write to guest %d since snapshot %q", d.lg.VMID, p.Snapshot)
	s.Safety = "a safety snapshot of the current state first (a vzdump backup where a volume is on ZFS, which rolls back only to the newest snapshot)"
	if !newestSnapshot(d.lg, p.Snapshot) {
		// As apply decides: a safety snapshot would become the
		// newest, and ZFS rolls back only to the newest.
		s.Safety = "a vzdump backup of the current state first (the target is not the newest snapshot)"
	}
	switch {
	case d.b.in.NoSafetyBackup:
		s.Safety = "none: safety copies are off in the local config"
	case len(u) > 0:
		s.Safety += "; a backup does not cover " + strings.Join(u, ", ") + " (no backup=1, or detached), whose writes since the snapshot are lost if the way back is a backup"
	}
	return s
}

// newestSnapshot reports whether name is the guest's most recent snapshot
// by the time it was taken (and the parent of its current state, as far
// as the list shows it).
func newestSnapshot(lg *LiveGuest, name string) bool {
	newest := ""
	var at int64 = -1
	for _, s := range lg.Snapshots {
		if int64(s.SnapTime) > at {
			newest, at = s.Name, int64(s.SnapTime)
		}
	}
	return newest == name
}
