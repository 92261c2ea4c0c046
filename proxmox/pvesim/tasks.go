package pvesim

// Worker tasks (pve-common RESTEnvironment fork_worker). A mutating call
// makes its synchronous checks, then starts a task and answers with its
// UPID. The task's begin phase runs at once (checks made inside the
// worker, taking the guest's lock); its finish phase runs after the task
// duration and makes the effect, clears the lock and writes the last log
// line: "TASK OK", "TASK WARNINGS: N" or "TASK ERROR: msg".

import (
	"fmt"
	"strings"
	"time"

	"github.com/felhom/felhom-converge/proxmox"
)

// op is what one kind of task does. Every function runs with Sim.mu held.
type op struct {
	// prelock runs when the task starts, before it takes its lock; an
	// error ends the task at once.
	prelock func(s *Sim, t *task) error
	// lock is the lock the worker takes first (see queue.go); while
	// another task holds it, the task waits.
	lock lockKind
	// giveUp turns the timeout of the wait for the lock into the task's
	// error and undoes what the request did before the worker.
	giveUp func(s *Sim, t *task, err error) error
	// begin runs once the task has its lock; an error ends the task.
	begin func(s *Sim, t *task) error
	// finish makes the effect; it returns the number of warnings.
	finish func(s *Sim, t *task) (int, error)
	// abort undoes what begin did when the task is made to fail.
	abort func(s *Sim, t *task)
	// fail, when set, replaces abort: it ends a task made to fail as
	// Proxmox leaves it when that step fails (a rollback stays locked).
	fail func(s *Sim, t *task, err error) (int, error)
}

var ops map[string]op

func init() { ops = buildOps() }

// logf appends a line to the task log.
func (t *task) logf(format string, args ...any) {
	t.Log = append(t.Log, fmt.Sprintf(format, args...))
}

// startTaskLocked creates and schedules a task and returns its UPID.
func (s *Sim) startTaskLocked(r *request, typ, id, opName string, params map[string]string) (string, error) {
	return s.forkTaskLocked(r.tokenID, r.now, typ, id, opName, params)
}

// forkTaskLocked starts a task of user (a token id) at now; a worker that
// calls another API method (vm_start after a restore) forks one too.
func (s *Sim) forkTaskLocked(user string, now time.Time, typ, id, opName string, params map[string]string) (string, error) {
	st := s.st
	st.NextPID++
	u := proxmox.UPID{
		Node:      st.Node,
		PID:       st.NextPID,
		PStart:    uint64(now.Unix()-st.BootTime) * 100,
		StartTime: now,
		Type:      typ,
		ID:        id,
		User:      user,
	}
	t := &task{UPID: u.String(), PID: u.PID, PStart: u.PStart, StartTime: now.Unix(), Type: typ, ID: id,
		User: user, Status: "running", Op: opName, Params: params, Log: []string{}}
	t.Forced = s.faults.taskFault(typ, id)
	if s.opts.TaskListLag > 0 {
		s.unlisted[t.UPID] = now.Add(s.opts.TaskListLag)
	}
	st.Tasks = append(st.Tasks, t)
	if len(st.Tasks) > maxTasks {
		st.Tasks = append([]*task(nil), st.Tasks[len(st.Tasks)-maxTasks:]...)
	}
	o := ops[opName]
	if o.prelock != nil {
		if err := o.prelock(s, t); err != nil {
			s.endTaskLocked(t, 0, err)
			return t.UPID, s.persistLocked()
		}
	}
	if !s.startWaitingLocked(t, now) && o.begin != nil {
		if err := o.begin(s, t); err != nil {
			s.endTaskLocked(t, 0, err)
			return t.UPID, s.persistLocked()
		}
	}
	if err := s.persistLocked(); err != nil {
		return "", err
	}
	s.scheduleLocked(t.UPID)
	return t.UPID, nil
}

// scheduleLocked finishes the task after the task duration, unless the
// simulator is closed first (then it stays running in the persisted state);
// a task waiting for its lock first polls until it has it. The goroutine
// looks the task up by UPID each time, since the state may have been
// reloaded from the file meanwhile.
func (s *Sim) scheduleLocked(upid string) {
	if s.sched[upid] {
		return
	}
	t := s.st.task(upid)
	if t == nil {
		return
	}
	s.sched[upid] = true
	s.tasks.Add(1)
	go s.runTask(upid, t.Waiting != "")
}

