package conformance

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/felhom/felhom-converge/proxmox"
)

// firstNet is the lowest netN of a config: its key and value.
func firstNet(conf map[string]string) (string, string) {
	var keys []string
	for k := range conf {
		if _, err := strconv.Atoi(strings.TrimPrefix(k, "net")); err == nil && strings.HasPrefix(k, "net") {
			keys = append(keys, k)
		}
	}
	if len(keys) == 0 {
		return "", ""
	}
	slices.SortFunc(keys, func(a, b string) int {
		x, _ := strconv.Atoi(a[3:])
		y, _ := strconv.Atoi(b[3:])
		return x - y
	})
	return keys[0], conf[keys[0]]
}

// sameBut reports whether two property strings have the same properties
// except those named (MACs compare without case).
func sameBut(a, b string, except ...string) bool {
	pa, pb := prop(a, ""), prop(b, "")
	for _, m := range []map[string]string{pa, pb} {
		m["hwaddr"] = strings.ToUpper(m["hwaddr"])
		for _, k := range except {
			delete(m, k)
		}
	}
	if len(pa) != len(pb) {
		return false
	}
	for k, v := range pa {
		if pb[k] != v {
			return false
		}
	}
	return true
}

func (r *run) checkRestoreUnique(ctx context.Context) {
	r.check(ctx, "restore with unique", "pve-container src/PVE/LXC/Create.pm sanitize_and_merge_config", []string{"archive identified"},
		func(ctx context.Context, c *Check) (string, error) {
			c.Expected = "a restore over the guest (force=1) with unique=1 takes every interface from the archive with a new MAC, ignoring the netN given: the interface is the archive's but for a MAC that is neither the archive's nor the given one"
			key, archived := firstNet(r.a1Conf.Values)
			if key == "" {
				return "", skip("not run: the archive has no interface")
			}
			if err := r.ensure(ctx, false); err != nil {
				return "", err
			}
			const given = "02:00:00:C0:FF:EE"
			upid, err := r.rawTask(ctx, "POST", "/nodes/"+r.c.Node()+"/lxc", map[string]string{"vmid": strconv.Itoa(r.vmid),
				"ostemplate": r.a1.VolID, "restore": "1", "force": "1", "unique": "1", "storage": r.storage.id,
				key: "name=" + prop(archived, "")["name"] + ",bridge=" + r.bridge + ",hwaddr=" + given + ",link_down=1"})
			st, v, err := r.after(ctx, upid, err)
			if err != nil {
				return "", err
			}
			now := v.conf.Values[key]
			mac := strings.ToUpper(prop(now, "")["hwaddr"])
			if !sameBut(now, archived, "hwaddr") || mac == "" || mac == given || mac == strings.ToUpper(prop(archived, "")["hwaddr"]) {
				return "", fmt.Errorf("%s ended %s; %s is %q (the archive's: %q)", upid.Type, st.ExitStatus, key, now, archived)
			}
			return fmt.Sprintf("%s ended %s; %s is the archive's with MAC %s", upid.Type, st.ExitStatus, key, mac), nil
		})
}

func (r *run) checkRestoreKeepsMAC(ctx context.Context) {
	r.check(ctx, "restore keeps interfaces", "pve-container src/PVE/LXC/Create.pm sanitize_and_merge_config", []string{"archive identified"},
		func(ctx context.Context, c *Check) (string, error) {
			c.Expected = "a restore over the guest (force=1) without unique, with start=1, keeps every interface of the archive as it is, MAC included"
			if err := r.ensure(ctx, false); err != nil {
				return "", err
			}
			upid, err := r.c.RestoreLXC(ctx, r.vmid, r.a1.VolID, proxmox.RestoreOptions{Storage: r.storage.id, Force: true, Start: true})
			r.restored = upid
			st, v, err := r.after(ctx, upid, err)
			if err != nil {
				return "", err
			}
			conf := v.conf
			var wrong []string
			for k, v := range r.a1Conf.Values {
				if strings.HasPrefix(k, "net") && !sameBut(conf.Values[k], v) {
					wrong = append(wrong, fmt.Sprintf("%s %q (the archive's: %q)", k, conf.Values[k], v))
				}
			}
			if len(wrong) > 0 {
				return "", fmt.Errorf("%s ended %s; %s", upid.Type, st.ExitStatus, strings.Join(wrong, "; "))
			}
			return fmt.Sprintf("%s ended %s; the interfaces are the archive's", upid.Type, st.ExitStatus), nil
		})
}

