package apply

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/felhom/felhom-converge/journal"
	"github.com/felhom/felhom-converge/ops"
	"github.com/felhom/felhom-converge/plan"
	"github.com/felhom/felhom-converge/proxmox"
)

// findTask looks for the call's task in the node's task list: its type
// and guest, started by this token, no earlier than the intent (to the
// second, as UPIDs carry it), and not another call's. The earliest such
// task is the call's. A real host may list a task a moment late, so an
// empty list is read again until SettleWindow has passed since the
// search began.
func findTask(ctx context.Context, o *Options, in journal.Intent, typ string) (proxmox.UPID, error) {
	var u proxmox.UPID
	err := untilListed(ctx, o, func() (found bool, err error) {
		u, err = findTaskOnce(ctx, o, in, typ)
		return !u.IsZero(), err
	})
	return u, err
}

// untilListed calls look until it finds what it looks for in the node's
// task list, fails, or Options.SettleWindow has passed since the first
// look (a real host may list a task a moment late); not finding it is
// no error.
func untilListed(ctx context.Context, o *Options, look func() (found bool, err error)) error {
	deadline := o.Now().Add(o.SettleWindow)
	for wait := 100 * time.Millisecond; ; wait = min(2*wait, time.Second) {
		found, err := look()
		if err != nil || found || !o.Now().Before(deadline) {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(min(wait, time.Until(deadline))):
		}
	}
}

func findTaskOnce(ctx context.Context, o *Options, in journal.Intent, typ string) (proxmox.UPID, error) {
	since := in.Time.Truncate(time.Second)
	tasks, err := o.Client.ListTasks(ctx, proxmox.TaskFilter{VMID: in.Guest, TypeFilter: typ, Since: since, Limit: 500})
	if err != nil {
		return proxmox.UPID{}, err
	}
	var cands []proxmox.UPID
	for _, t := range tasks {
		u, err := proxmox.ParseUPID(t.UPID)
		switch {
		case err != nil, u.Type != typ, u.StartTime.Before(since),
			in.Guest != 0 && u.ID != fmt.Sprint(in.Guest),
			o.TokenUser != "" && u.User != o.TokenUser,
			o.Journal.TaskRecorded(u.String()):
			continue
		}
		cands = append(cands, u)
	}
	if len(cands) == 0 {
		return proxmox.UPID{}, nil
	}
	sort.SliceStable(cands, func(i, j int) bool { return cands[i].StartTime.Before(cands[j].StartTime) })
	return cands[0], nil
}

// settleSync compares the live state with a task-less call: did the
// config PUT, the mount or the file write take effect?
func settleSync(ctx context.Context, o *Options, in journal.Intent) journal.Result {
	switch in.Op {
	case ops.SignersRotate:
		p, _ := ops.Decode[ops.SignersRotateParams](in.Op, in.Params)
		if got, err := fileSHA256(o.AllowedSignersPath); err == nil && p.SHA256 != "" && strings.EqualFold(got, p.SHA256) {
			return journal.Result{Status: journal.StatusOK, Error: "the trust root holds the new signers"}
		}
		return aborted(in, "the trust root was not replaced")
	case ops.StorageMount:
		return aborted(in, "not known whether the mount happened; the next plan looks again")
	case ops.BackupPrune:
		return settleArchiveDelete(ctx, o, in)
	case ops.GuestCreate: // a golden image's container, made by pct as root
		_, err := o.Client.GuestStatus(ctx, in.Guest)
		switch {
		case err == nil:
			return journal.Result{Status: journal.StatusFailed, Error: fmt.Sprintf(
				"guest %d exists, but whether the root create made it cannot be told; the golden image is not built, and the plan refuses the vmid until that guest is removed", in.Guest)}
		case proxmox.IsNotFound(err):
			return aborted(in, fmt.Sprintf("guest %d was not created", in.Guest))
		}
		return journal.Result{Error: "cannot read the guest: " + err.Error()}
	}
	return settleConfig(ctx, o, in, nil)
}

