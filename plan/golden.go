package plan

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/felhom/felhom-converge/ops"
	"github.com/felhom/felhom-converge/proxmox"
	"github.com/felhom/felhom-converge/schema"
)

// A golden image is built when no archive of it that the journal records
// (by identity: volid, ctime, size) is on its storage, or when a
// golden.rebuild job asks: the container is created from its template
// through the fenced root path (pct create, for the features no API token
// may set), backed up, and destroyed again, all in one transaction, so
// the archive is the image. The destroy is benign by provenance: the
// journal proves the run made the container. Guests restored from the
// image (from_backup = golden.NAME) take its newest recorded archive; an
// image built by this plan is resolved when their create runs, after it.

// goldenImage is one golden block as the plan finds it.
type goldenImage struct {
	g        *schema.Golden
	archive  *proxmox.StorageItem // its newest recorded archive on its storage; nil: none
	backupID string               // the step that makes its archive in this plan ("": not built)
	broken   bool                 // it cannot be built (a plan error says why)
}

// goldens plans the golden images that need building, before any guest.
func (b *builder) goldens() {
	b.golden = map[string]*goldenImage{}
	rebuild := map[string]schema.Job{}
	for _, j := range b.desired.Jobs {
		if j.Op == schema.OpGoldenRebuild && !b.in.Provenance.JobDone(j.ID) {
			rebuild[j.Golden] = j
		}
	}
	for i := range b.desired.Goldens {
		g := &b.desired.Goldens[i]
		gi := &goldenImage{g: g, archive: b.goldenArchive(g.Name)}
		b.golden[g.Name] = gi
		if job, again := rebuild[g.Name]; again || gi.archive == nil {
			b.buildGolden(gi, job.ID)
		}
	}
}

// goldenArchive is the newest archive of golden image name that the
// journal records and its storage still holds, unchanged.
func (b *builder) goldenArchive(name string) *proxmox.StorageItem {
	recs := b.in.Provenance.GoldenArchives(name)
	for i := len(recs) - 1; i >= 0; i-- {
		rec := recs[i]
		it, ok := b.live.Archives[rec.VolID]
		if ok && int64(it.CTime) == rec.Created.Unix() && (rec.Size == 0 || int64(it.Size) == rec.Size) {
			return &it
		}
	}
	return nil
}

// buildGolden plans the create, the backup and the destroy that build
// golden image gi; job is the golden.rebuild job that asks for it, if any.
func (b *builder) buildGolden(gi *goldenImage, job string) {
	g := gi.g
	fail := func(format string, args ...any) {
		gi.broken = true
		b.errorf(g.VMID, &g.DeclRange, "golden image %s: "+format, append([]any{g.Name}, args...)...)
	}
	if lg := b.live.Guests[g.VMID]; lg != nil {
		fail("vmid %d is taken by guest %d (%s); a golden image is built in a free vmid: choose another, or remove that guest", g.VMID, g.VMID, lg.Name)
		return
	}
	if b.live.Templates != nil && !b.live.Templates[g.Template] {
		fail("the template %s does not exist on storage %s; download it with 'pveam download %s %s'",
			g.Template, storageOf(g.Template), storageOf(g.Template), strings.TrimPrefix(g.Template, storageOf(g.Template)+":vztmpl/"))
		return
	}
	conf := map[string]string{"unprivileged": "1"}
	if g.Hostname != "" {
		conf["hostname"] = g.Hostname
	}
	if g.Memory != 0 {
		conf["memory"] = strconv.FormatInt(g.Memory, 10)
	}
	if g.Cores != 0 {
		conf["cores"] = strconv.Itoa(g.Cores)
	}
	if g.Size != 0 {
		conf["rootfs"] = g.Storage + ":" + gib(int64(g.Size))
	}
	if g.Bridge != "" {
		conf["net0"] = "name=eth0,bridge=" + g.Bridge + ",ip=dhcp"
	}
	if g.Features != nil {
		if f := canonicalFeatures(featuresOf(g.Features.String())); f != "" {
			conf["features"] = f
		}
	}
	name := "golden." + g.Name
	src := source(&g.DeclRange)
	create := b.newStep(g.VMID, name, ops.GuestCreate, ops.GuestCreateParams{Template: g.Template, Golden: g.Name, Storage: g.Storage, Config: conf})
	create.Reason = fmt.Sprintf("builds golden image %s from %s through the fenced root path (pct create as root, for features no API token may set)", g.Name, g.Template)
	for _, k := range []string{"hostname", "memory", "cores", "rootfs", "net0", "features", "unprivileged"} {
		if v, ok := conf[k]; ok {
			create.Changes = append(create.Changes, Change{Field: k, New: v})
		}
	}
	create.Source = src
	backup := b.newStep(g.VMID, name, ops.BackupCreate, ops.BackupCreateParams{Storage: g.BackupStorage, Mode: "stop", Golden: g.Name, Job: job})
	backup.Reason = "the archive of golden image " + g.Name + ", kept for guests to be restored from"
	backup.DependsOn = []string{create.ID}
	backup.Job, backup.Source = job, src
	destroy := b.newStep(g.VMID, name, ops.GuestDestroy, ops.GuestDestroyParams{Purge: true, Replaced: ops.Replaced{Volumes: []string{}, Snapshots: []string{}}})
	destroy.Class = ops.Benign
	destroy.Provenance = "the container this transaction built for golden image " + g.Name + ": its archive is the image"
	destroy.Reason = destroy.Provenance
	destroy.DependsOn = []string{backup.ID}
	destroy.Source = src
	b.plan.Steps = append(b.plan.Steps, create, backup, destroy)
	gi.backupID = backup.ID
}

// fromGolden fills in how guest g is restored from its golden image: the
// archive, or (an image this plan builds) the image's name, resolved when
// the create runs after the build; with the step it depends on and the
// step's reason. A restore of a recorded golden archive is benign, unless
// the local config names golden images and not this one. It reports false
// after a plan error.
func (d *guestDiff) fromGolden(params *ops.GuestCreateParams) (deps []string, reason string, class ops.Class, ok bool) {
	g := d.g
	gi := d.b.golden[g.FromGolden]
	outside := len(d.b.in.GoldenVMIDs) > 0 && gi != nil && !slices.Contains(d.b.in.GoldenVMIDs, gi.g.VMID)
	switch {
	case gi == nil || gi.broken:
		d.errorf("from_backup", "guest %d (%s): golden image %s cannot be built (see its error); the guest is created once it is", g.VMID, g.Name, g.FromGolden)
		return nil, "", "", false
	case gi.backupID != "" && outside:
		d.errorf("from_backup", "guest %d (%s): golden image %s is built in vmid %d, which is not one of the golden images the local config names (safety.golden_vmids); add it there, or restore the guest with a signature once the image exists",
			g.VMID, g.Name, gi.g.Name, gi.g.VMID)
		return nil, "", "", false
	case gi.backupID != "":
		params.Golden = gi.g.Name
		return []string{gi.backupID}, "restore from golden image " + gi.g.Name + ", which this plan builds first", ops.Benign, true
	case outside:
		params.Archive = gi.archive.VolID
		return nil, fmt.Sprintf("restores %s, golden image %s built in vmid %d, which is not one of the golden images the local config names", gi.archive.VolID, gi.g.Name, gi.g.VMID), ops.Destructive, true
	}
	params.Archive = gi.archive.VolID
	return nil, "restore from golden image " + gi.g.Name + " (" + gi.archive.VolID + ")", ops.Benign, true
}