func (r *run) checkStartForks(ctx context.Context) {
	r.check(ctx, "start=1 forks a start task", "pve-container src/PVE/API2/LXC.pm create_vm (vm_start after the restore)", []string{"restore keeps interfaces"},
		func(ctx context.Context, c *Check) (string, error) {
			c.Expected = "start=1 on a restore: the vzrestore task ends without starting the guest itself, and a separate vzstart task of the same token starts it; it ends OK, or on PVE 9 WARNINGS: 1 with a WARN line for a systemd guest without nesting"
			u := r.restored
			var start proxmox.Task
			for range 50 {
				list, err := r.c.ListTasks(ctx, proxmox.TaskFilter{VMID: r.vmid, TypeFilter: "vzstart", Since: u.StartTime})
				if err != nil {
					return "", err
				}
				for _, t := range list {
					if t.UPID != u.String() && int64(t.StartTime) >= u.StartTime.Unix() {
						start = t
					}
				}
				if start.UPID != "" {
					break
				}
				if err := sleep(ctx, r.o.Poll); err != nil {
					return "", err
				}
			}
			if start.UPID == "" {
				return "", fmt.Errorf("no vzstart task of guest %d since the restore %s", r.vmid, u)
			}
			su, err := proxmox.ParseUPID(start.UPID)
			if err != nil {
				return "", err
			}
			st, err := r.status(ctx, su)
			if err != nil {
				return "", err
			}
			run, err := r.running(ctx)
			if err != nil {
				return "", err
			}
			log, _ := r.c.TaskLogTail(ctx, su, 0)
			switch {
			case su.User != u.User || !succeeded(st.ExitStatus) || !run:
				return "", fmt.Errorf("%s (user %s) ended %q; the guest runs: %v", su.Type, su.User, st.ExitStatus, run)
			case st.ExitStatus != "OK" && !logHas(log, "WARN: "):
				return "", fmt.Errorf("%s ended %q without a WARN line", su.Type, st.ExitStatus)
			}
			detail := ""
			if st.ExitStatus != "OK" {
				for _, l := range log {
					if strings.HasPrefix(l, "WARN: ") {
						detail = " (" + l + ")"
						break
					}
				}
			}
			return fmt.Sprintf("%s ended OK; a separate %s ended %s%s; the guest runs", u.Type, su.Type, st.ExitStatus, detail), nil
		})
}

func (r *run) checkPrivilegedRestore(ctx context.Context) {
	r.check(ctx, "privileged restore", "pve-container src/PVE/API2/LXC.pm create_vm (PVE 9: Sys.Modify on / for a privileged CT)", []string{"archive identified"},
		func(ctx context.Context, c *Check) (string, error) {
			refused := r.pve9 && !r.sysModify
			if refused {
				c.Expected = fmt.Sprintf("on PVE 9, a restore over the unprivileged guest with unprivileged=0, by a token without Sys.Modify on /, fails in the task before any disk is made: unable to restore CT %d - Permission check failed (/, Sys.Modify); the guest stays, unprivileged and unlocked", r.vmid)
			} else {
				c.Expected = "a restore over the unprivileged guest with unprivileged=0 (PVE 8: VM.Allocate suffices; PVE 9: the token holds Sys.Modify on /) ends OK (features are skipped with a warning) and the guest is privileged"
			}
			if err := r.ensure(ctx, false); err != nil {
				return "", err
			}
			upid, err := r.c.RestoreLXC(ctx, r.vmid, r.a1.VolID, proxmox.RestoreOptions{Storage: r.storage.id, Force: true, Config: map[string]string{"unprivileged": "0"}})
			st, err := r.ended(ctx, upid, err)
			if err != nil {
				return "", err
			}
			conf, err := r.config(ctx)
			if err != nil {
				return "", fmt.Errorf("after the restore ended %q: %w", st.ExitStatus, err)
			}
			priv := conf.Values["unprivileged"] != "1"
			if refused {
				want := fmt.Sprintf("unable to restore CT %d - Permission check failed (/, Sys.Modify)", r.vmid)
				if st.ExitStatus != want || priv || conf.Lock() != "" {
					return "", fmt.Errorf("%s ended %q; the guest: unprivileged=%q lock=%q", upid.Type, st.ExitStatus, conf.Values["unprivileged"], conf.Lock())
				}
				return fmt.Sprintf("%s ended %q; the guest stays unprivileged", upid.Type, st.ExitStatus), nil
			}
			if !succeeded(st.ExitStatus) || !priv {
				return "", fmt.Errorf("%s ended %q; the guest: unprivileged=%q", upid.Type, st.ExitStatus, conf.Values["unprivileged"])
			}
			return fmt.Sprintf("%s ended %s; the guest is privileged", upid.Type, st.ExitStatus), nil
		})
}
