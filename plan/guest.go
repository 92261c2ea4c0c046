package plan

import (
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/felhom/felhom-converge/ops"
	"github.com/felhom/felhom-converge/schema"
)

// guestDiff computes one guest's steps, in the safe order: create, one
// config write, grows, mount changes, volume frees, power, reboot,
// snapshots, jobs, destroy.
type guestDiff struct {
	b    *builder
	g    *schema.Guest // nil for a guest only jobs name
	lg   *LiveGuest    // nil when the guest does not exist
	vmid int

	steps    []Step
	errors   int
	createID string // the guest.create step, when planned
	restart  []string
	// configIDs are the steps that change config; start and reboot wait
	// for them.
	configIDs []string
	// backupOff are mount point option changes that turn backup off
	// (a signed step of their own).
	backupOff        map[string]string
	backupOffChanges []Change
}

func (d *guestDiff) name() string {
	if d.g != nil {
		return d.g.Name
	}
	if d.lg != nil {
		return d.lg.Name
	}
	return ""
}

func (d *guestDiff) id() int {
	if d.g != nil {
		return d.g.VMID
	}
	return d.vmid
}

func (d *guestDiff) add(s Step, deps ...string) *Step {
	if d.createID != "" && s.Op != ops.GuestCreate {
		deps = append([]string{d.createID}, deps...)
	}
	s.DependsOn = uniq(append(s.DependsOn, deps...))
	if d.lg != nil && d.lg.Observed && s.ObservedDigest == "" {
		s.ObservedDigest = d.lg.Digest
	}
	d.steps = append(d.steps, s)
	return &d.steps[len(d.steps)-1]
}

