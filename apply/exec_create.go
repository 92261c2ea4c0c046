package apply

import (
	"context"
	"fmt"
	"maps"
	"slices"

	"github.com/felhom/felhom-converge/ops"
	"github.com/felhom/felhom-converge/plan"
	"github.com/felhom/felhom-converge/proxmox"
)

// guestCreate restores a new guest from an archive. It only ever creates:
// the guest must not exist, every volume is a new allocation, and an
// archive that holds another live guest's data (or, when the local config
// names its golden images, any other archive) needs a signature.
type guestCreate struct{ p ops.GuestCreateParams }

func (e guestCreate) check(ctx context.Context, x *stepRun) error {
	v := x.vmid()
	if _, err := x.o.Client.GuestStatus(ctx, v); err == nil {
		return fmt.Errorf("guest %d exists already; a create never restores over a guest", v)
	} else if !proxmox.IsNotFound(err) {
		return fmt.Errorf("read guest %d: %w", v, err)
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
	it, found, err := lookupArchive(ctx, x.o.Client, e.p.Archive)
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
			v, e.p.Archive, owner, x.o.GoldenVMIDs)
	}
	if owner != v {
		if _, err := x.o.Client.GuestStatus(ctx, owner); err == nil {
			return fmt.Errorf("guest %d: %s is a backup of the live guest %d; restoring it here hands that guest's data to another, which needs a signature", v, e.p.Archive, owner)
		} else if !proxmox.IsNotFound(err) {
			return fmt.Errorf("read guest %d: %w", owner, err)
		}
	}
	return nil
}

func (e guestCreate) run(ctx context.Context, x *stepRun) error {
	c := x.main(e.p)
	c.provenance = ProvenanceCreatedInTxn
	c.post = func(ctx context.Context) (proxmox.UPID, error) {
		return x.o.Client.RestoreLXC(ctx, x.vmid(), e.p.Archive, proxmox.RestoreOptions{Storage: e.p.Storage, Config: e.p.Config})
	}
	_, err := x.do(ctx, c)
	return err
}
