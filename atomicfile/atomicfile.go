// Package atomicfile replaces files so that a crash at any moment leaves
// either the old content or the new, never a mix or an empty file.
//
// The recipe (as restic's local backend and Proxmox's file_set_contents):
// write a temporary file in the target's directory, set its mode, sync it,
// rename it over the target, then sync the directory so the rename itself
// survives a crash.
//
// The temporary file of a target NAME is .NAME.tmpDIGITS. A process killed
// before its rename leaves it behind; RemoveStale removes such leftovers,
// and WriteFile removes those of its own target once they are StaleAge old.
package atomicfile

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// StaleAge is the age past which a temporary file is a leftover of a
// killed writer, never a write in progress: a write takes moments.
const StaleAge = time.Hour

// WriteFile atomically replaces path with data, created with mode perm.
// A target that exists but is not a regular file is refused. Temporary
// files of the same target older than StaleAge are removed first.
func WriteFile(path string, data []byte, perm fs.FileMode) (err error) {
	if fi, err := os.Lstat(path); err == nil && !fi.Mode().IsRegular() {
		return fmt.Errorf("write %s: not a regular file", path)
	}
	dir := filepath.Dir(path)
	RemoveStale(dir, filepath.Base(path), time.Now().Add(-StaleAge))
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	if err = f.Chmod(perm); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if _, err = f.Write(data); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err = f.Sync(); err != nil {
		return fmt.Errorf("write %s: sync: %w", path, err)
	}
	if err = f.Close(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err = os.Rename(f.Name(), path); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return SyncDir(dir)
}

// SyncDir makes the creation, removal or renaming of entries in dir durable.
func SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("sync directory %s: %w", dir, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("sync directory %s: %w", dir, err)
	}
	return nil
}

// RemoveStale removes from dir the temporary files WriteFile left for
// targets whose names match name (a filepath.Match pattern, such as
// "*.req") when it was killed before its rename: regular files named
// .NAME.tmpDIGITS last modified before cutoff. A zero cutoff removes them
// whatever their age, which only a caller that excludes every other writer
// of those targets (a lock) may do. It returns the paths it removed; what
// it cannot list or remove it leaves.
func RemoveStale(dir, name string, cutoff time.Time) []string {
	matches, _ := filepath.Glob(filepath.Join(dir, "."+name+".tmp*"))
	var out []string
	for _, m := range matches {
		base := filepath.Base(m)[1:]
		i := strings.LastIndex(base, ".tmp")
		target, digits := base[:i], base[i+len(".tmp"):]
		if digits == "" || strings.Trim(digits, "0123456789") != "" {
			continue
		}
		if ok, _ := filepath.Match(name, target); !ok {
			continue
		}
		fi, err := os.Lstat(m)
		if err != nil || !fi.Mode().IsRegular() || !cutoff.IsZero() && !fi.ModTime().Before(cutoff) {
			continue
		}
		if os.Remove(m) == nil {
			out = append(out, m)
		}
	}
	return out
}

// Shared replaces path with data like WriteFile, for a path that several
// processes may write (concurrent pulls, a metrics file written after
// every run): it holds an exclusive flock on the directory while it
// writes, and first removes, whatever their age, the temporary files a
// writer killed before its rename left for path (RemoveStale with a zero
// cutoff: no writer that holds the lock can still be using them), and the
// regular files matching the extra filepath.Match patterns in the same
// directory (temporary files another writer of path names otherwise). The
// lock waits while another writer holds it; writers are quick.
func Shared(path string, data []byte, perm fs.FileMode, extra ...string) error {
	dir := filepath.Dir(path)
	d, err := os.OpenFile(dir, os.O_RDONLY|syscall.O_DIRECTORY|syscall.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	defer d.Close()
	for {
		err = syscall.Flock(int(d.Fd()), syscall.LOCK_EX)
		if err != syscall.EINTR {
			break
		}
	}
	if err != nil {
		return fmt.Errorf("write %s: lock %s: %w", path, dir, err)
	}
	defer syscall.Flock(int(d.Fd()), syscall.LOCK_UN)
	RemoveStale(dir, filepath.Base(path), time.Time{})
	for _, p := range extra {
		matches, err := filepath.Glob(filepath.Join(dir, p))
		if err != nil {
			return fmt.Errorf("write %s: %w", path, err)
		}
		for _, m := range matches {
			if fi, err := os.Lstat(m); err == nil && fi.Mode().IsRegular() && m != path {
				if err := os.Remove(m); err != nil && !errors.Is(err, fs.ErrNotExist) {
					return fmt.Errorf("write %s: remove a stale temporary file: %w", path, err)
				}
			}
		}
	}
	return WriteFile(path, data, perm)
}
