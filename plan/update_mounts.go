package plan

// The mount points and volumes of an existing guest: mounts added,
// changed and detached, the backup a detach needs, and volumes freed.

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/felhom/felhom-converge/ops"
	"github.com/felhom/felhom-converge/schema"
)

// mounts matches mount points by path. It adds option changes of existing
// mounts to set and returns the mount.add and mount.detach steps. A file
// that declares mounts owns the guest's mount list, and keeps owning it
// once it has (owns.go); undeclared mounts are detached (their volume is
// kept as unusedN).
func (d *guestDiff) mounts(set map[string]string, changes *[]Change, restart *[]string) []Step {
	g, lg := d.g, d.lg
	if !d.owns(ListMounts) {
		return nil
	}
	live := lg.mounts()
	taken := map[string]bool{}
	declared := map[string]bool{}
	var steps []Step
	for _, m := range g.Mounts {
		declared[m.Path] = true
		lm, ok := live[m.Path]
		if !ok {
			if s, ok := d.mountAdd(m, lg.freeSlot("mp", taken)); ok {
				steps = append(steps, s)
			}
			continue
		}
		wantBind := m.HostPath != ""
		if wantBind != lm.Bind {
			d.errorf("", "guest %d (%s): mount %q at %s is a %s live and a %s in the file; remove the mount block, apply (the volume is kept as unusedN), then add the new one",
				g.VMID, g.Name, m.Name, m.Path, mountKind(lm.Bind), mountKind(wantBind))
			continue
		}
		if wantBind {
			want := mountValue(m, &Mount{Props: withVolume(lm.Props, m.HostPath)})
			if have := PropertyString("volume", withoutDefaults(copyProps(lm.Props))); want != have {
				d.errorf("", "guest %d (%s): mount %q is a bind mount (%s), which Proxmox lets only root@pam change, and the tool binds only through the fenced root path when it adds one: remove the mount block, apply (that detaches it), then add it back with the new settings",
					g.VMID, g.Name, m.Name, have)
			}
			continue
		}
		if storageOf(lm.Volume) != m.Storage {
			d.errorf("", "guest %d (%s): mount %q is on storage %s, the file asks for %s; moving a volume is not supported yet: move it with 'pct move-volume %d %s %s', or change the file",
				g.VMID, g.Name, m.Name, storageOf(lm.Volume), m.Storage, g.VMID, lm.Slot, m.Storage)
			continue
		}
		switch {
		case int64(m.Size) > lm.Size:
			steps = append(steps, d.grow(lm.Slot, lm.Size, int64(m.Size), &m.DeclRange))
		case int64(m.Size) < lm.Size:
			d.errorf("", "guest %d (%s): mount %q is %s and the file asks for %s; Proxmox cannot shrink a volume: set size back to %s, or copy the data to a new, smaller mount",
				g.VMID, g.Name, m.Name, schema.Size(lm.Size), m.Size, schema.Size(lm.Size))
			continue
		}
		want := mountValue(m, &lm)
		if have := PropertyString("volume", withoutDefaults(copyProps(lm.Props))); want != have {
			d.mountOptions(set, changes, lm, m.Name, want, have)
			*restart = append(*restart, lm.Slot)
		}
	}
	for _, path := range slices.Sorted(maps.Keys(live)) {
		if declared[path] {
			continue
		}
		lm := live[path]
		params := ops.MountDetachParams{Slot: lm.Slot, Path: path}
		if !lm.Bind {
			params.Volume = lm.Volume
		}
		s := d.b.newStep(g.VMID, g.Name, ops.MountDetach, params)
		note := "the volume is kept as an unusedN entry; free it with remove_volumes"
		if lm.Bind {
			note = "a bind mount: host data is untouched"
		}
		s.Reason = note
		s.Changes = []Change{{Field: "mount " + path, Old: PropertyString("volume", lm.Props), Note: "detached"}}
		s.RestartNeeded = lg.Running
		steps = append(steps, s)
	}
	return steps
}

// mountAdd plans a new mount point in slot: a new volume, or a bind
// mount of a host directory, which Proxmox allows only to root@pam: it
// runs through the fenced root path, and only for a directory the local
// config lists (privileged.bind_mount_dirs), exactly.
func (d *guestDiff) mountAdd(m schema.Mount, slot string) (Step, bool) {
	g := d.g
	if m.HostPath != "" && !slices.Contains(d.b.in.BindMountDirs, m.HostPath) {
		d.errorf("", "guest %d (%s): mount %q binds the host directory %s, which the local config does not list in privileged.bind_mount_dirs; Proxmox allows bind mounts only to root@pam, so the tool binds only directories the host itself lists, exactly (a desired file must never bind /etc/pve or /root into a guest)",
			g.VMID, g.Name, m.Name, m.HostPath)
		d.b.plan.Errors[len(d.b.plan.Errors)-1].Range = source(&m.DeclRange)
		return Step{}, false
	}
	s := d.b.newStep(g.VMID, g.Name, ops.MountAdd, ops.MountAddParams{Slot: slot, Value: mountValue(m, nil)})
	s.Changes = []Change{{Field: "mount " + m.Name, New: mountValue(m, nil), Note: "new mount point " + slot}}
	if m.HostPath != "" {
		s.Changes[0].Note += ", a bind mount through the fenced root path"
	}
	s.Source = source(&m.DeclRange)
	return s, true
}

