package conformance

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/felhom/felhom-converge/proxmox"
)

// mountPath is where the run mounts mpN in its guest.
func mountPath(n int) string { return fmt.Sprintf("/mnt/felhom-conformance-%d", n) }

// unusedOf is the unusedN key that holds volid, if any.
func unusedOf(conf proxmox.GuestConfig, volid string) string {
	for n, v := range conf.Unused() {
		if prop(v, "volume")["volume"] == volid {
			return "unused" + strconv.Itoa(n)
		}
	}
	return ""
}

func (r *run) checkMountAdd(ctx context.Context) {
	r.check(ctx, "mount add hot-plugs", "pve-container src/PVE/LXC/Config.pm vmconfig_hotplug_pending, apply_pending_mountpoint", []string{"start=1 forks a start task"},
		func(ctx context.Context, c *Check) (string, error) {
			c.Expected = fmt.Sprintf("on a running guest, new mount points (%s:1) are hot-plugged: each gets a new 1G volume at once, nothing waits for a restart", r.storage.id)
			if err := r.ensure(ctx, true); err != nil {
				return "", err
			}
			set := map[string]string{"mp0": r.storage.id + ":1,mp=" + mountPath(0) + ",backup=1", "mp1": r.storage.id + ":1,mp=" + mountPath(1)}
			if err := r.c.SetConfig(ctx, r.vmid, set, nil, ""); err != nil {
				return "", err
			}
			p, err := r.pending(ctx)
			if err != nil {
				return "", err
			}
			var vols []string
			for _, k := range []string{"mp0", "mp1"} {
				e := p[k]
				mp := prop(e.Value, "volume")
				if !e.HasValue || e.NeedsRestart() || mp["size"] != "1G" || !strings.HasPrefix(mp["volume"], r.storage.id+":") || mp["volume"] == r.storage.id+":1" {
					return "", fmt.Errorf("%s: active %q, pending %q (delete %v)", k, e.Value, e.Pending, e.Delete)
				}
				vols = append(vols, mp["volume"])
			}
			r.mpVol = vols
			return "mp0 " + vols[0] + " and mp1 " + vols[1] + " active at once", nil
		})
}

func (r *run) checkHotApply(ctx context.Context) {
	r.check(ctx, "hot apply and pending", "pve-container src/PVE/LXC/Config.pm vmconfig_hotplug_pending ($LXC_FASTPLUG_OPTIONS, cgroups, update_net)", []string{"mount add hot-plugs"},
		func(ctx context.Context, c *Check) (string, error) {
			c.Expected = "on a running guest, memory, swap, cores, hostname, description, tags and an interface change apply at once (nothing pending); " +
				"turning nesting on or off, a change to an existing mount point and a mount point's removal wait for the next start (GET pending lists them, the active values stay)"
			conf, err := r.config(ctx)
			if err != nil {
				return "", err
			}
			mem, _ := conf.Memory()
			swap, _ := conf.Swap()
			cores := 1
			if n, ok := conf.Cores(); ok && n == 1 {
				cores = 2
			}
			netKey, netVal := firstNet(conf.Values)
			hot := map[string]string{"memory": strconv.Itoa(mem + 64), "swap": strconv.Itoa(swap + 32), "cores": strconv.Itoa(cores),
				"hostname": fmt.Sprintf("felhom-conformance-%d-hot", r.vmid), "description": r.marker + "\nhot", "tags": "felhom-conformance;hot"}
			if netKey != "" {
				hot[netKey] = withProp(netVal, "rate", "10")
			}
			r.nesting = "1"
			if prop(conf.Features(), "")["nesting"] == "1" {
				r.nesting = "0"
			}
			later := map[string]string{"features": "nesting=" + r.nesting, "mp0": conf.Values["mp0"] + ",ro=1"}
			set := map[string]string{}
			for k, v := range hot {
				set[k] = v
			}
			for k, v := range later {
				set[k] = v
			}
			if err := r.c.SetConfig(ctx, r.vmid, set, []string{"mp1"}, ""); err != nil {
				return "", err
			}
			p, err := r.pending(ctx)
			if err != nil {
				return "", err
			}
			var wrong []string
			for k, v := range hot {
				e := p[k]
				if e.NeedsRestart() || !sameValue(k, e.Value, v) {
					wrong = append(wrong, fmt.Sprintf("%s active %q pending %q", k, e.Value, e.Pending))
				}
			}
			for k, v := range later {
				e := p[k]
				if !e.HasPending || !sameValue(k, e.Pending, v) || e.Value != conf.Values[k] {
					wrong = append(wrong, fmt.Sprintf("%s active %q pending %q", k, e.Value, e.Pending))
				}
			}
			if e := p["mp1"]; !e.Delete || e.Value != conf.Values["mp1"] {
				wrong = append(wrong, fmt.Sprintf("mp1 active %q, delete %v", e.Value, e.Delete))
			}
			if len(wrong) > 0 {
				return "", fmt.Errorf("%s", strings.Join(wrong, "; "))
			}
			return "memory, swap, cores, hostname, description, tags, " + netKey + " active; features, mp0 and mp1's removal pending", nil
		})
}

