package pvesim

// Resize and move_volume (pve-container API2/LXC.pm).

import (
	"fmt"
	"strconv"
	"strings"
)

func hResize(r *request) (any, error) {
	vmid := r.vmid()
	g, err := r.guestOr500(vmid)
	if err != nil {
		return nil, err
	}
	if err := g.checkLock(); err != nil {
		return nil, err
	}
	// check_ct_modify_config_perm is given {disk => ...}: "disk" is no
	// config key it knows, so it demands VM.Config.Options.
	if err := r.check(vmPath(vmid), "VM.Config.Options"); err != nil {
		return nil, err
	}
	if err := checkDigest(r, g); err != nil {
		return nil, err
	}
	disk := r.params["disk"]
	val, ok := g.Conf[disk]
	if !ok {
		return nil, failf("disk '%s' does not exist", disk)
	}
	ps, err := parseMount(disk, val)
	if err != nil {
		return nil, failf("%v", err)
	}
	vol := ps["volume"]
	sid, _, ok := cutVolID(vol)
	if !ok {
		return nil, failf("can't resize mount point of type bind")
	}
	if err := r.check(storagePath(sid), "Datastore.AllocateSpace"); err != nil {
		return nil, err
	}
	_, v := r.s.st.volume(vol)
	if v == nil {
		return nil, failf("volume '%s' does not exist", vol)
	}
	if v.VMID != vmid {
		return nil, failf("can't resize mount point owned by another container (%d)", v.VMID)
	}
	arg := r.params["size"]
	add := strings.HasPrefix(arg, "+")
	n, err := parseSize(strings.TrimPrefix(arg, "+"))
	if err != nil {
		return nil, param1Error("size", "%v", err)
	}
	newSize := n
	if add {
		newSize = v.Size + n
	}
	if newSize < v.Size {
		return nil, failf("unable to shrink disk size")
	}
	if newSize == v.Size {
		return nil, failf("disk is already at specified size")
	}
	// Growing the volume happens in the worker (volume_resize in
	// realcmd): a full storage fails the task, not the call.
	params := map[string]string{"vmid": strconv.Itoa(vmid), "disk": disk, "size": strconv.FormatInt(newSize, 10)}
	return r.s.startTaskLocked(r, "resize", strconv.Itoa(vmid), "resize", params)
}

func finishResize(s *Sim, t *task) (int, error) {
	g, err := taskGuest(s, t)
	if err != nil {
		return 0, err
	}
	disk := t.Params["disk"]
	ps, err := parseMount(disk, g.Conf[disk])
	if err != nil {
		return 0, fmt.Errorf("disk '%s' does not exist", disk)
	}
	stor, v := s.st.volume(ps["volume"])
	if v == nil {
		return 0, fmt.Errorf("volume '%s' does not exist", ps["volume"])
	}
	size, _ := strconv.ParseInt(t.Params["size"], 10, 64)
	if !stor.fits(size - v.Size) {
		return 0, s.noSpaceToGrow(stor, volName(v.VolID))
	}
	t.logf("  Size of logical volume %s/%s changed from %s to %s.", stor.VGName, volName(v.VolID), formatSize(v.Size), formatSize(size))
	t.logf("  Logical volume %s/%s successfully resized.", stor.VGName, volName(v.VolID))
	if g.Running {
		t.logf("resize2fs 1.47.0 (5-Feb-2023)")
		t.logf("The filesystem on /dev/loop0 is now %d (4k) blocks long.", size/4096)
	}
	v.Size = size
	ps["size"] = formatSize(size)
	g.Conf[disk] = printMount(ps)
	return 0, nil
}

// --- move_volume ---

// hMoveVolume moves rootfs/mpN/unusedN to another storage (pve-container
// move_volume): stopped CTs only, lock "disk" taken before the worker.
func hMoveVolume(r *request) (any, error) {
	vmid := r.vmid()
	g, err := r.guestOr500(vmid)
	if err != nil {
		return nil, err
	}
	p := r.params
	if p["target-vmid"] != "" || p["target-volume"] != "" {
		return nil, failf("moving a volume to another container is not supported by the simulator")
	}
	if p["storage"] == "" {
		return nil, failf("either set storage or target-vmid, but not both")
	}
	if err := g.checkLock(); err != nil {
		return nil, err
	}
	if err := checkDigest(r, g); err != nil {
		return nil, err
	}
	if g.Running {
		return nil, failf("cannot move volumes of a running container")
	}
	key := p["volume"]
	val, ok := g.Conf[key]
	if !ok {
		return nil, failf("no such volume '%s'", key)
	}
	vol := volumeOf(val)
	if strings.HasPrefix(vol, "/") {
		return nil, failf("cannot move volumes of type bind")
	}
	if p["delete"] == "1" && len(g.Snapshots) > 0 {
		return nil, failf("you can't move a volume with snapshots and delete the source")
	}
	target := r.s.st.storage(p["storage"])
	if target == nil {
		return nil, failf("storage '%s' does not exist", p["storage"])
	}
	if err := r.check(storagePath(target.ID), "Datastore.AllocateSpace"); err != nil {
		return nil, err
	}
	if !target.hasContent("rootdir") {
		return nil, failf("storage '%s' does not support container directories", target.ID)
	}
	g.setLock("disk")
	params := map[string]string{"vmid": strconv.Itoa(vmid), "volume": key, "storage": target.ID, "delete": p["delete"]}
	return r.s.startTaskLocked(r, "move_volume", strconv.Itoa(vmid), "move", params)
}

func finishMove(s *Sim, t *task) (int, error) {
	g, err := taskGuest(s, t)
	if err != nil {
		return 0, err
	}
	vmid := g.VMID
	defer g.unlock()
	key := t.Params["volume"]
	val := g.Conf[key]
	oldVol := volumeOf(val)
	_, v := s.st.volume(oldVol)
	if v == nil {
		return 0, fmt.Errorf("volume '%s' does not exist", oldVol)
	}
	newVol, err := s.allocVolume(t.Params["storage"], vmid, v.Size)
	if err != nil {
		if ae, ok := err.(*apiError); ok {
			return 0, fmt.Errorf("%s", ae.msg)
		}
		return 0, err
	}
	t.logf("moving volume '%s' to '%s'", oldVol, newVol)
	t.logf("transferred %s of %s (100.00%%)", formatSize(v.Size), formatSize(v.Size))
	if unusedPattern.MatchString(key) {
		g.Conf[key] = newVol
	} else {
		ps, _ := parseMount(key, val)
		ps["volume"] = newVol
		g.Conf[key] = printMount(ps)
	}
	if t.Params["delete"] == "1" {
		s.freeVolume(oldVol)
		t.logf("removing volume '%s'", oldVol)
	} else if uk, ok := nextFreeKey(g.Conf, "unused", 255); ok {
		g.Conf[uk] = oldVol
	}
	return 0, nil
}
