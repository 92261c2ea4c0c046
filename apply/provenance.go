package apply

import (
	"context"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/felhom/felhom-converge/journal"
	"github.com/felhom/felhom-converge/ops"
	"github.com/felhom/felhom-converge/proxmox"
)

// Provenance values of an intent: what the call makes that is the tool's
// own (the journal's words).
const (
	ProvenanceCreatedInTxn   = journal.ProvenanceCreatedInTxn
	ProvenanceSafetySnapshot = journal.ProvenanceSafetySnapshot
	ProvenanceSafetyBackup   = journal.ProvenanceSafetyBackup
	ProvenanceRollback       = "rollback of a guest created in this transaction"
	ProvenanceGoldenArchive  = "golden image archive"
)

// What the tool made is recorded by identity, never by name alone: a
// safety snapshot by (guest, name, snaptime), a safety backup by (volid,
// ctime, size, the UPID of its task). Housekeeping removes an object only
// when the live one matches its record exactly, so a customer's snapshot
// or backup that happens to carry the same name is never taken for the
// tool's own. Archive names are never read from task logs, which echo
// strings a tenant controls (mount paths); the archive a backup made is
// found in the storage's content.

// recordMade records, once a call succeeded, what it made that is the
// tool's own, for a call settled without the run that made it (recovery,
// or a lost answer): the guest a restore created, a safety snapshot, a
// safety backup.
func recordMade(ctx context.Context, o *Options, in journal.Intent, upid proxmox.UPID) error {
	switch in.Provenance {
	case ProvenanceCreatedInTxn:
		return o.Journal.Append(journal.GuestCreated{Txn: in.Txn, Guest: in.Guest, Call: in.Call})
	case ProvenanceSafetySnapshot:
		p, err := ops.Decode[ops.SnapshotCreateParams](ops.SnapshotCreate, in.Params)
		if err != nil {
			return nil // not ours to guess at: the snapshot stays, unrecorded
		}
		return recordSnapshot(ctx, o, in, p.Snapshot, upid)
	case ProvenanceSafetyBackup, ProvenanceGoldenArchive:
		p, err := ops.Decode[ops.BackupCreateParams](ops.BackupCreate, in.Params)
		if err != nil {
			return nil
		}
		it, err := findArchive(ctx, o, p.Storage, in.Guest, upid, nil)
		if err != nil {
			// Not identified for sure: the archive stays on the storage,
			// never removed by housekeeping. That errs on the safe side.
			o.warnf("safety backup of guest %d by task %s: %v; it is kept and not tracked", in.Guest, upid, err)
			return nil
		}
		return recordBackup(o, in, it, upid)
	}
	return nil
}

// recordSnapshot records the tool's safety snapshot with its snaptime,
// when the snapshot of that name was taken while the task upid ran: one
// deleted and taken again under the name since (say while a crashed run
// was down) is not the tool's, and stays untracked.
func recordSnapshot(ctx context.Context, o *Options, in journal.Intent, name string, upid proxmox.UPID) error {
	snaps, err := o.Client.ListSnapshots(ctx, in.Guest)
	if err != nil {
		o.warnf("safety snapshot %s of guest %d: cannot read its snaptime (%v); it is kept and not tracked", name, in.Guest, err)
		return nil
	}
	for _, s := range snaps {
		if s.Name != name {
			continue
		}
		end, err := taskEnd(ctx, o, in.Guest, upid)
		if err != nil {
			o.warnf("safety snapshot %s of guest %d: %v; it is kept and not tracked", name, in.Guest, err)
			return nil
		}
		if t := int64(s.SnapTime); t < upid.StartTime.Unix() || t > end {
			o.warnf("safety snapshot %s of guest %d was taken at %d, not while task %s ran; it is kept and not tracked", name, in.Guest, t, upid)
			return nil
		}
		return o.Journal.Append(journal.SnapshotCreated{Txn: in.Txn, Guest: in.Guest, Name: name, SnapTime: int64(s.SnapTime), Call: in.Call})
	}
	return nil
}

// recordBackup records, by identity, a safety backup the tool took, or
// the archive of a golden image it built (the call's params name it).
func recordBackup(o *Options, in journal.Intent, it proxmox.StorageItem, upid proxmox.UPID) error {
	rec := journal.BackupCreated{Txn: in.Txn, Guest: in.Guest, VolID: it.VolID,
		Created: time.Unix(int64(it.CTime), 0).UTC(), Size: int64(it.Size), UPID: upid.String(), Call: in.Call}
	if in.Provenance == ProvenanceGoldenArchive {
		p, err := ops.Decode[ops.BackupCreateParams](ops.BackupCreate, in.Params)
		if err != nil || p.Golden == "" {
			return nil // not ours to guess at: the archive stays, unrecorded
		}
		rec.Golden = p.Golden
	}
	return o.Journal.Append(rec)
}

// backupListing lists the guest's backups on storage by volid, and the
// latest one's ctime: taken before a vzdump, it tells the archive the
// vzdump made from those that were there.
func backupListing(ctx context.Context, c Client, storage string, vmid int) (map[string]bool, int64, error) {
	items, err := c.StorageContent(ctx, storage, "backup", vmid)
	if err != nil {
		return nil, 0, fmt.Errorf("list the backups on %s: %w", storage, err)
	}
	out := make(map[string]bool, len(items))
	var latest int64
	for _, it := range items {
		out[it.VolID] = true
		latest = max(latest, int64(it.CTime))
	}
	return out, latest, nil
}