// withProp is a property string with key set to v.
func withProp(s, key, v string) string {
	var parts []string
	for _, p := range strings.Split(s, ",") {
		if !strings.HasPrefix(p, key+"=") {
			parts = append(parts, p)
		}
	}
	return strings.Join(append(parts, key+"="+v), ",")
}

// sameValue compares a value read back with one sent, as Proxmox
// normalises it: a trailing newline on a description, tags sorted and
// joined by ';', property strings in any order.
func sameValue(key, got, sent string) bool {
	switch {
	case key == "description":
		return strings.TrimSuffix(got, "\n") == strings.TrimSuffix(sent, "\n")
	case key == "tags":
		a, b := strings.FieldsFunc(got, splitTag), strings.FieldsFunc(sent, splitTag)
		slices.Sort(a)
		slices.Sort(b)
		return slices.Equal(a, b)
	case strings.Contains(sent, "="):
		return sameBut(got, sent)
	}
	return got == sent
}

func splitTag(r rune) bool { return r == ';' || r == ',' || r == ' ' }

func (r *run) checkFailedWriteRunning(ctx context.Context) {
	r.check(ctx, "failed write, running guest", "pve-container src/PVE/LXC.pm update_net (writes the config as it goes), src/PVE/LXC/Config.pm vmconfig_hotplug_pending", []string{"start=1 forks a start task"},
		func(ctx context.Context, c *Check) (string, error) {
			c.Expected = fmt.Sprintf("a write to a running guest of hostname, a change of its interface and a new one on %s (no such bridge): HTTP 400 naming the new interface, yet the hostname and the changed interface are written and active, and what was sent stays pending", r.noBridge)
			if err := r.ensure(ctx, true); err != nil {
				return "", err
			}
			conf, err := r.config(ctx)
			if err != nil {
				return "", err
			}
			netKey, netVal := firstNet(conf.Values)
			if netKey == "" {
				return "", skip("not run: the guest has no interface")
			}
			n, _ := strconv.Atoi(netKey[3:])
			newKey := "net" + strconv.Itoa(n+1)
			for conf.Values[newKey] != "" {
				n++
				newKey = "net" + strconv.Itoa(n+1)
			}
			host := fmt.Sprintf("felhom-conformance-%d-partial", r.vmid)
			set := map[string]string{"hostname": host, netKey: withProp(netVal, "rate", "20"),
				newKey: "name=eth" + strconv.Itoa(n+1) + ",bridge=" + r.noBridge + ",link_down=1"}
			err = r.c.SetConfig(ctx, r.vmid, set, nil, "")
			p, perr := r.pending(ctx)
			if perr != nil {
				return "", perr
			}
			// What was left pending must not reach the next start (no such bridge).
			if _, rerr := r.c.Raw(ctx, "PUT", r.guestPath("config"), values(map[string]string{"revert": netKey + "," + newKey})); rerr != nil {
				return "", fmt.Errorf("reverting what the write left pending: %w", rerr)
			}
			var apiErr *proxmox.APIError
			if !errors.As(err, &apiErr) || apiErr.Status != 400 || apiErr.ParamErrors[newKey] == "" {
				return "", fmt.Errorf("the write answered %v", err)
			}
			var wrong []string
			if e := p["hostname"]; e.Value != host || e.HasPending {
				wrong = append(wrong, fmt.Sprintf("hostname active %q pending %q", e.Value, e.Pending))
			}
			if e := p[netKey]; prop(e.Value, "")["rate"] != "20" {
				wrong = append(wrong, fmt.Sprintf("%s active %q", netKey, e.Value))
			}
			if e := p[newKey]; e.HasValue || !e.HasPending {
				wrong = append(wrong, fmt.Sprintf("%s active %q pending %q", newKey, e.Value, e.Pending))
			}
			if len(wrong) > 0 {
				return "", fmt.Errorf("400 (%s: %s), but %s", newKey, apiErr.ParamErrors[newKey], strings.Join(wrong, "; "))
			}
			return fmt.Sprintf("400 %s: %s; hostname and %s written and active, %s left pending", newKey, apiErr.ParamErrors[newKey], netKey, newKey), nil
		})
}

var excluded = regexp.MustCompile(`excluding (?:volume |bind )?mount point (mp\d+) `)

