package pvesim

import (
	"encoding/json"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// holdingSim is a simulator whose tasks run for an hour unless a test
// ends them with finishNow.
func holdingSim(t *testing.T) *Sim {
	t.Helper()
	s, err := New(Options{TaskDuration: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// send does one form request through the handler, without waiting for
// any task, and returns the status and the decoded body.
func send(s *Sim, method, path, form string) (int, map[string]any) {
	req := httptest.NewRequest(method, "/api2/json"+path, strings.NewReader(form))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Authorization", "PVEAPIToken="+s.Token("converge"))
	w := httptest.NewRecorder()
	s.Handler().ServeHTTP(w, req)
	var body map[string]any
	json.Unmarshal(w.Body.Bytes(), &body)
	return w.Code, body
}

// startTask sends a request that starts a task and returns its UPID.
func startTask(t *testing.T, s *Sim, method, path, form string) string {
	t.Helper()
	code, body := send(s, method, path, form)
	upid, ok := body["data"].(string)
	if code != 200 || !ok {
		t.Fatalf("%s %s: %d %v", method, path, code, body)
	}
	return upid
}

// finishNow ends a running task that holds its lock, as its duration
// passing would.
func finishNow(t *testing.T, s *Sim, upid string) {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	tk := s.st.task(upid)
	if tk == nil || tk.Status != "running" || tk.Waiting != "" {
		t.Fatalf("task %s is not running with its lock: %+v", upid, tk)
	}
	s.finishTaskLocked(tk)
}

// eventually polls cond for a few seconds.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatalf("%s: not within 5s", what)
}

// taskState reads a task's waiting lock, status and log.
func taskState(s *Sim, upid string) (waiting, status, log string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	tk := s.st.task(upid)
	return tk.Waiting, tk.ExitStatus, strings.Join(tk.Log, "\n")
}

// TestConfigWriteWaitsForConfigFlock: update_vm's lock_config waits for
// the start task holding the CT's flock, then writes.
func TestConfigWriteWaitsForConfigFlock(t *testing.T) {
	t.Parallel()
	s := holdingSim(t)
	holder := startTask(t, s, "POST", "/nodes/pve/lxc/110/status/start", "")
	done := make(chan int, 1)
	go func() {
		code, _ := send(s, "PUT", "/nodes/pve/lxc/110/config", "description=waited")
		done <- code
	}()
	select {
	case code := <-done:
		t.Fatalf("the write returned %d while the start held the flock", code)
	case <-time.After(100 * time.Millisecond):
	}
	finishNow(t, s, holder)
	select {
	case code := <-done:
		if code != 200 {
			t.Fatalf("the write after the start: %d", code)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the write did not go on once the flock was free")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if g := s.st.Guests[110]; g.Conf["description"] != "waited\n" || !g.Running {
		t.Errorf("110 after: running %v, config %v", g.Running, g.Conf)
	}
}

// request is one API call: method, path and form body.
type request3 [3]string

// queueBehind starts the holder's task and then the waiter's, checks
// that the waiter waits for lock having logged waitLog, runs meanwhile,
// ends the holder, lets the waiter take the lock and ends it. It returns
// the waiter's exit status and log.
func queueBehind(t *testing.T, s *Sim, holder, waiter request3, lock, waitLog string, meanwhile func()) (string, string) {
	t.Helper()
	h := startTask(t, s, holder[0], holder[1], holder[2])
	w := startTask(t, s, waiter[0], waiter[1], waiter[2])
	if got, _, log := taskState(s, w); got != lock || log != waitLog {
		t.Fatalf("the waiting task: waiting %q, log %q", got, log)
	}
	meanwhile()
	finishNow(t, s, h)
	eventually(t, "the waiting task takes its lock", func() bool { got, _, _ := taskState(s, w); return got == "" })
	finishNow(t, s, w)
	_, exit, log := taskState(s, w)
	return exit, log
}

// TestWorkerWaitsForConfigFlock: a snapshot task behind a start logs
// "trying to acquire lock...", waits, and goes on (" OK") once the start
// ends.
func TestWorkerWaitsForConfigFlock(t *testing.T) {
	t.Parallel()
	s := holdingSim(t)
	exit, log := queueBehind(t, s, request3{"POST", "/nodes/pve/lxc/110/status/start", ""},
		request3{"POST", "/nodes/pve/lxc/110/snapshot", "snapname=after"}, "config", "trying to acquire lock...", func() {})
	if exit != "OK" || !strings.HasPrefix(log, "trying to acquire lock...\n OK\n") {
		t.Errorf("the snapshot: %s\n%s", exit, log)
	}
}

// TestVzdumpQueuesBehindRunningBackup follows PVE::VZDump getlock: a
// second backup job waits for the first ("trying to get global lock -
// waiting..."), its guest not yet locked, and runs once the first ends.
func TestVzdumpQueuesBehindRunningBackup(t *testing.T) {
	t.Parallel()
	s := holdingSim(t)
	exit, log := queueBehind(t, s, request3{"POST", "/nodes/pve/vzdump", "vmid=100&remove=0&prune-backups=keep-all%3D1"},
		request3{"POST", "/nodes/pve/vzdump", "vmid=101&remove=0&prune-backups=keep-all%3D1"},
		"vzdump", "INFO: trying to get global lock - waiting...", func() {
			s.mu.Lock()
			lock := s.st.Guests[101].Conf["lock"]
			s.mu.Unlock()
			if lock != "" {
				t.Errorf("101 locked %q while its job waits", lock)
			}
		})
	if exit != "OK" || !strings.HasPrefix(log, "INFO: trying to get global lock - waiting...\nINFO: got global lock\nINFO: starting new backup job: vzdump 101 ") {
		t.Errorf("the queued job: %s\n%s", exit, log)
	}
}

// TestWriteDuringDestroyFindsCTGone: a config write waits for the
// destroy holding the flock, then finds the config gone.
func TestWriteDuringDestroyFindsCTGone(t *testing.T) {
	t.Parallel()
	s := holdingSim(t)
	holder := startTask(t, s, "DELETE", "/nodes/pve/lxc/110", "")
	type answer struct {
		code int
		msg  any
	}
	done := make(chan answer, 1)
	go func() {
		code, body := send(s, "PUT", "/nodes/pve/lxc/110/config", "description=late")
		done <- answer{code, body["message"]}
	}()
	time.Sleep(50 * time.Millisecond)
	finishNow(t, s, holder)
	select {
	case got := <-done:
		if got.code != 500 || got.msg != "Configuration file 'nodes/pve/lxc/110.conf' does not exist\n" {
			t.Errorf("the write after the destroy: %d %v", got.code, got.msg)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the write did not return")
	}
}
