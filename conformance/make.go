package conformance

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/felhom/felhom-converge/proxmox"
)

func (r *run) checkMissingGuest(ctx context.Context) {
	r.check(ctx, "missing guest", "pve-guest-common AbstractConfig load_config", nil, func(ctx context.Context, c *Check) (string, error) {
		want := fmt.Sprintf("Configuration file 'nodes/%s/lxc/%d.conf' does not exist", r.c.Node(), r.vmid)
		c.Expected = "reading a guest that does not exist: HTTP 500 " + want + " (never 404)"
		var apiErr *proxmox.APIError
		if !errors.As(r.missing, &apiErr) || apiErr.Status != 500 || apiErr.Message != want {
			return "", fmt.Errorf("%v", r.missing)
		}
		return fmt.Sprintf("%d %s", apiErr.Status, apiErr.Message), nil
	})
}

// guestKeys are what the run gives the guest it makes.
func (r *run) guestKeys() map[string]string {
	return map[string]string{"hostname": fmt.Sprintf("felhom-conformance-%d", r.vmid), "unprivileged": "1",
		"tags": "felhom-conformance", "description": r.marker}
}

// checkMake makes the guest: from a template, or by restoring the source
// archive with every interface down.
func (r *run) checkMake(ctx context.Context) bool {
	name, source := "create from template", "pve-container src/PVE/API2/LXC.pm create_vm, src/PVE/LXC/Create.pm"
	if r.source.archive {
		name = "restore from archive"
	}
	return r.check(ctx, name, source, nil, func(ctx context.Context, c *Check) (string, error) {
		keys := r.guestKeys()
		var upid proxmox.UPID
		var err error
		if r.source.archive {
			c.Expected = fmt.Sprintf("a restore of %s (storage-only: volumes at their sizes on %s) answers a vzrestore task that ends OK; the CT is stopped, unprivileged as asked, with the given hostname and every interface on %s with link_down=1",
				r.source.volid, r.storage.id, r.bridge)
			archived, aerr := r.c.ExtractConfig(ctx, r.source.volid)
			if aerr != nil {
				return "", fmt.Errorf("read the archive's config: %w", aerr)
			}
			for k, v := range archived {
				if strings.HasPrefix(k, "net") {
					keys[k] = "name=" + prop(v, "")["name"] + ",bridge=" + r.bridge + ",link_down=1"
				}
			}
			upid, err = r.c.RestoreLXC(ctx, r.vmid, r.source.volid, proxmox.RestoreOptions{Storage: r.storage.id, Config: keys})
		} else {
			c.Expected = fmt.Sprintf("a create from %s answers a vzcreate task that ends OK (or WARNINGS: 1 on PVE 9 for a systemd template without nesting); the CT is stopped, unprivileged, with the given hostname, net0 on %s with link_down=1 and rootfs a new 2G volume on %s",
				r.source.volid, r.bridge, r.storage.id)
			keys["net0"] = "name=eth0,bridge=" + r.bridge + ",link_down=1"
			keys["rootfs"] = r.storage.id + ":2"
			keys["memory"], keys["swap"], keys["cores"] = "256", "0", "1"
			upid, err = r.c.CreateLXC(ctx, r.vmid, r.source.volid, proxmox.CreateOptions{Storage: r.storage.id, Config: keys})
		}
		if err != nil {
			return "", err
		}
		r.made = upid
		st, v, err := r.after(ctx, upid, nil)
		if err != nil {
			return "", err
		}
		conf, run := v.conf, v.running
		var wrong []string
		for _, k := range []string{"hostname", "unprivileged", "tags"} {
			if conf.Values[k] != keys[k] {
				wrong = append(wrong, fmt.Sprintf("%s=%q", k, conf.Values[k]))
			}
		}
		for slot, v := range conf.Nets() {
			if p := prop(v, ""); p["link_down"] != "1" || p["bridge"] != r.bridge {
				wrong = append(wrong, fmt.Sprintf("net%d=%q", slot, v))
			}
		}
		root := prop(conf.RootFS(), "volume")
		if !strings.HasPrefix(root["volume"], r.storage.id+":") || (!r.source.archive && root["size"] != "2G") {
			wrong = append(wrong, fmt.Sprintf("rootfs=%q", conf.RootFS()))
		}
		if run {
			wrong = append(wrong, "running")
		}
		if len(wrong) > 0 {
			return "", fmt.Errorf("the %s task ended %s, but the CT has %s", upid.Type, st.ExitStatus, strings.Join(wrong, ", "))
		}
		return fmt.Sprintf("%s ended %s; CT %d is stopped, unprivileged, rootfs %s", upid.Type, st.ExitStatus, r.vmid, conf.RootFS()), nil
	})
}

