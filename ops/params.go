package ops

// The params of each op: one struct per op, used by plan to build steps,
// by trust to bind requests (their canonical JSON) and by apply to
// execute them (Decode). A field tagged ops:"required" must be present;
// every other key is refused. The JSON names are part of the interface:
// signed requests, journals and saved plans carry them.

// GuestCreateParams creates a new guest with the desired settings, from
// exactly one of: Archive, a vzdump archive it is restored from;
// Template, a container template (STORAGE:vztmpl/NAME.tar.zst); or
// Golden alone, the golden image whose newest archive the tool built it
// is restored from (resolved when the step runs, bound by the identity the
// journal recorded). Template with Golden builds that golden image:
// through the fenced root path (pct create), for the features no API
// token may set. Every volume in Config is a new allocation
// (STORAGE:SIZE); the executor refuses anything that would attach an
// existing volume. SSHPublicKeys (templates only) become root's
// authorized keys. A root password is never a param: it comes from the
// host's local config when the step runs.
type GuestCreateParams struct {
	Archive       string            `json:"archive,omitempty"`
	Template      string            `json:"template,omitempty"`
	Golden        string            `json:"golden,omitempty"`
	Storage       string            `json:"storage,omitempty"`
	Config        map[string]string `json:"config,omitempty"`
	SSHPublicKeys []string          `json:"ssh_public_keys,omitempty"`
}

// GuestSetParams writes plain config keys of a guest in one PUT. It never
// touches a key that holds or names a volume (rootfs, mpN, unusedN),
// except to change the options of a mount point that keeps its volume.
type GuestSetParams struct {
	Set    map[string]string `json:"set"`
	Delete []string          `json:"delete,omitempty"`
}

// GuestStartParams, GuestStopParams: no params.
type (
	GuestStartParams struct{}
	GuestStopParams  struct{}
)

// GuestRebootParams restarts a running guest; Reason lists the pending
// keys the reboot applies (or the job).
type GuestRebootParams struct {
	Reason []string `json:"reason,omitempty"`
	Job    string   `json:"job,omitempty"`
}

// Replaced names everything a step that replaces or destroys a guest's
// data loses: every volume it frees, every snapshot that goes with them,
// and the volumes its safety backup does not cover (which the signer
// accepts losing for good).
type Replaced struct {
	Volumes     []string `json:"volumes" ops:"required"`
	Snapshots   []string `json:"snapshots"`
	Unprotected []string `json:"unprotected,omitempty"`
}

// GuestDestroyParams destroys a guest and frees its volumes.
type GuestDestroyParams struct {
	Purge bool `json:"purge" ops:"required"`
	Replaced
}

// GuestRestoreOverParams restores Archive over an existing guest. The
// archive is bound by identity (its ctime and size as the storage lists
// them), not by name alone: another file put under that name is refused.
type GuestRestoreOverParams struct {
	Archive      string `json:"archive" ops:"required"`
	ArchiveCTime int64  `json:"archive_ctime" ops:"required"`
	ArchiveSize  int64  `json:"archive_size" ops:"required"`
	Replaced
	Job string `json:"job,omitempty"`
}

// GuestRebuildParams backs a guest up and restores it with Change
// applied: the way to a change Proxmox refuses in place.
type GuestRebuildParams struct {
	Change map[string]string `json:"change" ops:"required"`
	Replaced
	BackupStorage string `json:"backup_storage,omitempty"`
}

// DiskGrowParams grows rootfs or a mount point's volume.
type DiskGrowParams struct {
	Disk string `json:"disk" ops:"required"`
	From string `json:"from" ops:"required"`
	To   string `json:"to" ops:"required"`
}

// MountAddParams adds a mount point with a newly allocated volume.
type MountAddParams struct {
	Slot  string `json:"slot" ops:"required"`
	Value string `json:"value" ops:"required"`
}

// MountDetachParams removes a mount point; its volume stays as unusedN.
type MountDetachParams struct {
	Slot   string `json:"slot" ops:"required"`
	Path   string `json:"path" ops:"required"`
	Volume string `json:"volume,omitempty"` // "" for a bind mount
}

// VolumeFreeParams deletes a detached (unusedN) volume. A vzdump never
// covers a detached volume, so it is always named in Unprotected too.
type VolumeFreeParams struct {
	Volume      string   `json:"volume" ops:"required"`
	Size        string   `json:"size" ops:"required"`
	Slot        string   `json:"slot,omitempty"`
	Unprotected []string `json:"unprotected,omitempty"`
}

// SnapshotCreateParams takes a snapshot.
type SnapshotCreateParams struct {
	Snapshot    string `json:"snapshot" ops:"required"`
	Description string `json:"description,omitempty"`
}

// SnapshotParams names the snapshot a snapshot.delete or a
// snapshot.rollback acts on.
// SnapTime, when set, binds the snapshot by identity (its snaptime): one
// deleted and taken again under the same name is refused.
type SnapshotParams struct {
	Snapshot string `json:"snapshot" ops:"required"`
	SnapTime int64  `json:"snaptime,omitempty"`
	Job      string `json:"job,omitempty"`
}

// SnapshotRollbackParams rolls a guest back to a snapshot. Unprotected
// names the volumes whose writes since the snapshot a safety backup would
// not keep (a mount point without backup=1; every volume with safety
// backups off): when the way back is a backup rather than a snapshot, the
// signer accepts losing them.
type SnapshotRollbackParams struct {
	SnapshotParams
	Unprotected []string `json:"unprotected,omitempty"`
}

// BackupCreateParams takes a vzdump that prunes nothing. With Golden, it
// is the archive of that golden image: the journal records it by
// identity, and housekeeping never removes it.
type BackupCreateParams struct {
	Storage string `json:"storage,omitempty"`
	Mode    string `json:"mode,omitempty"`
	Job     string `json:"job,omitempty"`
	Golden  string `json:"golden,omitempty"`
}

// BackupPruneParams takes a vzdump, then deletes exactly Archives.
type BackupPruneParams struct {
	Storage  string   `json:"storage" ops:"required"`
	Archives []string `json:"archives" ops:"required"`
	Mode     string   `json:"mode,omitempty"`
	Job      string   `json:"job,omitempty"`
}

// StorageMountParams mounts a USB disk by file-system UUID.
type StorageMountParams struct {
	Name       string `json:"name" ops:"required"`
	UUID       string `json:"uuid" ops:"required"`
	Mountpoint string `json:"mountpoint" ops:"required"`
}

// SignersRotateParams replaces the trust root with the file whose SHA-256
// is SHA256; Signers lists who it trusts, for the signer to read.
type SignersRotateParams struct {
	SHA256  string   `json:"sha256" ops:"required"`
	Signers []Signer `json:"signers" ops:"required"`
}

// Signer is one principal of a new trust root.
type Signer struct {
	Principal   string   `json:"principal"`
	Fingerprint string   `json:"fingerprint"`
	Roles       []string `json:"roles"`
}

// ArchiveDeleteParams is the params of one archive deletion of a prune
// (or of housekeeping): a call of its own under the step.
type ArchiveDeleteParams struct {
	Archive string `json:"archive"`
}
