package plan

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"
	"sync"

	"github.com/felhom/felhom-converge/proxmox"
	"github.com/felhom/felhom-converge/schema"
)

// API is the part of the Proxmox client that observing needs; every call
// is a read.
type API interface {
	Node() string
	ListLXC(ctx context.Context) ([]proxmox.LXC, error)
	GuestConfig(ctx context.Context, vmid int) (proxmox.GuestConfig, error)
	GuestPending(ctx context.Context, vmid int) ([]proxmox.PendingEntry, error)
	ListSnapshots(ctx context.Context, vmid int) ([]proxmox.Snapshot, error)
	SnapshotConfig(ctx context.Context, vmid int, name string) (proxmox.GuestConfig, error)
	ListStorage(ctx context.Context) ([]proxmox.Storage, error)
	StorageContent(ctx context.Context, storage, content string, vmid int) ([]proxmox.StorageItem, error)
	// Read only when the plan may make a privileged container (pve9.go).
	Version(ctx context.Context) (proxmox.Version, error)
	Permissions(ctx context.Context, path string) (map[string]bool, error)
	ExtractConfig(ctx context.Context, volid string) (map[string]string, error)
}

// Live is the observed state of the host: every guest the node lists,
// and, for the guests the desired file names, their configuration.
type Live struct {
	Node   string
	Guests map[int]*LiveGuest // every guest on the node
	// Archives are the backup volumes of the storages that a restore or a
	// job names, by volid; nil when none was read.
	Archives map[string]proxmox.StorageItem
	// Templates are the container templates of the storages a create
	// from a template names, by volid; nil when none was read.
	Templates map[string]bool
	// Volumes are the guest volumes of the storages a volume.free names,
	// by volid.
	Volumes map[string]proxmox.StorageItem
	// Storages is the storage configuration, read only when a job needs
	// a storage's retention.
	Storages map[string]proxmox.Storage
	// Privileged is what the host lets the token do about privileged
	// containers; nil when the plan makes none (pve9.go).
	Privileged *Privileged
	// Requests counts the API reads observing took.
	Requests int
}

// LiveGuest is one guest as the host reports it.
type LiveGuest struct {
	VMID     int
	Name     string
	Running  bool
	Lock     string
	Template bool
	Tags     string // from the list, for unmanaged reporting

	// Observed is true when the config below was read (the desired file
	// names the guest).
	Observed bool
	Digest   string
	// Current is the active config; Effective is the config as it will
	// be after the next start (pending values applied).
	Current   map[string]string
	Effective map[string]string
	// PendingKeys are keys whose change waits for the next start.
	PendingKeys []string

	Snapshots     []proxmox.Snapshot // nil unless read
	SnapshotsRead bool
	// SnapshotVolumes are the volumes the guest's snapshots keep, each
	// with the snapshots that do, read only for a guest whose file names
	// volumes to free (Proxmox keeps a volume a snapshot uses).
	SnapshotVolumes map[string][]string
}

// Observe reads the live host: one list call, one config read per guest
// the desired file names (GET pending, which reports the active values,
// what waits for the next start and the digest), and snapshot lists and
// storage contents only where a step needs them: for guests that declare
// snapshots, that a pending job names, or whose plan may destroy or replace
// them (a destroy, a rebuild, a restore over), so those steps can name the
// snapshots they lose. At most concurrency reads are in flight. Jobs the
// journal shows done cost nothing.
func Observe(ctx context.Context, api API, desired *schema.Host, concurrency int, prov Provenance) (*Live, error) {
	if prov == nil {
		prov = NoProvenance{}
	}
	if concurrency < 1 {
		concurrency = 1
	}
	list, err := api.ListLXC(ctx)
	if err != nil {
		return nil, fmt.Errorf("list guests on node %s: %w", api.Node(), err)
	}
	live := &Live{Node: api.Node(), Guests: make(map[int]*LiveGuest, len(list)), Requests: 1}
	for _, l := range list {
		vmid := int(l.VMID)
		live.Guests[vmid] = &LiveGuest{VMID: vmid, Name: l.Name, Running: l.Status == "running",
			Lock: l.Lock, Template: bool(l.Template), Tags: l.Tags}
	}

	needSnaps := map[int]bool{}
	desiredOf := map[int]*schema.Guest{}
	for i, g := range desired.Guests {
		desiredOf[g.VMID] = &desired.Guests[i]
		if len(g.Snapshots) > 0 || g.State == schema.StateAbsent {
			needSnaps[g.VMID] = true
		}
	}
	for _, j := range desired.Jobs {
		if prov.JobDone(j.ID) {
			continue
		}
		switch j.Op {
		case schema.OpSnapshotRollback, schema.OpSnapshotDelete, schema.OpGuestRestoreOver:
			needSnaps[j.VMID] = true
		}
	}
	var want []int
	for _, g := range desired.Guests {
		if _, ok := live.Guests[g.VMID]; ok {
			want = append(want, g.VMID)
		}
	}
	for _, j := range desired.Jobs {
		if lg, ok := live.Guests[j.VMID]; ok && !lg.Observed && !contains(want, j.VMID) && !prov.JobDone(j.ID) {
			want = append(want, j.VMID)
		}
	}

	var mu sync.Mutex
	var firstErr error
	sem := make(chan struct{}, concurrency)
	var wg sync.WaitGroup
	for _, vmid := range want {
		lg := live.Guests[vmid]
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			n, err := observeGuest(ctx, api, lg, needSnaps[vmid], desiredOf[vmid])
			mu.Lock()
			defer mu.Unlock()
			live.Requests += n
			if err != nil && firstErr == nil {
				firstErr = err
			}
		}()
		if ctx.Err() != nil {
			break
		}
	}
	wg.Wait()
	if firstErr != nil {
		return nil, firstErr
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := observeStorage(ctx, api, desired, live, prov); err != nil {
		return nil, err
	}
	if err := observePrivileged(ctx, api, desired, live, prov); err != nil {
		return nil, err
	}
	return live, nil
}

