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
		for k, v := range map[string]string{"path": s.Path, "vgname": s.VGName, "thinpool": s.ThinPool, "pool": s.Pool, "prune-backups": s.PruneBackups} {
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
		fmt.Fprintf(&b, "%s: %s\n\tcontent %s\n\tpath %s\n\tprune-backups %s\n", st.Type, st.ID, strings.Join(st.Content, ","), st.Path, st.PruneBackups)
	}
	return sha1Hex(b.String())
}

func storageStatus(s *storage) map[string]any {
	used := s.used()
	return map[string]any{"storage": s.ID, "type": s.Type, "content": strings.Join(s.Content, ","),
		"shared": 0, "enabled": 1, "active": 1, "total": s.Total, "used": used, "avail": s.Total - used,
		"used_fraction": float64(used) / float64(s.Total)}
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
		out = append(out, storageStatus(s))
	}
	return out, nil
}

func hStorageStatus(r *request) (any, error) {
	s := r.s.st.storage(r.vars["storage"])
	if s == nil {
		return nil, failf("storage '%s' does not exist", r.vars["storage"])
	}
	return storageStatus(s), nil
}

func hContent(r *request) (any, error) {
	s := r.s.st.storage(r.vars["storage"])
	if s == nil {
		return nil, failf("storage '%s' does not exist", r.vars["storage"])
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
		// Guest volumes and backups need access to the guest too.
		if v.VMID != 0 && !r.has(vmPath(v.VMID), "VM.Audit") && !r.has(vmPath(v.VMID), "VM.Backup") &&
			!r.has(storagePath(s.ID), "Datastore.Allocate") {
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

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// Tasks.
