package pvesim

// Fault injection and request counters, for tests. Requests are matched
// by method and path template, e.g. "PUT", "/nodes/{node}/lxc/{vmid}/config".

import (
	"errors"
	"fmt"
	"strings"
	"sync"
)

type faults struct {
	mu       sync.Mutex
	counters map[string]int
	nth      []*nthFault
	tasks    []*taskFaultRule
	holds    map[int]*Hold
	nextHold int
}

type nthFault struct {
	key       string
	remaining int // requests to let through before failing
	status    int // with after, 0 drops the connection without an answer
	msg       string
	after     bool // the request takes effect first; then the error is its answer
}

type taskFaultRule struct {
	typ, id, exitstatus string
}

// Hold is a pending hold on the response to one matching request: the
// request takes effect, then its response waits until Release.
type Hold struct {
	id       int
	key      string
	taken    bool
	reached  chan struct{}
	release  chan struct{}
	relOnce  sync.Once
	reachOne sync.Once
}

// Reached is closed once a request has been caught by the hold (its effect
// has happened; its response is waiting).
func (h *Hold) Reached() <-chan struct{} { return h.reached }

// Release lets the held response (or the next one, if none is held yet)
// go out. It is safe to call more than once.
func (h *Hold) Release() { h.relOnce.Do(func() { close(h.release) }) }

func (f *faults) init() {
	f.counters = map[string]int{}
	f.holds = map[int]*Hold{}
}

func (f *faults) count(key string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.counters[key]++
}

// failNth returns the injected error if this request is the one to fail,
// and whether the request takes effect before that error is its answer.
func (f *faults) failNth(key string) (after bool, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for i, n := range f.nth {
		if n.key != key {
			continue
		}
		if n.remaining > 0 {
			n.remaining--
			continue
		}
		f.nth = append(f.nth[:i], f.nth[i+1:]...)
		if n.after && n.status == 0 {
			return true, errDropConnection
		}
		return n.after, &apiError{status: n.status, msg: n.msg}
	}
	return false, nil
}

// errDropConnection is the answer of a request whose connection is closed
// without a response.
var errDropConnection = errors.New("connection dropped (injected)")

// taskFault returns the exit status forced on the next task of this type
// (and id, if the rule names one), consuming the rule.
func (f *faults) taskFault(typ, id string) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	for i, t := range f.tasks {
		if t.typ == typ && (t.id == "" || t.id == id) {
			f.tasks = append(f.tasks[:i], f.tasks[i+1:]...)
			return t.exitstatus
		}
	}
	return ""
}

// holdIfMatched blocks the response of a request that a hold is waiting for.
func (f *faults) holdIfMatched(key string) {
	f.mu.Lock()
	var h *Hold
	for _, x := range f.holds {
		if x.key == key && !x.taken && (h == nil || x.id < h.id) {
			h = x
		}
	}
	if h != nil {
		h.taken = true
	}
	f.mu.Unlock()
	if h == nil {
		return
	}
	h.reachOne.Do(func() { close(h.reached) })
	<-h.release
}

func (f *faults) releaseAll() {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, h := range f.holds {
		h.Release()
	}
}

func routeKey(method, tmpl string) (string, error) {
	method = strings.ToUpper(method)
	for _, r := range routes {
		if r.method == method && r.tmpl == tmpl {
			return method + " " + tmpl, nil
		}
	}
	return "", fmt.Errorf("no API method %s %s in the simulator", method, tmpl)
}

// FailNth makes the nth (1-based, counted from now) request matching method
// and path template fail with status and message, before any effect.
func (s *Sim) FailNth(method, pathTemplate string, n, status int, message string) error {
	return s.failNth(method, pathTemplate, n, status, message, false)
}

// FailNthAfter makes the nth matching request take effect (a task it
// starts runs) and then answer status and message instead of its result,
// as a proxy in front of pvedaemon does when its wait for the daemon
// times out ("500 proxy handler failed: got timeout"). Status 0 closes
// the connection without any answer.
func (s *Sim) FailNthAfter(method, pathTemplate string, n, status int, message string) error {
	return s.failNth(method, pathTemplate, n, status, message, true)
}

