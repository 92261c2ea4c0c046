package apply

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/felhom/felhom-converge/atomicfile"
	"github.com/felhom/felhom-converge/ops"
	"github.com/felhom/felhom-converge/plan"
	"github.com/felhom/felhom-converge/proxmox"
)

// call is one API call of a step, journaled on its own.
type call struct {
	suffix      string // "" for the step's main call, else "#safety", "#stop", ...
	op          string
	params      json.RawMessage
	task        string // the task type a POST starts; "" for a synchronous call
	destructive bool
	provenance  string
	post        func(ctx context.Context) (proxmox.UPID, error) // async calls
	do          func(ctx context.Context) error                 // synchronous calls
}

// errInterrupted is a call whose outcome is not known yet (the wait was
// cut short): it stays in flight for recovery.
var errInterrupted = errors.New("interrupted")

// invoke makes one call under the journal: intent (durable) → call →
// UPID (durable) → wait → terminal record. ok is the result recorded on
// success (ok, or rolled_back for a rollback). A call whose outcome is
// unknown (the POST may have reached Proxmox; the wait was cut short) is
// left in flight, and settled here at once when possible.
func invoke(ctx context.Context, o *Options, in Intent, c call, ok string) (proxmox.UPID, error) {
	hook := func(point string) {
		if o.Hook != nil {
			o.Hook(point, in.Op)
		}
	}
	if err := o.Journal.Intent(in); err != nil {
		return proxmox.UPID{}, journalError{err}
	}
	hook("intent")
	finish := func(t Terminal) error {
		t.Time = o.Now().UTC()
		if err := o.Journal.Finish(in.Txn, in.Call, t); err != nil {
			return journalError{err}
		}
		hook("terminal")
		return nil
	}
	if c.post == nil {
		err := c.do(ctx)
		var api *proxmox.APIError
		if err != nil && in.Guest != 0 && !errors.As(err, &api) && isConfigWrite(in.Op) {
			// The PUT may have reached Proxmox: look at the live config.
			t := settleSync(ctx, o, in)
			if t.Result == "" {
				return proxmox.UPID{}, fmt.Errorf("%w (%v); 'felhom-converge recover' settles it", errInterrupted, err)
			}
			if ferr := finish(t); ferr != nil {
				return proxmox.UPID{}, ferr
			}
			if t.Result == ResultOK {
				return proxmox.UPID{}, nil
			}
			return proxmox.UPID{}, fmt.Errorf("%v (%s: %s)", err, t.Result, t.Message)
		}
		if err != nil {
			if ferr := finish(Terminal{Result: ResultFailed, Message: err.Error()}); ferr != nil {
				return proxmox.UPID{}, ferr
			}
			return proxmox.UPID{}, err
		}
		return proxmox.UPID{}, finish(Terminal{Result: ok})
	}
	upid, err := c.post(ctx)
	if err != nil {
		var api *proxmox.APIError
		if !errors.As(err, &api) {
			// The request may have reached Proxmox: settle it as
			// recovery would (find its task, or see that it never ran).
			t, upid := settle(ctx, o, InFlight{Intent: in})
			if t.Result == "" {
				return upid, fmt.Errorf("%w (%v); 'felhom-converge recover' settles it", errInterrupted, err)
			}
			succeeded, ferr := conclude(ctx, o, in, upid, t, ok, finish)
			if ferr != nil {
				return upid, ferr
			}
			if succeeded {
				return upid, nil
			}
			return upid, fmt.Errorf("%v (%s: %s)", err, t.Result, t.Message)
		}
		if ferr := finish(Terminal{Result: ResultFailed, Message: err.Error()}); ferr != nil {
			return proxmox.UPID{}, ferr
		}
		return proxmox.UPID{}, err
	}
	if err := o.Journal.TaskStarted(in.Txn, in.Call, upid); err != nil {
		return upid, journalError{err}
	}
	hook("upid")
	t, werr := waitOutcome(ctx, o, upid, hook)
	if t.Result == "" {
		return upid, fmt.Errorf("%w: %v; 'felhom-converge recover' settles it", errInterrupted, werr)
	}
	if _, err := conclude(ctx, o, in, upid, t, ok, finish); err != nil {
		return upid, err
	}
	return upid, werr
}

