package conformance

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/felhom/felhom-converge/proxmox"
)

// The run's snapshots: the older first.
const (
	snapA = "felhomA"
	snapB = "felhomB"
)

// noSnapshots skips a check on a storage whose container volumes cannot
// take snapshots.
func (r *run) noSnapshots() error {
	if r.storage.snapshots() {
		return nil
	}
	return skip(fmt.Sprintf("not run: storage %s (%s) cannot snapshot container volumes", r.storage.id, r.storage.typ))
}

// snapshot takes snapshot name of the guest and returns its task's status
// and whether the lock "snapshot" was seen while it ran.
func (r *run) snapshot(ctx context.Context, name string) (proxmox.TaskStatus, bool, error) {
	upid, err := r.c.Snapshot(ctx, r.vmid, name, "felhom-converge conformance run "+r.rec.Run)
	if err != nil {
		return proxmox.TaskStatus{}, false, err
	}
	seen, err := r.waitLock(ctx, upid, "snapshot")
	st, err := r.ended(ctx, upid, err)
	return st, seen, err
}

func (r *run) snapshotNames(ctx context.Context) ([]string, map[string]proxmox.Snapshot, error) {
	list, err := r.c.ListSnapshots(ctx, r.vmid)
	if err != nil {
		return nil, nil, fmt.Errorf("list snapshots: %w", err)
	}
	var names []string
	by := map[string]proxmox.Snapshot{}
	for _, s := range list {
		if s.Name != "current" {
			names = append(names, s.Name)
			by[s.Name] = s
		}
	}
	slices.Sort(names)
	return names, by, nil
}

func (r *run) checkSnapshot(ctx context.Context) {
	r.check(ctx, "snapshot", "pve-guest-common AbstractConfig snapshot_create; pve-container src/PVE/LXC/Config.pm", []string{r.makeName()},
		func(ctx context.Context, c *Check) (string, error) {
			if !r.storage.snapshots() {
				c.Expected = fmt.Sprintf("a snapshot of a guest on %s (%s) fails in its task: snapshot feature is not available", r.storage.id, r.storage.typ)
				st, _, err := r.snapshot(ctx, snapA)
				if err != nil {
					return "", err
				}
				if st.ExitStatus != "snapshot feature is not available" {
					return "", fmt.Errorf("the snapshot task ended %q", st.ExitStatus)
				}
				return "the snapshot task failed: " + st.ExitStatus, nil
			}
			c.Expected = "a snapshot of the running guest answers a vzsnapshot task (the guest locked snapshot meanwhile) that ends OK; the list has it with its snaptime and description (a description reads back with a newline), the config names it as parent, and the digest changes"
			if err := r.ensure(ctx, true); err != nil {
				return "", err
			}
			before, err := r.config(ctx)
			if err != nil {
				return "", err
			}
			st, seen, err := r.snapshot(ctx, snapA)
			if err != nil {
				return "", err
			}
			after, err := r.config(ctx)
			if err != nil {
				return "", err
			}
			_, by, err := r.snapshotNames(ctx)
			if err != nil {
				return "", err
			}
			r.hostAtA = before.Hostname()
			s := by[snapA]
			if !succeeded(st.ExitStatus) || s.SnapTime <= 0 || strings.TrimSuffix(s.Description, "\n") != "felhom-converge conformance run "+r.rec.Run ||
				after.Values["parent"] != snapA || after.Digest == before.Digest || after.Lock() != "" {
				return "", fmt.Errorf("the snapshot task ended %q; listed as %+v; parent %q, lock %q", st.ExitStatus, s, after.Values["parent"], after.Lock())
			}
			lock := "its lock was seen while it ran"
			if !seen {
				lock = "it ended before its lock could be seen"
			}
			return fmt.Sprintf("vzsnapshot ended %s (%s); %s listed with snaptime %d", st.ExitStatus, lock, snapA, s.SnapTime), nil
		})
}