// settleConfig compares the live config with what a config PUT wrote.
// answer is the PUT's error answer (nil after a crash): Proxmox may have
// written part of it before it failed (the interface hotplug writes as it
// goes, and leaves an interface it could not plug pending), so the
// result names what is active, what only waits for the next start, and
// what is missing.
func settleConfig(ctx context.Context, o *Options, in journal.Intent, answer error) journal.Result {
	set, del, err := configChange(in)
	if err != nil {
		return aborted(in, err.Error())
	}
	entries, err := o.Client.GuestPending(ctx, in.Guest)
	if proxmox.IsNotFound(err) {
		return aborted(in, fmt.Sprintf("guest %d no longer exists", in.Guest))
	}
	if err != nil {
		return journal.Result{Error: "cannot read the guest's config: " + err.Error()}
	}
	current, effective, _ := plan.Configs(entries)
	if in.Op == ops.VolumeFree {
		return settleVolumeFree(in, current, effective)
	}
	var written, pending, missing []string
	for _, k := range del {
		_, cur := current[k]
		_, eff := effective[k]
		switch {
		case !cur && !eff:
			written = append(written, k+" (deleted)")
		case !eff:
			pending = append(pending, k+" (deleted)")
		default:
			missing = append(missing, k+" (still set)")
		}
	}
	for _, k := range slices.Sorted(maps.Keys(set)) {
		switch {
		case sameValue(k, set[k], current[k]):
			written = append(written, k)
		case sameValue(k, set[k], effective[k]):
			pending = append(pending, k)
		default:
			missing = append(missing, k)
		}
	}
	if answer == nil { // a crash: a value waiting for the next start was written as asked
		written, pending = append(written, pending...), nil
	}
	switch {
	case len(missing) == 0 && len(pending) == 0:
		return journal.Result{Status: journal.StatusOK, Error: "the config write took effect"}
	case len(written) == 0 && len(pending) == 0:
		return aborted(in, fmt.Sprintf("the config write did not take effect (%s); the next plan looks again", strings.Join(missing, ", ")))
	}
	var parts []string
	for _, p := range []struct {
		what string
		keys []string
	}{{"written", written}, {"left pending until the next start", pending}, {"not written", missing}} {
		if len(p.keys) > 0 {
			parts = append(parts, p.what+" "+strings.Join(p.keys, ", "))
		}
	}
	return journal.Result{Status: journal.StatusFailed, Error: "the config write took effect in part: " + strings.Join(parts, "; ") + "; the next plan looks again"}
}

// settleArchiveDelete settles one archive deletion of a prune or of
// housekeeping by whether the archive is still there and, when it is
// gone, whether a deletion task of this token took it: one that someone
// else deleted (the host's own retention, say) is not recorded as done by
// the tool.
func settleArchiveDelete(ctx context.Context, o *Options, in journal.Intent) journal.Result {
	p, _ := ops.DecodeStrict[ops.ArchiveDeleteParams](in.Params)
	_, found, err := lookupArchive(ctx, o.Client, p.Archive)
	switch {
	case err != nil:
		return journal.Result{Error: "cannot read the storage: " + err.Error()}
	case found:
		running, err := runningDeletion(ctx, o, in, p.Archive)
		switch {
		case err != nil:
			return journal.Result{Error: "cannot read the node's task list: " + err.Error()} // settled by the next recovery
		case running.IsZero():
			return aborted(in, p.Archive+" is still there")
		}
		// The deletion may yet take effect: wait for the task, then look
		// at the storage again.
		fmt.Fprintf(o.Out, "recover: %s (%s): task %s still running; waiting\n", in.Call, in.Op, running)
		if r, werr := waitOutcome(ctx, o, running, ""); r.Status == "" {
			return journal.Result{Error: werr.Error()}
		}
		if _, found, err = lookupArchive(ctx, o.Client, p.Archive); err != nil {
			return journal.Result{Error: "cannot read the storage: " + err.Error()}
		} else if found {
			return aborted(in, p.Archive+" is still there")
		}
	}
	ours, err := deletedByUs(ctx, o, in, p.Archive)
	switch {
	case err != nil:
		return journal.Result{Error: "cannot read the node's task list: " + err.Error()}
	case !ours:
		return aborted(in, p.Archive+" is gone, but no deletion task of this tool took it: someone else removed it")
	}
	return journal.Result{Status: journal.StatusOK, Error: p.Archive + " was deleted"}
}

// settleVolumeFree settles a volume.free by its volume, not its slot: the
// write took effect when the guest's config (current or pending) no
// longer names the volume anywhere; a volume still named (in its unusedN,
// or attached again as a mount point) was not freed, whatever the slot
// holds now.
func settleVolumeFree(in journal.Intent, current, effective map[string]string) journal.Result {
	p, err := ops.Decode[ops.VolumeFreeParams](in.Op, in.Params)
	if err != nil || p.Volume == "" {
		return aborted(in, "the call names no volume; the next plan looks again")
	}
	for _, conf := range []map[string]string{current, effective} {
		for _, k := range slices.Sorted(maps.Keys(conf)) {
			if m, err := plan.ParseMount(k, conf[k]); err == nil && plan.VolumeKey(k) && m.Volume == p.Volume {
				return aborted(in, fmt.Sprintf("%s is still in guest %d's config (%s): not freed; the next plan looks again", p.Volume, in.Guest, k))
			}
		}
	}
	return journal.Result{Status: journal.StatusOK, Error: p.Volume + " is no longer in the guest's config: freed"}
}

