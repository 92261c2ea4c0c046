package selftest

import (
	"context"
	"fmt"
	"time"

	"github.com/felhom/felhom-converge/journal"
	"github.com/felhom/felhom-converge/proxmox"
)

// TaskChecks exercise WaitTask on a reversible operation: a snapshot of
// the guest, a rollback to it (restarting the guest if it ran, which needs
// allowRestart) and its deletion. The rollback discards what the guest
// wrote since the snapshot. The snapshot is removed again even when the
// rollback fails. show draws a task being waited for (nil: nothing).
func TaskChecks(client *proxmox.Client, vmid int, allowRestart bool, now time.Time, show func(what string) (tick, done func())) []Check {
	snap := "felhom-selftest-" + now.Format("20060102T150405")
	wait := func(ctx context.Context, upid proxmox.UPID, err error) (string, error) {
		if err != nil {
			return "", err
		}
		start := time.Now()
		tick, done := func() {}, func() {}
		if show != nil {
			tick, done = show(upid.Type)
		}
		err = client.WaitTask(ctx, upid, proxmox.WaitOptions{
			Timeout:  10 * time.Minute,
			Progress: func(proxmox.TaskStatus) { tick() },
		})
		done()
		if err != nil && !proxmox.IsTaskWarnings(err) {
			return "", err
		}
		return fmt.Sprintf("%s OK after %s", upid.Type, time.Since(start).Round(time.Millisecond)), nil
	}
	var running, taken bool
	return []Check{
		{Name: "guest", Run: func(ctx context.Context) (string, error) {
			st, err := client.GuestStatus(ctx, vmid)
			if err != nil {
				return "", err
			}
			running = st.Status == "running"
			if running && !allowRestart {
				return "", Finding(fmt.Sprintf("%d (%s) is running: the rollback stops and restarts it; pass --allow-restart to allow that, or pick a stopped guest", vmid, st.Name))
			}
			return fmt.Sprintf("%d (%s) is %s", vmid, st.Name, st.Status), nil
		}},
		{Name: "snapshot", Run: func(ctx context.Context) (string, error) {
			upid, err := client.Snapshot(ctx, vmid, snap, "felhom-converge selftest; safe to delete")
			detail, err := wait(ctx, upid, err)
			taken = err == nil
			return snap + ": " + detail, err
		}},
		{Name: "rollback", Run: func(ctx context.Context) (string, error) {
			upid, err := client.Rollback(ctx, vmid, snap, running)
			return wait(ctx, upid, err)
		}},
		{Name: "delete", Cleanup: true, Run: func(ctx context.Context) (string, error) {
			if !taken {
				return "no snapshot was taken", ErrSkipped
			}
			upid, err := client.DeleteSnapshot(ctx, vmid, snap)
			return wait(ctx, upid, err)
		}},
	}
}

// InFlightError refuses the task check while calls of a crashed run wait
// for recovery: its rollback could be taken for theirs.
type InFlightError struct{ Calls int }

func (e *InFlightError) Error() string {
	return fmt.Sprintf("selftest --task: %d calls of a crashed run are still in flight", e.Calls)
}

// TaskLock takes the run lock of the state directory sd for the task
// check, without waiting (a *journal.LockedError names the run holding
// it), and refuses while its journal has calls in flight
// (*InFlightError). unlock releases the lock.
func TaskLock(ctx context.Context, sd *journal.StateDir) (unlock func(), err error) {
	lock, err := sd.Lock(ctx, 0)
	if err != nil {
		return nil, err
	}
	j, err := journal.Open(lock, journal.Options{})
	if err != nil {
		lock.Unlock()
		return nil, fmt.Errorf("selftest --task: %w", err)
	}
	inflight := j.InFlight()
	j.Close()
	if len(inflight) > 0 {
		lock.Unlock()
		return nil, &InFlightError{len(inflight)}
	}
	return func() { lock.Unlock() }, nil
}