// conclude records how a call whose task ended came out: what it made,
// when it succeeded, then its terminal record (ok for a success). It
// reports whether the call succeeded.
func conclude(ctx context.Context, o *Options, in Intent, upid proxmox.UPID, t Terminal, ok string, finish func(Terminal) error) (bool, error) {
	if t.Result != ResultOK {
		return false, finish(t)
	}
	if err := recordMade(ctx, o, in, upid); err != nil {
		return false, journalError{err}
	}
	t.Result = ok
	return true, finish(t)
}

// waitOutcome waits for a task and turns its end into a terminal record;
// an empty Result means the outcome is not known.
func waitOutcome(ctx context.Context, o *Options, upid proxmox.UPID, hook func(string)) (Terminal, error) {
	w := o.Wait
	once := false
	prev := w.Progress
	w.Progress = func(s proxmox.TaskStatus) {
		if prev != nil {
			prev(s)
		}
		if s.Running() && !once && hook != nil {
			once = true
			hook("wait")
		}
	}
	err := o.Client.WaitTask(ctx, upid, w)
	var te *proxmox.TaskError
	switch {
	case err == nil:
		return Terminal{Result: ResultOK, ExitStatus: "OK"}, nil
	case proxmox.IsTaskWarnings(err):
		return Terminal{Result: ResultOK, ExitStatus: "WARNINGS", Message: err.Error()}, nil
	case errors.As(err, &te):
		return Terminal{Result: ResultFailed, ExitStatus: te.ExitStatus, Message: err.Error()}, err
	default:
		return Terminal{}, err
	}
}

// stepRun executes one allowed step.
type stepRun struct {
	*run
	st       *plan.Step
	gate     gateResult
	lastUPID string
	note     string
	calls    int // calls made (each audits its outcome)
}

// do makes one call of the step and audits its outcome.
func (x *stepRun) do(ctx context.Context, c call) (proxmox.UPID, error) {
	v := x.st.VMID()
	class := string(ops.Benign)
	if c.destructive {
		class = string(ops.Destructive)
	}
	in := Intent{Txn: x.txn, Call: x.st.ID + c.suffix, Op: c.op, Guest: v, Params: c.params,
		Class: class, Decision: x.gate.decision, Provenance: c.provenance, Time: x.o.Now().UTC()}
	// Every call of a signed step carries its nonce: the journal then
	// shows the signed step began even if it crashed in its safety step.
	in.Nonce = x.gate.nonce
	x.calls++
	upid, err := invoke(ctx, x.o, in, c, ResultOK)
	if !upid.IsZero() {
		x.lastUPID = upid.String()
	}
	entry := AuditEntry{Host: x.o.Host, Txn: x.txn, Step: in.Call, Op: c.op, Guest: guestPtr(v), Class: class,
		Decision: x.gate.decision, Signer: x.gate.signer, Fingerprint: x.gate.fp, UPID: x.lastUPID, Result: ResultOK}
	if c.destructive {
		entry.Nonce = x.gate.nonce
	}
	if err != nil {
		entry.Result, entry.Reason = ResultFailed, err.Error()
		if errors.Is(err, errInterrupted) {
			entry.Result = "unknown"
		}
	}
	if aerr := x.o.Audit.Write(entry); aerr != nil {
		fmt.Fprintf(x.o.Out, "warning: %v\n", aerr)
	}
	return upid, err
}

func (x *stepRun) params(v any) error {
	if err := json.Unmarshal(x.st.Params, v); err != nil {
		return fmt.Errorf("params: %w", err)
	}
	return nil
}

