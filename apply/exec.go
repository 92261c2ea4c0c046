package apply

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/felhom/felhom-converge/journal"
	"github.com/felhom/felhom-converge/ops"
	"github.com/felhom/felhom-converge/plan"
	"github.com/felhom/felhom-converge/proxmox"
)

// executor runs the steps of one op. Neither trusts the plan beyond the
// step's signed identity (op, guest, params): check reads the guest afresh
// and refuses a step that must not run, before a signature's nonce is
// spent; run makes the step's calls, each through the one journaled call
// path (stepRun.do), and checks again right before any call that frees or
// replaces data.
type executor interface {
	check(ctx context.Context, x *stepRun) error
	run(ctx context.Context, x *stepRun) error
}

// executors makes the executor of each op from the step's params, decoded
// strictly into the op's params struct (unknown keys, missing ones and
// wrong types are refused).
var executors = map[string]func(op string, raw []byte) (executor, error){
	ops.GuestCreate:      with(func(p ops.GuestCreateParams) executor { return guestCreate{p} }),
	ops.GuestSet:         with(func(p ops.GuestSetParams) executor { return guestSet{p} }),
	ops.GuestStart:       with(func(ops.GuestStartParams) executor { return power{ops.GuestStart} }),
	ops.GuestStop:        with(func(ops.GuestStopParams) executor { return power{ops.GuestStop} }),
	ops.GuestReboot:      with(func(ops.GuestRebootParams) executor { return power{ops.GuestReboot} }),
	ops.GuestDestroy:     with(func(p ops.GuestDestroyParams) executor { return guestDestroy{p} }),
	ops.GuestRestoreOver: with(func(p ops.GuestRestoreOverParams) executor { return restoreOver{p} }),
	ops.GuestRebuild:     with(func(p ops.GuestRebuildParams) executor { return rebuild{p} }),
	ops.DiskGrow:         with(func(p ops.DiskGrowParams) executor { return diskGrow{p} }),
	ops.MountAdd:         with(func(p ops.MountAddParams) executor { return mountAdd{p} }),
	ops.MountDetach:      with(func(p ops.MountDetachParams) executor { return mountDetach{p} }),
	ops.VolumeFree:       with(func(p ops.VolumeFreeParams) executor { return volumeFree{p} }),
	ops.SnapshotCreate:   with(func(p ops.SnapshotCreateParams) executor { return snapshotCreate{p} }),
	ops.SnapshotDelete:   with(func(p ops.SnapshotParams) executor { return snapshotDelete{p} }),
	ops.SnapshotRollback: with(func(p ops.SnapshotRollbackParams) executor { return snapshotRollback{p} }),
	ops.BackupCreate:     with(func(p ops.BackupCreateParams) executor { return backupCreate{p} }),
	ops.BackupPrune:      with(func(p ops.BackupPruneParams) executor { return backupPrune{p} }),
	ops.StorageMount:     with(func(p ops.StorageMountParams) executor { return storageMount{p} }),
	ops.SignersRotate:    with(func(p ops.SignersRotateParams) executor { return signersRotate{p} }),
}

func with[P any](mk func(P) executor) func(string, []byte) (executor, error) {
	return func(op string, raw []byte) (executor, error) {
		p, err := ops.Decode[P](op, raw)
		if err != nil {
			return nil, err
		}
		return mk(p), nil
	}
}

// stepRun is one step being gated and executed.
type stepRun struct {
	*run
	st       *plan.Step
	exec     executor
	gate     gateResult
	lastUPID string
	note     string
	calls    int // calls made (each audits its outcome)
}

func (r *run) newStepRun(st *plan.Step) (*stepRun, error) {
	mk, ok := executors[st.Op]
	if !ok {
		return nil, fmt.Errorf("op %s: apply cannot execute it", st.Op)
	}
	if !ops.HostLevel(st.Op) && st.VMID() == 0 {
		return nil, fmt.Errorf("op %s acts on a guest and the step names none", st.Op)
	}
	e, err := mk(st.Op, st.Params)
	if err != nil {
		return nil, err
	}
	return &stepRun{run: r, st: st, exec: e}, nil
}

func (x *stepRun) vmid() int { return x.st.VMID() }

// authorized reports whether the step runs on an operator's signature
// (verified, about to be or already spent) or on journal provenance: only
// then may it do what a benign step may not.
func (x *stepRun) authorized() bool { return x.gate.provenance || x.gate.signer != "" }

