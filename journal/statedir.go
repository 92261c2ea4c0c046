package journal

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/felhom/felhom-converge/atomicfile"
)

// Names of the files this package keeps in the state directory.
const (
	LockFile = "lock"        // flock; the holder's pid and start time
	LogFile  = "journal.log" // the journal
	TornFile = "journal.log.torn"
)

// ErrUnsafe is matched (errors.Is) by every *UnsafeError.
var ErrUnsafe = errors.New("unsafe state directory")

// UnsafeError says why the state directory, or a file in it, is refused
// and what to do about it. Whoever can write the state directory can make
// the tool forget what it did (and so repeat or skip steps), so it is
// checked as the trust root is: owned by the running user, not group- or
// world-writable, not a symbolic link, regular files only.
type UnsafeError struct {
	Path   string // the directory or file refused
	Reason string // what is wrong with it
	Fix    string // what to do
}

func (e *UnsafeError) Error() string {
	return fmt.Sprintf("state directory: %s %s; %s", e.Path, e.Reason, e.Fix)
}

// Is makes errors.Is(err, ErrUnsafe) true.
func (e *UnsafeError) Is(target error) bool { return target == ErrUnsafe }

// StateDir is a checked state directory. Get one with OpenStateDir (for a
// run that may write) or InspectStateDir (for reading only).
type StateDir struct {
	path     string
	readOnly bool
	uid      int // the uid that must own the directory and its files
}

// OpenStateDir checks the state directory at path for a run that may
// write, creating it (mode 0700, and missing parents 0700) when it does not
// exist. It refuses, with an *UnsafeError, a directory that is a symbolic
// link, is not a directory, is not owned by the running user, or is group-
// or world-writable, and one whose parent anyone may write (world-writable
// without the sticky bit), since then anyone could swap it.
func OpenStateDir(path string) (*StateDir, error) {
	if path == "" {
		return nil, errors.New("state directory: no path (config state_dir)")
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("state directory %s: %w", path, err)
	}
	if _, err := os.Lstat(abs); errors.Is(err, fs.ErrNotExist) {
		if err := os.MkdirAll(filepath.Dir(abs), 0o700); err != nil {
			return nil, fmt.Errorf("state directory: %w", err)
		}
		if err := os.Mkdir(abs, 0o700); err != nil && !errors.Is(err, fs.ErrExist) {
			return nil, fmt.Errorf("state directory: %w", err)
		}
		if err := atomicfile.SyncDir(filepath.Dir(abs)); err != nil {
			return nil, fmt.Errorf("state directory: %w", err)
		}
	}
	d := &StateDir{path: abs, uid: os.Geteuid()}
	if err := d.check(); err != nil {
		return nil, err
	}
	return d, nil
}

// InspectStateDir checks the state directory at path for reading only
// (journal show, plan): it never creates or writes anything, and returns an
// error wrapping fs.ErrNotExist when the directory does not exist. It makes
// the same checks as OpenStateDir, except that root may read a directory
// another user owns (an operator reading the service user's journal); its
// files must then belong to that same user. What a mutating run decides
// rests on the journal it opened under the lock, never on this view.
func InspectStateDir(path string) (*StateDir, error) {
	if path == "" {
		return nil, errors.New("state directory: no path (config state_dir)")
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("state directory %s: %w", path, err)
	}
	fi, err := os.Lstat(abs)
	if err != nil {
		return nil, fmt.Errorf("state directory: %w", err)
	}
	d := &StateDir{path: abs, readOnly: true, uid: os.Geteuid()}
	if d.uid == 0 {
		d.uid = ownerOf(fi)
	}
	if err := d.check(); err != nil {
		return nil, err
	}
	return d, nil
}

// Path is the directory's absolute path.
func (d *StateDir) Path() string { return d.path }

// ReadOnly reports whether d came from InspectStateDir.
func (d *StateDir) ReadOnly() bool { return d.readOnly }

// userName is uid's login name, or "uid N" when it has none.
func userName(uid int) string {
	if u, err := user.LookupId(strconv.Itoa(uid)); err == nil {
		return u.Username
	}
	return "uid " + strconv.Itoa(uid)
}

func ownerOf(fi fs.FileInfo) int {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return int(st.Uid)
	}
	return -1
}

func (d *StateDir) check() error {
	fi, err := os.Lstat(d.path)
	if err != nil {
		return fmt.Errorf("state directory: %w", err)
	}
	if fi.Mode()&fs.ModeSymlink != 0 {
		return &UnsafeError{Path: d.path, Reason: "is a symbolic link",
			Fix: "point state_dir at the real directory instead"}
	}
	if !fi.IsDir() {
		return &UnsafeError{Path: d.path, Reason: "is not a directory (" + fi.Mode().Type().String() + ")",
			Fix: "point state_dir at a directory, or remove the file so it can be created"}
	}
	if owner := ownerOf(fi); owner != d.uid {
		// Never advise a chown: the directory belongs to the user the
		// service runs as, and giving it to another would stop the service.
		return &UnsafeError{Path: d.path,
			Reason: fmt.Sprintf("belongs to %s, not to %s who runs this", userName(owner), userName(d.uid)),
			Fix: fmt.Sprintf("run felhom-converge as %s, or as root: the commands that write here then switch to %s by themselves",
				userName(owner), userName(owner))}
	}
	if perm := fi.Mode().Perm(); perm&0o022 != 0 {
		return &UnsafeError{Path: d.path,
			Reason: fmt.Sprintf("has mode %04o: group- or world-writable", perm),
			Fix:    "'chmod 0700 " + d.path + "'"}
	}
	parent := filepath.Dir(d.path)
	if pfi, err := os.Stat(parent); err == nil {
		if pfi.Mode().Perm()&0o002 != 0 && pfi.Mode()&fs.ModeSticky == 0 {
			return &UnsafeError{Path: d.path,
				Reason: fmt.Sprintf("is in %s, which anyone may write (mode %04o, no sticky bit), so anyone could replace it", parent, pfi.Mode().Perm()),
				Fix:    "put state_dir in a directory only its owner can write"}
		}
	}
	return nil
}

