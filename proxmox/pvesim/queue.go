package pvesim

// Locks a task or a request waits for: vzdump's node-wide lock
// (PVE/VZDump.pm getlock, /var/run/vzdump.lock) and the config flock of a
// guest (pve-guest-common AbstractConfig lock_config, pve-common
// lock_file_full, /run/lock/lxc/pve-config-VMID.lock). A task that finds
// its lock held keeps running and waits, logging what Proxmox logs, until
// the holder ends or its bound passes.

import (
	"fmt"
	"strconv"
	"time"
)

// lockKind is which lock a task's worker takes before its work.
type lockKind int

const (
	lockNone lockKind = iota
	// lockConfigBrief: the worker takes the config flock for a moment
	// (snapshot, snapshot delete, rollback): it waits for a holder.
	lockConfigBrief
	// lockConfigWhole: the worker holds the config flock from start to
	// end (start, stop, shutdown, reboot, resize, create, destroy).
	lockConfigWhole
	// lockVzdump: vzdump's node-wide lock, held for the whole job.
	lockVzdump
)

// lockPoll is how often a waiting task or request looks at its lock.
const lockPoll = 10 * time.Millisecond

// Settings are run-time settings of the simulator. They are kept with the
// state, so every process sharing a state file uses them. A zero field
// means Proxmox's own value.
type Settings struct {
	// ConfigLockTimeout bounds the wait for a guest's config flock
	// (lock_config's 10 s; create_and_lock_config waits half of it, as
	// Proxmox waits 5 s there).
	ConfigLockTimeout time.Duration `json:"config_lock_timeout,omitempty"`
	// VzdumpLockwaitMinute is how long one minute of vzdump's lockwait
	// lasts: a backup waits lockwait minutes (default 180) for the
	// node-wide lock of a running backup job.
	VzdumpLockwaitMinute time.Duration `json:"vzdump_lockwait_minute,omitempty"`
}

func (st Settings) configLockTimeout() time.Duration {
	if st.ConfigLockTimeout > 0 {
		return st.ConfigLockTimeout
	}
	return 10 * time.Second
}

func (st Settings) lockwaitMinute() time.Duration {
	if st.VzdumpLockwaitMinute > 0 {
		return st.VzdumpLockwaitMinute
	}
	return time.Minute
}

// Settings returns the simulator's run-time settings as set (zero fields:
// Proxmox's values).
func (s *Sim) Settings() Settings {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.st.Settings
}

// SetSettings replaces the run-time settings and saves the state.
func (s *Sim) SetSettings(set Settings) error {
	if set.ConfigLockTimeout < 0 || set.VzdumpLockwaitMinute < 0 {
		return fmt.Errorf("simulator settings: durations must not be negative")
	}
	return s.change(func(st *state) error {
		st.Settings = set
		return nil
	})
}

// configLockPath is LXC::Config config_file_lock.
func configLockPath(vmid int) string {
	return fmt.Sprintf("/run/lock/lxc/pve-config-%d.lock", vmid)
}

// flockHolder is the running task holding vmid's config flock, if any.
func (st *state) flockHolder(vmid int) *task {
	for _, t := range st.Tasks {
		if t.Status == "running" && t.Waiting == "" && ops[t.Op].lock == lockConfigWhole && taskVMID(t) == vmid {
			return t
		}
	}
	return nil
}

// lockBusy reports whether the lock t's worker takes is held by another
// task, or wanted by one that has waited longer.
func (st *state) lockBusy(t *task) bool {
	kind := ops[t.Op].lock
	if kind == lockNone {
		return false
	}
	for _, o := range st.Tasks {
		if o == t || o.Status != "running" {
			continue
		}
		ok := ops[o.Op].lock
		switch {
		case kind == lockVzdump && ok == lockVzdump:
		case kind != lockVzdump && ok != lockVzdump && ok != lockNone && taskVMID(o) == taskVMID(t):
			if o.Waiting == "" && ok != lockConfigWhole {
				continue // it took the flock only for a moment
			}
		default:
			continue
		}
		if o.Waiting == "" || o.StartTime < t.StartTime || (o.StartTime == t.StartTime && o.PID < t.PID) {
			return true
		}
	}
	return false
}

// startWaitingLocked makes t wait for its lock, if another task holds it.
func (s *Sim) startWaitingLocked(t *task, now time.Time) bool {
	if !s.st.lockBusy(t) {
		return false
	}
	set := s.st.Settings
	bound := set.configLockTimeout()
	t.Waiting = "config"
	if ops[t.Op].lock == lockVzdump {
		t.Waiting = "vzdump"
		minutes := 180
		if n, err := strconv.Atoi(t.Params["lockwait"]); err == nil && n > 0 {
			minutes = n
		}
		bound = time.Duration(minutes) * set.lockwaitMinute()
		t.logf("INFO: trying to get global lock - waiting...")
	} else {
		t.logf("trying to acquire lock...")
	}
	t.WaitUntil = now.Add(bound).UnixMilli()
	return true
}

// acquireLocked lets a waiting task take its lock and begin, or ends it
// when its bound has passed.
func (s *Sim) acquireLocked(t *task) {
	vzdump := t.Waiting == "vzdump"
	if s.st.lockBusy(t) {
		if s.clock().UnixMilli() < t.WaitUntil {
			return
		}
		t.Waiting = ""
		if vzdump {
			// getlock fails and the worker exits without a TASK line.
			t.logf("ERROR: can't acquire lock '/var/run/vzdump.lock' - got timeout")
			s.endTaskRawLocked(t, "unexpected status")
			return
		}
		err := fmt.Errorf("can't lock file '%s' - got timeout", configLockPath(taskVMID(t)))
		if giveUp := ops[t.Op].giveUp; giveUp != nil {
			err = giveUp(s, t, err)
		}
		s.endTaskLocked(t, 0, err)
		return
	}
	t.Waiting, t.WaitUntil = "", 0
	if vzdump {
		t.logf("INFO: got global lock")
	} else {
		t.logf(" OK")
	}
	if b := ops[t.Op].begin; b != nil {
		if err := b(s, t); err != nil {
			s.endTaskLocked(t, 0, err)
		}
	}
}

// flockBusy is a request that found its guest's config flock held; the
// dispatcher retries it until the bound passes.
type flockBusy struct {
	bound time.Duration
	err   error // the answer once the bound has passed
}

func (e *flockBusy) Error() string { return e.err.Error() }

// waitConfigLock is lock_config in a synchronous API method (PUT config,
// PUT snapshot config): a task holding the guest's flock makes the
// request wait, and fail after the bound.
func waitConfigLock(r *request) error {
	vmid := r.vmid()
	if r.s.st.flockHolder(vmid) == nil {
		return nil
	}
	return &flockBusy{bound: r.s.st.Settings.configLockTimeout(),
		err: failf("can't lock file '%s' - got timeout", configLockPath(vmid))}
}

// waitCreateLock is create_and_lock_config (5 s, half the config lock
// bound) before a restore over an existing CT; create_vm prefixes the
// error.
func waitCreateLock(r *request) error {
	vmid := r.vmid()
	if r.s.st.flockHolder(vmid) == nil {
		return nil
	}
	verb := "create"
	if r.params["restore"] == "1" {
		verb = "restore"
	}
	return &flockBusy{bound: r.s.st.Settings.configLockTimeout() / 2,
		err: failf("unable to %s CT %d - can't lock file '%s' - got timeout", verb, vmid, configLockPath(vmid))}
}