func (r *run) checkBackupLock(ctx context.Context) {
	var a archive
	var made []proxmox.StorageItem
	r.check(ctx, "backup lock", "pve-container PVE/VZDump/LXC.pm prepare; pve-guest-common AbstractConfig check_lock", []string{"start=1 forks a start task"},
		func(ctx context.Context, c *Check) (string, error) {
			c.Expected = "while a vzdump of the guest runs, its config has lock: backup and a config write is refused with HTTP 500 CT is locked (backup); the lock goes when it ends"
			if err := r.ensure(ctx, true); err != nil {
				return "", err
			}
			// The write must meet the lock: one that got through while the
			// lock was there both before and after it was written under it;
			// one that got through after the lock went tells nothing, and
			// the check tries again with another backup.
			var refusal error
			decided := false
			for attempt := 0; attempt < 3 && !decided; attempt++ {
				var err error
				a, made, err = r.backup(ctx, nil, func(upid proxmox.UPID) error {
					seen, err := r.waitLock(ctx, upid, "backup")
					if err != nil || !seen {
						return err
					}
					refusal = r.c.SetConfig(ctx, r.vmid, map[string]string{"description": r.marker + "\nlocked"}, nil, "")
					conf, err := r.config(ctx)
					decided = refusal != nil || conf.Lock() == "backup"
					return err
				})
				if err != nil {
					return "", err
				}
			}
			if !decided {
				return "", skip("not run: each backup's lock went before a write could meet it")
			}
			conf, err := r.config(ctx)
			if err != nil {
				return "", err
			}
			var apiErr *proxmox.APIError
			if lock, ok := proxmox.IsLocked(refusal); !ok || lock != "backup" || !errors.As(refusal, &apiErr) || apiErr.Status != 500 || conf.Lock() != "" || !succeeded(a.exit) {
				return "", fmt.Errorf("a write under the lock answered %v; after the vzdump (%s) the lock is %q", refusal, a.exit, conf.Lock())
			}
			return fmt.Sprintf("lock backup while it ran; a write answered %d %s; vzdump ended %s, lock gone", apiErr.Status, apiErr.Message, a.exit), nil
		})
	r.check(ctx, "keep-all prunes nothing", "pve-manager PVE/VZDump.pm (keep-all: no pruning, no retention count)", []string{"backup lock"},
		func(ctx context.Context, c *Check) (string, error) {
			c.Expected = "a vzdump with prune-backups=keep-all=1 and remove=0 adds one archive and removes none of the guest's older ones"
			if len(made) != 1 {
				return "", fmt.Errorf("%d new archives: %v", len(made), made)
			}
			return fmt.Sprintf("one new archive %s, the older ones kept", made[0].VolID), nil
		})
	r.check(ctx, "archive covers what it says", "pve-container PVE/VZDump/LXC.pm prepare; pve-manager PVE/API2/VZDump.pm extractconfig", []string{"keep-all prunes nothing", "mount add hot-plugs"},
		func(ctx context.Context, c *Check) (string, error) {
			c.Expected = fmt.Sprintf("the archive's config has mp0 with backup=1 and mp1 without it, as the guest had them; the vzdump log says it includes mp0 ('%s') and excludes mp1 ('%s') (disabled)", mountPath(0), mountPath(1))
			got, err := r.c.ExtractConfig(ctx, made[0].VolID)
			if err != nil {
				return "", err
			}
			// A running guest on a storage without snapshots is backed
			// up in suspend mode: prepare runs again and logs the mount
			// points twice.
			var excl []string
			for _, l := range a.log {
				if m := excluded.FindStringSubmatch(l); m != nil {
					excl = append(excl, m[1])
				}
			}
			slices.Sort(excl)
			excl = slices.Compact(excl)
			if prop(got["mp0"], "volume")["backup"] != "1" || prop(got["mp1"], "volume")["backup"] == "1" || got["mp1"] == "" ||
				!slices.Equal(excl, []string{"mp1"}) || !logHas(a.log, "including mount point mp0 ('"+mountPath(0)+"') in backup") {
				return "", fmt.Errorf("mp0 %q, mp1 %q; excluded by the log: %v", got["mp0"], got["mp1"], excl)
			}
			return "mp0 backup=1 included, mp1 excluded (disabled), as the guest had them", nil
		})
}

