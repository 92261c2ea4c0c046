package pvesim

// PUT /nodes/{node}/lxc/{vmid}/config (pve-container API2/LXC/Config.pm
// update_vm, LXC/Config.pm update_pct_config): synchronous, returns null.

import (
	"crypto/rand"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// requiredKeys cannot be deleted.
var requiredKeys = map[string]bool{"memory": true, "rootfs": true, "ostype": true}

// hotKeys take effect at once on a running CT; other changes to a running
// CT wait in the pending section until the next start.
var hotKeys = map[string]bool{"description": true, "onboot": true, "startup": true, "protection": true,
	"hostname": true, "hookscript": true, "cores": true, "tags": true, "lock": true,
	"memory": true, "swap": true, "cpulimit": true, "cpuunits": true}

// hotDeletes may be deleted at once on a running CT.
var hotDeletes = map[string]bool{"swap": true, "cpulimit": true, "cpuunits": true, "description": true,
	"onboot": true, "startup": true, "protection": true, "hostname": true, "hookscript": true,
	"cores": true, "tags": true, "lock": true}

// metaParams are the parameters of PUT config that are not config keys.
var metaParams = map[string]bool{"node": true, "vmid": true, "delete": true, "revert": true, "digest": true}

func checkLock(g *guest) error {
	if l := g.Conf["lock"]; l != "" {
		return failf("CT is locked (%s)", l)
	}
	return nil
}

func checkDigest(r *request, g *guest) error {
	if d := r.params["digest"]; d != "" && d != digestOf(g) {
		return failf("detected modified configuration - file changed by other user? Try again.")
	}
	return nil
}

func randomMAC() string {
	var b [3]byte
	rand.Read(b[:])
	return fmt.Sprintf("BC:24:11:%02X:%02X:%02X", b[0], b[1], b[2])
}

func hConfigPut(r *request) (any, error) {
	vmid := r.vmid()
	g, err := r.guestOr500(vmid)
	if err != nil {
		return nil, err
	}
	set := map[string]string{}
	for k, v := range r.params {
		if !metaParams[k] {
			set[k] = v
		}
	}
	dels := splitList(r.params["delete"])
	reverts := splitList(r.params["revert"])
	if len(set) == 0 && len(dels) == 0 && len(reverts) == 0 {
		return nil, failf("no options specified")
	}
	for _, k := range dels {
		if _, ok := set[k]; ok {
			return nil, param1Error("delete", "you can't use '-%s' and -delete %s' at the same time", k, k)
		}
	}
	if err := checkLock(g); err != nil {
		return nil, err
	}
	if err := checkDigest(r, g); err != nil {
		return nil, err
	}
	if err := r.checkModifyPerms(g, set, dels); err != nil {
		return nil, err
	}
	if _, ok := set["unprivileged"]; ok {
		return nil, failf("unable to modify read-only option: 'unprivileged'")
	}
	for _, k := range dels {
		if k == "unprivileged" {
			return nil, failf("unable to delete read-only option: 'unprivileged'")
		}
		if requiredKeys[k] {
			return nil, failf("unable to delete required option '%s'", k)
		}
	}
	if g.Conf["protection"] == "1" {
		for k := range set {
			if k == "rootfs" || mpKeyPattern.MatchString(k) {
				return nil, failf("can't update CT %d drive '%s' - protection mode enabled", vmid, k)
			}
		}
		for _, k := range dels {
			if mpKeyPattern.MatchString(k) || unusedPattern.MatchString(k) {
				return nil, failf("can't remove CT %d drive '%s' - protection mode enabled", vmid, k)
			}
		}
	}

	// Normalise every value before anything is written, so that a bad
	// value leaves the config untouched.
	norm := map[string]string{}
	var allocated []string
	undo := func() {
		for _, volid := range allocated {
			r.s.freeVolume(volid)
		}
	}
	// A new volume that cannot be allocated is no refusal: Proxmox writes
	// the change to the pending section, fails to apply it and answers
	// 400 naming the key (vmconfig_apply_pending); the rest goes through.
	failed, errs := map[string]string{}, map[string]string{}
	for k, v := range set {
		nv, newVol, err := r.normalizeValue(g, k, v)
		var ae *applyError
		if errors.As(err, &ae) {
			failed[k] = nv
			errs[k] = fmt.Sprintf("unable to apply pending change %s : %s", k, ae.msg)
			continue
		}
		if err != nil {
			undo()
			return nil, err
		}
		if newVol != "" {
			allocated = append(allocated, newVol)
		}
		norm[k] = nv
	}

	for _, k := range reverts {
		delete(g.Pending, k)
		g.PendingDelete = removeString(g.PendingDelete, k)
	}
	for _, k := range dels {
		r.s.deleteKey(g, k)
	}
	for k, v := range norm {
		r.s.setKey(g, k, v)
	}
	for k, v := range failed {
		if g.Pending == nil {
			g.Pending = map[string]string{}
		}
		g.Pending[k] = v
		g.PendingDelete = removeString(g.PendingDelete, k)
	}
	if len(g.Pending) == 0 {
		g.Pending = nil
	}
	if err := r.s.persistLocked(); err != nil {
		return nil, err
	}
	if len(errs) > 0 {
		return nil, paramError(errs)
	}
	return nil, nil
}

// applyError is a change written to the pending section that could not
// be applied; its message goes into the 400's errors.
type applyError struct{ msg string }

func (e *applyError) Error() string { return e.msg }

// checkModifyPerms is check_ct_modify_config_perm: a privilege per key,
// SDN.Use for bridges, and the root@pam-only options a token never passes.
func (r *request) checkModifyPerms(g *guest, set map[string]string, dels []string) error {
	vm := vmPath(g.VMID)
	keys := make([]string, 0, len(set)+len(dels))
	for k := range set {
		keys = append(keys, k)
	}
	keys = append(keys, dels...)
	for _, k := range keys {
		v, isSet := set[k]
		switch {
		case k == "hookscript":
			return permErrorText("changing the hookscript is only allowed for root@pam")
		case strings.HasPrefix(k, "dev"):
			return permErrorText("configuring device passthrough is only allowed for root@pam")
		case k == "features":
			if g.Conf["unprivileged"] != "1" {
				return permErrorText("changing feature flags for privileged container is only allowed for root@pam")
			}
			old, _ := parsePropString(g.Conf["features"], "", featureKeys)
			nw := propString{}
			if isSet {
				nw, _ = parsePropString(v, "", featureKeys)
			}
			for f := range featureKeys {
				if f != "nesting" && old[f] != nw[f] {
					return permErrorText("changing feature flags (except nesting) is only allowed for root@pam")
				}
			}
			if old["nesting"] != nw["nesting"] {
				if err := r.check(vm, "VM.Allocate"); err != nil {
					return err
				}
			}
			continue
		}
		if err := r.check(vm, keyPriv(k)); err != nil {
			return err
		}
		if netKeyPattern.MatchString(k) {
			for _, val := range []string{g.Conf[k], v} {
				if val == "" {
					continue
				}
				if ps, err := parseNet(val); err == nil && ps["bridge"] != "" {
					if err := r.check(bridgePath(ps), "SDN.Use"); err != nil {
						return err
					}
				}
			}
		}
		if isSet && (k == "rootfs" || mpKeyPattern.MatchString(k)) {
			ps, err := parseMount(k, v)
			if err != nil {
				continue // the schema check already refused it
			}
			vol := ps["volume"]
			if strings.HasPrefix(vol, "/") {
				return permErrorText("mount point type bind is only allowed for root@pam")
			}
			sid, _, _ := cutVolID(vol)
			if m := newVolPattern.FindStringSubmatch(vol); m != nil {
				sid = m[1]
			}
			if err := r.check(storagePath(sid), "Datastore.AllocateSpace"); err != nil {
				return err
			}
		}
	}
	return nil
}

// normalizeValue turns a given value into what Proxmox stores. For a new
// volume ("STORAGE:GiB") it allocates the volume and returns its id.
func (r *request) normalizeValue(g *guest, k, v string) (string, string, error) {
	switch {
	case k == "tags":
		t, err := normalizeTags(v)
		return t, "", err
	case k == "description":
		return normalizeDescription(v), "", nil
	case netKeyPattern.MatchString(k):
		ps, err := parseNet(v)
		if err != nil {
			return "", "", param1Error(k, "%v", err)
		}
		if ps["hwaddr"] == "" {
			ps["hwaddr"] = randomMAC()
		} else {
			ps["hwaddr"] = strings.ToUpper(ps["hwaddr"])
		}
		ps["type"] = "veth"
		return printNet(ps), "", nil
	case k == "rootfs" || mpKeyPattern.MatchString(k):
		ps, err := parseMount(k, v)
		if err != nil {
			return "", "", param1Error(k, "%v", err)
		}
		vol := ps["volume"]
		if newVolPattern.MatchString(vol) {
			return r.s.allocMount(g.VMID, ps)
		}
		_, vinfo := r.s.st.volume(vol)
		if vinfo == nil {
			return "", "", failf("volume '%s' does not exist", vol)
		}
		if vinfo.VMID != 0 && vinfo.VMID != g.VMID {
			return "", "", failf("volume '%s' belongs to another guest (%d)", vol, vinfo.VMID)
		}
		// The size is read from storage, never taken from the request.
		ps["size"] = formatSize(vinfo.Size)
		return printMount(ps), "", nil
	}
	return v, "", nil
}

// setKey writes a normalised value: at once on a stopped CT or for a
// hot-pluggable key, otherwise into the pending section.
func (s *Sim) setKey(g *guest, k, v string) {
	if v == "" && (k == "description" || k == "tags") {
		// An empty value writes nothing to the file: the key is gone.
		delete(g.Conf, k)
		delete(g.Pending, k)
		return
	}
	_, existed := g.Conf[k]
	hot := !g.Running || hotKeys[k] || netKeyPattern.MatchString(k) ||
		(mpKeyPattern.MatchString(k) && !existed)
	g.PendingDelete = removeString(g.PendingDelete, k)
	if !hot {
		if g.Pending == nil {
			g.Pending = map[string]string{}
		}
		g.Pending[k] = v
		return
	}
	delete(g.Pending, k)
	s.replaceVolumeKey(g, k, v)
}

// replaceVolumeKey sets k=v; a volume displaced from a rootfs/mpN key goes
// to the next free unusedN, and a volume re-attached from unusedN leaves it.
func (s *Sim) replaceVolumeKey(g *guest, k, v string) {
	if k == "rootfs" || mpKeyPattern.MatchString(k) {
		newVol := volumeOf(v)
		for uk, uv := range g.Conf {
			if unusedPattern.MatchString(uk) && volumeOf(uv) == newVol {
				delete(g.Conf, uk)
			}
		}
		if old, ok := g.Conf[k]; ok && volumeOf(old) != newVol && !strings.HasPrefix(volumeOf(old), "/") {
			if uk, ok := nextFreeKey(g.Conf, "unused", 255); ok {
				g.Conf[uk] = volumeOf(old)
			}
		}
	}
	g.Conf[k] = v
}

// deleteKey removes a key. Removing mpN keeps its volume as unusedN;
// removing unusedN frees the volume.
func (s *Sim) deleteKey(g *guest, k string) {
	if _, ok := withPending(g)[k]; !ok {
		return // deleting an unset key only warns
	}
	if _, inConf := g.Conf[k]; !inConf {
		delete(g.Pending, k)
		return
	}
	if g.Running && !hotDeletes[k] && !netKeyPattern.MatchString(k) && !unusedPattern.MatchString(k) {
		delete(g.Pending, k)
		if !contains(g.PendingDelete, k) {
			g.PendingDelete = append(g.PendingDelete, k)
		}
		return
	}
	s.removeKeyNow(g, k)
}

func (s *Sim) removeKeyNow(g *guest, k string) {
	v := g.Conf[k]
	delete(g.Conf, k)
	delete(g.Pending, k)
	g.PendingDelete = removeString(g.PendingDelete, k)
	switch {
	case mpKeyPattern.MatchString(k):
		if vol := volumeOf(v); !strings.HasPrefix(vol, "/") {
			if uk, ok := nextFreeKey(g.Conf, "unused", 255); ok {
				g.Conf[uk] = vol
			}
		}
	case unusedPattern.MatchString(k):
		if !s.volumeInSnapshots(g, volumeOf(v)) {
			s.freeVolume(volumeOf(v))
		}
	}
}

func (s *Sim) volumeInSnapshots(g *guest, vol string) bool {
	for _, sn := range g.Snapshots {
		for k, v := range sn.Conf {
			if isVolumeKey(k) && volumeOf(v) == vol {
				return true
			}
		}
	}
	return false
}

// applyPendingLocked applies the pending section, as vm_start does.
func (s *Sim) applyPendingLocked(g *guest) {
	for _, k := range append([]string(nil), g.PendingDelete...) {
		if _, ok := g.Conf[k]; ok {
			s.removeKeyNow(g, k)
		}
	}
	g.PendingDelete = nil
	for k, v := range g.Pending {
		// A new volume left pending by a failed allocation is tried again;
		// if it still fails, it stays pending.
		if ps, err := parseMount(k, v); err == nil && newVolPattern.MatchString(ps["volume"]) {
			nv, _, err := s.allocMount(g.VMID, ps)
			if err != nil {
				continue
			}
			v = nv
		}
		s.replaceVolumeKey(g, k, v)
		delete(g.Pending, k)
	}
	if len(g.Pending) == 0 {
		g.Pending = nil
	}
}

// allocMount allocates the new volume a rootfs/mpN value asks for
// ("STORAGE:GiB") and returns the value naming it and the volume. When
// the storage cannot hold it, it returns the value as asked and an
// *applyError.
func (s *Sim) allocMount(vmid int, ps propString) (string, string, error) {
	m := newVolPattern.FindStringSubmatch(ps["volume"])
	gib, _ := strconv.ParseFloat(m[2], 64)
	size := int64(gib * (1 << 30))
	volid, err := s.allocVolume(m[1], vmid, size)
	if err != nil {
		msg := err.Error()
		if ae, ok := err.(*apiError); ok {
			msg = ae.msg
		}
		return printMount(ps), "", &applyError{msg: msg}
	}
	ps["volume"], ps["size"] = volid, formatSize(size)
	return printMount(ps), volid, nil
}

// allocVolume creates a container volume of size bytes for vmid.
func (s *Sim) allocVolume(sid string, vmid int, size int64) (string, error) {
	st := s.st.storage(sid)
	if st == nil {
		return "", failf("storage '%s' does not exist", sid)
	}
	if !st.hasContent("rootdir") {
		return "", failf("storage '%s' does not support container directories", sid)
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
		if st.used()+size > st.Total {
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

func (s *Sim) noSpace(st *storage, name string) error {
	switch st.Type {
	case "lvmthin":
		return failf("lvcreate '%s/%s' error:   Insufficient free space: thin pool %s/%s is full", st.VGName, name, st.VGName, st.ThinPool)
	case "zfspool":
		return failf("zfs error: cannot create '%s/%s': out of space", st.Pool, name)
	}
	return failf("unable to create image %s on storage '%s': No space left on device", name, st.ID)
}

func (s *Sim) freeVolume(volid string) {
	if st, v := s.st.volume(volid); v != nil {
		delete(st.Volumes, volid)
	}
}

func removeString(list []string, s string) []string {
	out := list[:0]
	for _, x := range list {
		if x != s {
			out = append(out, x)
		}
	}
	if len(out) == 0 {
		return nil
	}
	return out
}
