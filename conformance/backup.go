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
	"time"

	"github.com/felhom/felhom-converge/proxmox"
)

// archive is a backup the run made, and its task.
type archive struct {
	proxmox.StorageItem
	upid proxmox.UPID
	exit string   // the task's exit status
	log  []string // the task's log
}

// notes are what the run's backups are annotated with: the run id and,
// once vzdump renders the template, the guest's VMID.
func (r *run) notes() string {
	return "felhom-converge conformance run " + r.rec.Run + ", guest " + strconv.Itoa(r.vmid)
}

// archives lists the guest's backups on the backup storage by volid.
func (r *run) archives(ctx context.Context) (map[string]proxmox.StorageItem, error) {
	items, err := r.c.StorageContent(ctx, r.backups.id, "backup", r.vmid)
	if err != nil {
		return nil, fmt.Errorf("list the backups on %s: %w", r.backups.id, err)
	}
	out := map[string]proxmox.StorageItem{}
	for _, it := range items {
		if int(it.VMID) == r.vmid {
			out[it.VolID] = it
		}
	}
	return out, nil
}

// archiveOfGuest reports whether an archive's name carries the VMID as
// vzdump names it: vzdump-lxc-VMID-... on a directory storage,
// backup/ct/VMID/... on Proxmox Backup Server.
func archiveOfGuest(volid string, vmid int) bool {
	_, name, _ := strings.Cut(volid, ":")
	id := strconv.Itoa(vmid)
	return strings.HasPrefix(name, "backup/vzdump-lxc-"+id+"-") || strings.HasPrefix(name, "backup/ct/"+id+"/")
}

// backup runs one vzdump of the guest to the backup storage with the
// run's notes, never pruning (remove=0, prune-backups=keep-all=1 unless
// form says otherwise), and returns its task and the archives it made:
// the backups of the guest the storage lists that were not there before.
// A backup waits for the next second after the guest's latest archive,
// since archive names have a resolution of one second.
func (r *run) backup(ctx context.Context, form map[string]string, onStart func(proxmox.UPID) error) (archive, []proxmox.StorageItem, error) {
	before, err := r.archives(ctx)
	if err != nil {
		return archive{}, nil, err
	}
	var latest int64
	for _, it := range before {
		latest = max(latest, int64(it.CTime))
	}
	if wait := time.Until(time.Unix(latest+1, 0).Add(20 * time.Millisecond)); wait > 0 && wait < 2*time.Second {
		select {
		case <-ctx.Done():
			return archive{}, nil, ctx.Err()
		case <-time.After(wait):
		}
	}
	f := map[string]string{"vmid": strconv.Itoa(r.vmid), "storage": r.backups.id, "mode": "snapshot", "compress": "zstd",
		"remove": "0", "prune-backups": proxmox.KeepAllBackups, "notes-template": "felhom-converge conformance run " + r.rec.Run + ", guest {{vmid}}"}
	for k, v := range form {
		f[k] = v
	}
	upid, err := r.rawTask(ctx, "POST", "/nodes/"+r.c.Node()+"/vzdump", f)
	if err != nil {
		return archive{}, nil, err
	}
	if onStart != nil {
		if err := onStart(upid); err != nil {
			r.status(ctx, upid) // let it end before the caller goes on
			return archive{}, nil, err
		}
	}
	st, err := r.status(ctx, upid)
	if err != nil {
		return archive{}, nil, err
	}
	a := archive{upid: upid, exit: st.ExitStatus}
	if a.log, err = r.c.TaskLogTail(ctx, upid, 0); err != nil {
		return a, nil, fmt.Errorf("read the log of %s: %w", upid, err)
	}
	after, err := r.archives(ctx)
	if err != nil {
		return a, nil, err
	}
	var made []proxmox.StorageItem
	for volid, it := range after {
		if _, old := before[volid]; !old && archiveOfGuest(volid, r.vmid) && int64(it.CTime) >= upid.StartTime.Unix() {
			made = append(made, it)
			if err := r.rec.addArchive(volid); err != nil {
				return a, made, err
			}
		}
	}
	for volid := range before {
		if _, still := after[volid]; !still {
			return a, made, fmt.Errorf("the backup removed %s", volid)
		}
	}
	if len(made) == 1 {
		a.StorageItem = made[0]
	}
	return a, made, nil
}

// logHas reports whether a line of the log contains s.
func logHas(log []string, s string) bool {
	return slices.ContainsFunc(log, func(l string) bool { return strings.Contains(l, s) })
}