func (r *run) checkRebootAppliesPending(ctx context.Context) {
	r.check(ctx, "reboot applies pending", "pve-container src/PVE/LXC.pm vm_reboot, vm_start (vmconfig_apply_pending)", []string{"hot apply and pending"},
		func(ctx context.Context, c *Check) (string, error) {
			c.Expected = "a reboot (vzreboot) applies what waited: nesting and mp0's change are active, mp1 is gone and its volume kept as unusedN (even unreferenced: is_volume_in_use gets the mount string); the guest runs"
			if err := r.ensure(ctx, true); err != nil {
				return "", err
			}
			upid, err := r.c.Reboot(ctx, r.vmid, 0)
			st, v, err := r.after(ctx, upid, err)
			if err != nil {
				return "", err
			}
			conf, run := v.conf, v.running
			var waiting []string
			for k, e := range v.pending {
				if e.NeedsRestart() {
					waiting = append(waiting, k)
				}
			}
			unused := unusedOf(conf, r.mpVol[1])
			if len(waiting) > 0 || prop(conf.Features(), "")["nesting"] != r.nesting || prop(conf.Values["mp0"], "volume")["ro"] != "1" ||
				conf.Values["mp1"] != "" || unused == "" || !run {
				return "", fmt.Errorf("%s ended %s; still pending %v; features %q, mp0 %q, mp1 %q, %s kept as %q; runs: %v",
					upid.Type, st.ExitStatus, waiting, conf.Features(), conf.Values["mp0"], conf.Values["mp1"], r.mpVol[1], unused, run)
			}
			return fmt.Sprintf("%s ended %s; all applied, %s kept as %s", upid.Type, st.ExitStatus, r.mpVol[1], unused), nil
		})
}

func (r *run) checkVolumeFree(ctx context.Context) {
	r.check(ctx, "unused volume freed", "pve-container src/PVE/LXC/Config.pm vmconfig_hotplug_pending (unusedN: delete_mountpoint_volume)", []string{"reboot applies pending"},
		func(ctx context.Context, c *Check) (string, error) {
			c.Expected = "deleting an unusedN entry no snapshot uses frees its volume at once, also on a running guest"
			conf, err := r.config(ctx)
			if err != nil {
				return "", err
			}
			key := unusedOf(conf, r.mpVol[1])
			if err := r.c.SetConfig(ctx, r.vmid, nil, []string{key}, ""); err != nil {
				return "", err
			}
			after, err := r.config(ctx)
			if err != nil {
				return "", err
			}
			_, serr := r.volumeSize(ctx, r.mpVol[1])
			if after.Values[key] != "" || serr == nil {
				return "", fmt.Errorf("%s is %q; the storage still lists %s: %v", key, after.Values[key], r.mpVol[1], serr == nil)
			}
			return fmt.Sprintf("%s deleted, %s freed", key, r.mpVol[1]), nil
		})
}

func (r *run) checkRebootUnderLock(ctx context.Context) {
	r.check(ctx, "reboot under a lock", "pve-container src/PVE/LXC.pm vm_reboot (stops whatever the lock); lxc-pve-prestart-hook (check_lock)", []string{"backup lock"},
		func(ctx context.Context, c *Check) (string, error) {
			c.Expected = "a reboot while a backup holds the lock stops the guest whatever the lock; its start is refused while the lock is held (the task fails: startup for container 'N' failed, the guest stays stopped), and succeeds once it is gone"
			if err := r.ensure(ctx, true); err != nil {
				return "", err
			}
			var reboot proxmox.TaskStatus
			var lockAfter string
			var seen bool
			a, _, err := r.backup(ctx, nil, func(upid proxmox.UPID) error {
				var err error
				if seen, err = r.waitLock(ctx, upid, "backup"); err != nil || !seen {
					return err
				}
				ru, err := r.c.Reboot(ctx, r.vmid, 0)
				if err != nil {
					return err
				}
				if reboot, err = r.status(ctx, ru); err != nil {
					return err
				}
				conf, err := r.config(ctx)
				lockAfter = conf.Lock()
				return err
			})
			if err != nil {
				return "", err
			}
			if !seen {
				return "", skip("not run: the backup ended before its lock could be seen")
			}
			run, err := r.running(ctx)
			if err != nil {
				return "", err
			}
			failedStart := fmt.Sprintf("startup for container '%d' failed", r.vmid)
			switch {
			case reboot.ExitStatus == failedStart && !run:
				return fmt.Sprintf("the reboot stopped the guest and its start was refused under the lock (%s); the guest stays stopped; vzdump ended %s", reboot.ExitStatus, a.exit), nil
			case succeeded(reboot.ExitStatus) && run && lockAfter != "backup":
				return fmt.Sprintf("the backup's lock went before the reboot's start: the reboot ended %s, the guest runs; vzdump ended %s", reboot.ExitStatus, a.exit), nil
			}
			return "", fmt.Errorf("the reboot ended %q, the guest runs: %v, the lock after it: %q", reboot.ExitStatus, run, lockAfter)
		})
}