// execute runs the step's calls.
func (x *stepRun) execute(ctx context.Context) error {
	st, c := x.st, x.o.Client
	v := st.VMID()
	main := call{op: st.Op, params: st.Params, destructive: classOf(st) == ops.Destructive && x.gate.decision != DecisionProvenance}
	switch st.Op {
	case ops.GuestCreate:
		var p struct {
			Archive, Storage string
			Config           map[string]any
			Start            bool
		}
		if err := x.params(&p); err != nil {
			return err
		}
		conf, err := stringMap(p.Config)
		if err != nil {
			return err
		}
		main.task, main.provenance = "vzrestore", ProvenanceCreatedInTxn
		main.post = func(ctx context.Context) (proxmox.UPID, error) {
			return c.RestoreLXC(ctx, v, p.Archive, proxmox.RestoreOptions{Storage: p.Storage, Config: conf})
		}
		if _, err := x.do(ctx, main); err != nil {
			return err
		}
		if p.Start {
			return x.start(ctx)
		}
		return nil

	case ops.GuestSet:
		var p struct {
			Set    map[string]any
			Delete []string
		}
		if err := x.params(&p); err != nil {
			return err
		}
		set, err := stringMap(p.Set)
		if err != nil {
			return err
		}
		return x.setConfig(ctx, main, set, p.Delete, x.digestFor(st))

	case ops.MountAdd:
		var p struct{ Slot, Value string }
		if err := x.params(&p); err != nil {
			return err
		}
		return x.setConfig(ctx, main, map[string]string{p.Slot: p.Value}, nil, x.digestFor(st))

	case ops.MountDetach:
		var p struct{ Slot string }
		if err := x.params(&p); err != nil {
			return err
		}
		return x.setConfig(ctx, main, nil, []string{p.Slot}, x.digestFor(st))

	case ops.VolumeFree:
		var p struct{ Volume, Slot string }
		if err := x.params(&p); err != nil {
			return err
		}
		if _, _, err := x.findUnused(ctx, p.Volume, p.Slot); err != nil {
			return err
		}
		if err := x.safetyBackup(ctx); err != nil {
			return err
		}
		// Read again after the backup (which changed the digest), and
		// check again that the slot still holds exactly that volume.
		slot, digest, err := x.findUnused(ctx, p.Volume, p.Slot)
		if err != nil {
			return err
		}
		return x.setConfig(ctx, main, nil, []string{slot}, digest)

	case ops.DiskGrow:
		var p struct{ Disk, To string }
		if err := x.params(&p); err != nil {
			return err
		}
		main.task = "resize"
		main.post = func(ctx context.Context) (proxmox.UPID, error) { return c.Resize(ctx, v, p.Disk, p.To, "") }
		_, err := x.do(ctx, main)
		return err

	case ops.GuestStart:
		main.task = "vzstart"
		main.post = func(ctx context.Context) (proxmox.UPID, error) { return c.Start(ctx, v) }
		_, err := x.do(ctx, main)
		return err

	case ops.GuestStop:
		main.task = "vzshutdown"
		main.post = func(ctx context.Context) (proxmox.UPID, error) {
			return c.Shutdown(ctx, v, proxmox.ShutdownOptions{Timeout: x.o.ShutdownTimeout, ForceStop: true})
		}
		_, err := x.do(ctx, main)
		return err

	case ops.GuestReboot:
		main.task = "vzreboot"
		main.post = func(ctx context.Context) (proxmox.UPID, error) { return c.Reboot(ctx, v, x.o.ShutdownTimeout) }
		_, err := x.do(ctx, main)
		return err

	case ops.SnapshotCreate:
		var p struct{ Snapshot, Description string }
		if err := x.params(&p); err != nil {
			return err
		}
		main.task = "vzsnapshot"
		main.post = func(ctx context.Context) (proxmox.UPID, error) { return c.Snapshot(ctx, v, p.Snapshot, p.Description) }
		_, err := x.do(ctx, main)
		return err

	case ops.SnapshotDelete:
		var p struct{ Snapshot string }
		if err := x.params(&p); err != nil {
			return err
		}
		main.task = "vzdelsnapshot"
		main.post = func(ctx context.Context) (proxmox.UPID, error) { return c.DeleteSnapshot(ctx, v, p.Snapshot) }
		_, err := x.do(ctx, main)
		return err

	case ops.SnapshotRollback:
		var p struct{ Snapshot string }
		if err := x.params(&p); err != nil {
			return err
		}
		running, err := x.running(ctx)
		if err != nil {
			return err
		}
		snapshotSafe, err := x.snapshotKeepsRollback(ctx, p.Snapshot)
		if err != nil {
			return err
		}
		// A safety snapshot becomes the newest snapshot, and ZFS rolls back
		// only to the newest: there (and for an older target anywhere) the
		// way back is a backup.
		if snapshotSafe {
			err = x.safetySnapshot(ctx)
		} else {
			err = x.safetyBackup(ctx)
		}
		if err != nil {
			return err
		}
		main.task = "vzrollback"
		main.post = func(ctx context.Context) (proxmox.UPID, error) { return c.Rollback(ctx, v, p.Snapshot, false) }
		if _, err := x.do(ctx, main); err != nil {
			return err
		}
		if running {
			return x.start(ctx)
		}
		return nil

	case ops.GuestDestroy:
		var p struct {
			Purge     bool
			Volumes   []string
			Snapshots *[]string
		}
		if err := x.params(&p); err != nil {
			return err
		}
		if main.destructive {
			if err := x.checkOwned(ctx, p.Volumes, p.Snapshots); err != nil {
				return err
			}
			if err := x.safetyBackup(ctx); err != nil {
				return err
			}
			// Again right before the call: nothing may have joined the
			// guest while the safety backup ran.
			if err := x.checkOwned(ctx, p.Volumes, p.Snapshots); err != nil {
				return err
			}
		}
		main.task = "vzdestroy"
		main.post = func(ctx context.Context) (proxmox.UPID, error) {
			return c.DestroyLXC(ctx, v, proxmox.DestroyOptions{Purge: p.Purge, Force: true})
		}
		_, err := x.do(ctx, main)
		return err

	case ops.GuestRestoreOver:
		var p struct {
			Archive   string
			Volumes   []string
			Snapshots *[]string
		}
		if err := x.params(&p); err != nil {
			return err
		}
		if err := x.checkOwned(ctx, p.Volumes, p.Snapshots); err != nil {
			return err
		}
		storage, err := x.rootStorage(ctx)
		if err != nil {
			return err
		}
		// A snapshot would go with the volumes the restore destroys, so
		// the safety step is a backup.
		if err := x.safetyBackup(ctx); err != nil {
			return err
		}
		if err := x.stopIfRunning(ctx); err != nil {
			return err
		}
		if err := x.checkOwned(ctx, p.Volumes, p.Snapshots); err != nil {
			return err // again right before the call
		}
		main.task = "vzrestore"
		main.post = func(ctx context.Context) (proxmox.UPID, error) {
			return c.RestoreLXC(ctx, v, p.Archive, proxmox.RestoreOptions{Storage: storage, Force: true})
		}
		_, err = x.do(ctx, main)
		return err

	case ops.GuestRebuild:
		var p struct {
			Change        map[string]any
			Volumes       []string
			Snapshots     *[]string
			BackupStorage string `json:"backup_storage"`
		}
		if err := x.params(&p); err != nil {
			return err
		}
		change, err := stringMap(p.Change)
		if err != nil {
			return err
		}
		if err := x.checkOwned(ctx, p.Volumes, p.Snapshots); err != nil {
			return err
		}
		storage, err := x.rootStorage(ctx)
		if err != nil {
			return err
		}
		running, err := x.running(ctx)
		if err != nil {
			return err
		}
		bs := p.BackupStorage
		if bs == "" {
			bs = x.o.Safety.BackupStorage
		}
		archive, err := x.backup(ctx, "#backup", bs, "stop", "")
		if err != nil {
			return fmt.Errorf("backup before the rebuild: %w", err)
		}
		if err := x.stopIfRunning(ctx); err != nil {
			return err
		}
		if err := x.checkOwned(ctx, p.Volumes, p.Snapshots); err != nil {
			return fmt.Errorf("%w (the backup taken first is %s)", err, archive) // again right before the call
		}
		main.task = "vzrestore"
		main.post = func(ctx context.Context) (proxmox.UPID, error) {
			return c.RestoreLXC(ctx, v, archive, proxmox.RestoreOptions{Storage: storage, Force: true, Config: change})
		}
		if _, err := x.do(ctx, main); err != nil {
			return fmt.Errorf("%w (the backup taken first is %s)", err, archive)
		}
		x.note = "backup taken first: " + archive
		if running {
			return x.start(ctx)
		}
		return nil

	case ops.BackupPrune:
		// The retention's own prune would delete whatever it finds at run
		// time; the signature covers exactly the archives it lists. So:
		// back up without pruning, then delete exactly those.
		var p struct {
			Storage, Mode string
			Archives      []string
		}
		if err := x.params(&p); err != nil {
			return err
		}
		if p.Storage == "" {
			p.Storage = x.o.Safety.BackupStorage
		}
		archive, err := x.backup(ctx, "#backup", p.Storage, p.Mode, "")
		if err != nil {
			return err
		}
		x.note = archive
		for i, a := range p.Archives {
			if err := x.deleteArchive(ctx, i, a, main.destructive); err != nil {
				return err
			}
		}
		return nil

	case ops.BackupCreate:
		var p struct{ Storage, Mode string }
		if err := x.params(&p); err != nil {
			return err
		}
		if p.Storage == "" {
			p.Storage = x.o.Safety.BackupStorage
		}
		o := proxmox.VzdumpOptions{Storage: p.Storage, Mode: p.Mode, PruneBackups: keepAll}
		main.task = "vzdump"
		main.post = func(ctx context.Context) (proxmox.UPID, error) { return c.Vzdump(ctx, v, o) }
		upid, err := x.do(ctx, main)
		if err == nil {
			if a := x.archiveOf(ctx, upid, p.Storage); a != "" {
				x.note = a
			}
		}
		return err

	case ops.StorageMount:
		var p struct{ Name, UUID, Mountpoint string }
		if err := x.params(&p); err != nil {
			return err
		}
		if x.o.Mounter == nil {
			return errors.New("no privileged runner to mount with")
		}
		main.do = func(ctx context.Context) error { return x.o.Mounter.MountUSBByUUID(ctx, p.UUID, p.Mountpoint) }
		_, err := x.do(ctx, main)
		return err

	case ops.SignersRotate:
		var p struct{ SHA256 string }
		if err := x.params(&p); err != nil {
			return err
		}
		if x.o.Desired == nil || x.o.Desired.Signers == nil {
			return errors.New("the desired state has no signers block")
		}
		if x.o.AllowedSignersPath == "" {
			return errors.New("no allowed_signers path")
		}
		content := []byte(x.o.Desired.Signers.AllowedSigners())
		sum := sha256.Sum256(content)
		if got := hex.EncodeToString(sum[:]); !strings.EqualFold(got, p.SHA256) {
			return fmt.Errorf("the desired signers hash to %s, the signed step names %s: plan again", got, p.SHA256)
		}
		main.do = func(context.Context) error {
			return atomicfile.WriteFile(x.o.AllowedSignersPath, content, 0o644)
		}
		_, err := x.do(ctx, main)
		return err
	}
	return fmt.Errorf("op %s: apply cannot execute it", st.Op)
}

