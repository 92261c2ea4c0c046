package apply

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/felhom/felhom-converge/ops"
	"github.com/felhom/felhom-converge/proxmox"
)

// Recovered is what recovery decided for one call left in flight.
type Recovered struct {
	Txn, Call, Op string
	Guest         int
	UPID          string
	Result        string // ok, failed, rolled_back, aborted; "" when still unknown
	Message       string
}

// Recover settles every call a crashed run left in flight, before
// anything else mutates the host, and closes the crashed transactions:
//
//   - UPID recorded: the task's status; a running task is waited for.
//   - No UPID (a crash between the POST and its record): the task is
//     looked for in the node's task list (type, guest, this token's user,
//     started no earlier than the intent) and then followed as above.
//   - No task: a task-less call (a config PUT, a mount, a file write) is
//     compared with the live state; otherwise the POST never took
//     effect and the call is aborted.
//
// Nothing is ever re-posted: a benign step that did not happen is planned
// again by the next plan, and an aborted destructive step needs a fresh
// signature (its nonce is spent). A failed call whose transaction created
// the guest is rolled back (the guest destroyed: benign by provenance).
// Every decision goes to the journal and the audit log, and to Out.
func Recover(ctx context.Context, o Options) ([]Recovered, error) {
	if err := o.check(); err != nil {
		return nil, err
	}
	var out []Recovered
	for _, in := range o.Journal.InFlight() {
		rec := Recovered{Txn: in.Txn, Call: in.Call, Op: in.Op, Guest: in.Guest}
		t, upid := settle(ctx, &o, in)
		rec.UPID = upidText(upid)
		if t.Result == "" {
			rec.Message = t.Message
			out = append(out, rec)
			fmt.Fprintf(o.Out, "recover: %s (%s): still unknown: %s\n", in.Call, in.Op, t.Message)
			continue
		}
		if t.Result == ResultOK {
			if err := recordMade(ctx, &o, in.Intent, upid); err != nil {
				return out, fmt.Errorf("recover: journal: %w", err)
			}
		}
		t.Time = o.Now().UTC()
		if err := o.Journal.Finish(in.Txn, in.Call, t); err != nil {
			return out, fmt.Errorf("recover: journal: %w", err)
		}
		rec.Result, rec.Message = t.Result, t.Message
		entry := AuditEntry{Host: o.Host, Txn: in.Txn, Step: in.Call, Op: in.Op, Guest: guestPtr(in.Guest), Class: in.Class,
			Decision: "recovered", Nonce: in.Nonce, UPID: rec.UPID, Result: t.Result, Reason: t.Message}
		if err := o.Audit.Write(entry); err != nil {
			fmt.Fprintf(o.Out, "warning: %v\n", err)
		}
		fmt.Fprintf(o.Out, "recover: %s (%s): %s: %s\n", in.Call, in.Op, t.Result, t.Message)
		out = append(out, rec)
		if t.Result == ResultFailed && in.Guest != 0 && in.Provenance != ProvenanceRollback {
			if txn, ok := o.Journal.CreatedInTxn(in.Guest); ok && txn == in.Txn {
				msg, err := rollbackGuest(ctx, &o, in.Txn, in.Action()+"#rollback", in.Guest)
				if err != nil {
					fmt.Fprintf(o.Out, "recover: rollback of guest %d failed: %v\n", in.Guest, err)
				} else if msg != "" {
					fmt.Fprintf(o.Out, "recover: %s\n", msg)
				}
			}
		}
	}
	for _, txn := range o.Journal.OpenTxns() {
		still := false
		for _, in := range o.Journal.InFlight() {
			still = still || in.Txn == txn
		}
		if still {
			continue // a task still unknown: the next recovery settles it
		}
		if err := o.Journal.End(txn, "aborted"); err != nil {
			return out, fmt.Errorf("recover: journal: %w", err)
		}
		fmt.Fprintf(o.Out, "recover: closed transaction %s, left open by a run that crashed or was interrupted\n", txn)
	}
	return out, nil
}