// configChange is what a config PUT call set and deleted.
func configChange(in journal.Intent) (map[string]string, []string, error) {
	switch in.Op {
	case ops.GuestSet:
		p, err := ops.Decode[ops.GuestSetParams](in.Op, in.Params)
		return p.Set, p.Delete, err
	case ops.MountAdd:
		// A new volume (STORAGE:SIZE) is allocated and renamed: only the
		// slot's mount path can be compared.
		p, err := ops.Decode[ops.MountAddParams](in.Op, in.Params)
		return map[string]string{p.Slot: p.Value}, nil, err
	case ops.MountDetach:
		p, err := ops.Decode[ops.MountDetachParams](in.Op, in.Params)
		return nil, []string{p.Slot}, err
	case ops.VolumeFree:
		p, err := ops.Decode[ops.VolumeFreeParams](in.Op, in.Params)
		if err == nil && p.Slot == "" {
			err = fmt.Errorf("the call names no slot; the next plan looks again")
		}
		return nil, []string{p.Slot}, err
	}
	return nil, nil, fmt.Errorf("op %s has no recovery by live state", in.Op)
}

// sameValue compares a value the tool wrote with what Proxmox reads back,
// allowing for Proxmox's normalisation (descriptions gain a newline, tags
// are sorted, a new mount point's volume is allocated and renamed,
// property strings are re-ordered).
func sameValue(key, want, got string) bool {
	if want == got || want+"\n" == got {
		return true
	}
	if got == "" {
		return false
	}
	if key == "tags" {
		return normTags(want) == normTags(got)
	}
	if strings.HasPrefix(key, "mp") || strings.HasPrefix(key, "net") {
		wp, err1 := proxmox.ParsePropertyString(want, "volume")
		gp, err2 := proxmox.ParsePropertyString(got, "volume")
		if err1 != nil || err2 != nil {
			return false
		}
		for k, v := range wp {
			if k != "volume" && k != "size" && gp[k] != v {
				return false
			}
		}
		return true
	}
	return false
}

func normTags(s string) string {
	f := strings.FieldsFunc(strings.ToLower(s), func(r rune) bool { return r == ';' || r == ',' || r == ' ' })
	sort.Strings(f)
	return strings.Join(f, ";")
}

// runningDeletion returns a deletion task of this token for archive
// (deletionTasks) that still runs (zero: none): the deletion may yet take
// effect.
func runningDeletion(ctx context.Context, o *Options, in journal.Intent, archive string) (proxmox.UPID, error) {
	tasks, err := deletionTasks(ctx, o, in, archive)
	for _, t := range tasks {
		if t.Running() {
			return proxmox.ParseUPID(t.UPID)
		}
	}
	return proxmox.UPID{}, err
}

// deletedByUs reports whether a deletion task of this token for archive
// (deletionTasks) ended OK, reading the task list again until
// Options.SettleWindow has passed, as a real host may list a task late.
func deletedByUs(ctx context.Context, o *Options, in journal.Intent, archive string) (ours bool, err error) {
	err = untilListed(ctx, o, func() (bool, error) {
		tasks, err := deletionTasks(ctx, o, in, archive)
		for _, t := range tasks {
			if !t.Running() && t.Status == "OK" {
				ours = true
			}
		}
		return ours, err
	})
	return ours, err
}

// deletionTasks lists the imgdel tasks this token started no earlier than
// the intent for archive's guest on its storage (Proxmox names them
// "VMID@STORAGE"), not recorded as another call's.
func deletionTasks(ctx context.Context, o *Options, in journal.Intent, archive string) ([]proxmox.Task, error) {
	tasks, err := o.Client.ListTasks(ctx, proxmox.TaskFilter{TypeFilter: "imgdel", Since: in.Time.Truncate(time.Second), Limit: 500})
	if err != nil {
		return nil, err
	}
	id := storageOf(archive)
	if v := archiveOwner(archive); v != 0 {
		id = strconv.Itoa(v) + "@" + id
	}
	var out []proxmox.Task
	for _, t := range tasks {
		u, err := proxmox.ParseUPID(t.UPID)
		if err != nil || u.ID != id || (o.TokenUser != "" && u.User != o.TokenUser) || o.Journal.TaskRecorded(u.String()) {
			continue
		}
		out = append(out, t)
	}
	return out, nil
}