// setConfig is a synchronous config PUT with the digest.
func (x *stepRun) setConfig(ctx context.Context, c call, set map[string]string, del []string, digest string) error {
	v := x.st.VMID()
	c.do = func(ctx context.Context) error {
		err := x.o.Client.SetConfig(ctx, v, set, del, digest)
		if proxmox.IsDigestMismatch(err) {
			return fmt.Errorf("guest %d changed concurrently since it was observed (Proxmox refused the write by its digest): re-run apply to plan again: %w", v, err)
		}
		return err
	}
	_, err := x.do(ctx, c)
	return err
}

func (x *stepRun) start(ctx context.Context) error {
	v := x.st.VMID()
	_, err := x.do(ctx, call{suffix: "#start", op: ops.GuestStart, params: json.RawMessage(`{}`), task: "vzstart",
		post: func(ctx context.Context) (proxmox.UPID, error) { return x.o.Client.Start(ctx, v) }})
	return err
}

func (x *stepRun) running(ctx context.Context) (bool, error) {
	s, err := x.o.Client.GuestStatus(ctx, x.st.VMID())
	if err != nil {
		return false, err
	}
	return s.Status == "running", nil
}

func (x *stepRun) stopIfRunning(ctx context.Context) error {
	running, err := x.running(ctx)
	if err != nil || !running {
		return err
	}
	v := x.st.VMID()
	_, err = x.do(ctx, call{suffix: "#stop", op: ops.GuestStop, params: json.RawMessage(`{}`), task: "vzshutdown",
		post: func(ctx context.Context) (proxmox.UPID, error) {
			return x.o.Client.Shutdown(ctx, v, proxmox.ShutdownOptions{Timeout: x.o.ShutdownTimeout, ForceStop: true})
		}})
	return err
}

