package journal

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"syscall"
	"time"
)

// Lock is the exclusive run lock on STATE_DIR/lock: an flock held for as
// long as the process keeps it. The kernel releases it when the process
// exits or dies, so a crashed run never leaves a stale lock behind and
// there is no stale-lock clean-up.
type Lock struct {
	dir    *StateDir
	mu     sync.Mutex
	f      *os.File // nil once released
	holder Holder
}

// Holder is what a lock holder writes into the lock file right after it
// acquired the lock, so a run that finds the lock busy can name it.
type Holder struct {
	PID   int       `json:"pid"`
	Since time.Time `json:"since"` // when the holder acquired the lock
	Host  string    `json:"host,omitempty"`
	UID   int       `json:"uid"`
}

// LockedError is returned by Lock when another process still held the
// lock when the timeout ran out.
type LockedError struct {
	Path   string        // the lock file
	Waited time.Duration // the timeout that ran out
	// Holder is what the holder wrote into the lock file. Known is false
	// when the file held nothing readable: the holder had taken the lock
	// but not yet written its pid.
	Holder Holder
	Known  bool
}

func (e *LockedError) Error() string {
	who := "a process that has not yet written its pid"
	if e.Known {
		who = fmt.Sprintf("pid %d", e.Holder.PID)
		if e.Holder.Host != "" {
			who += " on " + e.Holder.Host
		}
		who += fmt.Sprintf(" (uid %d), started %s", e.Holder.UID, e.Holder.Since.UTC().Format(time.RFC3339))
	}
	waited := "did not wait"
	if e.Waited > 0 {
		waited = "waited " + e.Waited.String()
	}
	return fmt.Sprintf("another run holds the lock %s: %s; %s", e.Path, who, waited)
}

// maxLockFileSize bounds what is read back from the lock file.
const maxLockFileSize = 4096

// Lock takes the run lock, waiting up to timeout (0: one attempt) while
// another process holds it, and returns a *LockedError naming the holder
// when it is still busy then. ctx ends the wait early with ctx.Err().
// Two Locks in one process exclude each other too.
func (d *StateDir) Lock(ctx context.Context, timeout time.Duration) (*Lock, error) {
	if d.readOnly {
		return nil, fmt.Errorf("state directory %s: opened for reading only; cannot lock", d.path)
	}
	f, err := d.OpenFile(LockFile, os.O_RDWR|os.O_CREATE)
	if err != nil {
		return nil, fmt.Errorf("lock: %w", err)
	}
	fd := int(f.Fd())
	deadline := time.Now().Add(timeout)
	pause := 5 * time.Millisecond
	for {
		err := syscall.Flock(fd, syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			break
		}
		if errors.Is(err, syscall.EINTR) {
			continue
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) {
			f.Close()
			return nil, fmt.Errorf("lock %s: %w", f.Name(), err)
		}
		left := time.Until(deadline)
		if left <= 0 {
			le := &LockedError{Path: f.Name(), Waited: timeout}
			le.Holder, le.Known = readHolder(f)
			f.Close()
			return nil, le
		}
		t := time.NewTimer(min(pause, left))
		select {
		case <-ctx.Done():
			t.Stop()
			f.Close()
			return nil, fmt.Errorf("waiting for the lock %s: %w", f.Name(), ctx.Err())
		case <-t.C:
		}
		pause = min(2*pause, 250*time.Millisecond)
	}
	l := &Lock{dir: d, f: f, holder: Holder{PID: os.Getpid(), Since: time.Now().UTC(), UID: os.Geteuid()}}
	l.holder.Host, _ = os.Hostname()
	data, _ := json.Marshal(l.holder)
	data = append(data, '\n')
	// The holder record is information for others, not state: it need not
	// survive a crash, so it is not fsynced.
	if err := f.Truncate(0); err != nil {
		l.Unlock()
		return nil, fmt.Errorf("lock %s: %w", f.Name(), err)
	}
	if _, err := f.WriteAt(data, 0); err != nil {
		l.Unlock()
		return nil, fmt.Errorf("lock %s: %w", f.Name(), err)
	}
	return l, nil
}

func readHolder(f *os.File) (Holder, bool) {
	data, err := io.ReadAll(io.LimitReader(io.NewSectionReader(f, 0, maxLockFileSize), maxLockFileSize))
	if err != nil {
		return Holder{}, false
	}
	var h Holder
	if json.Unmarshal(data, &h) != nil || h.PID <= 0 {
		return Holder{}, false
	}
	return h, true
}

// Dir is the state directory the lock was taken on.
func (l *Lock) Dir() *StateDir { return l.dir }

// Holder is what this process wrote into the lock file.
func (l *Lock) Holder() Holder { return l.holder }

// Held reports whether the lock is still held (Unlock not yet called).
func (l *Lock) Held() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.f != nil
}

// Unlock clears the holder record and releases the lock. It is safe to
// call more than once.
func (l *Lock) Unlock() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.f == nil {
		return nil
	}
	f := l.f
	l.f = nil
	terr := f.Truncate(0)
	uerr := syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
	cerr := f.Close()
	if err := errors.Join(terr, uerr, cerr); err != nil {
		return fmt.Errorf("unlock %s: %w", f.Name(), err)
	}
	return nil
}
