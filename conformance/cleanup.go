package conformance

import (
	"context"
	"fmt"
	"net/url"
	"slices"
	"strings"

	"github.com/felhom/felhom-converge/proxmox"
)

// removeLeftovers removes what a run that did not finish left, as its
// record names it, before this run starts; it refuses to go on when
// something stays.
func (r *run) removeLeftovers(ctx context.Context) error {
	rec, err := loadRecord(r.dir)
	if err != nil || rec == nil {
		return err
	}
	if rec.Node != r.c.Node() {
		return fmt.Errorf("the conformance run %s of node %s did not finish; its record %s names another node than %s: run the check against that node first",
			rec.Run, rec.Node, RecordFile, r.c.Node())
	}
	removed, left := r.removeRun(ctx, rec)
	r.rep.Earlier = append(r.rep.Earlier, removed...)
	if len(left) > 0 {
		return fmt.Errorf("the conformance run %s (guest %d) did not finish, and what it left could not all be removed: %s",
			rec.Run, rec.VMID, strings.Join(left, "; "))
	}
	return nil
}

// cleanup removes what this run made, as a check of its own: the guest
// and its volumes, and every archive of the run.
func (r *run) cleanup(ctx context.Context, rec *record) {
	var removed, left []string
	r.check(ctx, "cleanup", "pve-container src/PVE/API2/LXC.pm destroy_vm; pve-storage PVE/API2/Storage/Content.pm delete", nil,
		func(ctx context.Context, c *Check) (string, error) {
			c.Expected = "destroying the guest (purge=1, force=1) answers a vzdestroy task that ends OK, and the guest and its volumes are gone; each archive of the run goes with an imgdel task (a protected one after PUT protected=0)"
			removed, left = r.removeRun(ctx, rec)
			if len(left) > 0 {
				return "", fmt.Errorf("left on the host: %s", strings.Join(left, "; "))
			}
			return "removed " + strings.Join(removed, ", "), nil
		})
	r.rep.Cleanup = append(r.rep.Cleanup, removed...)
	r.rep.Leftovers = append(r.rep.Leftovers, left...)
}

// removeRun removes the guest and the archives a run's record names and
// returns what it removed and what it could not. The guest is destroyed
// only when its description names the run, an archive only when it is a
// backup of the guest the record names or its notes name the run. The
// record goes once nothing is left.
func (r *run) removeRun(ctx context.Context, rec *record) (removed, left []string) {
	r.waitGuestTasks(ctx, rec.VMID)
	conf, err := r.c.GuestConfig(ctx, rec.VMID)
	switch {
	case proxmox.IsNotFound(err):
	case err != nil:
		left = append(left, fmt.Sprintf("guest %d: %v", rec.VMID, err))
	case !strings.Contains(conf.Description(), "conformance run "+rec.Run):
		left = append(left, fmt.Sprintf("guest %d does not carry run %s's description, so it is not destroyed", rec.VMID, rec.Run))
	case conf.Lock() != "":
		left = append(left, fmt.Sprintf("guest %d is locked (%s): unlock it with 'pct unlock %d' as root, then run the conformance check again to remove it", rec.VMID, conf.Lock(), rec.VMID))
	default:
		vols := volumesOf(conf)
		upid, err := r.c.DestroyLXC(ctx, rec.VMID, proxmox.DestroyOptions{Purge: true, Force: true})
		if _, err := r.done(ctx, upid, err); err != nil {
			left = append(left, fmt.Sprintf("guest %d: %v", rec.VMID, err))
			break
		}
		if _, err := r.c.GuestStatus(ctx, rec.VMID); !proxmox.IsNotFound(err) {
			left = append(left, fmt.Sprintf("guest %d is still there after its vzdestroy ended OK", rec.VMID))
			break
		}
		removed = append(removed, fmt.Sprintf("guest %d", rec.VMID))
		for _, v := range vols {
			if _, err := r.volumeOf(ctx, rec.VMID, v); err == nil {
				left = append(left, fmt.Sprintf("volume %s of guest %d is still on its storage", v, rec.VMID))
			}
		}
	}
	for _, volid := range r.runArchives(ctx, rec, &left) {
		if err := r.removeArchive(ctx, rec, volid); err != nil {
			left = append(left, fmt.Sprintf("archive %s: %v", volid, err))
			continue
		}
		removed = append(removed, "archive "+volid)
	}
	if len(left) == 0 {
		if err := rec.remove(); err != nil {
			left = append(left, err.Error())
		}
	}
	return removed, left
}

