package conformance

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/felhom/felhom-converge/journal"
	"github.com/felhom/felhom-converge/proxmox"
)

// Options configure a run.
type Options struct {
	Client *proxmox.Client
	// StateDir is the service's state directory; the caller holds its run
	// lock. The record of what the run made is kept there.
	StateDir string
	// VMID is the guest to create; no guest may have it.
	VMID int
	// From is the backup archive (STORAGE:backup/...) or CT template
	// (STORAGE:vztmpl/...) the guest is made from; empty picks the
	// smallest template on the node.
	From string
	// Storage holds the guest's volumes; empty picks one that can hold
	// container volumes, preferring one with snapshots.
	Storage string
	// BackupStorage is where the run's backups go: the service's backup
	// storage (default "local").
	BackupStorage string
	// Started, when set, is called once the run knows the host (the
	// report's header fields are set) and is about to make the guest;
	// Check with each check as it completes.
	Started func(*Report)
	Check   func(Check)
	// TaskTimeout bounds the wait for one task (default 10m).
	TaskTimeout time.Duration
	// Poll is the first interval between task status polls (default
	// 100ms, doubling to 1s).
	Poll time.Duration
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// cleanupTimeout bounds the cleanup, which runs even after an interrupt.
const cleanupTimeout = 15 * time.Minute

// run is one conformance run.
type run struct {
	o       Options
	c       *proxmox.Client
	vmid    int
	rep     *Report
	results map[string]string // check name → result
	rec     *record
	dir     *journal.StateDir

	ver       proxmox.Version
	pve9      bool
	sysModify bool // the token holds Sys.Modify on "/"
	missing   error

	storage, backups storageInfo // the guest's volumes, the backups
	source           sourceInfo
	bridge           string
	noBridge         string // a bridge name the node does not have

	marker string // the description the guest carries

	// What checks hand on to later ones.
	made     proxmox.UPID          // the task that made the guest
	a1       archive               // the run's own archive, restored from
	a1Made   []proxmox.StorageItem // what that backup made
	a1Conf   proxmox.GuestConfig   // the guest's config when it ran
	failed   archive               // the backup the retention refused
	restored proxmox.UPID          // the restore with start=1
	mpVol    []string              // the volumes of mp0 and mp1
	hostAtA  string                // the hostname in the first snapshot
	nesting  string                // the nesting a restart is to bring
}

// sleep waits d unless ctx ends first.
func sleep(ctx context.Context, d time.Duration) error {
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(d):
		return nil
	}
}

// Run makes the disposable guest, runs every check on it and removes
// what it made. The error is for what kept the run from starting (the
// VMID is taken, a storage is missing, a killed run's leftovers could not
// be removed); once the guest is made, every outcome is in the report.
// An interrupted run cleans up, then returns the report and the context's
// error.
func Run(ctx context.Context, o Options) (*Report, error) {
	if o.Client == nil || o.VMID < 100 || o.VMID > 999999999 {
		return nil, fmt.Errorf("conformance: a client and a VMID from 100 to 999999999 are needed (got %d)", o.VMID)
	}
	o.TaskTimeout = cmp.Or(o.TaskTimeout, 10*time.Minute)
	o.Poll = cmp.Or(o.Poll, 100*time.Millisecond)
	o.BackupStorage = cmp.Or(o.BackupStorage, "local")
	if o.Now == nil {
		o.Now = time.Now
	}
	dir, err := journal.OpenStateDir(o.StateDir)
	if err != nil {
		return nil, err
	}
	r := &run{o: o, c: o.Client, vmid: o.VMID, dir: dir, results: map[string]string{}}
	r.rep = &Report{FormatVersion: "1", Time: o.Now().UTC().Truncate(time.Second), Node: r.c.Node(), VMID: o.VMID}
	if err := r.removeLeftovers(ctx); err != nil {
		return nil, err
	}
	if err := r.preflight(ctx); err != nil {
		return nil, err
	}
	id := make([]byte, 4)
	rand.Read(id)
	r.rec = &record{Run: o.Now().UTC().Format("20060102T150405") + "-" + hex.EncodeToString(id), VMID: o.VMID,
		Node: r.c.Node(), Started: o.Now().UTC(), BackupStorage: r.backups.id, dir: dir}
	r.marker = "felhom-converge conformance run " + r.rec.Run + ": a disposable guest, safe to destroy"
	if err := r.rec.save(); err != nil {
		return nil, err
	}
	if o.Started != nil {
		o.Started(r.rep)
	}
	r.checks(ctx)
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cleanupTimeout)
	defer cancel()
	r.cleanup(cctx, r.rec)
	r.rep.finish()
	return r.rep, ctx.Err()
}

