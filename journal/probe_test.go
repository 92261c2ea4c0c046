package journal

import (
	"context"
	"os"
	"os/exec"
	"testing"
	"time"
)

func TestInspectLockSeesAHolderWithoutTakingTheLock(t *testing.T) {
	if _, err := os.Stat(procLocks); err != nil {
		t.Skip("no /proc/locks here")
	}
	dir := t.TempDir()
	d, err := OpenStateDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	ro, err := InspectStateDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if s, err := ro.InspectLock(); err != nil || s.Held {
		t.Fatalf("before any run: %+v %v", s, err)
	}
	l, err := d.Lock(context.Background(), 0)
	if err != nil {
		t.Fatal(err)
	}
	s, err := ro.InspectLock()
	if err != nil || !s.Held || !s.Known || s.Holder.PID != os.Getpid() {
		t.Fatalf("while held: %+v %v", s, err)
	}
	// Inspecting never makes a run that starts now find the lock busy.
	l.Unlock()
	for i := 0; i < 50; i++ {
		if _, err := ro.InspectLock(); err != nil {
			t.Fatal(err)
		}
		l, err := d.Lock(context.Background(), 0)
		if err != nil {
			t.Fatalf("a run found the lock busy while it was inspected: %v", err)
		}
		l.Unlock()
	}
	if s, _ := ro.InspectLock(); s.Held {
		t.Errorf("after release: %+v", s)
	}
}

// A holder killed without releasing the lock leaves its record in the
// lock file; the kernel released the lock, and InspectLock says so, and
// that the record was abandoned.
func TestInspectLockIgnoresTheRecordOfADeadHolder(t *testing.T) {
	if _, err := os.Stat(procLocks); err != nil {
		t.Skip("no /proc/locks here")
	}
	if _, err := exec.LookPath("flock"); err != nil {
		t.Skip("no flock(1)")
	}
	dir := t.TempDir()
	d, _ := OpenStateDir(dir)
	f, err := d.OpenFile(LockFile, os.O_RDWR|os.O_CREATE)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString(`{"pid":999999,"since":"2026-01-01T00:00:00Z","uid":0}` + "\n")
	f.Close()
	// Another process holds it for a moment, then the lock is free.
	cmd := exec.Command("flock", "-x", f.Name(), "sleep", "0.5")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		s, err := d.InspectLock()
		if err != nil {
			t.Fatal(err)
		}
		if s.Held {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("flock(1)'s lock never showed")
		}
		time.Sleep(10 * time.Millisecond)
	}
	cmd.Wait()
	s, _ := d.InspectLock()
	if s.Held || s.Known {
		t.Errorf("after the holder ended: %+v", s)
	}
	// The record it left says a holder ended without releasing the lock.
	if s.Abandoned == nil || s.Abandoned.PID != 999999 {
		t.Errorf("abandoned record %+v, want the dead holder's", s.Abandoned)
	}
	// A clean release leaves none.
	l, err := d.Lock(context.Background(), 0)
	if err != nil {
		t.Fatal(err)
	}
	l.Unlock()
	if s, _ := d.InspectLock(); s.Abandoned != nil {
		t.Errorf("after a clean release: abandoned %+v", s.Abandoned)
	}
}