// rootStorage is the storage of the guest's root file system: where a
// restore over it puts the new volumes.
func (x *stepRun) rootStorage(ctx context.Context) (string, error) {
	cfg, err := x.o.Client.GuestConfig(ctx, x.st.VMID())
	if err != nil {
		return "", err
	}
	sid, _, ok := strings.Cut(volumeOf(cfg.RootFS()), ":")
	if !ok || sid == "" {
		return "", fmt.Errorf("guest %d: cannot tell the storage of rootfs %q", x.st.VMID(), cfg.RootFS())
	}
	return sid, nil
}

// checkOwned refuses a destructive step when the guest now owns a volume
// or a snapshot the signed params do not name: a signature never covers
// more than the operator saw.
func (x *stepRun) checkOwned(ctx context.Context, volumes []string, snapshots *[]string) error {
	v := x.st.VMID()
	entries, err := x.o.Client.GuestPending(ctx, v)
	if err != nil {
		return err
	}
	var extra []string
	for _, vol := range ownedVolumes(entries) {
		if !slices.Contains(volumes, vol) {
			extra = append(extra, vol)
		}
	}
	// Params without a snapshots list name no snapshot: every snapshot
	// the guest has is then more than was signed.
	var signed []string
	if snapshots != nil {
		signed = *snapshots
	}
	snaps, err := x.o.Client.ListSnapshots(ctx, v)
	if err != nil {
		return err
	}
	for _, s := range snaps {
		if s.Name != "current" && !slices.Contains(signed, s.Name) {
			extra = append(extra, "snapshot "+s.Name)
		}
	}
	if len(extra) > 0 {
		return fmt.Errorf("guest %d now owns %s, which the signed step does not name; not run (plan again and sign the new step)",
			v, strings.Join(extra, ", "))
	}
	return nil
}