func contains(list []int, v int) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}

// observeGuest reads one guest's config and, when asked or when its plan
// may replace it, its snapshots. It returns how many requests it made.
func observeGuest(ctx context.Context, api API, lg *LiveGuest, snaps bool, g *schema.Guest) (int, error) {
	n := 0
	entries, err := api.GuestPending(ctx, lg.VMID)
	n++
	if err != nil {
		return n, fmt.Errorf("read the config of guest %d: %w", lg.VMID, err)
	}
	lg.fromPending(entries)
	if lg.Digest == "" { // a Proxmox that lists no digest row
		conf, err := api.GuestConfig(ctx, lg.VMID)
		n++
		if err != nil {
			return n, fmt.Errorf("read the config of guest %d: %w", lg.VMID, err)
		}
		lg.Digest = conf.Digest
	}
	lg.Observed = true
	if l := lg.Effective["lock"]; l != "" && lg.Lock == "" {
		lg.Lock = l
	}
	frees := g != nil && len(g.RemoveVolumes) > 0
	if snaps || frees || (g != nil && mayReplace(g, lg)) {
		list, err := api.ListSnapshots(ctx, lg.VMID)
		n++
		if err != nil {
			return n, fmt.Errorf("list snapshots of guest %d: %w", lg.VMID, err)
		}
		for _, s := range list {
			if s.Name != "current" {
				lg.Snapshots = append(lg.Snapshots, s)
			}
		}
		sort.Slice(lg.Snapshots, func(i, j int) bool { return lg.Snapshots[i].Name < lg.Snapshots[j].Name })
		lg.SnapshotsRead = true
	}
	if frees {
		for _, s := range lg.Snapshots {
			conf, err := api.SnapshotConfig(ctx, lg.VMID, s.Name)
			n++
			if err != nil {
				return n, fmt.Errorf("read snapshot %q of guest %d: %w", s.Name, lg.VMID, err)
			}
			for _, vol := range OwnedVolumes(conf.Values, nil) {
				if lg.SnapshotVolumes == nil {
					lg.SnapshotVolumes = map[string][]string{}
				}
				lg.SnapshotVolumes[vol] = append(lg.SnapshotVolumes[vol], s.Name)
			}
		}
	}
	return n, nil
}

// mayReplace reports whether the plan for g will rebuild the guest (an
// unprivileged flip, a rootfs shrink), which discards its snapshots.
func mayReplace(g *schema.Guest, lg *LiveGuest) bool {
	if g.Unprivileged != nil && liveBool(lg.Effective, "unprivileged", false) != *g.Unprivileged {
		return true
	}
	if g.Rootfs != nil {
		if root, err := ParseMount("rootfs", lg.Effective["rootfs"]); err == nil && int64(g.Rootfs.Size) < root.Size {
			return true
		}
	}
	return false
}

// fromPending fills the configs from GET pending's entries.
func (lg *LiveGuest) fromPending(entries []proxmox.PendingEntry) {
	lg.Current = map[string]string{}
	lg.Effective = map[string]string{}
	for _, e := range entries {
		if e.Key == "digest" {
			lg.Digest = e.Value
			continue
		}
		if e.HasValue {
			lg.Current[e.Key] = e.Value
		}
		switch {
		case e.Delete:
			lg.PendingKeys = append(lg.PendingKeys, e.Key)
		case e.HasPending:
			lg.Effective[e.Key] = e.Pending
			if !e.HasValue || e.Pending != e.Value {
				lg.PendingKeys = append(lg.PendingKeys, e.Key)
			}
		case e.HasValue:
			lg.Effective[e.Key] = e.Value
		}
	}
	sort.Strings(lg.PendingKeys)
}

