package plan

import (
	"maps"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/felhom/felhom-converge/ops"
	"github.com/felhom/felhom-converge/schema"
	"github.com/hashicorp/hcl/v2"
)

// update plans the changes to an existing guest.
func (d *guestDiff) update() {
	g, lg := d.g, d.lg
	if last, ok := d.b.in.Provenance.LastDigest(g.VMID); ok && last.Digest != lg.Digest {
		d.b.plan.Drift = append(d.b.plan.Drift, Drift{Guest: g.VMID, Since: last.Time.UTC()})
	}
	rebuild := map[string]string{}
	var rebuildChanges []Change
	if g.Unprivileged != nil {
		if have := liveBool(lg.Effective, "unprivileged", false); have != *g.Unprivileged {
			rebuild["unprivileged"] = boolText(*g.Unprivileged)
			rebuildChanges = append(rebuildChanges, Change{Field: "unprivileged", Old: boolText(have), New: boolText(*g.Unprivileged),
				Note: "Proxmox cannot change it in place"})
		}
	}
	var grows []Step
	if g.Rootfs != nil {
		root, err := ParseMount("rootfs", lg.Effective["rootfs"])
		switch {
		case err != nil || root.Volume == "":
			d.errorf("rootfs", "guest %d (%s): cannot read the live rootfs %q", g.VMID, g.Name, lg.Effective["rootfs"])
			return
		case storageOf(root.Volume) != g.Rootfs.Storage:
			d.errorf("rootfs", "guest %d (%s): rootfs is on storage %s, the file asks for %s; moving a volume is not supported yet: move it with 'pct move-volume %d rootfs %s' and keep the source, or change the file",
				g.VMID, g.Name, storageOf(root.Volume), g.Rootfs.Storage, g.VMID, g.Rootfs.Storage)
			return
		case int64(g.Rootfs.Size) > root.Size:
			grows = append(grows, d.grow("rootfs", root.Size, int64(g.Rootfs.Size), &g.Rootfs.DeclRange))
		case int64(g.Rootfs.Size) < root.Size:
			rebuild["rootfs"] = g.Rootfs.Storage + ":" + gib(int64(g.Rootfs.Size))
			rebuildChanges = append(rebuildChanges, Change{Field: "rootfs size", Old: schema.Size(root.Size).String(), New: g.Rootfs.Size.String(),
				Note: "Proxmox cannot shrink a volume"})
		}
	}
	if len(rebuild) > 0 && d.privilegedRebuild(rebuild) {
		d.rebuild(rebuild, rebuildChanges)
	}

	set, del, changes, restart := d.configChanges()
	mountSteps := d.mounts(set, &changes, &restart)
	frees := d.volumeFrees()
	protectLast := d.protection(set, &changes, mountSteps, frees)
	if d.errors > 0 {
		return
	}
	var config []string
	if len(set) > 0 || len(del) > 0 {
		s := d.b.newStep(g.VMID, g.Name, ops.GuestSet, ops.GuestSetParams{Set: set, Delete: del})
		s.Kinds = changeKinds(set, del, lg)
		s.Changes = changes
		s.RestartNeeded = lg.Running && len(restart) > 0
		s.Source = source(&g.DeclRange)
		if s.RestartNeeded {
			d.restart = append(d.restart, restart...)
		}
		config = append(config, d.add(s).ID)
	}
	if s := d.backupOffStep(); s != nil {
		if s.RestartNeeded {
			d.restart = append(d.restart, slices.Sorted(maps.Keys(d.backupOff))...)
		}
		config = append(config, d.add(*s).ID)
	}
	for _, s := range grows {
		config = append(config, d.add(s).ID)
	}
	for _, s := range mountSteps {
		if s.RestartNeeded {
			d.restart = append(d.restart, stepSlot(s))
		}
		config = append(config, d.add(s).ID)
	}
	for _, s := range frees {
		d.add(s)
	}
	if protectLast != nil {
		config = append(config, d.add(*protectLast).ID)
	}
	d.configIDs = config
	d.power()
	d.snapshots()
}