// mountOptions plans a change of an existing mount point's options. One
// that turns backup off is not benign (every later backup leaves the
// volume's data out): it goes into a guest.set step of its own, which
// needs a signature; the others join the guest's one config write.
func (d *guestDiff) mountOptions(set map[string]string, changes *[]Change, lm Mount, name, want, have string) {
	c := Change{Field: "mount " + name, Old: have, New: want, Note: restartNote(d.lg)}
	if wp, err := ParseMount(lm.Slot, want); err == nil && liveBool(lm.Props, "backup", false) && !liveBool(wp.Props, "backup", false) {
		if d.backupOff == nil {
			d.backupOff = map[string]string{}
		}
		d.backupOff[lm.Slot] = want
		d.backupOffChanges = append(d.backupOffChanges, c)
		return
	}
	set[lm.Slot] = want
	*changes = append(*changes, c)
}

// backupOffStep is the signed config write that turns backup off for
// mount points of the guest.
func (d *guestDiff) backupOffStep() *Step {
	if len(d.backupOff) == 0 {
		return nil
	}
	s := d.b.newStep(d.g.VMID, d.g.Name, ops.GuestSet, ops.GuestSetParams{Set: d.backupOff})
	s.Class = ops.Destructive
	var vols []string
	for _, slot := range slices.Sorted(maps.Keys(d.backupOff)) {
		vols = append(vols, volumeOf(d.lg.Effective[slot]))
	}
	s.Reason = "turns backup off for " + strings.Join(vols, ", ") + ": every later backup of the guest leaves its data out"
	s.Changes = d.backupOffChanges
	s.RestartNeeded = d.lg.Running
	s.Source = source(&d.g.DeclRange)
	return &s
}

func withVolume(ps map[string]string, vol string) map[string]string {
	out := map[string]string{}
	for k, v := range ps {
		out[k] = v
	}
	out["volume"] = vol
	return out
}

func mountKind(bind bool) string {
	if bind {
		return "bind mount"
	}
	return "volume"
}

func restartNote(lg *LiveGuest) string {
	if lg.Running {
		return "takes effect at next restart"
	}
	return ""
}

// volumeFrees plans the destructive frees of detached volumes the file
// names in remove_volumes.
func (d *guestDiff) volumeFrees() []Step {
	g, lg := d.g, d.lg
	var steps []Step
	for _, rv := range g.RemoveVolumes {
		slot, vol := "", ""
		if unusedKeyRe.MatchString(rv) {
			slot, vol = rv, lg.Effective[rv]
		} else {
			vol = rv
			for k, v := range lg.Effective {
				if unusedKeyRe.MatchString(k) && v == rv {
					slot = k
				}
			}
		}
		if slot == "" || vol == "" {
			d.notDetached(rv)
			continue
		}
		size := "unknown"
		if it, ok := d.b.live.Volumes[vol]; ok && it.Size > 0 {
			size = schema.Size(int64(it.Size)).String()
		}
		s := d.b.newStep(g.VMID, g.Name, ops.VolumeFree, ops.VolumeFreeParams{Volume: vol, Size: size, Slot: slot, Unprotected: []string{vol}})
		s.Reason = "deletes the detached volume " + vol + " (" + size + ") and its data"
		s.Safety = "none for the volume itself: a vzdump never covers a detached volume, so the signature accepts losing it"
		if snaps := lg.SnapshotVolumes[vol]; len(snaps) > 0 {
			s.Reason = fmt.Sprintf("drops the guest's reference to the detached volume %s (%s); %s still %s it, so Proxmox keeps its data until %s deleted",
				vol, size, plural(len(snaps), "snapshot", "snapshots"), plural(len(snaps), "uses", "use"), plural(len(snaps), "it is", "they are"))
			s.Safety = "snapshot " + strings.Join(snaps, ", ") + " keeps the volume"
		}
		s.Source = source(rangeOf(g.AttrRanges, "remove_volumes", g.DeclRange))
		steps = append(steps, s)
	}
	return steps
}

// notDetached explains a remove_volumes entry that is no detached volume
// of the guest: still mounted (an error), kept by a snapshot (said, not
// silently dropped), or gone already (nothing to do).
func (d *guestDiff) notDetached(rv string) {
	g := d.g
	for _, m := range d.lg.mounts() {
		if m.Volume == rv {
			d.errorf("remove_volumes", "guest %d (%s): %s is still mounted at %s; remove its mount block first (that detaches it), then free it", g.VMID, g.Name, rv, m.Path)
			return
		}
	}
	if snaps := d.lg.SnapshotVolumes[rv]; len(snaps) > 0 {
		d.b.warnf(g.VMID, rangeOf(g.AttrRanges, "remove_volumes", g.DeclRange),
			"guest %d (%s): remove_volumes names %s, which is no detached volume of the guest: %s %s still %s it, so Proxmox keeps it and lists no unusedN entry for it; delete %s (a snapshot.delete job), and it comes back as an unusedN entry to free",
			g.VMID, g.Name, rv, plural(len(snaps), "snapshot", "snapshots"), strings.Join(snaps, ", "), plural(len(snaps), "uses", "use"), plural(len(snaps), "that snapshot", "those snapshots"))
	}
}