func (r *run) checkBackup(ctx context.Context) {
	r.check(ctx, "backup, keep-all and notes", "pve-manager PVE/VZDump.pm exec_backup_task, generate_notes", []string{r.makeName()},
		func(ctx context.Context, c *Check) (string, error) {
			c.Expected = "a vzdump of the stopped guest with remove=0, prune-backups=keep-all=1 and a notes-template ends OK; its log names the archive it creates and adds the notes"
			conf, err := r.config(ctx)
			if err != nil {
				return "", err
			}
			a, made, err := r.backup(ctx, nil, nil)
			if err != nil {
				return "", err
			}
			r.a1, r.a1Made, r.a1Conf = a, made, conf
			if !succeeded(a.exit) || !logHas(a.log, "INFO: adding notes to backup") ||
				!logHas(a.log, "INFO: creating vzdump archive '") && !logHas(a.log, "INFO: creating Proxmox Backup Server archive '") {
				return "", fmt.Errorf("the vzdump task ended %q; log:\n%s", a.exit, strings.Join(a.log, "\n"))
			}
			return fmt.Sprintf("vzdump ended %s, made %d archive(s)", a.exit, len(made)), nil
		})
}

func (r *run) checkArchiveIdentified(ctx context.Context) {
	r.check(ctx, "archive identified", "pve-storage PVE/Storage/Plugin.pm list_volumes, get_volume_attribute", []string{"backup, keep-all and notes"},
		func(ctx context.Context, c *Check) (string, error) {
			c.Expected = "the backup storage's content lists exactly one new backup of the guest: its volid carries the VMID (vzdump-lxc-N-... or ct/N/...), vmid N, subtype lxc, ctime no earlier than the task's start, a size, the rendered notes, not protected"
			if len(r.a1Made) != 1 {
				return "", fmt.Errorf("%d new backups of the guest: %v", len(r.a1Made), r.a1Made)
			}
			it := r.a1.StorageItem
			if it.Content != "backup" || it.Subtype != "lxc" && it.Subtype != "" || it.Notes != r.notes() || bool(it.Protected) || (it.Size <= 0 && r.backups.typ != "pbs") {
				return "", fmt.Errorf("listed as %+v", it)
			}
			return fmt.Sprintf("%s, ctime %d, %d bytes, notes %q", it.VolID, it.CTime, it.Size, it.Notes), nil
		})
}

func (r *run) checkArchiveConfig(ctx context.Context) {
	r.check(ctx, "archive config", "pve-manager PVE/API2/VZDump.pm extractconfig; pve-container PVE/VZDump/LXC.pm", []string{"archive identified"},
		func(ctx context.Context, c *Check) (string, error) {
			c.Expected = "GET vzdump/extractconfig gives the config file the backup stored: the guest's keys as they were when it ran (the description as '#' lines, not a key)"
			a, err := r.c.Raw(ctx, "GET", "/nodes/"+r.c.Node()+"/vzdump/extractconfig", values(map[string]string{"volume": r.a1.VolID}))
			if err != nil {
				return "", err
			}
			var text string
			if err := json.Unmarshal(a.Data, &text); err != nil {
				return "", fmt.Errorf("extractconfig gave %.200s", a.Data)
			}
			got, err := r.c.ExtractConfig(ctx, r.a1.VolID)
			if err != nil {
				return "", err
			}
			var wrong []string
			for _, k := range []string{"hostname", "memory", "swap", "net0", "rootfs", "unprivileged", "tags"} {
				if got[k] != r.a1Conf.Values[k] {
					wrong = append(wrong, fmt.Sprintf("%s %q (the guest had %q)", k, got[k], r.a1Conf.Values[k]))
				}
			}
			if !strings.HasPrefix(text, "#felhom-converge conformance run ") || strings.Contains(text, "\ndescription:") {
				wrong = append(wrong, fmt.Sprintf("the description is not the file's first comment lines: %.120q", text))
			}
			if len(wrong) > 0 {
				return "", fmt.Errorf("%s", strings.Join(wrong, "; "))
			}
			return fmt.Sprintf("%d keys, as the guest had them", len(got)), nil
		})
}