// protection orders a change of the protection flag around the guest's
// disk changes (mount points added, changed or detached, volumes freed),
// which Proxmox refuses while the flag is set: turned on in this plan, it
// is set in a step of its own after them; on and staying on, the disk
// changes are a plan error that says why.
func (d *guestDiff) protection(set map[string]string, changes *[]Change, mounts, frees []Step) *Step {
	var disks []string
	for _, s := range mounts {
		disks = append(disks, stepSlot(s))
	}
	for k := range set {
		if mpKeyRe.MatchString(k) {
			disks = append(disks, k)
		}
	}
	disks = append(disks, slices.Sorted(maps.Keys(d.backupOff))...)
	for _, s := range frees {
		p, _ := ops.Decode[ops.VolumeFreeParams](s.Op, s.Params)
		disks = append(disks, "free "+p.Volume)
	}
	if len(disks) == 0 {
		return nil
	}
	slices.Sort(disks)
	g, on := d.g, liveBool(d.lg.Effective, "protection", false)
	switch want, given := set["protection"]; {
	case on && want != "0":
		d.errorf("protection", "guest %d (%s) has protection on, and Proxmox refuses to add, change or detach mount points and to free volumes of a protected guest (here %s); set protection = false for this change and back to true after it, or leave them as they are",
			g.VMID, g.Name, strings.Join(slices.Compact(disks), ", "))
	case given && want == "1":
		delete(set, "protection")
		*changes = slices.DeleteFunc(*changes, func(c Change) bool { return c.Field == "protection" })
		s := d.b.newStep(g.VMID, g.Name, ops.GuestSet, ops.GuestSetParams{Set: map[string]string{"protection": "1"}})
		s.Changes = []Change{{Field: "protection", Old: "0", New: "1", Note: "set after the mount point and volume changes, which Proxmox refuses on a protected guest"}}
		s.Source = source(rangeOf(g.AttrRanges, "protection", g.DeclRange))
		return &s
	}
	return nil
}

// changeKinds names the disruptive kinds of a config write, for a local
// policy: lowering memory; touching an interface, or the DNS servers and
// search domain, which redirect the guest's name resolution.
func changeKinds(set map[string]string, del []string, lg *LiveGuest) []string {
	var kinds []string
	if v, ok := set["memory"]; ok {
		if n, err := strconv.ParseInt(v, 10, 64); err == nil && n < liveMiB(lg.Effective, "memory") {
			kinds = append(kinds, ops.MemoryShrink)
		}
	}
	for _, k := range append(slices.Collect(maps.Keys(set)), del...) {
		if netKeyRe.MatchString(k) || k == "nameserver" || k == "searchdomain" {
			kinds = append(kinds, ops.NetworkChange)
			break
		}
	}
	return kinds
}

// stepSlot is the mount point a mount.add or mount.detach step changes.
func stepSlot(s Step) string {
	switch s.Op {
	case ops.MountAdd:
		p, _ := ops.Decode[ops.MountAddParams](s.Op, s.Params)
		return p.Slot
	case ops.MountDetach:
		p, _ := ops.Decode[ops.MountDetachParams](s.Op, s.Params)
		return p.Slot
	}
	return ""
}

func (d *guestDiff) grow(disk string, from, to int64, decl *hcl.Range) Step {
	s := d.b.newStep(d.g.VMID, d.g.Name, ops.DiskGrow, ops.DiskGrowParams{
		Disk: disk, From: schema.Size(from).String(), To: schema.Size(to).String()})
	s.Reason = "one-way: a volume cannot be shrunk again"
	s.Changes = []Change{{Field: disk + " size", Old: schema.Size(from).String(), New: schema.Size(to).String()}}
	s.Source = source(decl)
	return s
}

// rebuild plans the signed backup-and-restore that a change Proxmox
// refuses in place needs.
func (d *guestDiff) rebuild(change map[string]string, changes []Change) {
	r := d.replaced(d.notInBackup()) // the rebuild restores from its own backup, safety backups or not
	vols, snaps := r.Volumes, r.Snapshots
	s := d.b.newStep(d.g.VMID, d.g.Name, ops.GuestRebuild, ops.GuestRebuildParams{
		Change: change, Replaced: r, BackupStorage: "local"})
	s.Changes = changes
	s.Reason = "backs the guest up and restores it with " + strings.Join(slices.Sorted(maps.Keys(change)), " and ") +
		" changed, replacing " + volumeList(vols) + snapshotsLost(snaps)
	s.Safety = "the backup it restores from is kept"
	if u := r.Unprotected; len(u) > 0 {
		s.Safety += "; it does not cover " + strings.Join(u, ", ") + " (no backup=1, or detached), which the restore loses"
	}
	s.Source = source(&d.g.DeclRange)
	d.add(s)
}