// destructive reports whether the step's main call is a signed
// destructive one (audited with its nonce).
func (x *stepRun) destructive() bool {
	return classOf(x.st) == ops.Destructive && !x.gate.provenance
}

func (x *stepRun) auditEntry(step, op, class string) AuditEntry {
	return AuditEntry{Host: x.o.Host, Txn: x.txn, Step: step, Op: op, Guest: guestPtr(x.vmid()), Class: class,
		Decision: x.gate.decision, Signer: x.gate.signer, Fingerprint: x.gate.fp}
}

func classWord(destructive bool) string {
	if destructive {
		return journal.ClassDestructive
	}
	return journal.ClassBenign
}

// main is the step's main call (no suffix) with its own params.
func (x *stepRun) main(params any) call {
	return call{op: x.st.Op, params: params, destructive: x.destructive()}
}

// liveGuest is a fresh read of a guest: its active config, the config
// after the next start, and the digest.
type liveGuest struct {
	current, effective map[string]string
	digest             string
}

// owned lists the volumes the guest owns now (both configs).
func (g liveGuest) owned() []string { return plan.OwnedVolumes(g.current, g.effective) }

// value is a key's value after the next start, or else its active one.
func (g liveGuest) value(k string) (string, bool) {
	if v, ok := g.effective[k]; ok {
		return v, true
	}
	v, ok := g.current[k]
	return v, ok
}

func (x *stepRun) readGuest(ctx context.Context) (liveGuest, error) {
	entries, err := x.o.Client.GuestPending(ctx, x.vmid())
	if err != nil {
		return liveGuest{}, fmt.Errorf("read guest %d: %w", x.vmid(), err)
	}
	cur, eff, digest := plan.Configs(entries)
	return liveGuest{current: cur, effective: eff, digest: digest}, nil
}

// setConfig is a synchronous config PUT with the digest.
func (x *stepRun) setConfig(ctx context.Context, c call, set map[string]string, del []string, digest string) error {
	v := x.vmid()
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

func (x *stepRun) running(ctx context.Context) (bool, error) {
	s, err := x.o.Client.GuestStatus(ctx, x.vmid())
	if err != nil {
		return false, err
	}
	return s.Status == "running", nil
}

func (x *stepRun) start(ctx context.Context) error {
	v := x.vmid()
	_, err := x.do(ctx, call{suffix: "#start", op: ops.GuestStart, params: ops.GuestStartParams{},
		post: func(ctx context.Context) (proxmox.UPID, error) { return x.o.Client.Start(ctx, v) }})
	return err
}

// stop shuts the guest down (a forced stop after Options.ShutdownTimeout).
func (x *stepRun) stop(ctx context.Context) error {
	_, err := x.do(ctx, call{suffix: "#stop", op: ops.GuestStop, params: ops.GuestStopParams{}, post: x.shutdown})
	return err
}

func (x *stepRun) shutdown(ctx context.Context) (proxmox.UPID, error) {
	return x.o.Client.Shutdown(ctx, x.vmid(), proxmox.ShutdownOptions{Timeout: x.o.ShutdownTimeout, ForceStop: true})
}

// storageOf is the storage of a volume id.
func storageOf(volid string) string {
	s, _, _ := strings.Cut(volid, ":")
	return s
}

// rootStorage is the storage of the guest's root file system: where a
// restore over it puts the new volumes.
func (g liveGuest) rootStorage(vmid int) (string, error) {
	root, err := plan.ParseMount("rootfs", g.current["rootfs"])
	if err != nil || storageOf(root.Volume) == "" || root.Bind {
		return "", fmt.Errorf("guest %d: cannot tell the storage of rootfs %q", vmid, g.current["rootfs"])
	}
	return storageOf(root.Volume), nil
}

// unsafeMountPath refuses a guest whose mount paths carry characters
// Proxmox echoes into task logs unquoted: no step that backs it up runs
// until they are fixed.
func (g liveGuest) unsafeMountPath(vmid int) error {
	for _, conf := range []map[string]string{g.current, g.effective} { // vzdump reads the active one
		for _, k := range slices.Sorted(maps.Keys(conf)) {
			if !plan.MountKey(k) {
				continue
			}
			if m, err := plan.ParseMount(k, conf[k]); err == nil && !plan.SafeLogText(m.Path) {
				return fmt.Errorf("guest %d: the path of %s (%q) holds a quote, a backslash or a control character; no backup of the guest is taken until it is changed", vmid, k, m.Path)
			}
		}
	}
	return nil
}