func (s *Sim) runTask(upid string, waiting bool) {
	defer s.tasks.Done()
	for {
		d := s.opts.TaskDuration
		if waiting {
			d = lockPoll
		}
		if d > 0 {
			timer := time.NewTimer(d)
			select {
			case <-timer.C:
			case <-s.stop:
				timer.Stop()
				return
			}
		}
		if done := s.stepTask(upid, &waiting); done {
			return
		}
	}
}

// stepTask lets a waiting task try its lock, or finishes a task whose
// duration has passed. It reports whether the goroutine is done.
func (s *Sim) stepTask(upid string, waiting *bool) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	select {
	case <-s.stop:
		return true
	default:
	}
	unlock, err := s.lockFileLocked()
	if err != nil {
		delete(s.sched, upid)
		return true
	}
	defer unlock()
	if s.refreshLocked() != nil {
		delete(s.sched, upid)
		return true
	}
	t := s.st.task(upid)
	if t == nil || t.Status != "running" {
		delete(s.sched, upid) // another process finished it
		return true
	}
	if t.Waiting != "" {
		s.acquireLocked(t)
		s.persistLocked() //nolint:errcheck // a failed write shows at the next request's write
		*waiting = t.Waiting != ""
		if t.Status != "running" {
			delete(s.sched, upid)
			return true
		}
		return false
	}
	delete(s.sched, upid)
	s.finishTaskLocked(t)
	s.persistLocked() //nolint:errcheck // a failed write shows at the next request's write
	return true
}

func (s *Sim) finishTaskLocked(t *task) {
	o := ops[t.Op]
	if t.Forced != "" && !strings.HasPrefix(t.Forced, "WARNINGS: ") && t.Forced != "OK" {
		forced := fmt.Errorf("%s", t.Forced)
		if o.fail != nil {
			warnings, err := o.fail(s, t, forced)
			s.endTaskLocked(t, warnings, err)
			return
		}
		if o.abort != nil {
			o.abort(s, t)
		}
		s.endTaskLocked(t, 0, forced)
		return
	}
	warnings, err := 0, error(nil)
	if o.finish != nil {
		warnings, err = o.finish(s, t)
	}
	if err == nil && strings.HasPrefix(t.Forced, "WARNINGS: ") {
		var n int
		fmt.Sscanf(t.Forced, "WARNINGS: %d", &n)
		for i := 0; i < n; i++ {
			t.logf("WARN: simulated warning %d", i+1)
		}
		warnings += n
	}
	s.endTaskLocked(t, warnings, err)
}

// endTaskRawLocked ends a worker that exits without writing a TASK line
// (vzdump's exit(-1)); Proxmox reads its status as "unexpected status".
func (s *Sim) endTaskRawLocked(t *task, status string) {
	t.Status = "stopped"
	t.EndTime = s.clock().Unix()
	t.ExitStatus = status
}

func (s *Sim) endTaskLocked(t *task, warnings int, err error) {
	t.Status = "stopped"
	t.EndTime = s.clock().Unix()
	switch {
	case err != nil:
		msg := err.Error()
		if ae, ok := err.(*apiError); ok {
			msg = ae.msg
		}
		msg = strings.TrimSuffix(msg, "\n")
		t.ExitStatus = msg
		t.logf("TASK ERROR: %s", msg)
	case warnings > 0:
		t.ExitStatus = fmt.Sprintf("WARNINGS: %d", warnings)
		t.logf("TASK WARNINGS: %d", warnings)
	default:
		t.ExitStatus = "OK"
		t.logf("TASK OK")
	}
}

// WaitIdle blocks until no task is running or the timeout passes, and
// reports whether all tasks finished. Tests use it to settle the state.
func (s *Sim) WaitIdle(timeout time.Duration) bool {
	deadline := time.Now().Add(timeout)
	for {
		s.mu.Lock()
		busy := false
		if unlock, err := s.lockFileLocked(); err == nil {
			s.refreshLocked() //nolint:errcheck // judged on what is known
			unlock()
		}
		for _, t := range s.st.Tasks {
			busy = busy || t.Status == "running"
		}
		s.mu.Unlock()
		if !busy {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(5 * time.Millisecond)
	}
}
