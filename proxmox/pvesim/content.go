package pvesim

// Storage content: removal of a volume and pruning of backups
// (pve-storage API2/Storage/Content.pm, API2/Storage/PruneBackups.pm).

import (
	"fmt"
	"strconv"
	"strings"
)

// hContentDelete is DELETE .../content/{volume} (Content.pm delete): the
// volume id is checked against the storage and parsed by its plugin, the
// caller needs Datastore.AllocateSpace and VM.Backup for a guest's backup
// and Datastore.Allocate for anything else, and an imgdel task with id
// "OWNER@STORAGE" (or "STORAGE") frees it. There is no check whether a
// guest still uses the volume; a protected backup is refused in the task.
func hContentDelete(r *request) (any, error) {
	st, volid, owner, err := r.contentVolume()
	if err != nil {
		return nil, err
	}
	id := st.ID
	if owner != 0 {
		id = strconv.Itoa(owner) + "@" + st.ID
	}
	return r.s.startTaskLocked(r, "imgdel", id, "imgdel", map[string]string{"volid": volid})
}

// contentVolume reads the {storage} and {volume} of a content path as
// pve-storage's real_volume_id does and checks the caller's access to the
// volume (check_volume_access): a backup of a guest needs
// Datastore.AllocateSpace and VM.Backup on the guest, anything else
// Datastore.Allocate.
func (r *request) contentVolume() (st *storage, volid string, owner int, err error) {
	sid := r.vars["storage"]
	volid = r.vars["volume"]
	if strings.Contains(volid, ":") {
		vsid, _, ok := cutVolID(volid)
		if !ok || !storageIDRegexp.MatchString(vsid) {
			return nil, "", 0, param1Error("volume", "unable to parse volume ID '%s'", volid)
		}
		if vsid != sid {
			return nil, "", 0, param1Error("volume", "storage ID mismatch (%s != %s)", vsid, sid)
		}
	} else {
		volid = sid + ":" + volid
	}
	st = r.s.st.storage(sid)
	if st == nil {
		return nil, "", 0, failf("storage '%s' does not exist", sid)
	}
	_, name, _ := cutVolID(volid)
	vtype, owner, err := st.parseVolname(name)
	if err != nil {
		return nil, "", 0, failf("%v", err)
	}
	if vtype == "backup" && owner != 0 {
		if err := r.check(storagePath(sid), "Datastore.AllocateSpace"); err != nil {
			return nil, "", 0, err
		}
		if err := r.check(vmPath(owner), "VM.Backup"); err != nil {
			return nil, "", 0, err
		}
	} else if err := r.check(storagePath(sid), "Datastore.Allocate"); err != nil {
		return nil, "", 0, err
	}
	return st, volid, owner, nil
}

// hContentUpdate is PUT /nodes/{node}/storage/{storage}/content/{volume}
// (pve-storage updateattributes): a backup's notes and protection,
// changed at once; it answers null.
func hContentUpdate(r *request) (any, error) {
	st, volid, _, err := r.contentVolume()
	if err != nil {
		return nil, err
	}
	if err := r.s.st.activate(st); err != nil {
		return nil, failf("%v", err)
	}
	v := st.Volumes[volid]
	if v == nil {
		_, name, _ := cutVolID(volid)
		return nil, failf("volume '%s' does not exist", st.filePath(name))
	}
	if n, ok := r.params["notes"]; ok {
		v.Notes = n
	}
	if p, ok := r.params["protected"]; ok {
		v.Protected = p == "1"
	}
	return nil, r.s.persistLocked()
}

