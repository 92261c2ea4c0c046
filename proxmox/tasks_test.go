package proxmox

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

const testUPID = "UPID:pve:0002A3F1:0034B1C2:6650A1B3:vzstart:100:felhom@pve!converge:"

// taskServer plays a task that reports "running" for the first `running`
// polls, then stops with exit; its log is the given lines.
func taskServer(t *testing.T, running int, exit string, log []string) (*pveServer, *atomic.Int32) {
	var polls atomic.Int32
	s := newPVEServer(t, func(r recorded) reply {
		switch {
		case strings.HasSuffix(r.Path, "/status"):
			n := polls.Add(1)
			st := map[string]any{"upid": testUPID, "node": "pve", "pid": 173041, "pstart": 3453378, "starttime": 1716560307,
				"type": "vzstart", "id": "100", "user": "felhom@pve", "tokenid": "converge", "status": "running"}
			if int(n) > running {
				st["status"] = "stopped"
				st["exitstatus"] = exit
			}
			b, _ := json.Marshal(map[string]any{"data": st})
			return ok(string(b))
		case r.Method == "POST":
			return ok(`{"data":"` + testUPID + `"}`)
		case strings.HasSuffix(r.Path, "/log"):
			start, _ := strconv.Atoi(r.Query.Get("start"))
			limit, _ := strconv.Atoi(r.Query.Get("limit"))
			var data []map[string]any
			for i := start; i < len(log) && (limit == 0 || i < start+limit); i++ {
				data = append(data, map[string]any{"n": i + 1, "t": log[i]})
			}
			b, _ := json.Marshal(map[string]any{"data": data, "total": len(log)})
			return ok(string(b))
		}
		return reply{Status: 501, Body: `{"data":null}`}
	})
	return s, &polls
}

func fastWait() WaitOptions {
	return WaitOptions{MinInterval: time.Millisecond, MaxInterval: 4 * time.Millisecond}
}

