package pvesim

// Storage reads: storage.cfg, node storage status and content (pve-storage API2/Storage/*.pm).

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
)

func hStorageConfig(r *request) (any, error) {
	out := []any{}
	for _, s := range r.s.st.Storages {
		if !r.canSeeStorage(s.ID) || (r.params["type"] != "" && r.params["type"] != s.Type) {
			continue
		}
		e := map[string]any{"storage": s.ID, "type": s.Type, "content": strings.Join(s.Content, ","), "digest": r.s.storageDigest()}
		if s.shared() == 1 {
			e["shared"] = 1
		}
		for k, v := range map[string]string{"path": s.Path, "vgname": s.VGName, "thinpool": s.ThinPool, "pool": s.Pool,
			"prune-backups": s.PruneBackups, "is_mountpoint": s.IsMountpoint, "server": s.Server, "datastore": s.Datastore, "username": s.Username} {
			if v != "" {
				e[k] = v
			}
		}
		out = append(out, e)
	}
	return out, nil
}

// storageDigest is the digest of storage.cfg, which only changes with the
// storage definitions (not their contents).
func (s *Sim) storageDigest() string {
	var b strings.Builder
	for _, st := range s.st.Storages {
		fmt.Fprintf(&b, "%s: %s\n\tcontent %s\n\tpath %s\n\tprune-backups %s\n\tis_mountpoint %s\n\tserver %s\n\tdatastore %s\n",
			st.Type, st.ID, strings.Join(st.Content, ","), st.Path, st.PruneBackups, st.IsMountpoint, st.Server, st.Datastore)
	}
	return sha1Hex(b.String())
}

// storageStatus is one storage of PVE::Storage::storage_info: a storage
// that cannot be activated is listed inactive with zero sizes and no
// used_fraction.
func (st *state) storageStatus(s *storage) map[string]any {
	e := map[string]any{"type": s.Type, "content": strings.Join(s.Content, ","),
		"shared": s.shared(), "enabled": 1, "active": 0, "total": 0, "used": 0, "avail": 0}
	if st.activate(s) != nil {
		return e
	}
	used := s.used()
	e["active"], e["total"], e["used"], e["avail"] = 1, s.Total, used, s.Total-used
	e["used_fraction"] = float64(used) / float64(s.Total)
	return e
}

func hNodeStorage(r *request) (any, error) {
	out := []any{}
	for _, s := range r.s.st.Storages {
		if !r.canSeeStorage(s.ID) {
			continue
		}
		if sid := r.params["storage"]; sid != "" && sid != s.ID {
			continue
		}
		if c := r.params["content"]; c != "" {
			ok := false
			for _, want := range splitList(c) {
				ok = ok || s.hasContent(want)
			}
			if !ok {
				continue
			}
		}
		e := r.s.st.storageStatus(s)
		e["storage"] = s.ID // hash_to_array
		out = append(out, e)
	}
	return out, nil
}

// hStorageStatus is read_status: storage_info's entry, without the
// storage's name.
func hStorageStatus(r *request) (any, error) {
	s := r.s.st.storage(r.vars["storage"])
	if s == nil {
		return nil, param1Error("storage", "No such storage.")
	}
	return r.s.st.storageStatus(s), nil
}

func hContent(r *request) (any, error) {
	s := r.s.st.storage(r.vars["storage"])
	if s == nil {
		return nil, failf("storage '%s' does not exist", r.vars["storage"])
	}
	if err := r.s.st.activate(s); err != nil {
		return nil, failf("%v", err)
	}
	var want []string
	if c := r.params["content"]; c != "" {
		want = splitList(c)
	}
	vmid, _ := strconv.Atoi(r.params["vmid"])
	ids := make([]string, 0, len(s.Volumes))
	for id := range s.Volumes {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	out := []any{}
	for _, id := range ids {
		v := s.Volumes[id]
		if want != nil && !contains(want, v.Content) {
			continue
		}
		if vmid != 0 && v.VMID != vmid {
			continue
		}
		if !r.mayAccessVolume(s, v.VolID) {
			continue
		}
		e := map[string]any{"volid": v.VolID, "content": v.Content, "format": v.Format, "size": v.Size}
		if v.VMID != 0 {
			e["vmid"] = v.VMID
		}
		if v.CTime != 0 {
			e["ctime"] = v.CTime
		}
		if v.Notes != "" {
			e["notes"] = v.Notes
		}
		if v.Protected {
			e["protected"] = 1
		}
		if v.Subtype != "" {
			e["subtype"] = v.Subtype
		}
		if v.Content == "rootdir" || v.Content == "images" {
			e["used"] = v.written()
		}
		out = append(out, e)
	}
	return out, nil
}

// mayAccessVolume is PVE::Storage check_volume_access without a guest,
// which the content listing applies to each volume: Datastore.Allocate on
// the storage sees everything; templates and ISOs need read access to the
// storage; a backup needs Datastore.AllocateSpace there and VM.Backup on
// its guest; a guest volume needs Datastore.Audit and VM.Config.Disk on
// its guest; anything else stays hidden.
func (r *request) mayAccessVolume(s *storage, volid string) bool {
	sp := storagePath(s.ID)
	if r.has(sp, "Datastore.Allocate") {
		return true
	}
	_, name, _ := cutVolID(volid)
	vtype, owner, err := s.parseVolname(name)
	switch {
	case err != nil:
		return false
	case vtype == "iso" || vtype == "vztmpl":
		return r.has(sp, "Datastore.AllocateSpace") || r.has(sp, "Datastore.Audit")
	case vtype == "backup" && owner != 0:
		return r.has(sp, "Datastore.AllocateSpace") && r.has(vmPath(owner), "VM.Backup")
	case (vtype == "images" || vtype == "rootdir") && owner != 0:
		return r.has(sp, "Datastore.Audit") && r.has(vmPath(owner), "VM.Config.Disk")
	}
	return false
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// Tasks.