// OpenFile opens the file name (a plain name, no directories) inside the
// state directory without following a symbolic link, creating it with mode
// 0600 when flag has os.O_CREATE. It refuses a file that is not regular (a
// FIFO is refused before it can block), not owned by the directory's user,
// or group- or world-writable. A read-only StateDir opens files only for
// reading.
func (d *StateDir) OpenFile(name string, flag int) (*os.File, error) {
	if name == "" || name == "." || name == ".." || strings.ContainsRune(name, '/') {
		return nil, fmt.Errorf("state directory: %q is not a plain file name", name)
	}
	if d.readOnly && flag&(os.O_WRONLY|os.O_RDWR|os.O_CREATE|os.O_APPEND|os.O_TRUNC) != 0 {
		return nil, fmt.Errorf("state directory %s: opened for reading only", d.path)
	}
	path := filepath.Join(d.path, name)
	if fi, err := os.Lstat(path); err == nil {
		if err := d.checkFile(path, fi); err != nil {
			return nil, err
		}
	}
	f, err := os.OpenFile(path, flag|syscall.O_NOFOLLOW|syscall.O_NONBLOCK|syscall.O_CLOEXEC, 0o600)
	if err != nil {
		if errors.Is(err, syscall.ELOOP) {
			return nil, &UnsafeError{Path: path, Reason: "is a symbolic link", Fix: linkFix(path)}
		}
		return nil, err
	}
	fi, err := f.Stat()
	if err == nil {
		err = d.checkFile(path, fi)
	}
	if err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

// linkFix is what to do about a symbolic link in the state directory. The
// journal and its anchor hold records: removing the link would lose them.
func linkFix(path string) string {
	switch filepath.Base(path) {
	case LogFile, AnchorFile:
		return fmt.Sprintf("replace the link with the file it points to ('cp --remove-destination \"$(readlink -f %s)\" %s'); removing it loses the journal's records", path, path)
	}
	return "remove it; the tool creates its own files"
}

func (d *StateDir) checkFile(path string, fi fs.FileInfo) error {
	if fi.Mode()&fs.ModeSymlink != 0 {
		return &UnsafeError{Path: path, Reason: "is a symbolic link", Fix: linkFix(path)}
	}
	if !fi.Mode().IsRegular() {
		return &UnsafeError{Path: path, Reason: "is not a regular file (" + fi.Mode().Type().String() + ")",
			Fix: "remove it; the tool creates its own files"}
	}
	if owner := ownerOf(fi); owner != d.uid {
		return &UnsafeError{Path: path,
			Reason: fmt.Sprintf("belongs to %s, not to %s who owns the state directory", userName(owner), userName(d.uid)),
			Fix:    fmt.Sprintf("give it to the directory's owner: 'chown %s %s' as root", userName(d.uid), path)}
	}
	if perm := fi.Mode().Perm(); perm&0o022 != 0 {
		return &UnsafeError{Path: path,
			Reason: fmt.Sprintf("has mode %04o: group- or world-writable", perm),
			Fix:    "'chmod 0600 " + path + "'"}
	}
	return nil
}

// nonceFile is trust's nonce store in the state directory (trust.NonceFile;
// a test checks that they agree).
const nonceFile = "consumed-nonces"

// lockedFiles are the state directory's files that only a holder of the
// run lock writes: the journal's own, and the nonce store (written by the
// gate of a run). A temporary file of theirs is a leftover whatever its
// age.
var lockedFiles = []string{LogFile, TornFile, AnchorFile, nonceFile}

// removeStaleTemps removes the temporary files (atomicfile's) that
// writers killed before their rename left in the state directory: of the
// lockedFiles every one, since the caller holds the lock; of every other
// file (last-run.json, written after the lock is released; requests a
// plan writes; signatures an install writes; a desired file a pull
// writes) only those older than atomicfile.StaleAge, in the directory and
// the directories in it, two levels down. Best effort.
func removeStaleTemps(dir string) {
	for _, name := range lockedFiles {
		atomicfile.RemoveStale(dir, name, time.Time{})
	}
	removeOldTemps(dir, time.Now().Add(-atomicfile.StaleAge), 2)
}

func removeOldTemps(dir string, cutoff time.Time, depth int) {
	atomicfile.RemoveStale(dir, "*", cutoff)
	if depth == 0 {
		return
	}
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if e.IsDir() { // not a symbolic link to one: that is not ours
			removeOldTemps(filepath.Join(dir, e.Name()), cutoff, depth-1)
		}
	}
}
