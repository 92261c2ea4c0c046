package apply

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/felhom/felhom-converge/journal"
	"github.com/felhom/felhom-converge/ops"
	"github.com/felhom/felhom-converge/plan"
	"github.com/felhom/felhom-converge/proxmox"
)

// guestCreate restores a new guest from an archive, or creates it from a
// container template. It only ever creates: the guest must not exist,
// every volume is a new allocation, and an archive that holds another
// live guest's data (or, when the local config names its golden images,
// any other archive) needs a signature. A template holds no customer
// data: creating from one is benign.
type guestCreate struct{ p ops.GuestCreateParams }

func (e guestCreate) check(ctx context.Context, x *stepRun) error {
	v := x.vmid()
	sources := 0
	for _, set := range []bool{e.p.Archive != "", e.p.Template != "", e.p.Golden != "" && e.p.Template == ""} {
		if set {
			sources++
		}
	}
	switch {
	case sources != 1:
		return fmt.Errorf("guest %d: a create names exactly one of an archive, a template and a golden image", v)
	case e.p.Golden != "" && e.p.Archive != "":
		return fmt.Errorf("guest %d: a create names exactly one of an archive, a template and a golden image", v)
	case len(e.p.SSHPublicKeys) > 0 && (e.p.Template == "" || e.p.Golden != ""):
		return fmt.Errorf("guest %d: SSH keys are installed only in a guest created from a template", v)
	case e.p.Golden != "" && e.p.Template != "":
		return e.checkGoldenBuild(ctx, x)
	}
	// Proxmox refuses a restore without force over an existing guest;
	// a signed create checks first, so its signature is not spent on it.
	if x.authorized() {
		if _, err := x.o.Client.GuestStatus(ctx, v); err == nil {
			return fmt.Errorf("guest %d exists already; a create never restores over a guest", v)
		} else if !proxmox.IsNotFound(err) {
			return fmt.Errorf("read guest %d: %w", v, err)
		}
	}
	for _, k := range slices.Sorted(maps.Keys(e.p.Config)) {
		switch {
		case ops.PlainConfigKey(k), plan.NetKey(k), k == "unprivileged":
		case k == "rootfs" || plan.MountKey(k):
			if err := newVolume(k, e.p.Config[k]); err != nil {
				return fmt.Errorf("guest %d: %w", v, err)
			}
		default:
			return fmt.Errorf("guest %d: a create may not set %s", v, k)
		}
	}
	if e.p.Template != "" {
		return x.run.template(ctx, e.p.Template)
	}
	archive := e.p.Archive
	if e.p.Golden != "" {
		rec, err := x.goldenArchive(ctx, e.p.Golden)
		if err != nil {
			return err
		}
		archive = rec.VolID
	}
	it, found, err := x.run.archive(ctx, archive)
	switch {
	case err != nil:
		return err
	case !found || it.Content != "backup":
		return fmt.Errorf("guest %d: %s is not a backup archive on its storage", v, e.p.Archive)
	case x.authorized():
		return nil
	}
	owner := int(it.VMID)
	if len(x.o.GoldenVMIDs) > 0 && !slices.Contains(x.o.GoldenVMIDs, owner) {
		return fmt.Errorf("guest %d: %s is a backup of guest %d, not one of the golden images the local config names (%v); restoring it needs a signature",
			v, archive, owner, x.o.GoldenVMIDs)
	}
	if rec, ok := x.o.Journal.GoldenArchive(archive); ok && sameArchive(it, rec) {
		return nil // a golden image the tool built from a template
	}
	if owner != v {
		live, err := x.run.guestExists(ctx, owner)
		if err != nil {
			return err
		}
		if live {
			return fmt.Errorf("guest %d: %s is a backup of the live guest %d; restoring it here hands that guest's data to another, which needs a signature", v, e.p.Archive, owner)
		}
	}
	return nil
}

// archive looks an archive up in its storage's backups, listed once per
// run (creates of many guests from one golden image read it once).
func (r *run) archive(ctx context.Context, volid string) (proxmox.StorageItem, bool, error) {
	storage := storageOf(volid)
	r.mu.Lock()
	items, ok := r.backups[storage]
	r.mu.Unlock()
	if !ok {
		var err error
		if items, err = r.o.Client.StorageContent(ctx, storage, "backup", 0); err != nil {
			return proxmox.StorageItem{}, false, fmt.Errorf("list backups on %s: %w", storage, err)
		}
		r.mu.Lock()
		r.backups[storage] = items
		r.mu.Unlock()
	}
	for _, it := range items {
		if it.VolID == volid {
			return it, true, nil
		}
	}
	return proxmox.StorageItem{}, false, nil
}

