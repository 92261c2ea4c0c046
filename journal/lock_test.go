package journal

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"
)

func TestLockBusyNamesTheHolderInAnotherProcess(t *testing.T) {
	dir := t.TempDir()
	d, err := OpenStateDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	cmd, in, out := helper(t, "lock", dir)
	expectLine(t, out, fmt.Sprint("locked ", cmd.Process.Pid))

	for _, timeout := range []time.Duration{0, 30 * time.Millisecond} {
		l, err := d.Lock(context.Background(), timeout)
		var le *LockedError
		if !errors.As(err, &le) {
			if l != nil {
				l.Unlock()
			}
			t.Fatalf("Lock(%v) while another process holds it: %v, want *LockedError", timeout, err)
		}
		if !le.Known || le.Holder.PID != cmd.Process.Pid || le.Holder.UID != os.Geteuid() || le.Holder.Since.IsZero() {
			t.Errorf("holder %+v (known %v), want pid %d", le.Holder, le.Known, cmd.Process.Pid)
		}
		msg := err.Error()
		if !strings.Contains(msg, fmt.Sprintf("pid %d", cmd.Process.Pid)) || !strings.Contains(msg, "started 20") {
			t.Errorf("message %q does not name the holder's pid and start time", msg)
		}
		if le.Waited != timeout {
			t.Errorf("Waited %v, want %v", le.Waited, timeout)
		}
	}

	// A clean release by the holder lets a waiter in.
	got := make(chan error, 1)
	go func() {
		l, err := d.Lock(context.Background(), time.Minute)
		if err == nil {
			if l.Holder().PID != os.Getpid() {
				err = fmt.Errorf("holder pid %d", l.Holder().PID)
			}
			l.Unlock()
		}
		got <- err
	}()
	in.Close()
	if err := <-got; err != nil {
		t.Fatalf("waiting for a released lock: %v", err)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("helper: %v", err)
	}
}

func TestLockReleasedWhenHolderIsKilled(t *testing.T) {
	dir := t.TempDir()
	d, err := OpenStateDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	cmd, _, out := helper(t, "lock", dir)
	expectLine(t, out, "locked ")
	if _, err := d.Lock(context.Background(), 0); err == nil {
		t.Fatal("took a lock another process holds")
	}
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()
	// The kernel dropped the dead holder's lock: no clean-up, no wait.
	l, err := d.Lock(context.Background(), 0)
	if err != nil {
		t.Fatalf("lock after the holder was killed: %v", err)
	}
	defer l.Unlock()
	if h := l.Holder(); h.PID != os.Getpid() {
		t.Errorf("holder %+v", h)
	}
	// What the next waiter reads is this holder, not the dead one.
	data, err := os.ReadFile(dir + "/" + LockFile)
	if err != nil || !strings.Contains(string(data), fmt.Sprintf(`"pid":%d,`, os.Getpid())) {
		t.Errorf("lock file %q, %v", data, err)
	}
}

func TestLockTwiceInOneProcessExcludes(t *testing.T) {
	d, err := OpenStateDir(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	l, err := d.Lock(context.Background(), 0)
	if err != nil {
		t.Fatal(err)
	}
	_, err = d.Lock(context.Background(), 0)
	var le *LockedError
	if !errors.As(err, &le) || le.Holder.PID != os.Getpid() {
		t.Fatalf("second Lock: %v", err)
	}
	if err := l.Unlock(); err != nil {
		t.Fatal(err)
	}
	if err := l.Unlock(); err != nil {
		t.Fatalf("second Unlock: %v", err)
	}
	if l.Held() {
		t.Error("Held after Unlock")
	}
	l2, err := d.Lock(context.Background(), 0)
	if err != nil {
		t.Fatalf("Lock after Unlock: %v", err)
	}
	l2.Unlock()
}

func TestLockWaitEndsWithContext(t *testing.T) {
	d, err := OpenStateDir(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	l, err := d.Lock(context.Background(), 0)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Unlock()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err = d.Lock(ctx, time.Hour)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("got %v, want context.Canceled", err)
	}
}

func TestLockedErrorWithoutHolderRecord(t *testing.T) {
	e := &LockedError{Path: "/s/lock"}
	if msg := e.Error(); !strings.Contains(msg, "not yet written its pid") || !strings.Contains(msg, "did not wait") {
		t.Errorf("message %q", msg)
	}
}
