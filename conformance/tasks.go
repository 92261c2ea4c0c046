package conformance

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/felhom/felhom-converge/proxmox"
)

// status waits for the task upid to stop and returns its last status.
func (r *run) status(ctx context.Context, upid proxmox.UPID) (proxmox.TaskStatus, error) {
	ctx, cancel := context.WithTimeout(ctx, r.o.TaskTimeout)
	defer cancel()
	interval := r.o.Poll
	for {
		st, err := r.c.TaskStatusOnce(ctx, upid)
		if err != nil {
			return st, fmt.Errorf("read the status of task %s: %w", upid, err)
		}
		if !st.Running() {
			return st, nil
		}
		select {
		case <-ctx.Done():
			return st, fmt.Errorf("task %s still running after %s: %w", upid, r.o.TaskTimeout, ctx.Err())
		case <-time.After(interval):
		}
		interval = min(2*interval, time.Second)
	}
}

// succeeded reports whether an exit status is Proxmox's success: OK, or
// WARNINGS: N.
func succeeded(exit string) bool { return exit == "OK" || strings.HasPrefix(exit, "WARNINGS: ") }

// done waits for the task a call started and fails unless it succeeded.
func (r *run) done(ctx context.Context, upid proxmox.UPID, err error) (proxmox.TaskStatus, error) {
	if err != nil {
		return proxmox.TaskStatus{}, err
	}
	st, err := r.status(ctx, upid)
	if err != nil {
		return st, err
	}
	if !succeeded(st.ExitStatus) {
		return st, fmt.Errorf("the %s task failed: %s", upid.Type, st.ExitStatus)
	}
	return st, nil
}

// raw makes a call the typed methods do not make and returns the task it
// started.
func (r *run) rawTask(ctx context.Context, method, path string, form map[string]string) (proxmox.UPID, error) {
	a, err := r.c.Raw(ctx, method, path, values(form))
	if err != nil {
		return proxmox.UPID{}, err
	}
	s, err := strconv.Unquote(string(a.Data))
	if err != nil {
		return proxmox.UPID{}, fmt.Errorf("%s %s: want a task UPID, got %.100s", method, path, a.Data)
	}
	return proxmox.ParseUPID(s)
}

func values(form map[string]string) map[string][]string {
	v := map[string][]string{}
	for k, x := range form {
		v[k] = []string{x}
	}
	return v
}

// guestPath is the API path of the run's guest, with more segments.
func (r *run) guestPath(more ...string) string {
	return "/nodes/" + r.c.Node() + "/lxc/" + strconv.Itoa(r.vmid) + strings.Join(append([]string{""}, more...), "/")
}

// config reads the guest's config (pending values overlaid).
func (r *run) config(ctx context.Context) (proxmox.GuestConfig, error) {
	conf, err := r.c.GuestConfig(ctx, r.vmid)
	if err != nil {
		return conf, fmt.Errorf("read the guest's config: %w", err)
	}
	return conf, nil
}

// pending reads the guest's config as GET pending gives it: each key's
// active value and what waits for the next start.
func (r *run) pending(ctx context.Context) (map[string]proxmox.PendingEntry, error) {
	entries, err := r.c.GuestPending(ctx, r.vmid)
	if err != nil {
		return nil, fmt.Errorf("read the guest's pending config: %w", err)
	}
	out := map[string]proxmox.PendingEntry{}
	for _, e := range entries {
		out[e.Key] = e
	}
	return out, nil
}

// view is the guest as a check reads it after a step: its config
// (pending values overlaid), GET pending's entries by key, and whether it
// runs.
type view struct {
	conf    proxmox.GuestConfig
	pending map[string]proxmox.PendingEntry
	running bool
}

// look reads the guest's config, pending entries and run state.
func (r *run) look(ctx context.Context) (view, error) {
	var v view
	var err error
	if v.conf, err = r.config(ctx); err != nil {
		return v, err
	}
	if v.pending, err = r.pending(ctx); err != nil {
		return v, err
	}
	v.running, err = r.running(ctx)
	return v, err
}

// after waits for the task a call started, fails unless it succeeded, and
// reads the guest as the task left it.
func (r *run) after(ctx context.Context, upid proxmox.UPID, err error) (proxmox.TaskStatus, view, error) {
	st, err := r.done(ctx, upid, err)
	if err != nil {
		return st, view{}, err
	}
	v, err := r.look(ctx)
	return st, v, err
}

// ended waits for the task a call started, whatever its outcome.
func (r *run) ended(ctx context.Context, upid proxmox.UPID, err error) (proxmox.TaskStatus, error) {
	if err != nil {
		return proxmox.TaskStatus{}, err
	}
	return r.status(ctx, upid)
}

// running reports whether the guest runs.
func (r *run) running(ctx context.Context) (bool, error) {
	st, err := r.c.GuestStatus(ctx, r.vmid)
	if err != nil {
		return false, fmt.Errorf("read the guest's status: %w", err)
	}
	return st.Status == "running", nil
}

// ensure starts or stops the guest so that it runs (or not).
func (r *run) ensure(ctx context.Context, run bool) error {
	now, err := r.running(ctx)
	if err != nil || now == run {
		return err
	}
	var upid proxmox.UPID
	if run {
		upid, err = r.c.Start(ctx, r.vmid)
	} else {
		upid, err = r.c.Stop(ctx, r.vmid)
	}
	if _, err := r.done(ctx, upid, err); err != nil {
		return fmt.Errorf("could not %s the guest first: %w", map[bool]string{true: "start", false: "stop"}[run], err)
	}
	return nil
}

// prop reads a property string ("name=eth0,bridge=vmbr0") into a map; a
// value without a key belongs to defaultKey.
func prop(s, defaultKey string) map[string]string {
	m, err := proxmox.ParsePropertyString(s, defaultKey)
	if err != nil {
		return map[string]string{}
	}
	return m
}

// waitLock polls the guest's config until its lock is want, the task upid
// stops or the wait times out. It reports whether the lock was seen.
func (r *run) waitLock(ctx context.Context, upid proxmox.UPID, want string) (bool, error) {
	deadline := time.Now().Add(r.o.TaskTimeout)
	for time.Now().Before(deadline) {
		conf, err := r.config(ctx)
		if err != nil {
			return false, err
		}
		if conf.Lock() == want {
			return true, nil
		}
		st, err := r.c.TaskStatusOnce(ctx, upid)
		if err != nil {
			return false, fmt.Errorf("read the status of task %s: %w", upid, err)
		}
		if !st.Running() {
			return false, nil
		}
		select {
		case <-ctx.Done():
			return false, ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
	return false, fmt.Errorf("task %s still running after %s", upid, r.o.TaskTimeout)
}