func TestWaitTask(t *testing.T) {
	upid, err := ParseUPID(testUPID)
	if err != nil {
		t.Fatal(err)
	}
	failLog := []string{"starting", "Permission check failed (/vms/100, VM.PowerMgmt)", "TASK ERROR: Permission check failed (/vms/100, VM.PowerMgmt)"}

	t.Run("running then OK", func(t *testing.T) {
		s, polls := taskServer(t, 3, "OK", []string{"TASK OK"})
		c := newTestClient(t, s)
		var seen []string
		o := fastWait()
		o.Progress = func(st TaskStatus) { seen = append(seen, st.Status) }
		if err := c.WaitTask(context.Background(), upid, o); err != nil {
			t.Fatal(err)
		}
		if polls.Load() != 4 || strings.Join(seen, ",") != "running,running,running,stopped" {
			t.Fatalf("polls %d, progress %v", polls.Load(), seen)
		}
	})
	t.Run("running then failed with a privilege in the exit status", func(t *testing.T) {
		s, _ := taskServer(t, 1, "Permission check failed (/vms/100, VM.PowerMgmt)", failLog)
		c := newTestClient(t, s)
		err := c.WaitTask(context.Background(), upid, fastWait())
		var te *TaskError
		if !errors.As(err, &te) {
			t.Fatalf("error %T %v, want *TaskError", err, err)
		}
		if te.Privilege != "VM.PowerMgmt" || te.ACLPath != "/vms/100" || te.UPID != upid {
			t.Errorf("got %+v", te)
		}
		if strings.Join(te.Log, "|") != strings.Join(failLog, "|") {
			t.Errorf("log %q", te.Log)
		}
		if !strings.Contains(err.Error(), "VM.PowerMgmt") || !IsPermissionDenied(err) || IsTaskWarnings(err) {
			t.Errorf("Error() = %q", err)
		}
	})
	t.Run("locked inside the task", func(t *testing.T) {
		s, _ := taskServer(t, 0, "CT is locked (backup)", nil)
		c := newTestClient(t, s)
		o := fastWait()
		o.LogLines = -1
		err := c.WaitTask(context.Background(), upid, o)
		if lock, ok := IsLocked(err); !ok || lock != "backup" {
			t.Fatalf("IsLocked(%v) = %q, %v", err, lock, ok)
		}
		for _, r := range s.Requests() {
			if strings.HasSuffix(r.Path, "/log") {
				t.Error("log fetched although LogLines < 0")
			}
		}
	})
	t.Run("warnings are success, reported distinctly", func(t *testing.T) {
		s, _ := taskServer(t, 1, "WARNINGS: 2", []string{"extracting", "WARN: a", "WARN: b", "TASK WARNINGS: 2"})
		c := newTestClient(t, s)
		err := c.WaitTask(context.Background(), upid, fastWait())
		var w *TaskWarnings
		if !errors.As(err, &w) || !IsTaskWarnings(err) {
			t.Fatalf("error %T %v, want *TaskWarnings", err, err)
		}
		var te *TaskError
		if w.Count != 2 || strings.Join(w.Log, "|") != "WARN: a|WARN: b" || errors.As(err, &te) {
			t.Errorf("got %+v", w)
		}
	})
	t.Run("timeout while still running", func(t *testing.T) {
		s, _ := taskServer(t, 1<<30, "OK", nil)
		c := newTestClient(t, s)
		o := fastWait()
		o.Timeout = 30 * time.Millisecond
		start := time.Now()
		err := c.WaitTask(context.Background(), upid, o)
		if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "still running") {
			t.Fatalf("error %v, want a deadline", err)
		}
		if d := time.Since(start); d > 2*time.Second {
			t.Errorf("took %s", d)
		}
	})
	t.Run("context cancel", func(t *testing.T) {
		s, polls := taskServer(t, 1<<30, "OK", nil)
		c := newTestClient(t, s)
		ctx, cancel := context.WithCancel(context.Background())
		o := fastWait()
		o.Progress = func(TaskStatus) {
			if polls.Load() == 3 {
				cancel()
			}
		}
		err := c.WaitTask(ctx, upid, o)
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("error %v, want context.Canceled", err)
		}
		if n := polls.Load(); n != 3 {
			t.Errorf("polled %d times after cancel, want 3", n)
		}
	})
	t.Run("backoff doubles up to the maximum", func(t *testing.T) {
		s, _ := taskServer(t, 1<<30, "OK", nil)
		c := newTestClient(t, s)
		var at []time.Time
		o := WaitOptions{MinInterval: 5 * time.Millisecond, MaxInterval: 20 * time.Millisecond, Timeout: 500 * time.Millisecond,
			Progress: func(TaskStatus) { at = append(at, time.Now()) }}
		_ = c.WaitTask(context.Background(), upid, o)
		// Sleeps are lower bounds whatever the load: the gaps must grow
		// 5, 10, 20, 20, ... ms. Without a cap, 500ms would hold at most
		// 7 polls (5+10+20+40+80+160+320 > 500); with it, far more.
		if len(at) < 10 {
			t.Fatalf("%d polls in 500ms: the interval is not capped at 20ms", len(at))
		}
		for i, want := range []time.Duration{5, 10, 20, 20} {
			if gap := at[i+1].Sub(at[i]); gap < want*time.Millisecond-time.Millisecond {
				t.Errorf("gap %d is %s, want at least %dms", i, gap, want)
			}
		}
	})
}