// settle finds out how a call ended. An empty Result means it cannot be
// known yet (the task still runs past the wait, or Proxmox does not
// answer); the call then stays in flight.
func settle(ctx context.Context, o *Options, in InFlight) (Terminal, proxmox.UPID) {
	typ := callTaskType(in.Intent)
	if typ == "" && (in.UPID.IsZero() || !isArchiveDelete(in.Intent)) {
		return settleSync(ctx, o, in.Intent), proxmox.UPID{}
	}
	upid := in.UPID
	if upid.IsZero() {
		found, err := findTask(ctx, o, in.Intent, typ)
		if err != nil {
			return Terminal{Message: "cannot read the node's task list: " + err.Error()}, upid
		}
		if found.IsZero() {
			msg := "no task was started: the POST never took effect"
			if in.Class == string(ops.Destructive) {
				msg += "; a fresh signature is needed to run it"
			}
			return Terminal{Result: ResultAborted, Message: msg}, upid
		}
		upid = found
		if err := o.Journal.TaskStarted(in.Txn, in.Call, upid); err != nil {
			return Terminal{Message: "journal: " + err.Error()}, upid
		}
	}
	st, err := o.Client.TaskStatusOnce(ctx, upid)
	var api *proxmox.APIError
	if errors.As(err, &api) && api.Status >= 400 && api.Status < 500 && api.Status != 401 && api.Status != 403 {
		// Proxmox answered that it does not know the task (its task
		// index was lost, say): what it did cannot be learnt from it.
		// Nothing is posted again; the next plan looks at the host.
		msg := fmt.Sprintf("Proxmox does not know task %s (%v); the next plan looks at the host again", upid, err)
		if in.Class == string(ops.Destructive) {
			msg += "; a fresh signature is needed to run it"
		}
		return Terminal{Result: ResultAborted, Message: msg}, upid
	}
	if err != nil {
		return Terminal{Message: fmt.Sprintf("cannot read task %s: %v", upid, err)}, upid
	}
	if st.Running() {
		fmt.Fprintf(o.Out, "recover: %s (%s): task %s still running; waiting\n", in.Call, in.Op, upid)
	}
	t, werr := waitOutcome(ctx, o, upid, nil)
	if t.Result == "" {
		return Terminal{Message: werr.Error()}, upid
	}
	if t.Message == "" {
		t.Message = fmt.Sprintf("task %s finished %s", upid, t.ExitStatus)
	}
	return t, upid
}