// configChanges compares the plain config keys and the networks.
func (d *guestDiff) configChanges() (set map[string]string, del []string, changes []Change, restart []string) {
	g, lg := d.g, d.lg
	set = map[string]string{}
	eff := lg.Effective
	cmp := func(key, want, have, oldShown, newShown string) {
		if want != have {
			set[key] = want
			changes = append(changes, Change{Field: key, Old: oldShown, New: newShown})
		}
	}
	if g.Hostname != "" {
		cmp("hostname", g.Hostname, eff["hostname"], eff["hostname"], g.Hostname)
	}
	if g.Cores != 0 {
		cmp("cores", strconv.Itoa(g.Cores), eff["cores"], orUnset(eff["cores"]), strconv.Itoa(g.Cores))
	}
	if g.Memory != 0 {
		have := liveMiB(eff, "memory")
		cmp("memory", strconv.FormatInt(g.Memory, 10), strconv.FormatInt(have, 10), humanMiB(have), humanMiB(g.Memory))
	}
	if g.Swap != nil {
		have := liveMiB(eff, "swap")
		cmp("swap", strconv.FormatInt(*g.Swap, 10), strconv.FormatInt(have, 10), humanMiB(have), humanMiB(*g.Swap))
	}
	boolKey := func(key string, want *bool) {
		if want != nil {
			have := liveBool(eff, key, false)
			cmp(key, boolText(*want), boolText(have), boolText(have), boolText(*want))
		}
	}
	boolKey("onboot", g.OnBoot)
	boolKey("protection", g.Protection)
	if g.Tags != nil {
		want, have := strings.Join(g.Tags, ";"), strings.Join(liveTags(eff["tags"]), ";")
		switch {
		case want == have:
		case want == "":
			del = append(del, "tags")
			changes = append(changes, Change{Field: "tags", Old: have})
		default:
			cmp("tags", want, have, have, want)
		}
	}
	if g.Description != nil {
		want, have := *g.Description, eff["description"]
		switch {
		case want == have:
		case want == "":
			del = append(del, "description")
			changes = append(changes, Change{Field: "description", Old: oneLine(have)})
		default:
			set["description"] = strings.TrimSuffix(want, "\n")
			changes = append(changes, Change{Field: "description", Old: oneLine(have), New: oneLine(want)})
		}
	}
	if g.Features != nil {
		want := wantFeatures(g.Features, eff["features"])
		have := canonicalFeatures(featuresOf(eff["features"]))
		if flag := rootOnlyFeature(have, want); flag != "" {
			d.errorf("features", "guest %d (%s): Proxmox lets only root@pam change feature flags other than nesting (here %s), not an API token; set it with 'pct set %d --features %s' as root, or leave it out of the file",
				g.VMID, g.Name, flag, g.VMID, orUnset(want))
		} else if want != have && !liveBool(eff, "unprivileged", false) {
			d.errorf("features", "guest %d (%s) is a privileged container: Proxmox lets only root@pam change its features (here to %s), not an API token; make it unprivileged (unprivileged = true, a signed rebuild), or set them with 'pct set %d --features %s' as root",
				g.VMID, g.Name, orUnset(want), g.VMID, orUnset(want))
		} else if want != have && want == "" {
			del = append(del, "features")
			note := "removed"
			if lg.Running {
				note += "; takes effect at next restart"
			}
			changes = append(changes, Change{Field: "features", Old: have, Note: note})
			if lg.Running {
				restart = append(restart, "features")
			}
		} else if want != have {
			set["features"] = want
			c := Change{Field: "features", Old: orUnset(have), New: want}
			if lg.Running {
				c.Note = "takes effect at next restart"
				restart = append(restart, "features")
			}
			changes = append(changes, c)
		}
	}
	d.optionChanges(set, &del, &changes, &restart)
	d.networks(set, &del, &changes)
	sort.Strings(del)
	return set, del, changes, restart
}