func uniq(ss []string) []string {
	out := []string{}
	seen := map[string]bool{}
	for _, s := range ss {
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}

func (d *guestDiff) errorf(attr string, format string, args ...any) {
	d.errors++
	var rng = d.g.DeclRange
	d.b.errorf(d.id(), rangeOf(d.g.AttrRanges, attr, rng), format, args...)
}

func (d *guestDiff) run() {
	g := d.g
	switch {
	case g.State == schema.StateAbsent:
		if d.lg != nil {
			d.destroy()
		}
	case d.lg == nil:
		d.create()
	case !d.lg.Observed:
		d.errorf("", "guest %d (%s) was not observed", g.VMID, g.Name)
	default:
		d.update()
	}
}

// finish checks the guest's steps against its live lock and hands them to
// the plan.
func (d *guestDiff) finish() {
	if d.lg != nil && len(d.steps) > 0 {
		switch {
		case d.lg.Lock != "":
			d.b.errorf(d.id(), d.declRange(), "guest %d (%s) is locked (%s): Proxmox refuses changes until the lock is released; re-run when the operation that holds it has finished, or clear a stale lock with 'pct unlock %d'",
				d.id(), d.name(), d.lg.Lock, d.id())
			return
		case d.lg.Template:
			d.b.errorf(d.id(), d.declRange(), "guest %d (%s) is a template: templates cannot be changed or started", d.id(), d.name())
			return
		}
	}
	if d.errors > 0 {
		return // a guest with a plan error gets no steps: half a plan is worse than none
	}
	d.rebootByJob()
	d.holdBackups()
	d.b.plan.Steps = append(d.b.plan.Steps, d.steps...)
}

// rebootByJob lets a planned reboot job apply the guest's changes that
// wait for a restart: the plan's own reboot (reboot_after_update) is not
// planned as well, and the changes are not outstanding.
func (d *guestDiff) rebootByJob() {
	byJob := false
	for _, s := range d.steps {
		byJob = byJob || (s.Op == ops.GuestReboot && s.Job != "")
	}
	if !byJob {
		return
	}
	kept := d.steps[:0]
	for _, s := range d.steps {
		if s.Op != ops.GuestReboot || s.Job != "" {
			kept = append(kept, s)
		}
	}
	d.steps = kept
	for i := range d.b.plan.Outstanding {
		if o := &d.b.plan.Outstanding[i]; o.Guest == d.id() {
			o.Reboot = RebootPlanned
			for j := range d.steps {
				if d.steps[j].Op == ops.GuestReboot {
					d.steps[j].Reason += "; applies " + strings.Join(o.Keys, ", ")
				}
			}
		}
	}
}

// takesBackup lists the ops whose execution backs the guest up.
var takesBackup = map[string]bool{
	ops.GuestDestroy: true, ops.GuestRestoreOver: true, ops.GuestRebuild: true, ops.SnapshotRollback: true,
	ops.BackupCreate: true, ops.BackupPrune: true,
}

// holdBackups keeps out of the plan every step that backs up a guest
// whose live mount paths carry characters a task log echoes verbatim (a
// quote, a backslash, a control character): they run once the path is
// fixed (a benign change of the file or the guest).
func (d *guestDiff) holdBackups() {
	if d.lg == nil || !d.lg.Observed {
		return
	}
	bad := ""
	for _, conf := range []map[string]string{d.lg.Current, d.lg.Effective} { // vzdump reads the active one
		for _, k := range sortedSlots(conf, mpKeyRe) {
			if m, err := ParseMount(k, conf[k]); err == nil && !SafeLogText(m.Path) && bad == "" {
				bad = fmt.Sprintf("%s (%q)", k, m.Path)
			}
		}
	}
	if bad == "" {
		return
	}
	kept := d.steps[:0]
	for _, s := range d.steps {
		if takesBackup[s.Op] {
			d.b.errorf(d.id(), d.declRange(), "guest %d (%s): %s not planned: the path of %s holds a quote, a backslash or a control character, which Proxmox writes into task logs as it is; change the mount path first",
				d.id(), d.name(), s.Op, bad)
			continue
		}
		kept = append(kept, s)
	}
	d.steps = kept
}

func (d *guestDiff) declRange() *hclRange {
	if d.g == nil {
		return nil
	}
	r := d.g.DeclRange
	return &r
}

// create makes the guest, restored from its archive or created from its
// template, with the desired settings, then starts it and takes its
// snapshots.
func (d *guestDiff) create() {
	g := d.g
	if !d.createSource() {
		return
	}
	conf := map[string]string{}
	var changes []Change
	set := func(k, v string) {
		conf[k] = v
		shown := v
		if n, err := strconv.ParseInt(v, 10, 64); err == nil && (k == "memory" || k == "swap") {
			shown = humanMiB(n) // as a change shows it
		}
		changes = append(changes, Change{Field: k, New: shown})
	}
	if g.Hostname != "" {
		set("hostname", g.Hostname)
	}
	if g.Cores != 0 {
		set("cores", strconv.Itoa(g.Cores))
	}
	if g.Memory != 0 {
		set("memory", strconv.FormatInt(g.Memory, 10))
	}
	if g.Swap != nil {
		set("swap", strconv.FormatInt(*g.Swap, 10))
	}
	if g.Unprivileged != nil {
		set("unprivileged", boolText(*g.Unprivileged))
	}
	if !d.privilegedCreate(&changes, set) {
		return
	}
	if g.OnBoot != nil {
		set("onboot", boolText(*g.OnBoot))
	}
	if g.Protection != nil {
		set("protection", boolText(*g.Protection))
	}
	if len(g.Tags) > 0 {
		set("tags", strings.Join(g.Tags, ";"))
	}
	if g.Description != nil && *g.Description != "" {
		set("description", strings.TrimSuffix(*g.Description, "\n"))
	}
	for _, o := range plainOptions(g) {
		if o.value != "" {
			set(o.key, o.value)
		}
	}
	features, ok := d.createFeatures()
	if !ok {
		return
	}
	if features != "" {
		set("features", features)
	}
	storage := ""
	if g.Rootfs != nil {
		storage = g.Rootfs.Storage
		set("rootfs", g.Rootfs.Storage+":"+gib(int64(g.Rootfs.Size)))
	}
	taken := map[string]bool{}
	var binds []schema.Mount // added after the create, through the root path
	for _, m := range g.Mounts {
		if m.HostPath != "" {
			binds = append(binds, m)
			continue
		}
		set(d.lg.freeSlot("mp", taken), mountValue(m, nil))
	}
	for _, n := range g.Networks {
		set(d.lg.freeSlot("net", taken), netValue(n, nil))
	}
	params := ops.GuestCreateParams{Archive: g.FromBackup, Template: g.FromTemplate, Storage: storage, Config: conf, SSHPublicKeys: g.SSHPublicKeys}
	if len(g.SSHPublicKeys) > 0 {
		changes = append(changes, Change{Field: "root's SSH keys", New: keyList(g.SSHPublicKeys)})
	}
	if g.FromTemplate != "" && d.b.in.RootPassword {
		changes = append(changes, Change{Field: "root password", New: "from the local config's create.root_password_file (not shown)"})
	}
	var deps []string
	reason, class := "restore from "+g.FromBackup, ops.Benign
	switch {
	case g.FromTemplate != "":
		reason = "create from the template " + g.FromTemplate
	case g.FromGolden != "":
		var ok bool
		if deps, reason, class, ok = d.fromGolden(&params); !ok {
			return
		}
	default:
		if why := d.b.foreignArchive(g.VMID, g.FromBackup); why != "" {
			// Benign by op, but it hands data from elsewhere to this guest.
			reason, class = why, ops.Destructive
		}
	}
	s := d.b.newStep(g.VMID, g.Name, ops.GuestCreate, params)
	s.Reason, s.Class, s.DependsOn = reason, class, append(s.DependsOn, deps...)
	s.Changes = changes
	s.Source = source(&g.DeclRange)
	created := d.add(s)
	d.createID = created.ID
	var binding []string
	for _, m := range binds {
		bs, ok := d.mountAdd(m, d.lg.freeSlot("mp", taken))
		if !ok {
			return
		}
		binding = append(binding, d.add(bs).ID)
	}
	d.configIDs = binding
	if g.State != schema.StateStopped {
		d.add(d.b.newStep(g.VMID, g.Name, ops.GuestStart, ops.GuestStartParams{}))
	}
	for _, sn := range g.Snapshots {
		d.snapshotCreate(sn)
	}
}

// createSource refuses a create the file gives no source for, or whose
// template or archive the host does not have.
func (d *guestDiff) createSource() bool {
	g := d.g
	if g.FromBackup == "" && g.FromTemplate == "" && g.FromGolden == "" {
		d.errorf("vmid", "guest %d (%s) does not exist and the file does not say how to create it: set from_template to a container template (local:vztmpl/...) or from_backup to a vzdump archive or a golden image", g.VMID, g.Name)
		return false
	}
	if g.FromTemplate != "" {
		if d.b.live.Templates != nil && !d.b.live.Templates[g.FromTemplate] {
			d.errorf("from_template", "guest %d (%s): the template %s does not exist on storage %s; download it with 'pveam download %s %s'",
				g.VMID, g.Name, g.FromTemplate, storageOf(g.FromTemplate), storageOf(g.FromTemplate), strings.TrimPrefix(g.FromTemplate, storageOf(g.FromTemplate)+":vztmpl/"))
			return false
		}
	} else if d.b.live.Archives != nil && g.FromBackup != "" {
		if _, ok := d.b.live.Archives[g.FromBackup]; !ok {
			d.errorf("from_backup", "guest %d (%s): the archive %s does not exist on storage %s; list the storage's backups with 'pvesm list %s --content backup'",
				g.VMID, g.Name, g.FromBackup, storageOf(g.FromBackup), storageOf(g.FromBackup))
			return false
		}
	}
	return true
}

// createFeatures is the features setting of a created guest ("" for none);
// ok is false when Proxmox would refuse them to an API token.
func (d *guestDiff) createFeatures() (features string, ok bool) {
	g := d.g
	if g.Features == nil {
		return "", true
	}
	f := canonicalFeatures(featuresOf(g.Features.String()))
	if f == "" {
		return "", true
	}
	if flag := rootOnlyFeature("", f); flag != "" {
		d.errorf("features", "guest %d (%s): Proxmox lets only root@pam set feature flags other than nesting (here %s), not an API token; build them into the archive the guest is restored from, or leave them out of the file",
			g.VMID, g.Name, flag)
		return "", false
	}
	switch unpriv := g.Unprivileged != nil && *g.Unprivileged; {
	case g.FromTemplate != "" && !unpriv:
		d.errorf("features", "guest %d (%s): created from a template without unprivileged = true, it is a privileged container, whose features Proxmox lets only root@pam set, not an API token; set unprivileged = true",
			g.VMID, g.Name)
		return "", false
	case g.Unprivileged == nil:
		d.b.warnf(g.VMID, rangeOf(g.AttrRanges, "features", g.Features.DeclRange),
			"guest %d (%s): features on a restore that does not say unprivileged = true: if %s is of a privileged container, Proxmox lets only root@pam set its features and the restore fails; set unprivileged = true",
			g.VMID, g.Name, g.FromBackup)
	}
	return f, true
}

// keyList shows SSH public keys by their type and comment.
func keyList(keys []string) string {
	out := make([]string, len(keys))
	for i, k := range keys {
		f := strings.Fields(k)
		out[i] = f[0]
		if len(f) > 2 {
			out[i] += " " + strings.Join(f[2:], " ")
		}
	}
	return strings.Join(out, ", ")
}

func (d *guestDiff) snapshotCreate(sn schema.Snapshot) {
	params := ops.SnapshotCreateParams{Snapshot: sn.Name, Description: strings.TrimSuffix(sn.Description, "\n")}
	s := d.b.newStep(d.id(), d.name(), ops.SnapshotCreate, params)
	s.Source = source(&sn.DeclRange)
	d.add(s)
}

// destroy removes a guest the file marks absent. It is destructive unless
// the journal proves the tool created the guest in an open transaction.
func (d *guestDiff) destroy() {
	lg := d.lg
	if !lg.Observed {
		d.errorf("state", "guest %d was not observed", lg.VMID)
		return
	}
	r := d.replaced(d.uncovered())
	vols, snaps := r.Volumes, r.Snapshots
	s := d.b.newStep(lg.VMID, d.name(), ops.GuestDestroy, ops.GuestDestroyParams{Purge: true, Replaced: r})
	s.Source = source(rangeOf(d.g.AttrRanges, "state", d.g.DeclRange))
	if txn, ok := d.b.in.Provenance.CreatedInTxn(lg.VMID); ok {
		s.Class = ops.Benign
		s.Provenance = "created by this tool in transaction " + txn
		s.Reason = s.Provenance
	} else {
		s.Reason = fmt.Sprintf("destroys guest %d (%s) and frees %s", lg.VMID, d.name(), volumeList(vols)) + snapshotsLost(snaps)
		s.Safety = d.backupSafety()
	}
	if liveBool(lg.Effective, "protection", false) {
		d.errorf("state", "guest %d (%s) has protection on: Proxmox refuses to destroy it; set protection = false first (that change is benign), then mark it absent", lg.VMID, d.name())
		return
	}
	d.add(s)
}

// ownedVolumes lists the volumes destroying the guest frees (see
// OwnedVolumes), from its active config and what waits for the next start.
func ownedVolumes(lg *LiveGuest) []string { return OwnedVolumes(lg.Current, lg.Effective) }

// uncovered lists the volumes a step that replaces or frees the guest's
// data loses for good: those it owns that a vzdump of the guest taken now
// does not back up (none are covered when safety backups are off).
func (d *guestDiff) uncovered() []string {
	if d.b.in.NoSafetyBackup {
		return ownedVolumes(d.lg)
	}
	return d.notInBackup()
}

// notInBackup lists the volumes the guest owns that a vzdump of it taken
// now does not back up.
func (d *guestDiff) notInBackup() []string {
	return Uncovered(ownedVolumes(d.lg), CoveredVolumes(d.lg.Current))
}

// replaced is what a step that replaces or destroys the guest's data
// names: its volumes, its snapshots, and the volumes lost for good.
func (d *guestDiff) replaced(unprotected []string) ops.Replaced {
	return ops.Replaced{Volumes: ownedVolumes(d.lg), Snapshots: snapshotNames(d.lg), Unprotected: unprotected}
}

// snapshotNames lists the guest's snapshots, which a destroy, rebuild or
// restore over throws away.
func snapshotNames(lg *LiveGuest) []string {
	out := []string{}
	for _, s := range lg.Snapshots {
		out = append(out, s.Name)
	}
	sort.Strings(out)
	return out
}

// backupSafety says what the safety vzdump covers.
func (d *guestDiff) backupSafety() string {
	if d.b.in.NoSafetyBackup {
		return "none: safety backups are off in the local config"
	}
	s := "a vzdump backup of the guest first (stopped before it, when running, so it holds the last writes)"
	if u := d.uncovered(); len(u) > 0 {
		s += "; it does not cover " + strings.Join(u, ", ") + " (no backup=1, or detached), which the signature accepts losing"
	}
	return s
}

func volumeList(vols []string) string {
	switch len(vols) {
	case 0:
		return "no volumes"
	case 1:
		return "its volume " + vols[0]
	}
	return "its volumes " + strings.Join(vols, ", ")
}

func snapshotsLost(snaps []string) string {
	if len(snaps) == 0 {
		return ""
	}
	return fmt.Sprintf(", losing %s %s", plural(len(snaps), "snapshot", "snapshots"), strings.Join(snaps, ", "))
}