// checkGoldenBuild checks the create of a golden image's container: its
// vmid is free (pct would refuse, but so the reason is ours), its
// template is there, and the fenced root path is configured.
func (e guestCreate) checkGoldenBuild(ctx context.Context, x *stepRun) error {
	v := x.vmid()
	if x.o.Root == nil {
		return fmt.Errorf("guest %d: golden image %s is built through the fenced root path, which this run does not have", v, e.p.Golden)
	}
	if _, err := x.o.Client.GuestStatus(ctx, v); err == nil {
		return fmt.Errorf("guest %d exists already; golden image %s is built only in a free vmid", v, e.p.Golden)
	} else if !proxmox.IsNotFound(err) {
		return fmt.Errorf("read guest %d: %w", v, err)
	}
	for k := range e.p.Config {
		switch k {
		case "hostname", "memory", "cores", "rootfs", "net0", "features", "unprivileged":
		default:
			return fmt.Errorf("guest %d: a golden image's create may not set %s", v, k)
		}
	}
	return x.run.template(ctx, e.p.Template)
}

// goldenArchive is the newest archive the tool made of golden image
// name that its storage still holds unchanged (volid, ctime, size).
func (x *stepRun) goldenArchive(ctx context.Context, name string) (journal.Backup, error) {
	recs := x.o.Journal.GoldenArchives(name)
	for i := len(recs) - 1; i >= 0; i-- {
		it, found, err := x.run.archive(ctx, recs[i].VolID)
		if err != nil {
			return journal.Backup{}, err
		}
		if found && sameArchive(it, recs[i]) {
			return recs[i], nil
		}
	}
	return journal.Backup{}, fmt.Errorf("guest %d: golden image %s has no archive the tool made on its storage", x.vmid(), name)
}

// goldenLXC is the root create of golden image p.Golden's container.
func goldenLXC(vmid int, p ops.GuestCreateParams) proxmox.GoldenLXC {
	g := proxmox.GoldenLXC{VMID: vmid, Template: p.Template, Storage: p.Storage, Hostname: p.Config["hostname"],
		Net0: p.Config["net0"], Features: p.Config["features"]}
	g.MemoryMiB, _ = strconv.Atoi(p.Config["memory"])
	g.Cores, _ = strconv.Atoi(p.Config["cores"])
	if _, size, ok := strings.Cut(p.Config["rootfs"], ":"); ok {
		g.RootFSGiB, _ = strconv.Atoi(size)
	}
	return g
}

// template checks that a container template is on its storage.
func (r *run) template(ctx context.Context, volid string) error {
	items, err := r.o.Client.StorageContent(ctx, storageOf(volid), "vztmpl", 0)
	if err != nil {
		return fmt.Errorf("list the templates on %s: %w", storageOf(volid), err)
	}
	for _, it := range items {
		if it.VolID == volid {
			return nil
		}
	}
	return fmt.Errorf("%s is not a container template on its storage", volid)
}

// guestExists reports whether guest vmid exists, read once per run.
func (r *run) guestExists(ctx context.Context, vmid int) (bool, error) {
	r.mu.Lock()
	live, ok := r.exists[vmid]
	r.mu.Unlock()
	if ok {
		return live, nil
	}
	_, err := r.o.Client.GuestStatus(ctx, vmid)
	if err != nil && !proxmox.IsNotFound(err) {
		return false, fmt.Errorf("read guest %d: %w", vmid, err)
	}
	r.mu.Lock()
	r.exists[vmid] = err == nil
	r.mu.Unlock()
	return err == nil, nil
}

func (e guestCreate) run(ctx context.Context, x *stepRun) error {
	c := x.main(e.p)
	c.provenance = ProvenanceCreatedInTxn
	c.post = func(ctx context.Context) (proxmox.UPID, error) {
		return x.o.Client.RestoreLXC(ctx, x.vmid(), e.p.Archive, proxmox.RestoreOptions{Storage: e.p.Storage, Config: e.p.Config})
	}
	switch {
	case e.p.Golden != "" && e.p.Template != "":
		c.post = nil
		c.do = func(ctx context.Context) error { return x.o.Root.CreateGoldenLXC(ctx, goldenLXC(x.vmid(), e.p)) }
	case e.p.Golden != "":
		rec, err := x.goldenArchive(ctx, e.p.Golden)
		if err != nil {
			return err
		}
		c.post = func(ctx context.Context) (proxmox.UPID, error) {
			return x.o.Client.RestoreLXC(ctx, x.vmid(), rec.VolID, proxmox.RestoreOptions{Storage: e.p.Storage, Config: e.p.Config})
		}
	case e.p.Template != "":
		// The root password is the host's, read now: it is in no
		// params, journal record or log line.
		password := ""
		if x.o.RootPassword != nil {
			pw, ok, err := x.o.RootPassword()
			if err != nil {
				return fmt.Errorf("guest %d: %w", x.vmid(), err)
			}
			if ok {
				password = pw.Reveal()
			}
		}
		c.post = func(ctx context.Context) (proxmox.UPID, error) {
			return x.o.Client.CreateLXC(ctx, x.vmid(), e.p.Template, proxmox.CreateOptions{Storage: e.p.Storage, Config: e.p.Config,
				SSHPublicKeys: e.p.SSHPublicKeys, Password: password})
		}
	}
	_, err := x.do(ctx, c)
	return err
}