// ownedVolumes lists the storage volumes a destroy or restore frees, as
// the plan lists them (plan.OwnedVolumes), from GET pending's entries:
// the active values and those waiting for the next start.
func ownedVolumes(entries []proxmox.PendingEntry) []string {
	current, pending := map[string]string{}, map[string]string{}
	for _, e := range entries {
		if e.HasValue {
			current[e.Key] = e.Value
		}
		if e.HasPending {
			pending[e.Key] = e.Pending
		}
	}
	return plan.OwnedVolumes(current, pending)
}

// volumeOf is the volume of a rootfs/mpN/unusedN value.
func volumeOf(v string) string {
	first, _, _ := strings.Cut(v, ",")
	return strings.TrimPrefix(first, "volume=")
}

// findUnused finds the unusedN slot holding volume (slot, when given,
// must be it) and returns it with the config's digest.
func (x *stepRun) findUnused(ctx context.Context, volume, slot string) (string, string, error) {
	v := x.st.VMID()
	cfg, err := x.o.Client.GuestConfig(ctx, v)
	if err != nil {
		return "", "", err
	}
	for _, k := range cfg.Keys() {
		if strings.HasPrefix(k, "unused") && volumeOf(cfg.Values[k]) == volume {
			if slot != "" && slot != k {
				return "", "", fmt.Errorf("guest %d: volume %s is now in %s, not %s; not freed (plan again)", v, volume, k, slot)
			}
			return k, cfg.Digest, nil
		}
	}
	if slot != "" {
		if cur, ok := cfg.Values[slot]; ok {
			return "", "", fmt.Errorf("guest %d: %s now holds %s, not %s; not freed", v, slot, volumeOf(cur), volume)
		}
	}
	return "", "", fmt.Errorf("guest %d: volume %s is not a detached (unusedN) volume of the guest; not freed", v, volume)
}

// safetySnapshot takes the tool's own snapshot before a rollback; where
// the guest's storage cannot snapshot, a backup instead.
func (x *stepRun) safetySnapshot(ctx context.Context) error {
	if !x.o.Safety.Enabled {
		return nil
	}
	v := x.st.VMID()
	name := "felhom-safety-" + x.o.Now().UTC().Format("20060102150405")
	params, _ := json.Marshal(map[string]string{"snapshot": name, "description": "safety snapshot before " + x.st.ID})
	_, err := x.do(ctx, call{suffix: "#safety", op: ops.SnapshotCreate, params: params, task: "vzsnapshot",
		provenance: ProvenanceSafetySnapshot,
		post: func(ctx context.Context) (proxmox.UPID, error) {
			return x.o.Client.Snapshot(ctx, v, name, "safety snapshot before "+x.st.ID)
		}})
	if err != nil && strings.Contains(err.Error(), "snapshot feature is not available") {
		return x.safetyBackup(ctx)
	}
	if err != nil {
		return fmt.Errorf("safety snapshot failed, so the step did not run: %w", err)
	}
	x.note = "safety snapshot " + name
	return nil
}

// snapshotKeepsRollback reports whether a safety snapshot taken now still
// lets the rollback to name run: name must be the newest snapshot, and no
// volume of the guest may be on ZFS (which rolls back only to the newest,
// and the safety snapshot would be newer).
func (x *stepRun) snapshotKeepsRollback(ctx context.Context, name string) (bool, error) {
	newest, err := x.newestSnapshot(ctx, name)
	if err != nil || !newest {
		return false, err
	}
	entries, err := x.o.Client.GuestPending(ctx, x.st.VMID())
	if err != nil {
		return false, err
	}
	storages, err := x.o.Client.ListStorage(ctx)
	if err != nil {
		return false, err
	}
	kind := map[string]string{}
	for _, s := range storages {
		kind[s.Storage] = s.Type
	}
	for _, vol := range ownedVolumes(entries) {
		st, _, _ := strings.Cut(vol, ":")
		if kind[st] == "zfspool" {
			return false, nil
		}
	}
	return true, nil
}

