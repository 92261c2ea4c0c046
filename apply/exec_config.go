package apply

import (
	"context"
	"fmt"
	"maps"
	"regexp"
	"slices"

	"github.com/felhom/felhom-converge/ops"
	"github.com/felhom/felhom-converge/plan"
	"github.com/felhom/felhom-converge/proxmox"
	"github.com/felhom/felhom-converge/schema"
)

// The config-writing ops: guest.set, mount.add, mount.detach, disk.grow.
// None of them may free, replace, re-point or hide a volume; each refuses
// a step that would, whatever its params say.

// newAllocation matches a volume that Proxmox allocates afresh:
// STORAGE:SIZE_IN_GiB.
var newAllocation = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9._-]*:[0-9]+(\.[0-9]+)?$`)

type guestSet struct{ p ops.GuestSetParams }

func (e guestSet) check(ctx context.Context, x *stepRun) error {
	g, err := x.readGuest(ctx)
	if err != nil {
		return err
	}
	for _, k := range slices.Sorted(maps.Keys(e.p.Set)) {
		switch {
		case ops.PlainConfigKey(k) || plan.NetKey(k):
		case plan.MountKey(k):
			if err := checkMountOptions(g, k, e.p.Set[k], x.authorized()); err != nil {
				return fmt.Errorf("guest %d: %w", x.vmid(), err)
			}
		default:
			return fmt.Errorf("guest %d: a config write may not set %s (it holds or names a volume, or is not a setting the tool manages)", x.vmid(), k)
		}
	}
	for _, k := range e.p.Delete {
		if !ops.PlainConfigKey(k) && !plan.NetKey(k) {
			return fmt.Errorf("guest %d: a config write may not delete %s (mount points are detached by mount.detach, volumes freed by a signed volume.free)", x.vmid(), k)
		}
	}
	return nil
}

// checkMountOptions allows setting an existing mount point only to change
// its options: the same volume (or host path), the same size, and backup
// left on unless the step is signed (turning it off drops the volume's
// data from every later backup).
func checkMountOptions(g liveGuest, slot, value string, signed bool) error {
	have, ok := g.value(slot)
	if !ok {
		return fmt.Errorf("%s does not exist; a mount point is added by mount.add", slot)
	}
	old, err1 := plan.ParseMount(slot, have)
	m, err2 := plan.ParseMount(slot, value)
	switch {
	case err1 != nil || err2 != nil:
		return fmt.Errorf("%s: cannot compare %q with %q", slot, value, have)
	case m.Volume != old.Volume || m.Bind != old.Bind:
		return fmt.Errorf("setting %s would re-point it from %s to %s", slot, old.Volume, m.Volume)
	case m.Props["size"] != "" && m.Size != old.Size:
		return fmt.Errorf("setting %s would change its recorded size (%s to %s); a volume grows by disk.grow", slot, old.Props["size"], m.Props["size"])
	case boolProp(old.Props, "backup") && !boolProp(m.Props, "backup") && !signed:
		return fmt.Errorf("setting %s would turn backup off for %s, dropping its data from every later backup: that needs a signature", slot, old.Volume)
	}
	return nil
}

func boolProp(ps map[string]string, k string) bool {
	switch ps[k] {
	case "1", "true", "yes", "on":
		return true
	}
	return false
}

func (e guestSet) run(ctx context.Context, x *stepRun) error {
	return x.setConfig(ctx, x.main(e.p), e.p.Set, e.p.Delete, x.digestFor(x.st))
}

type mountAdd struct{ p ops.MountAddParams }

func (e mountAdd) check(ctx context.Context, x *stepRun) error {
	if !plan.MountKey(e.p.Slot) {
		return fmt.Errorf("guest %d: %s is not a mount point slot", x.vmid(), e.p.Slot)
	}
	g, err := x.readGuest(ctx)
	if err != nil {
		return err
	}
	if have, ok := g.value(e.p.Slot); ok {
		return fmt.Errorf("guest %d: %s is taken (%s); plan again", x.vmid(), e.p.Slot, have)
	}
	if _, ok := g.current[e.p.Slot]; ok {
		return fmt.Errorf("guest %d: %s is still mounted until the next start; plan again after it", x.vmid(), e.p.Slot)
	}
	if _, bind, err := e.bind(x); bind || err != nil {
		return err
	}
	return newVolume(e.p.Slot, e.p.Value)
}

// bind reads a mount.add of a bind mount: a host directory the local
// config lists exactly, added through the fenced root path. ok is false
// for a new volume.
func (e mountAdd) bind(x *stepRun) (proxmox.BindMount, bool, error) {
	m, err := plan.ParseMount(e.p.Slot, e.p.Value)
	if err != nil || !m.Bind {
		return proxmox.BindMount{}, false, nil
	}
	for k := range m.Props {
		if k != "volume" && k != "mp" && k != "ro" {
			return proxmox.BindMount{}, true, fmt.Errorf("guest %d: a bind mount takes only mp and ro, not %s", x.vmid(), k)
		}
	}
	switch {
	case !slices.Contains(x.o.BindMountDirs, m.Volume):
		return proxmox.BindMount{}, true, fmt.Errorf("guest %d: %s would bind-mount host directory %s, which the local config does not list in privileged.bind_mount_dirs", x.vmid(), e.p.Slot, m.Volume)
	case x.o.Root == nil:
		return proxmox.BindMount{}, true, fmt.Errorf("guest %d: a bind mount runs through the fenced root path, which this run does not have", x.vmid())
	}
	return proxmox.BindMount{VMID: x.vmid(), Slot: e.p.Slot, HostPath: m.Volume, Path: m.Path, ReadOnly: boolProp(m.Props, "ro")}, true, nil
}

// newVolume refuses a mount value that is not a new allocation: an
// existing volume (of this guest or another) or a host directory.
func newVolume(slot, value string) error {
	m, err := plan.ParseMount(slot, value)
	switch {
	case err != nil:
		return fmt.Errorf("%s: %v", slot, err)
	case m.Bind:
		return fmt.Errorf("%s would bind-mount host directory %s: bind mounts are not supported (Proxmox allows them only for root@pam)", slot, m.Volume)
	case !newAllocation.MatchString(m.Volume):
		return fmt.Errorf("%s would attach the existing volume %s; only a new volume (STORAGE:SIZE) may be added", slot, m.Volume)
	}
	return nil
}

func (e mountAdd) run(ctx context.Context, x *stepRun) error {
	b, bind, err := e.bind(x)
	switch {
	case err != nil:
		return err
	case bind:
		c := x.main(e.p)
		c.do = func(ctx context.Context) error { return x.o.Root.SetBindMount(ctx, b) }
		_, err := x.do(ctx, c)
		return err
	}
	return x.setConfig(ctx, x.main(e.p), map[string]string{e.p.Slot: e.p.Value}, nil, x.digestFor(x.st))
}

type mountDetach struct{ p ops.MountDetachParams }

func (e mountDetach) check(ctx context.Context, x *stepRun) error {
	if !plan.MountKey(e.p.Slot) {
		return fmt.Errorf("guest %d: %s is not a mount point; only mount points are detached (their volume stays as unusedN)", x.vmid(), e.p.Slot)
	}
	g, err := x.readGuest(ctx)
	if err != nil {
		return err
	}
	have, ok := g.value(e.p.Slot)
	if !ok {
		return fmt.Errorf("guest %d: %s does not exist; plan again", x.vmid(), e.p.Slot)
	}
	m, err := plan.ParseMount(e.p.Slot, have)
	switch {
	case err != nil:
		return fmt.Errorf("guest %d: %s: %v", x.vmid(), e.p.Slot, err)
	case m.Path != e.p.Path:
		return fmt.Errorf("guest %d: %s is mounted at %s now, not %s; plan again", x.vmid(), e.p.Slot, m.Path, e.p.Path)
	case e.p.Volume == "" && !m.Bind:
		return fmt.Errorf("guest %d: %s holds volume %s, which the step does not name; plan again", x.vmid(), e.p.Slot, m.Volume)
	case e.p.Volume != "" && m.Volume != e.p.Volume:
		return fmt.Errorf("guest %d: %s holds %s now, not %s; plan again", x.vmid(), e.p.Slot, m.Volume, e.p.Volume)
	}
	return nil
}

func (e mountDetach) run(ctx context.Context, x *stepRun) error {
	return x.setConfig(ctx, x.main(e.p), nil, []string{e.p.Slot}, x.digestFor(x.st))
}

type diskGrow struct{ p ops.DiskGrowParams }

func (e diskGrow) check(ctx context.Context, x *stepRun) error {
	if e.p.Disk != "rootfs" && !plan.MountKey(e.p.Disk) {
		return fmt.Errorf("guest %d: %s is not rootfs or a mount point", x.vmid(), e.p.Disk)
	}
	to, err := schema.ParseSize(e.p.To)
	if err != nil || !to.IsInt() {
		return fmt.Errorf("guest %d: size %q: not a size", x.vmid(), e.p.To)
	}
	g, err := x.readGuest(ctx)
	if err != nil {
		return err
	}
	have, ok := g.value(e.p.Disk)
	if !ok {
		return fmt.Errorf("guest %d: %s does not exist; plan again", x.vmid(), e.p.Disk)
	}
	m, err := plan.ParseMount(e.p.Disk, have)
	switch {
	case err != nil || m.Bind:
		return fmt.Errorf("guest %d: %s is not a volume that can grow", x.vmid(), e.p.Disk)
	case to.Num().Int64() <= m.Size:
		return fmt.Errorf("guest %d: %s is %s already, not less than %s; a volume never shrinks", x.vmid(), e.p.Disk, schema.Size(m.Size), e.p.To)
	}
	return nil
}

func (e diskGrow) run(ctx context.Context, x *stepRun) error {
	c := x.main(e.p)
	c.post = func(ctx context.Context) (proxmox.UPID, error) {
		return x.o.Client.Resize(ctx, x.vmid(), e.p.Disk, e.p.To, "")
	}
	_, err := x.do(ctx, c)
	return err
}