// checkFunc runs one check: it sets c.Expected first, then returns what
// the host did, or an error saying how it diverged (or a skip).
type checkFunc func(ctx context.Context, c *Check) (string, error)

// skip is a check that could not run, and why.
type skip string

func (s skip) Error() string { return string(s) }

// check runs fn as the check name, unless a check it needs did not pass
// or the run was interrupted, and reports it.
func (r *run) check(ctx context.Context, name, source string, needs []string, fn checkFunc) bool {
	c := Check{Name: name, Source: source}
	need := ""
	for _, n := range needs {
		if r.results[n] != Pass {
			need = n
			break
		}
	}
	switch {
	case ctx.Err() != nil:
		c.Result, c.Actual = Skipped, "not run: the run was interrupted"
		r.rep.Interrupted = true
	case need != "":
		c.Result, c.Actual = Skipped, fmt.Sprintf("not run: it needs %q, which %s", need, map[string]string{
			Diverged: "diverged", Skipped: "was skipped", "": "did not run"}[r.results[need]])
	default:
		actual, err := fn(ctx, &c)
		var sk skip
		switch {
		case errors.As(err, &sk):
			c.Result, c.Actual = Skipped, string(sk)
		case err != nil && ctx.Err() != nil:
			c.Result, c.Actual = Skipped, "interrupted: "+err.Error()
			r.rep.Interrupted = true
		case err != nil:
			c.Result, c.Actual = Diverged, err.Error()
		default:
			c.Result, c.Actual = Pass, actual
		}
	}
	r.rep.Checks = append(r.rep.Checks, c)
	r.results[name] = c.Result
	if r.o.Check != nil {
		r.o.Check(c)
	}
	return c.Result == Pass
}

// checks runs every check in an order that needs few restarts.
func (r *run) checks(ctx context.Context) {
	r.checkMissingGuest(ctx)
	if !r.checkMake(ctx) {
		return // nothing else can run; the cleanup still does
	}
	r.checkTaskShapes(ctx)
	r.checkUnknownTaskLog(ctx)
	r.checkDigest(ctx)
	r.checkStaleDigest(ctx)
	r.checkFailedWriteStopped(ctx)
	r.checkRootfsVerbatim(ctx)
	r.checkResizeGrow(ctx)
	r.checkResizeShrink(ctx)
	r.checkBackup(ctx)
	r.checkArchiveIdentified(ctx)
	r.checkArchiveConfig(ctx)
	r.checkRetentionLimit(ctx)
	r.checkProtectedBackup(ctx)
	r.checkPermissionText(ctx)
	r.checkRestoreUnique(ctx)
	r.checkRestoreKeepsMAC(ctx)
	r.checkStartForks(ctx)
	r.checkMountAdd(ctx)
	r.checkHotApply(ctx)
	r.checkFailedWriteRunning(ctx)
	r.checkBackupLock(ctx)
	r.checkRebootAppliesPending(ctx)
	r.checkVolumeFree(ctx)
	r.checkRebootUnderLock(ctx)
	r.checkSnapshot(ctx)
	r.checkRollback(ctx)
	r.checkDetachUnderSnapshot(ctx)
	r.checkPrivilegedRestore(ctx)
}