func (s *Sim) failNth(method, pathTemplate string, n, status int, message string, after bool) error {
	key, err := routeKey(method, pathTemplate)
	if err != nil {
		return err
	}
	if n < 1 {
		return fmt.Errorf("fail the nth request: n must be at least 1, got %d", n)
	}
	if (status < 400 || status > 599) && !(after && status == 0) {
		return fmt.Errorf("fail the nth request: status must be an HTTP error (400-599), got %d", status)
	}
	s.faults.mu.Lock()
	defer s.faults.mu.Unlock()
	s.faults.nth = append(s.faults.nth, &nthFault{key: key, remaining: n - 1, status: status, msg: message, after: after})
	return nil
}

// taskTypes are the worker task types the simulator starts.
var taskTypes = map[string]bool{"vzcreate": true, "vzrestore": true, "vzdestroy": true, "vzstart": true,
	"vzstop": true, "vzshutdown": true, "vzreboot": true, "resize": true, "vzsnapshot": true,
	"vzdelsnapshot": true, "vzrollback": true, "vzdump": true, "move_volume": true, "imgdel": true, "prunebackups": true}

// FailTask makes the next task of taskType (e.g. "vzstart"; for guest id
// id, or any guest when id is "") end with exitstatus. An error text makes
// the task fail without its effect; "WARNINGS: N" lets it succeed with N
// warnings. A failed vzrollback fails as a volume rollback does, after
// the stop: the CT stays stopped and locked "rollback". A failed
// vzdelsnapshot fails as removing a volume snapshot does: the CT stays
// locked "snapshot-delete" and the snapshot keeps "snapstate: delete"
// (with force=1 the failure is a log line and the snapshot goes).
func (s *Sim) FailTask(taskType, id, exitstatus string) {
	s.faults.mu.Lock()
	defer s.faults.mu.Unlock()
	s.faults.tasks = append(s.faults.tasks, &taskFaultRule{typ: taskType, id: id, exitstatus: exitstatus})
}

// FillStorage makes storage sid full (or, with full false, gives it its
// space back). A full thin pool, like any full storage, refuses new
// volumes and growth when the task gets to them, with the storage's own
// error ("lvcreate 'pve/vm-100-disk-1' error: ..."); the state is saved.
func (s *Sim) FillStorage(sid string, full bool) error {
	return s.change(func(st *state) error {
		stor := st.storage(sid)
		if stor == nil {
			return fmt.Errorf("fill storage: no storage %q in the simulator", sid)
		}
		stor.Full = full
		return nil
	})
}

// change applies fn to the current state (reloaded if another process
// wrote it) and saves it, unless fn fails.
func (s *Sim) change(fn func(*state) error) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	unlock, err := s.lockFileLocked()
	if err != nil {
		return err
	}
	defer unlock()
	if err := s.refreshLocked(); err != nil {
		return err
	}
	if err := fn(s.st); err != nil {
		return err
	}
	return s.persistLocked()
}

// Hold catches the next request matching method and path template: it
// takes effect, then its response waits until the hold is released (or
// the simulator closes). A test can so kill a client between the server's
// effect and the client seeing the answer.
func (s *Sim) Hold(method, pathTemplate string) (*Hold, error) {
	key, err := routeKey(method, pathTemplate)
	if err != nil {
		return nil, err
	}
	s.faults.mu.Lock()
	defer s.faults.mu.Unlock()
	s.faults.nextHold++
	h := &Hold{id: s.faults.nextHold, key: key, reached: make(chan struct{}), release: make(chan struct{})}
	s.faults.holds[h.id] = h
	return h, nil
}

// Counters returns how many requests each "METHOD /path/{template}" has
// received (unmatched paths count under "METHOD (unknown)").
func (s *Sim) Counters() map[string]int {
	s.faults.mu.Lock()
	defer s.faults.mu.Unlock()
	out := make(map[string]int, len(s.faults.counters))
	for k, v := range s.faults.counters {
		out[k] = v
	}
	return out
}