func (r *run) checkRollback(ctx context.Context) {
	r.check(ctx, "rollback", "pve-guest-common AbstractConfig snapshot_rollback; pve-container __snapshot_apply_config; pve-storage ZFSPoolPlugin volume_rollback_is_possible", []string{"snapshot"},
		func(ctx context.Context, c *Check) (string, error) {
			if err := r.noSnapshots(); err != nil {
				return "", err
			}
			zfs := r.storage.typ == "zfspool"
			if zfs {
				c.Expected = fmt.Sprintf("on ZFS only the newest snapshot can be rolled back to: a rollback to %s with %s newer fails in its task (can't rollback, '%s' is not most recent snapshot on ...) before stopping the guest; one to %s ends OK", snapA, snapB, snapA, snapB)
			} else {
				c.Expected = fmt.Sprintf("a rollback to %s (an older snapshot) with start=1 stops the guest, ends OK, restores the snapshot's config but keeps the current description, names it as parent, and a separate vzstart task starts the guest again", snapA)
			}
			if err := r.c.SetConfig(ctx, r.vmid, map[string]string{"hostname": fmt.Sprintf("felhom-conformance-%d-later", r.vmid)}, nil, ""); err != nil {
				return "", err
			}
			if st, _, err := r.snapshot(ctx, snapB); err != nil || !succeeded(st.ExitStatus) {
				return "", fmt.Errorf("snapshot %s: %v %s", snapB, err, st.ExitStatus)
			}
			before, err := r.config(ctx)
			if err != nil {
				return "", err
			}
			upid, err := r.c.Rollback(ctx, r.vmid, snapA, true)
			st, err := r.ended(ctx, upid, err)
			if err != nil {
				return "", err
			}
			v, err := r.look(ctx)
			if err != nil {
				return "", err
			}
			conf := v.conf
			if zfs {
				run := v.running
				if succeeded(st.ExitStatus) || conf.Hostname() != before.Hostname() || !run || conf.Lock() != "" {
					return "", fmt.Errorf("the rollback to %s ended %q; hostname %q, lock %q, runs %v", snapA, st.ExitStatus, conf.Hostname(), conf.Lock(), run)
				}
				newest, err := r.c.Rollback(ctx, r.vmid, snapB, true)
				if _, err := r.done(ctx, newest, err); err != nil {
					return "", fmt.Errorf("the rollback to the newest: %w", err)
				}
				if err := r.forkedStart(ctx, newest); err != nil {
					return "", err
				}
				return fmt.Sprintf("to %s refused: %s; to %s ended OK, a separate vzstart started the guest", snapA, st.ExitStatus, snapB), nil
			}
			if !succeeded(st.ExitStatus) || conf.Hostname() != r.hostAtA || conf.Values["description"] != before.Values["description"] || conf.Values["parent"] != snapA {
				return "", fmt.Errorf("the rollback ended %q; hostname %q (the snapshot's %q), parent %q", st.ExitStatus, conf.Hostname(), r.hostAtA, conf.Values["parent"])
			}
			if err := r.forkedStart(ctx, upid); err != nil {
				return "", err
			}
			return fmt.Sprintf("%s ended %s; config back to %s's (hostname %s), a separate vzstart started the guest", upid.Type, st.ExitStatus, snapA, conf.Hostname()), nil
		})
}

// forkedStart waits for the vzstart task a rollback with start=1 forked
// after it ended, and fails unless there is one and it succeeded.
func (r *run) forkedStart(ctx context.Context, rollback proxmox.UPID) error {
	list, err := r.c.ListTasks(ctx, proxmox.TaskFilter{VMID: r.vmid, TypeFilter: "vzstart", Since: rollback.StartTime})
	if err != nil {
		return err
	}
	for _, t := range list {
		if t.UPID == rollback.String() || int64(t.StartTime) < rollback.StartTime.Unix() {
			continue
		}
		su, err := proxmox.ParseUPID(t.UPID)
		if err != nil {
			return err
		}
		if _, err := r.done(ctx, su, nil); err != nil {
			return fmt.Errorf("the start after the rollback: %w", err)
		}
		return nil
	}
	return fmt.Errorf("the rollback ended, but no vzstart task followed it")
}