// findArchive identifies the archive the vzdump task upid made of guest
// vmid on storage, from the storage's content: a backup volume not in
// before (nil: no listing was taken, and then one created no later than
// the task ended, and not recorded as another task's), of the guest (its
// VMID, and its name carrying the VMID), created no earlier than the task
// started. Exactly one must fit; otherwise the archive
// cannot be told for sure and the caller fails safe.
func findArchive(ctx context.Context, o *Options, storage string, vmid int, upid proxmox.UPID, before map[string]bool) (proxmox.StorageItem, error) {
	end := int64(math.MaxInt64)
	if before == nil {
		// No listing from before the task (recovery, or a lost answer):
		// the archive must also be no newer than the task's end, or a
		// backup someone else took since (the host's scheduled job, say)
		// would pass for it.
		t, err := taskEnd(ctx, o, vmid, upid)
		if err != nil {
			return proxmox.StorageItem{}, err
		}
		end = t
	}
	items, err := o.Client.StorageContent(ctx, storage, "backup", vmid)
	if err != nil {
		return proxmox.StorageItem{}, fmt.Errorf("list the backups on %s: %w", storage, err)
	}
	start := upid.StartTime.Unix()
	var cands []proxmox.StorageItem
	for _, it := range items {
		switch {
		case before[it.VolID], it.Content != "backup", int(it.VMID) != vmid, !archiveOfGuest(it.VolID, vmid),
			int64(it.CTime) < start, int64(it.CTime) > end, before == nil && o.Journal.BackupRecorded(it.VolID):
			continue
		}
		cands = append(cands, it)
	}
	switch len(cands) {
	case 1:
		return cands[0], nil
	case 0:
		return proxmox.StorageItem{}, fmt.Errorf("no new backup of guest %d on %s since task %s started", vmid, storage, upid)
	}
	names := make([]string, len(cands))
	for i, c := range cands {
		names[i] = c.VolID
	}
	return proxmox.StorageItem{}, fmt.Errorf("%d new backups of guest %d on %s since task %s started (%s): cannot tell which one it made",
		len(cands), vmid, storage, upid, strings.Join(names, ", "))
}

// taskEnd is when the ended task upid of guest vmid ended (Unix seconds),
// from the node's task list, read again until Options.SettleWindow has
// passed while the task is not listed yet.
func taskEnd(ctx context.Context, o *Options, vmid int, upid proxmox.UPID) (end int64, err error) {
	err = untilListed(ctx, o, func() (bool, error) {
		tasks, err := o.Client.ListTasks(ctx, proxmox.TaskFilter{VMID: vmid, TypeFilter: upid.Type, Since: upid.StartTime, Limit: 500})
		if err != nil {
			return false, fmt.Errorf("read when task %s ended: %w", upid, err)
		}
		for _, t := range tasks {
			if t.UPID == upid.String() && !t.Running() && t.EndTime > 0 {
				end = int64(t.EndTime)
			}
		}
		return end > 0, nil
	})
	if err == nil && end == 0 {
		err = fmt.Errorf("task %s is not listed as ended, so what it made cannot be told for sure", upid)
	}
	return end, err
}

// archiveOfGuest reports whether an archive's name carries the guest's
// VMID as Proxmox writes it: vzdump-lxc-VMID-... on a directory storage,
// backup/ct/VMID/... on Proxmox Backup Server.
func archiveOfGuest(volid string, vmid int) bool { return vmid > 0 && archiveOwner(volid) == vmid }

// archiveOwner is the VMID an archive's name carries (archiveOfGuest's
// forms), or 0.
func archiveOwner(volid string) int {
	_, name, _ := strings.Cut(volid, ":")
	var rest string
	switch {
	case strings.HasPrefix(name, "backup/vzdump-lxc-"):
		rest = strings.TrimPrefix(name, "backup/vzdump-lxc-")
	case strings.HasPrefix(name, "backup/ct/"):
		rest = strings.TrimPrefix(name, "backup/ct/")
	default:
		return 0
	}
	id, _, _ := strings.Cut(strings.ReplaceAll(rest, "/", "-"), "-")
	v, err := strconv.Atoi(id)
	if err != nil || v <= 0 {
		return 0
	}
	return v
}

// sameArchive reports whether a live archive is exactly the one a record
// names: volid, ctime and size (a record from before sizes were recorded
// matches nothing, so it is never removed).
func sameArchive(it proxmox.StorageItem, b journal.Backup) bool {
	return it.VolID == b.VolID && b.Size > 0 && int64(it.Size) == b.Size && int64(it.CTime) == b.Created.Unix()
}

// sameSnapshot reports whether a live snapshot is exactly the one a
// record names (a record without a snaptime matches nothing).
func sameSnapshot(s proxmox.Snapshot, t journal.Snapshot) bool {
	return s.Name == t.Name && t.SnapTime != 0 && int64(s.SnapTime) == t.SnapTime
}
