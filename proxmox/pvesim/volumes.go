package pvesim

// Volumes on storage: allocation, refusals of a full storage, freeing.

import (
	"fmt"
	"strings"
)

// allocVolume creates a container volume of size bytes for vmid. A thin
// pool over-provisions: only a pool made full (Sim.FillStorage) refuses.
func (s *Sim) allocVolume(sid string, vmid int, size int64) (string, error) {
	st := s.st.storage(sid)
	if st == nil {
		return "", failf("storage '%s' does not exist", sid)
	}
	if !st.hasContent("rootdir") {
		return "", failf("storage '%s' does not support container directories", sid)
	}
	if err := s.st.activate(st); err != nil {
		return "", failf("%v", err)
	}
	for n := 0; ; n++ {
		name := fmt.Sprintf("vm-%d-disk-%d", vmid, n)
		volid := sid + ":" + name
		if st.Type == "dir" {
			volid = fmt.Sprintf("%s:%d/%s.raw", sid, vmid, name)
		}
		if st.Type == "zfspool" {
			volid = fmt.Sprintf("%s:subvol-%d-disk-%d", sid, vmid, n)
		}
		if _, used := st.Volumes[volid]; used {
			continue
		}
		if st.Full || (!st.thin() && st.used()+size > st.Total) {
			return "", s.noSpace(st, name)
		}
		format := "raw"
		if st.Type == "zfspool" {
			format = "subvol"
		}
		st.Volumes[volid] = &volume{VolID: volid, Content: "rootdir", Format: format, Size: size, VMID: vmid}
		return volid, nil
	}
}

// noSpace is a storage's refusal of a new volume name.
func (s *Sim) noSpace(st *storage, name string) error {
	switch st.Type {
	case "lvmthin":
		return failf("lvcreate '%s/%s' error:   Cannot create new thin volume, free space in thin pool %s/%s reached threshold.", st.VGName, name, st.VGName, st.ThinPool)
	case "zfspool":
		return failf("zfs error: cannot create '%s/%s': out of space", st.Pool, name)
	}
	return failf("unable to create image %s on storage '%s': No space left on device", name, st.ID)
}

// noSpaceToGrow is a storage's refusal to grow volume name (pve-storage
// volume_resize: lvextend for LVM, a quota for ZFS, a truncate for files).
func (s *Sim) noSpaceToGrow(st *storage, name string) error {
	switch st.Type {
	case "lvmthin":
		return failf("error resizing volume '/dev/%s/%s':   Cannot resize %s/%s: free space in thin pool %s/%s reached threshold.", st.VGName, name, st.VGName, name, st.VGName, st.ThinPool)
	case "zfspool":
		return failf("zfs error: cannot set property for '%s/%s': size is greater than available space", st.Pool, name)
	}
	return failf("error resizing volume '%s/images/%s': No space left on device", st.Path, name)
}

func (s *Sim) freeVolume(volid string) {
	if st, v := s.st.volume(volid); v != nil {
		delete(st.Volumes, volid)
	}
}

// freeIfUnused is delete_mountpoint_volume for the volume of unusedN key
// k, which vmconfig_apply_pending and vmconfig_hotplug_pending call unless
// is_volume_in_use finds it on a mount point of the current config, of a
// snapshot or of the pending section. A volume of another guest is left
// alone ("ignore deletion of '...', CT N isn't the owner!").
func (s *Sim) freeIfUnused(g *guest, vol, k string) {
	if strings.HasPrefix(vol, "/") || g.mountedNow(vol) || g.volumeInSnapshots(vol) || mountsVolume(g.Pending, vol) {
		return
	}
	if _, v := s.st.volume(vol); v != nil && v.VMID != g.VMID {
		return
	}
	s.freeVolume(vol)
}

// mountedNow reports whether a mount point (rootfs, mpN) of the current
// config uses vol.
func (g *guest) mountedNow(vol string) bool { return mountsVolume(g.Conf, vol) }

// volumeInSnapshots reports whether a mount point of a snapshot uses vol
// (is_volume_in_use_by_snapshots).
func (g *guest) volumeInSnapshots(vol string) bool {
	for _, sn := range g.Snapshots {
		if mountsVolume(sn.Conf, vol) {
			return true
		}
	}
	return false
}

// mountsVolume reports whether a rootfs/mpN of conf holds vol.
func mountsVolume(conf map[string]string, vol string) bool {
	for _, k := range mountKeysOf(conf) {
		if volumeOf(conf[k]) == vol {
			return true
		}
	}
	return false
}