// A status poll that fails is not the task failing: transient failures
// (pveproxy restarting during a long task) are polled through, anything
// else ends the wait with an error that is not a *TaskError.
func TestWaitTaskStatusPollFails(t *testing.T) {
	upid, err := ParseUPID(testUPID)
	if err != nil {
		t.Fatal(err)
	}
	stopped := `{"data":{"upid":"` + testUPID + `","node":"pve","pid":173041,"pstart":3453378,"starttime":1716560307,` +
		`"type":"vzstart","id":"100","user":"felhom@pve","tokenid":"converge","status":"stopped","exitstatus":"OK"}}`
	cases := []struct {
		name      string
		fail      reply // the answer to the first `failures` status polls
		failures  int
		outage    time.Duration // WaitOptions.MaxPollOutage
		wantErr   bool
		wantPolls int32 // status requests made, retries included
	}{
		// Five failed requests are more than one poll's GET retries: the
		// wait itself must carry on.
		{"503 for longer than one poll's retries", reply{Status: 503, Reason: "Service Unavailable"}, 5, 0, false, 6},
		{"dropped connections", reply{Status: 0}, 5, 0, false, 6},
		{"595 while pveproxy cannot reach the node", reply{Status: 595, Reason: "Connection refused"}, 4, 0, false, 5},
		{"403 on the status is final at once", reply{Status: 403, Reason: "Permission check failed (/nodes/pve, Sys.Audit)", Body: `{"data":null}`}, 1, 0, true, 1},
		{"400 no such task is final at once", reply{Status: 400, Reason: "Parameter verification failed.", Body: `{"data":null,"errors":{"upid":"no such task"}}`}, 1, 0, true, 1},
		{"an outage longer than MaxPollOutage gives up", reply{Status: 503}, 1 << 30, 20 * time.Millisecond, true, -1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var polls atomic.Int32
			s := newPVEServer(t, func(r recorded) reply {
				if int(polls.Add(1)) <= tc.failures {
					return tc.fail
				}
				return ok(stopped)
			})
			c := newTestClient(t, s)
			c.backoff = time.Millisecond
			o := fastWait()
			o.MaxPollOutage = tc.outage
			err := c.WaitTask(context.Background(), upid, o)
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v, want error %v", err, tc.wantErr)
			}
			if tc.wantPolls >= 0 && polls.Load() != tc.wantPolls {
				t.Errorf("%d status requests, want %d", polls.Load(), tc.wantPolls)
			}
			if err == nil {
				return
			}
			var te *TaskError
			if errors.As(err, &te) || IsTaskWarnings(err) {
				t.Errorf("a failed poll reads as the task's outcome: %v", err)
			}
			if !strings.Contains(err.Error(), "may still be running") {
				t.Errorf("error %q does not say the task may still be running", err)
			}
		})
	}
}

// A status answer that is neither running nor stopped is not a verdict.
func TestWaitTaskUnexpectedStatus(t *testing.T) {
	upid, _ := ParseUPID(testUPID)
	s := newPVEServer(t, func(recorded) reply { return ok(`{"data":null}`) })
	c := newTestClient(t, s)
	err := c.WaitTask(context.Background(), upid, fastWait())
	var te *TaskError
	if err == nil || errors.As(err, &te) || !strings.Contains(err.Error(), "unexpected task status") {
		t.Fatalf("err = %v, want an unexpected-status error", err)
	}
}

func TestTaskLogTail(t *testing.T) {
	upid, _ := ParseUPID(testUPID)
	var log []string
	for i := 1; i <= 120; i++ {
		log = append(log, fmt.Sprintf("line %d", i))
	}
	s, _ := taskServer(t, 0, "OK", log)
	c := newTestClient(t, s)
	cases := []struct {
		name        string
		n           int
		first, last string
		count       int
	}{
		{"last 5 of 120", 5, "line 116", "line 120", 5},
		{"more than there are", 500, "line 1", "line 120", 120},
		{"all with n=0 (limit=0 means all)", 0, "line 1", "line 120", 120},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := c.TaskLogTail(context.Background(), upid, tc.n)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != tc.count || got[0] != tc.first || got[len(got)-1] != tc.last {
				t.Fatalf("got %d lines %q..%q", len(got), got[0], got[len(got)-1])
			}
		})
	}
}
