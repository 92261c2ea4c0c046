package conformance

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"slices"
	"strings"

	"github.com/felhom/felhom-converge/proxmox"
)

// storageInfo is a storage the run uses.
type storageInfo struct {
	id, typ string
}

// snapshots reports whether container volumes on the storage can take
// snapshots (a raw file on a directory storage cannot).
func (s storageInfo) snapshots() bool {
	return slices.Contains([]string{"lvmthin", "zfspool", "rbd", "btrfs"}, s.typ)
}

// sourceInfo is what the guest is made from.
type sourceInfo struct {
	volid   string
	archive bool // a backup archive; else a template
	storage storageInfo
}

// preflight reads what the run needs before it makes anything, and
// refuses when the VMID is taken or a storage cannot serve.
func (r *run) preflight(ctx context.Context) error {
	ver, err := r.c.Version(ctx)
	if err != nil {
		return fmt.Errorf("read the Proxmox version: %w", err)
	}
	r.ver = ver
	r.pve9 = ver.AtLeast(9, 0)
	r.rep.PVE.Version, r.rep.PVE.Release, r.rep.PVE.RepoID = ver.Version, ver.Release, ver.RepoID
	r.rep.PVE.Support, r.rep.PVE.Supported = ver.Support()
	r.rep.PVE.Expects = expectedRelease(r.pve9)
	if err := r.vmidFree(ctx); err != nil {
		return err
	}
	stores, err := r.c.NodeStorage(ctx)
	if err != nil {
		return fmt.Errorf("list the node's storages: %w", err)
	}
	if r.storage, err = pickStorage(stores, r.o.Storage, "rootdir", "--storage"); err != nil {
		return err
	}
	if r.backups, err = pickStorage(stores, r.o.BackupStorage, "backup", "the backup storage (safety.backup_storage)"); err != nil {
		return err
	}
	if r.source, err = r.pickSource(ctx, stores); err != nil {
		return err
	}
	role := "template"
	if r.source.archive {
		role = "source archive"
	}
	r.rep.From = r.source.volid
	r.rep.Storages = []StorageUse{{r.storage.id, r.storage.typ, "guest volumes"}, {r.backups.id, r.backups.typ, "backups"},
		{r.source.storage.id, r.source.storage.typ, role}}
	if err := r.pickBridges(ctx); err != nil {
		return err
	}
	privs, err := r.c.Permissions(ctx, "/")
	if err != nil {
		return fmt.Errorf("read the token's permissions on /: %w", err)
	}
	r.sysModify = privs["Sys.Modify"]
	return nil
}

// expectedRelease is the checked release whose behaviour the checks
// expect: the newest one of 9.x (or a later major), else the oldest.
func expectedRelease(pve9 bool) string {
	if pve9 {
		return proxmox.CheckedReleases[len(proxmox.CheckedReleases)-1]
	}
	return proxmox.CheckedReleases[0]
}

// vmidFree makes sure no guest has the VMID, on this node (reading it
// gives Proxmox's "does not exist", which the first check reports) or on
// any other node of a cluster.
func (r *run) vmidFree(ctx context.Context) error {
	st, err := r.c.GuestStatus(ctx, r.vmid)
	switch {
	case err == nil:
		return fmt.Errorf("guest %d (%s) exists on node %s: --conformance creates and destroys its guest, so give it a VMID no guest has", r.vmid, st.Name, r.c.Node())
	case !proxmox.IsNotFound(err):
		return fmt.Errorf("read guest %d: %w", r.vmid, err)
	}
	r.missing = err
	a, err := r.c.Raw(ctx, "GET", "/cluster/resources", url.Values{"type": {"vm"}})
	if err != nil {
		return fmt.Errorf("list the cluster's guests: %w", err)
	}
	var all []struct {
		VMID proxmox.Int `json:"vmid"`
		Node string      `json:"node"`
	}
	if err := json.Unmarshal(a.Data, &all); err != nil {
		return fmt.Errorf("list the cluster's guests: %w", err)
	}
	for _, g := range all {
		if int(g.VMID) == r.vmid {
			return fmt.Errorf("guest %d exists on node %s: give --conformance a VMID no guest of the cluster has", r.vmid, g.Node)
		}
	}
	return nil
}