func (r *run) checkDetachUnderSnapshot(ctx context.Context) {
	r.check(ctx, "detach under a snapshot", "pve-container src/PVE/LXC/Config.pm vmconfig_apply_pending (is_volume_in_use), add_unused_volume", []string{"snapshot", "mount add hot-plugs"},
		func(ctx context.Context, c *Check) (string, error) {
			if err := r.noSnapshots(); err != nil {
				return "", err
			}
			c.Expected = "removing mp0 from a stopped guest whose snapshots use its volume keeps the volume as unusedN; deleting that unusedN drops only the entry, the snapshots keep the volume"
			if err := r.ensure(ctx, false); err != nil {
				return "", err
			}
			vol := r.mpVol[0]
			if err := r.c.SetConfig(ctx, r.vmid, nil, []string{"mp0"}, ""); err != nil {
				return "", err
			}
			conf, err := r.config(ctx)
			if err != nil {
				return "", err
			}
			key := unusedOf(conf, vol)
			if conf.Values["mp0"] != "" || key == "" {
				return "", fmt.Errorf("after removing mp0: mp0 %q, %s kept as %q", conf.Values["mp0"], vol, key)
			}
			if err := r.c.SetConfig(ctx, r.vmid, nil, []string{key}, ""); err != nil {
				return "", err
			}
			after, err := r.config(ctx)
			if err != nil {
				return "", err
			}
			if _, err := r.volumeSize(ctx, vol); err != nil || unusedOf(after, vol) != "" {
				return "", fmt.Errorf("after deleting %s: the storage lists %s: %v; an unused entry holds it: %q", key, vol, err == nil, unusedOf(after, vol))
			}
			return fmt.Sprintf("%s kept as %s; deleting %s dropped the entry, the volume stays", vol, key, key), nil
		})
	r.check(ctx, "snapshot delete", "pve-guest-common AbstractConfig snapshot_delete", []string{"snapshot"},
		func(ctx context.Context, c *Check) (string, error) {
			if err := r.noSnapshots(); err != nil {
				return "", err
			}
			c.Expected = "deleting a snapshot answers a vzdelsnapshot task that ends OK and the list no longer has it"
			for _, name := range []string{snapB, snapA} {
				upid, err := r.c.DeleteSnapshot(ctx, r.vmid, name)
				if _, err := r.done(ctx, upid, err); err != nil {
					return "", fmt.Errorf("delete %s: %w", name, err)
				}
				names, _, err := r.snapshotNames(ctx)
				if err != nil {
					return "", err
				}
				if slices.Contains(names, name) {
					return "", fmt.Errorf("%s is still listed after its vzdelsnapshot ended OK", name)
				}
			}
			return fmt.Sprintf("%s and %s deleted (vzdelsnapshot OK)", snapB, snapA), nil
		})
	r.check(ctx, "snapshot volume comes back", "pve-guest-common AbstractConfig snapshot_delete (unused volumes of the snapshot)", []string{"detach under a snapshot", "snapshot delete"},
		func(ctx context.Context, c *Check) (string, error) {
			c.Expected = "once the last snapshot using the detached volume is deleted, the volume is back as unusedN; deleting that frees it"
			vol := r.mpVol[0]
			conf, err := r.config(ctx)
			if err != nil {
				return "", err
			}
			key := unusedOf(conf, vol)
			if key == "" {
				return "", fmt.Errorf("no unusedN holds %s after the snapshots went", vol)
			}
			if err := r.c.SetConfig(ctx, r.vmid, nil, []string{key}, ""); err != nil {
				return "", err
			}
			if _, err := r.volumeSize(ctx, vol); err == nil {
				return "", fmt.Errorf("deleting %s left %s on the storage", key, vol)
			}
			return fmt.Sprintf("%s back as %s; deleting it freed the volume", vol, key), nil
		})
}