// observeStorage reads the storage contents that steps depend on: the
// archives guests are created or restored from, the volumes a guest wants
// freed, and the retention of storages a pruning backup job writes to.
func observeStorage(ctx context.Context, api API, desired *schema.Host, live *Live, prov Provenance) error {
	archiveStores, templateStores := map[string]bool{}, map[string]bool{}
	for _, g := range desired.Guests {
		if _, exists := live.Guests[g.VMID]; exists || g.State == schema.StateAbsent {
			continue
		}
		if g.FromBackup != "" {
			archiveStores[storageOf(g.FromBackup)] = true
		}
		if g.FromTemplate != "" {
			templateStores[storageOf(g.FromTemplate)] = true
		}
	}
	for _, g := range desired.Goldens {
		archiveStores[g.BackupStorage] = true
		templateStores[storageOf(g.Template)] = true
	}
	if err := observeTemplates(ctx, api, live, templateStores); err != nil {
		return err
	}
	pruneJobs := false
	for _, j := range desired.Jobs {
		if prov.JobDone(j.ID) {
			continue
		}
		switch {
		case j.Op == schema.OpGuestRestoreOver && j.Backup != "":
			archiveStores[storageOf(j.Backup)] = true
		case j.Op == schema.OpBackupCreate && j.Prune:
			pruneJobs = true
		}
	}
	volumeStores := map[string]bool{}
	for _, g := range desired.Guests {
		lg := live.Guests[g.VMID]
		if lg == nil || !lg.Observed {
			continue
		}
		for _, rv := range g.RemoveVolumes {
			vol := rv
			if v, ok := lg.Effective[rv]; ok {
				vol = v
			}
			if s := storageOf(vol); s != "" {
				volumeStores[s] = true
			}
		}
	}
	if pruneJobs {
		list, err := api.ListStorage(ctx)
		live.Requests++
		if err != nil {
			return fmt.Errorf("read the storage configuration: %w", err)
		}
		live.Storages = map[string]proxmox.Storage{}
		for _, s := range list {
			live.Storages[s.Storage] = s
		}
		for _, j := range desired.Jobs {
			if j.Op == schema.OpBackupCreate && j.Prune && !prov.JobDone(j.ID) {
				archiveStores[backupStorage(j, live)] = true
			}
		}
	}
	for _, s := range slices.Sorted(maps.Keys(archiveStores)) {
		if s == "" {
			continue
		}
		items, err := api.StorageContent(ctx, s, "backup", 0)
		live.Requests++
		if live.Archives == nil {
			live.Archives = map[string]proxmox.StorageItem{}
		}
		if err != nil {
			if missingStorage(err) {
				continue // the plan reports each missing archive at its line
			}
			return fmt.Errorf("list backups on storage %s: %w", s, err)
		}
		for _, it := range items {
			live.Archives[it.VolID] = it
		}
	}
	for _, s := range slices.Sorted(maps.Keys(volumeStores)) {
		items, err := api.StorageContent(ctx, s, "", 0)
		live.Requests++
		if err != nil {
			if missingStorage(err) {
				continue
			}
			return fmt.Errorf("list volumes on storage %s: %w", s, err)
		}
		if live.Volumes == nil {
			live.Volumes = map[string]proxmox.StorageItem{}
		}
		for _, it := range items {
			live.Volumes[it.VolID] = it
		}
	}
	return nil
}

// observeTemplates lists the templates of the storages new guests are
// created from.
func observeTemplates(ctx context.Context, api API, live *Live, stores map[string]bool) error {
	if len(stores) > 0 {
		live.Templates = map[string]bool{}
	}
	for _, s := range slices.Sorted(maps.Keys(stores)) {
		items, err := api.StorageContent(ctx, s, "vztmpl", 0)
		live.Requests++
		if err != nil && !missingStorage(err) { // a missing one: the plan reports each template at its line
			return fmt.Errorf("list templates on storage %s: %w", s, err)
		}
		for _, it := range items {
			live.Templates[it.VolID] = true
		}
	}
	return nil
}

// backupStorage is the storage a backup job writes to.
func backupStorage(j schema.Job, live *Live) string {
	if j.Storage != "" {
		return j.Storage
	}
	return "local"
}

// storageOf returns the storage id of a volume id ("local:backup/x" →
// "local"), or "" when it has none.
func storageOf(volid string) string {
	s, _, ok := strings.Cut(volid, ":")
	if !ok {
		return ""
	}
	return s
}

// missingStorage reports an error that says the storage does not exist
// (Proxmox answers 500 "storage 'x' does not exist", or 404).
func missingStorage(err error) bool {
	var api *proxmox.APIError
	return proxmox.IsNotFound(err) || (errors.As(err, &api) && strings.Contains(api.Message, "does not exist"))
}