// waitGuestTasks waits for the guest's running tasks (a killed run's
// restore or backup goes on without it) to end.
func (r *run) waitGuestTasks(ctx context.Context, vmid int) {
	list, err := r.c.ListTasks(ctx, proxmox.TaskFilter{VMID: vmid, Limit: 100})
	if err != nil {
		return
	}
	for _, t := range list {
		if !t.Running() {
			continue
		}
		if u, err := proxmox.ParseUPID(t.UPID); err == nil {
			r.status(ctx, u)
		}
	}
}

// volumesOf lists the volumes a guest's config names (rootfs, mpN and
// unusedN), bind mounts aside.
func volumesOf(conf proxmox.GuestConfig) []string {
	var out []string
	for k, v := range conf.Values {
		if k == "rootfs" || strings.HasPrefix(k, "mp") || strings.HasPrefix(k, "unused") {
			if vol := prop(v, "volume")["volume"]; strings.Contains(vol, ":") {
				out = append(out, vol)
			}
		}
	}
	slices.Sort(out)
	return out
}

// volumeOf finds a volume of guest vmid on its storage.
func (r *run) volumeOf(ctx context.Context, vmid int, volid string) (proxmox.StorageItem, error) {
	sid, _, _ := strings.Cut(volid, ":")
	items, err := r.c.StorageContent(ctx, sid, "", vmid)
	if err != nil {
		return proxmox.StorageItem{}, err
	}
	for _, it := range items {
		if it.VolID == volid {
			return it, nil
		}
	}
	return proxmox.StorageItem{}, fmt.Errorf("%s is not on storage %s", volid, sid)
}

// runArchives lists the archives of a run still on its backup storage:
// those the record names and the guest's backups whose notes name the run.
func (r *run) runArchives(ctx context.Context, rec *record, left *[]string) []string {
	items, err := r.c.StorageContent(ctx, rec.BackupStorage, "backup", rec.VMID)
	if err != nil {
		*left = append(*left, fmt.Sprintf("the archives of run %s on %s: %v", rec.Run, rec.BackupStorage, err))
		return nil
	}
	var out []string
	for _, it := range items {
		ours := slices.Contains(rec.Archives, it.VolID) || strings.Contains(it.Notes, "conformance run "+rec.Run)
		if ours && int(it.VMID) == rec.VMID && archiveOfGuest(it.VolID, rec.VMID) {
			out = append(out, it.VolID)
		}
	}
	return out
}

// removeArchive deletes one archive of the run, unprotecting it first.
func (r *run) removeArchive(ctx context.Context, rec *record, volid string) error {
	it, err := r.volumeOf(ctx, rec.VMID, volid)
	if err != nil {
		return err
	}
	if it.Protected {
		sid, _, _ := strings.Cut(volid, ":")
		if _, err := r.c.Raw(ctx, "PUT", "/nodes/"+r.c.Node()+"/storage/"+sid+"/content/"+url.PathEscape(volid), values(map[string]string{"protected": "0"})); err != nil {
			return fmt.Errorf("unprotect: %w", err)
		}
	}
	upid, err := r.c.DeleteVolume(ctx, volid)
	if _, err := r.done(ctx, upid, err); err != nil {
		return err
	}
	if _, err := r.volumeOf(ctx, rec.VMID, volid); err == nil {
		return fmt.Errorf("still listed after its %s task ended OK", upid.Type)
	}
	return nil
}