// finishImgDel is vdisk_free: the storage is activated and its plugin's
// free_image removes the volume. A directory storage refuses a protected
// backup and only warns about a missing file; an LVM thin pool ignores a
// missing volume; ZFS fails on it; a Proxmox Backup Server refuses to
// forget a protected snapshot.
func finishImgDel(s *Sim, t *task) (int, error) {
	volid := t.Params["volid"]
	sid, name, _ := cutVolID(volid)
	st := s.st.storage(sid)
	if st == nil {
		return 0, fmt.Errorf("storage '%s' does not exist", sid)
	}
	if err := s.st.activate(st); err != nil {
		return 0, err
	}
	v := st.Volumes[volid]
	switch {
	case st.Type == "pbs" && v != nil && v.Protected:
		return 0, fmt.Errorf("proxmox-backup-client failed: Error: cannot remove protected snapshot")
	case st.Type == "pbs" && v == nil:
		return 0, fmt.Errorf("proxmox-backup-client failed: Error: unable to open snapshot directory \"/mnt/datastore/%s/%s\" for locking - ENOENT: No such file or directory",
			st.Datastore, strings.TrimPrefix(name, "backup/"))
	case v != nil && v.Protected:
		return 0, fmt.Errorf("cannot remove protected volume '%s' on '%s'", name, sid)
	case v == nil && st.Type == "zfspool":
		return 0, fmt.Errorf("zfs error: cannot open '%s/%s': dataset does not exist", st.Pool, name)
	case v == nil && st.Type == "dir":
		t.logf("disk image '%s' does not exist", st.filePath(name))
	}
	if v != nil {
		delete(st.Volumes, volid)
	}
	t.logf("Removed volume '%s'", volid)
	return 0, nil
}

// pruneStorage is the start of PVE::Storage::prune_backups: the storage
// must exist and hold backups, a retention must be given or configured,
// and the storage must activate.
func (st *state) pruneStorage(sid, given string) (*storage, error) {
	stor := st.storage(sid)
	switch {
	case stor == nil:
		return nil, fmt.Errorf("storage '%s' does not exist", sid)
	case !stor.hasContent("backup"):
		return nil, fmt.Errorf("storage '%s' does not support backups", sid)
	case given == "" && stor.PruneBackups == "":
		return nil, fmt.Errorf("no prune-backups options configured for storage '%s'", sid)
	}
	return stor, st.activate(stor)
}

// hPruneDryRun is GET /nodes/{node}/storage/{storage}/prunebackups.
func hPruneDryRun(r *request) (any, error) {
	st, err := r.s.st.pruneStorage(r.vars["storage"], r.params["prune-backups"])
	if err != nil {
		return nil, failf("%v", err)
	}
	vmid, _ := strconv.Atoi(r.params["vmid"])
	if t := r.params["type"]; t == "qemu" {
		return []any{}, nil
	}
	all, marks := pruneGroups(st, r.params["prune-backups"], vmid)
	out := []any{}
	for _, v := range all {
		out = append(out, map[string]any{"volid": v.VolID, "ctime": v.CTime, "mark": marks[v.VolID], "type": "lxc", "vmid": v.VMID})
	}
	return out, nil
}

// hPrune is DELETE /nodes/{node}/storage/{storage}/prunebackups: a
// prunebackups task removing what the retention does not keep.
func hPrune(r *request) (any, error) {
	sid := r.vars["storage"]
	id := sid
	if v := r.params["vmid"]; v != "" {
		if err := r.check(storagePath(sid), "Datastore.AllocateSpace"); err != nil {
			return nil, err
		}
		n, _ := strconv.Atoi(v)
		if err := r.check(vmPath(n), "VM.Backup"); err != nil {
			return nil, err
		}
		id = v + "@" + sid
	} else if err := r.check(storagePath(sid), "Datastore.Allocate"); err != nil {
		return nil, err
	}
	params := map[string]string{"storage": sid, "vmid": r.params["vmid"], "prune-backups": r.params["prune-backups"], "type": r.params["type"]}
	return r.s.startTaskLocked(r, "prunebackups", id, "prune", params)
}

func finishPrune(s *Sim, t *task) (int, error) {
	st, err := s.st.pruneStorage(t.Params["storage"], t.Params["prune-backups"])
	if err != nil {
		return 0, err
	}
	if t.Params["type"] == "qemu" {
		return 0, nil
	}
	vmid, _ := strconv.Atoi(t.Params["vmid"])
	all, marks := pruneGroups(st, t.Params["prune-backups"], vmid)
	for _, v := range all {
		if marks[v.VolID] == "remove" {
			t.logf("removing backup '%s'", v.VolID)
			delete(st.Volumes, v.VolID)
		}
	}
	return 0, nil
}