func (r *run) checkTaskShapes(ctx context.Context) {
	r.check(ctx, "task shapes", "pve-manager PVE/API2/Tasks.pm; pve-common PVE/Tools.pm dump_logfile, upid_encode", []string{r.makeName()},
		func(ctx context.Context, c *Check) (string, error) {
			c.Expected = "the task's status has its upid, node, type, id (a string), the token's user and tokenid apart, status stopped and exitstatus OK or WARNINGS: N; " +
				"the task list has it with an endtime and its exit status as status; its log numbers lines from 1, gives their total, and ends TASK OK (or TASK WARNINGS: N)"
			u := r.made
			st, err := r.c.TaskStatusOnce(ctx, u)
			if err != nil {
				return "", err
			}
			user, token, _ := strings.Cut(u.User, "!")
			var wrong []string
			if st.UPID != u.String() || st.Node != u.Node || st.Type != u.Type || st.ID != strconv.Itoa(r.vmid) || st.Status != "stopped" {
				wrong = append(wrong, fmt.Sprintf("status %+v", st))
			}
			if st.User != user || st.TokenID != token {
				wrong = append(wrong, fmt.Sprintf("user %q tokenid %q for %s", st.User, st.TokenID, u.User))
			}
			list, err := r.c.ListTasks(ctx, proxmox.TaskFilter{VMID: r.vmid, TypeFilter: u.Type, Since: u.StartTime})
			if err != nil {
				return "", err
			}
			i := slices.IndexFunc(list, func(t proxmox.Task) bool { return t.UPID == u.String() })
			switch {
			case i < 0:
				wrong = append(wrong, "the task list lacks it")
			case int64(list[i].EndTime) < u.StartTime.Unix() || list[i].Status != st.ExitStatus:
				wrong = append(wrong, fmt.Sprintf("listed with endtime %d and status %q", list[i].EndTime, list[i].Status))
			}
			first, err := r.c.Raw(ctx, "GET", "/nodes/"+u.Node+"/tasks/"+url.PathEscape(u.String())+"/log", values(map[string]string{"start": "0", "limit": "1"}))
			if err != nil {
				return "", err
			}
			var lines []struct {
				N proxmox.Int `json:"n"`
				T string      `json:"t"`
			}
			if err := json.Unmarshal(first.Data, &lines); err != nil || len(lines) != 1 || lines[0].N != 1 || first.Total == nil || *first.Total < 2 {
				wrong = append(wrong, fmt.Sprintf("log start=0 limit=1 gave %s (total %v)", first.Data, first.Total))
			}
			last, err := r.c.TaskLogTail(ctx, u, 1)
			if err != nil {
				return "", err
			}
			if wantLast := "TASK " + st.ExitStatus; len(last) != 1 || last[0] != wantLast {
				wrong = append(wrong, fmt.Sprintf("last log line %q, not %q", last, wantLast))
			}
			if len(wrong) > 0 {
				return "", fmt.Errorf("%s", strings.Join(wrong, "; "))
			}
			return fmt.Sprintf("%s: status, list entry and log (%d lines, ends %q) as expected", u.Type, *first.Total, last[0]), nil
		})
}

func (r *run) checkUnknownTaskLog(ctx context.Context) {
	r.check(ctx, "unknown task log", "pve-common PVE/Tools.pm dump_logfile (a list since pve-common 9.0.6)", []string{r.makeName()},
		func(ctx context.Context, c *Check) (string, error) {
			shape := "one object"
			if r.pve9 {
				shape = "a list of one line"
			}
			c.Expected = "the log of a task the node does not know: " + shape + ` {"n":1,"t":"unable to open file - ..."}, total 1`
			u := r.made
			u.PID ^= 0x5a5a5 // no such worker
			a, err := r.c.Raw(ctx, "GET", "/nodes/"+u.Node+"/tasks/"+url.PathEscape(u.String())+"/log", nil)
			if err != nil {
				return "", err
			}
			type line struct {
				N proxmox.Int `json:"n"`
				T string      `json:"t"`
			}
			var one line
			var list []line
			isList := json.Unmarshal(a.Data, &list) == nil
			if isList && len(list) == 1 {
				one = list[0]
			} else if !isList {
				json.Unmarshal(a.Data, &one)
			}
			if isList != r.pve9 || one.N != 1 || !strings.HasPrefix(one.T, "unable to open file - ") || a.Total == nil || *a.Total != 1 {
				return "", fmt.Errorf("%s (total %v)", a.Data, a.Total)
			}
			return fmt.Sprintf("%s: %s", shape, a.Data), nil
		})
}

// makeName is the name of the check that made the guest.
func (r *run) makeName() string {
	if r.source.archive {
		return "restore from archive"
	}
	return "create from template"
}