func (r *run) checkRetentionLimit(ctx context.Context) {
	r.check(ctx, "retention limit refuses", "pve-manager PVE/VZDump.pm exec_backup_task (max backup limit)", []string{"archive identified"},
		func(ctx context.Context, c *Check) (string, error) {
			c.Expected = "a vzdump with remove=0 and prune-backups=keep-last=1, which the guest's backups already reach, fails the backup (There is a max backup limit of 1 enforced by the target storage or the vzdump parameters) and makes no archive"
			a, made, err := r.backup(ctx, map[string]string{"prune-backups": "keep-last=1"}, nil)
			if err != nil {
				return "", err
			}
			r.failed = a
			if succeeded(a.exit) || len(made) > 0 || !logHas(a.log, "There is a max backup limit of 1 enforced by the target storage or the vzdump parameters.") {
				return "", fmt.Errorf("the vzdump task ended %q with %d new archive(s); log:\n%s", a.exit, len(made), strings.Join(a.log, "\n"))
			}
			return fmt.Sprintf("vzdump ended %q, no archive made", a.exit), nil
		})
	r.check(ctx, "failed task shape", "pve-common PVE/RESTEnvironment.pm fork_worker; pve-manager PVE/API2/Tasks.pm", []string{"retention limit refuses"},
		func(ctx context.Context, c *Check) (string, error) {
			c.Expected = "a failed task's exitstatus is its bare error text (no 'TASK ERROR:' prefix), and its log's last line is 'TASK ERROR: ' and that text"
			a := r.failed
			if strings.HasPrefix(a.exit, "TASK ") || len(a.log) == 0 || a.log[len(a.log)-1] != "TASK ERROR: "+a.exit {
				return "", fmt.Errorf("exitstatus %q, last log line %q", a.exit, a.log[len(a.log)-1:])
			}
			return fmt.Sprintf("exitstatus %q, last line %q", a.exit, a.log[len(a.log)-1]), nil
		})
}

func (r *run) checkProtectedBackup(ctx context.Context) {
	r.check(ctx, "protected backup", "pve-manager PVE/VZDump.pm; pve-storage PVE/Storage/Plugin.pm free_image, PVE/API2/Storage/Content.pm updateattributes", []string{"archive identified"},
		func(ctx context.Context, c *Check) (string, error) {
			c.Expected = "a vzdump with protected=1 makes an archive listed as protected; removing it answers an imgdel task that fails naming the protection, and it stays; PUT .../content/VOLID protected=0 unprotects it at once"
			a, made, err := r.backup(ctx, map[string]string{"protected": "1"}, nil)
			if err != nil {
				return "", err
			}
			if !succeeded(a.exit) || len(made) != 1 || !bool(a.Protected) || a.Notes != r.notes() {
				return "", fmt.Errorf("the vzdump task ended %q, made %+v", a.exit, made)
			}
			upid, err := r.c.DeleteVolume(ctx, a.VolID)
			st, err := r.ended(ctx, upid, err)
			if err != nil {
				return "", err
			}
			still, err := r.archives(ctx)
			if err != nil {
				return "", err
			}
			if succeeded(st.ExitStatus) || !strings.Contains(st.ExitStatus, "protected") || still[a.VolID].VolID == "" {
				return "", fmt.Errorf("removing the protected %s: the %s task ended %q; still listed: %v", a.VolID, upid.Type, st.ExitStatus, still[a.VolID].VolID != "")
			}
			sid, _, _ := strings.Cut(a.VolID, ":")
			path := "/nodes/" + r.c.Node() + "/storage/" + sid + "/content/" + url.PathEscape(a.VolID)
			if _, err := r.c.Raw(ctx, "PUT", path, values(map[string]string{"protected": "0"})); err != nil {
				return "", fmt.Errorf("unprotect %s: %w", a.VolID, err)
			}
			if now, err := r.archives(ctx); err != nil || bool(now[a.VolID].Protected) {
				return "", fmt.Errorf("after unprotecting: %+v %v", now[a.VolID], err)
			}
			return fmt.Sprintf("%s protected; its removal failed: %s; unprotected", a.VolID, st.ExitStatus), nil
		})
}

func (r *run) checkPermissionText(ctx context.Context) {
	r.check(ctx, "403 names the privilege", "pve-manager PVE/API2/Backup.pm assert_param_permission_common; pve-access-control RPCEnvironment check", []string{r.makeName()},
		func(ctx context.Context, c *Check) (string, error) {
			c.Expected = "a vzdump with bwlimit by a token without Sys.Modify on /: HTTP 403 Permission check failed (/, Sys.Modify) before any task, naming the privilege and the path"
			if r.sysModify {
				return "", skip("not run: the token holds Sys.Modify on /, so nothing is refused (the service's role does not need it)")
			}
			_, err := r.c.Raw(ctx, "POST", "/nodes/"+r.c.Node()+"/vzdump", values(map[string]string{"vmid": strconv.Itoa(r.vmid),
				"storage": r.backups.id, "bwlimit": "1000", "remove": "0", "prune-backups": proxmox.KeepAllBackups,
				"notes-template": "felhom-converge conformance run " + r.rec.Run + ", guest {{vmid}}"}))
			var apiErr *proxmox.APIError
			if !errors.As(err, &apiErr) || apiErr.Status != 403 || apiErr.Privilege != "Sys.Modify" || apiErr.ACLPath != "/" {
				if err == nil {
					return "", fmt.Errorf("the backup was started")
				}
				return "", fmt.Errorf("answered %v", err)
			}
			return fmt.Sprintf("%d %s", apiErr.Status, apiErr.Message), nil
		})
}