// pickStorage finds the storage named want (or, when want is empty, the
// first active one holding content, preferring one with snapshots).
func pickStorage(stores []proxmox.NodeStorage, want, content, what string) (storageInfo, error) {
	holds := func(s proxmox.NodeStorage) bool {
		return bool(s.Active) && slices.Contains(strings.Split(s.Content, ","), content)
	}
	if want != "" {
		for _, s := range stores {
			if s.Storage != want {
				continue
			}
			if !holds(s) {
				return storageInfo{}, fmt.Errorf("%s %s cannot be used: it is not active or does not hold %s (content %s)", what, want, content, s.Content)
			}
			return storageInfo{s.Storage, s.Type}, nil
		}
		return storageInfo{}, fmt.Errorf("%s %s is not among the node's storages (or the token may not see it)", what, want)
	}
	var found []storageInfo
	for _, s := range stores {
		if holds(s) {
			found = append(found, storageInfo{s.Storage, s.Type})
		}
	}
	slices.SortStableFunc(found, func(a, b storageInfo) int {
		switch {
		case a.snapshots() == b.snapshots():
			return 0
		case a.snapshots():
			return -1
		}
		return 1
	})
	if len(found) == 0 {
		return storageInfo{}, fmt.Errorf("no active storage of the node holds %s: name one with %s", content, what)
	}
	return found[0], nil
}

// pickSource finds the archive or template the guest is made from: the
// one --from names, or the smallest template of the node.
func (r *run) pickSource(ctx context.Context, stores []proxmox.NodeStorage) (sourceInfo, error) {
	kind := map[string]string{"backup": "a backup archive", "vztmpl": "a template"}
	if v := r.o.From; v != "" {
		sid, _, ok := strings.Cut(v, ":")
		if !ok {
			return sourceInfo{}, fmt.Errorf("--from %s is not a volume ID (STORAGE:backup/... or STORAGE:vztmpl/...)", v)
		}
		var si storageInfo
		for _, s := range stores {
			if s.Storage == sid {
				si = storageInfo{s.Storage, s.Type}
			}
		}
		if si.id == "" {
			return sourceInfo{}, fmt.Errorf("--from %s: storage %s is not among the node's storages", v, sid)
		}
		items, err := r.c.StorageContent(ctx, sid, "", 0)
		if err != nil {
			return sourceInfo{}, fmt.Errorf("--from %s: list storage %s: %w", v, sid, err)
		}
		for _, it := range items {
			if it.VolID != v {
				continue
			}
			if kind[it.Content] == "" || it.Content == "backup" && it.Subtype != "" && it.Subtype != "lxc" {
				return sourceInfo{}, fmt.Errorf("--from %s is %s %s, not a container template or backup", v, it.Content, it.Subtype)
			}
			return sourceInfo{volid: v, archive: it.Content == "backup", storage: si}, nil
		}
		return sourceInfo{}, fmt.Errorf("--from %s: no such volume on storage %s", v, sid)
	}
	var best proxmox.StorageItem
	var bestStore storageInfo
	for _, s := range stores {
		if !bool(s.Active) || !slices.Contains(strings.Split(s.Content, ","), "vztmpl") {
			continue
		}
		items, err := r.c.StorageContent(ctx, s.Storage, "vztmpl", 0)
		if err != nil {
			return sourceInfo{}, fmt.Errorf("list the templates on %s: %w", s.Storage, err)
		}
		for _, it := range items {
			if best.VolID == "" || it.Size < best.Size {
				best, bestStore = it, storageInfo{s.Storage, s.Type}
			}
		}
	}
	if best.VolID == "" {
		return sourceInfo{}, fmt.Errorf("no CT template on the node's storages: pass --from with a template (STORAGE:vztmpl/...) or a small container backup (STORAGE:backup/...)")
	}
	return sourceInfo{volid: best.VolID, storage: bestStore}, nil
}

// pickBridges finds the bridge the guest's interfaces go on (vmbr0 when
// there is one) and a name no bridge of the node has.
func (r *run) pickBridges(ctx context.Context) error {
	ifaces, err := r.c.Network(ctx, "any_bridge")
	if err != nil {
		return fmt.Errorf("list the node's bridges: %w", err)
	}
	have := map[string]bool{}
	for _, i := range ifaces {
		have[i.Iface] = true
		if r.bridge == "" || i.Iface == "vmbr0" {
			r.bridge = i.Iface
		}
	}
	if r.bridge == "" {
		return fmt.Errorf("the node has no bridge for the guest's interface")
	}
	for n := 0; ; n++ {
		if name := fmt.Sprintf("fcnobr%d", n); !have[name] {
			r.noBridge = name
			return nil
		}
	}
}