// newestSnapshot reports whether name is the guest's most recent snapshot
// by the time it was taken, and the parent of its current state.
func (x *stepRun) newestSnapshot(ctx context.Context, name string) (bool, error) {
	snaps, err := x.o.Client.ListSnapshots(ctx, x.st.VMID())
	if err != nil {
		return false, err
	}
	newest, parent := "", ""
	var at int64 = -1
	for _, s := range snaps {
		switch {
		case s.Name == "current":
			parent = s.Parent
		case int64(s.SnapTime) > at:
			newest, at = s.Name, int64(s.SnapTime)
		}
	}
	return newest == name && parent == name, nil
}

// safetyBackup takes the tool's own vzdump of the guest before a destroy
// or volume free. It neither prunes nor counts against retention.
func (x *stepRun) safetyBackup(ctx context.Context) error {
	if !x.o.Safety.Enabled {
		return nil
	}
	archive, err := x.backup(ctx, "#safety-backup", x.o.Safety.BackupStorage, "snapshot", ProvenanceSafetyBackup)
	if err != nil {
		return fmt.Errorf("safety backup failed, so the step did not run: %w", err)
	}
	x.note = "safety backup " + archive
	return nil
}

// backup runs one vzdump under its own call and returns the archive.
func (x *stepRun) backup(ctx context.Context, suffix, storage, mode, provenance string) (string, error) {
	v := x.st.VMID()
	params, _ := json.Marshal(map[string]string{"storage": storage, "mode": mode})
	c := call{suffix: suffix, op: ops.BackupCreate, params: params, task: "vzdump", provenance: provenance,
		post: func(ctx context.Context) (proxmox.UPID, error) {
			return x.o.Client.Vzdump(ctx, v, proxmox.VzdumpOptions{Storage: storage, Mode: mode, PruneBackups: keepAll})
		}}
	upid, err := x.do(ctx, c)
	if archiveNameTaken(err) {
		// Archive names have a resolution of one second: another backup
		// of the guest started in the same second. It failed without
		// effect; one more try in the next second.
		select {
		case <-ctx.Done():
			return "", ctx.Err()
		case <-time.After(time.Until(x.o.Now().Truncate(time.Second).Add(time.Second + 10*time.Millisecond))):
		}
		c.suffix += "-again"
		upid, err = x.do(ctx, c)
	}
	if err != nil {
		return "", err
	}
	a := x.archiveOf(ctx, upid, storage)
	if a == "" {
		return "", fmt.Errorf("backup task %s finished, but its archive is not in its log", upid)
	}
	return a, nil
}

// archiveNameTaken reports a vzdump that failed because an archive of the
// same name (the same guest, the same second) exists.
func archiveNameTaken(err error) bool {
	var te *proxmox.TaskError
	if !errors.As(err, &te) {
		return false
	}
	for _, l := range te.Log {
		if strings.Contains(l, "File exists") {
			return true
		}
	}
	return strings.Contains(te.ExitStatus, "File exists")
}

var archiveLine = regexp.MustCompile(`creating vzdump archive '([^']+)'`)

// archiveOf reads the archive's volume id from the vzdump task's log.
func (x *stepRun) archiveOf(ctx context.Context, upid proxmox.UPID, storage string) string {
	return archiveOf(ctx, x.o.Client, upid, storage)
}

func archiveOf(ctx context.Context, c Client, upid proxmox.UPID, storage string) string {
	lines, err := c.TaskLogTail(ctx, upid, 0)
	if err != nil {
		return ""
	}
	for _, l := range lines {
		if m := archiveLine.FindStringSubmatch(l); m != nil {
			return storage + ":backup/" + path.Base(m[1])
		}
	}
	return ""
}

// fileSHA256 is the hex SHA-256 of a file's content.
func fileSHA256(p string) (string, error) {
	b, err := os.ReadFile(p)
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:]), nil
}

// keepAll is the prune-backups value of a backup the tool takes on its
// own: it neither prunes old archives nor fails on a full retention.
const keepAll = "keep-all=1"

