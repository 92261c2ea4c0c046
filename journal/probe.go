package journal

import (
	"bufio"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strconv"
	"strings"
	"syscall"
)

// procLocks is the kernel's table of file locks.
var procLocks = "/proc/locks"

// LockState is what InspectLock found about the run lock.
type LockState struct {
	Held bool
	// Holder is what the holder wrote into the lock file; Known is false
	// when it wrote nothing readable (yet).
	Holder Holder
	Known  bool
	// Abandoned is the record a holder left in the lock file when it ended
	// without releasing the lock (killed, or the machine crashed): a clean
	// release clears the record. Set only when the lock is free.
	Abandoned *Holder
}

// InspectLock reports whether a process holds the run lock, without
// taking it: a probe with flock, even a shared one, would make a run that
// starts at that moment find the lock busy and give up. It looks the lock
// file up in the kernel's table of locks (/proc/locks) by device and
// inode, or by inode and the pid the holder wrote. It writes nothing, so
// it works on a StateDir from InspectStateDir.
func (d *StateDir) InspectLock() (LockState, error) {
	f, err := d.OpenFile(LockFile, os.O_RDONLY)
	if errors.Is(err, fs.ErrNotExist) {
		return LockState{}, nil // no run ever took it
	}
	if err != nil {
		return LockState{}, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return LockState{}, err
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return LockState{}, errors.New("lock: no inode to look up")
	}
	var s LockState
	s.Holder, s.Known = readHolder(f)
	held, err := flockHeld(uint64(st.Dev), st.Ino, s.Holder.PID)
	if err != nil {
		return LockState{}, fmt.Errorf("lock: %w", err)
	}
	s.Held = held
	if !held {
		if s.Known {
			left := s.Holder
			s.Abandoned = &left // a record a killed holder left
		}
		s.Holder, s.Known = Holder{}, false
	}
	return s, nil
}

// flockHeld reports whether /proc/locks lists an exclusive flock on the
// inode ino of device dev (or on ino, held by pid).
func flockHeld(dev, ino uint64, pid int) (bool, error) {
	f, err := os.Open(procLocks)
	if err != nil {
		return false, err
	}
	defer f.Close()
	major := (dev>>8)&0xfff | (dev>>32)&^0xfff
	minor := dev&0xff | (dev>>12)&^0xff
	wantDev := fmt.Sprintf("%02x:%02x", major, minor)
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// "1: FLOCK  ADVISORY  WRITE 32664 fe:00:9978061 0 EOF"; a
		// blocked waiter's line has "->" after the number.
		fields := strings.Fields(sc.Text())
		if len(fields) < 6 || fields[1] != "FLOCK" || fields[3] != "WRITE" {
			continue
		}
		i := strings.LastIndexByte(fields[5], ':')
		if i < 0 {
			continue
		}
		n, err := strconv.ParseUint(fields[5][i+1:], 10, 64)
		if err != nil || n != ino {
			continue
		}
		if fields[5][:i] == wantDev || (pid > 0 && fields[4] == strconv.Itoa(pid)) {
			return true, nil
		}
	}
	return false, sc.Err()
}