// findTask looks for the call's task in the node's task list: its type
// and guest, started by this token, no earlier than the intent (to the
// second, as UPIDs carry it). The earliest such task is the call's.
func findTask(ctx context.Context, o *Options, in Intent, typ string) (proxmox.UPID, error) {
	since := in.Time.Truncate(time.Second)
	tasks, err := o.Client.ListTasks(ctx, proxmox.TaskFilter{VMID: in.Guest, TypeFilter: typ, Since: since, Limit: 500})
	if err != nil {
		return proxmox.UPID{}, err
	}
	var cands []proxmox.UPID
	for _, t := range tasks {
		u, err := proxmox.ParseUPID(t.UPID)
		if err != nil || u.Type != typ || u.StartTime.Before(since) {
			continue
		}
		if in.Guest != 0 && u.ID != fmt.Sprint(in.Guest) {
			continue
		}
		if o.TokenUser != "" && u.User != o.TokenUser {
			continue
		}
		if o.Journal.TaskRecorded(u) {
			continue // another call's task
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
func settleSync(ctx context.Context, o *Options, in Intent) Terminal {
	switch in.Op {
	case ops.SignersRotate:
		var p struct{ SHA256 string }
		json.Unmarshal(in.Params, &p)
		if got, err := fileSHA256(o.AllowedSignersPath); err == nil && strings.EqualFold(got, p.SHA256) {
			return Terminal{Result: ResultOK, Message: "the trust root holds the new signers"}
		}
		return Terminal{Result: ResultAborted, Message: "the trust root was not replaced; a fresh signature is needed"}
	case ops.StorageMount:
		return Terminal{Result: ResultAborted, Message: "not known whether the mount happened; the next plan looks again"}
	case ops.BackupPrune:
		var p struct{ Archive string }
		json.Unmarshal(in.Params, &p)
		_, found, err := findArchive(ctx, o.Client, p.Archive)
		switch {
		case err != nil:
			return Terminal{Message: "cannot read the storage: " + err.Error()}
		case found && deletionRunning(ctx, o, in):
			return Terminal{Message: "an imgdel task of this token is still running"} // settled by the next recovery
		case found:
			return Terminal{Result: ResultAborted, Message: p.Archive + " is still there; a fresh signature is needed to delete it"}
		}
		return Terminal{Result: ResultOK, Message: p.Archive + " was deleted"}
	}
	set, del, err := configChange(in)
	if err != nil {
		return Terminal{Result: ResultAborted, Message: err.Error()}
	}
	cfg, err := o.Client.GuestConfig(ctx, in.Guest)
	if proxmox.IsNotFound(err) {
		return Terminal{Result: ResultAborted, Message: fmt.Sprintf("guest %d no longer exists", in.Guest)}
	}
	if err != nil {
		return Terminal{Message: "cannot read the guest's config: " + err.Error()}
	}
	for _, k := range del {
		if _, ok := cfg.Values[k]; ok {
			return Terminal{Result: ResultAborted, Message: fmt.Sprintf("the config write did not take effect (%s is still set); the next plan looks again", k)}
		}
	}
	for _, k := range sortedKeys(set) {
		if !sameValue(k, set[k], cfg.Values[k]) {
			return Terminal{Result: ResultAborted, Message: fmt.Sprintf("the config write did not take effect (%s differs); the next plan looks again", k)}
		}
	}
	return Terminal{Result: ResultOK, Message: "the config write took effect"}
}

// configChange is what a config PUT call set and deleted.
func configChange(in Intent) (map[string]string, []string, error) {
	switch in.Op {
	case ops.GuestSet:
		var p struct {
			Set    map[string]any
			Delete []string
		}
		if err := json.Unmarshal(in.Params, &p); err != nil {
			return nil, nil, err
		}
		set, err := stringMap(p.Set)
		return set, p.Delete, err
	case ops.MountAdd:
		var p struct{ Slot, Value string }
		if err := json.Unmarshal(in.Params, &p); err != nil {
			return nil, nil, err
		}
		// A new volume (STORAGE:SIZE) is allocated and renamed: only the
		// slot's mount path can be compared.
		return map[string]string{p.Slot: p.Value}, nil, nil
	case ops.MountDetach, ops.VolumeFree:
		var p struct{ Slot string }
		if err := json.Unmarshal(in.Params, &p); err != nil {
			return nil, nil, err
		}
		if p.Slot == "" {
			return nil, nil, errors.New("the call names no slot; the next plan looks again")
		}
		return nil, []string{p.Slot}, nil
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
			if k == "volume" || k == "size" {
				continue
			}
			if gp[k] != v {
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

// deletionRunning reports whether an imgdel task of this token, started no
// earlier than the intent, still runs: the deletion may yet take effect.
func deletionRunning(ctx context.Context, o *Options, in Intent) bool {
	tasks, err := o.Client.ListTasks(ctx, proxmox.TaskFilter{TypeFilter: "imgdel", Since: in.Time.Truncate(time.Second), Limit: 500})
	if err != nil {
		return true // cannot tell: keep it in flight
	}
	for _, t := range tasks {
		u, err := proxmox.ParseUPID(t.UPID)
		if err == nil && t.Running() && (o.TokenUser == "" || u.User == o.TokenUser) {
			return true
		}
	}
	return false
}