// recordMade records, once a call succeeded, what it made that is the
// tool's own: the guest a restore created, a safety snapshot, a safety
// backup.
func recordMade(ctx context.Context, o *Options, in Intent, upid proxmox.UPID) error {
	switch in.Provenance {
	case ProvenanceCreatedInTxn:
		return o.Journal.GuestCreated(in.Txn, in.Guest, in.Call)
	case ProvenanceSafetySnapshot:
		var p struct{ Snapshot string }
		if json.Unmarshal(in.Params, &p) == nil && p.Snapshot != "" {
			return o.Journal.SnapshotCreated(in.Txn, in.Guest, p.Snapshot, in.Call)
		}
	case ProvenanceSafetyBackup:
		var p struct{ Storage string }
		json.Unmarshal(in.Params, &p)
		if a := archiveOf(ctx, o.Client, upid, p.Storage); a != "" {
			return o.Journal.BackupCreated(in.Txn, in.Guest, a, upid.StartTime, in.Call)
		}
	}
	return nil
}

// callTaskType is the Proxmox task type the call of in starts ("" for a
// call recovery settles from live state): the archive deletions of a
// backup.prune are settled by whether the archive is still there.
func callTaskType(in Intent) string {
	if isArchiveDelete(in) {
		return ""
	}
	return taskType(in.Op)
}

func isArchiveDelete(in Intent) bool {
	return in.Op == ops.BackupPrune && strings.Contains(in.Call, "#delete")
}

// taskType is the Proxmox task type a call of op starts ("" for a
// synchronous call): recovery looks for it in the node's task list.
func taskType(op string) string {
	return map[string]string{
		ops.GuestCreate: "vzrestore", ops.GuestRestoreOver: "vzrestore", ops.GuestRebuild: "vzrestore",
		ops.GuestDestroy: "vzdestroy", ops.DiskGrow: "resize",
		ops.GuestStart: "vzstart", ops.GuestStop: "vzshutdown", ops.GuestReboot: "vzreboot",
		ops.SnapshotCreate: "vzsnapshot", ops.SnapshotDelete: "vzdelsnapshot", ops.SnapshotRollback: "vzrollback",
		ops.BackupCreate: "vzdump", ops.BackupPrune: "vzdump",
	}[op]
}

// isConfigWrite reports whether op is a synchronous config PUT.
func isConfigWrite(op string) bool {
	switch op {
	case ops.GuestSet, ops.MountAdd, ops.MountDetach, ops.VolumeFree:
		return true
	}
	return false
}

// deleteArchive deletes one signed archive of a backup.prune, checked right
// before: it must still be this guest's backup and not protected (one that
// is already gone needs nothing). The deletion is one journaled call with
// its imgdel task; recovery follows the task when its UPID was recorded,
// and otherwise settles the call by whether the archive is still there
// (the task of a storage volume names no guest to find it by).
func (x *stepRun) deleteArchive(ctx context.Context, i int, volid string, destructive bool) error {
	v := x.st.VMID()
	it, found, err := findArchive(ctx, x.o.Client, volid)
	if err != nil {
		return err
	}
	if !found {
		return nil
	}
	if int(it.VMID) != v || it.Content != "backup" {
		return fmt.Errorf("%s is not a backup of guest %d; not deleted", volid, v)
	}
	if bool(it.Protected) {
		return fmt.Errorf("%s is protected now; not deleted (unprotect it, or plan again)", volid)
	}
	params, _ := json.Marshal(map[string]string{"archive": volid})
	c := call{suffix: fmt.Sprintf("#delete%d", i), op: ops.BackupPrune, params: params, destructive: destructive,
		task: "imgdel",
		post: func(ctx context.Context) (proxmox.UPID, error) { return x.o.Client.DeleteVolume(ctx, volid) }}
	_, err = x.do(ctx, c)
	return err
}

// findArchive looks a backup archive up on its storage.
func findArchive(ctx context.Context, c Client, volid string) (proxmox.StorageItem, bool, error) {
	storage, _, _ := strings.Cut(volid, ":")
	items, err := c.StorageContent(ctx, storage, "backup", 0)
	if err != nil {
		return proxmox.StorageItem{}, false, fmt.Errorf("list backups on %s: %w", storage, err)
	}
	for _, it := range items {
		if it.VolID == volid {
			return it, true, nil
		}
	}
	return proxmox.StorageItem{}, false, nil
}