// networks matches interfaces by name. A file that declares networks owns
// the guest's interface list, and keeps owning it once it has (owns.go):
// interfaces it does not declare are removed.
func (d *guestDiff) networks(set map[string]string, del *[]string, changes *[]Change) {
	if !d.owns(ListNetworks) {
		return
	}
	live := d.lg.nets()
	taken := map[string]bool{}
	declared := map[string]bool{}
	for _, n := range d.g.Networks {
		declared[n.Name] = true
		ln, ok := live[n.Name]
		if !ok {
			slot := d.lg.freeSlot("net", taken)
			set[slot] = netValue(n, nil)
			*changes = append(*changes, Change{Field: "network " + n.Name, New: set[slot], Note: "new interface " + slot})
			continue
		}
		diffs := netDiffers(n, ln.Props)
		if len(diffs) == 0 {
			continue
		}
		set[ln.Slot] = netValue(n, ln.Props)
		for _, c := range diffs {
			c.Field = "network " + n.Name + " " + c.Field
			*changes = append(*changes, c)
		}
	}
	for _, name := range slices.Sorted(maps.Keys(live)) {
		if !declared[name] {
			*del = append(*del, live[name].Slot)
			*changes = append(*changes, Change{Field: "network " + name, Old: d.lg.Effective[live[name].Slot], Note: "removed"})
		}
	}
}

// power plans start, stop and the reboot that applies pending changes.
func (d *guestDiff) power() {
	g, lg := d.g, d.lg
	switch {
	case g.State == schema.StateRunning && !lg.Running:
		d.add(d.b.newStep(g.VMID, g.Name, ops.GuestStart, ops.GuestStartParams{}), d.configIDs...)
		return
	case g.State == schema.StateStopped && lg.Running:
		s := d.b.newStep(g.VMID, g.Name, ops.GuestStop, ops.GuestStopParams{})
		s.Reason = "downtime: the guest shuts down"
		d.add(s)
		return
	case !lg.Running:
		return
	}
	keys := uniq(append(append([]string{}, lg.PendingKeys...), d.restart...))
	sort.Strings(keys)
	if len(keys) == 0 {
		return
	}
	if !g.RebootAfterUpdate {
		d.b.plan.Outstanding = append(d.b.plan.Outstanding, Outstanding{Guest: g.VMID, Keys: keys,
			Reboot: "not planned: reboot_after_update is false; reboot the guest yourself, or set it"})
		return
	}
	s := d.b.newStep(g.VMID, g.Name, ops.GuestReboot, ops.GuestRebootParams{Reason: keys})
	s.Reason = "downtime: applies " + strings.Join(keys, ", ") + " (reboot_after_update = true)"
	d.add(s, d.configIDs...)
	d.b.plan.Outstanding = append(d.b.plan.Outstanding, Outstanding{Guest: g.VMID, Keys: keys, Reboot: RebootPlanned})
}

// snapshots plans the snapshots the guest should have and does not.
func (d *guestDiff) snapshots() {
	if len(d.g.Snapshots) == 0 {
		return
	}
	have := map[string]bool{}
	for _, s := range d.lg.Snapshots {
		have[s.Name] = true
	}
	for _, sn := range d.g.Snapshots {
		if !have[sn.Name] {
			d.snapshotCreate(sn)
		}
	}
}

func liveMiB(conf map[string]string, key string) int64 {
	if n, err := strconv.ParseInt(conf[key], 10, 64); err == nil {
		return n
	}
	return 512 // Proxmox's default for memory and swap
}

func orUnset(s string) string {
	if s == "" {
		return "(unset)"
	}
	return s
}

// oneLine shows a description on one line.
func oneLine(s string) string {
	s = strings.TrimSuffix(s, "\n")
	return strings.ReplaceAll(s, "\n", `\n`)
}

func copyProps(ps map[string]string) map[string]string {
	out := make(map[string]string, len(ps))
	for k, v := range ps {
		out[k] = v
	}
	return out
}

// rootOnlyFeature returns a feature flag other than nesting whose value
// differs between have and want: pve-container refuses such a change to
// anyone but root@pam.
func rootOnlyFeature(have, want string) string {
	a, b := featuresOf(have), featuresOf(want)
	for _, k := range slices.Sorted(maps.Keys(mergeKeys(a, b))) {
		if k != "nesting" && a[k] != b[k] {
			return k
		}
	}
	return ""
}

func mergeKeys(a, b map[string]string) map[string]bool {
	out := map[string]bool{}
	for k := range a {
		out[k] = true
	}
	for k := range b {
		out[k] = true
	}
	return out
}
