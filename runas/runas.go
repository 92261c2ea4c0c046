// Package runas switches a process started as root to the user who owns a
// directory, as systemd's User= would run it: that user's groups, its
// primary group, then the user itself, for every thread. A command run by
// hand as root on a host whose state directory belongs to the service user
// uses it, so that it leaves no root-owned file there (the next timer run,
// as that user, could not read or replace it). Nothing can be undone once
// Become succeeded.
package runas

import (
	"errors"
	"fmt"
	"os"
	"os/user"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"

	"github.com/felhom/felhom-converge/humanize"
)

// DirOwner returns the owner of dir when dir is a plain directory (not a
// link) that belongs to another user than the effective one; ok is false
// otherwise (it does not exist, is not a directory, or is ours).
func DirOwner(dir string) (o Owner, ok bool) {
	fi, err := os.Lstat(dir)
	if err != nil || !fi.IsDir() {
		return Owner{}, false
	}
	st, isStat := fi.Sys().(*syscall.Stat_t)
	if !isStat || int(st.Uid) == os.Geteuid() {
		return Owner{}, false
	}
	return lookup(int(st.Uid), int(st.Gid)), true
}

// Owner is the user a run switches to.
type Owner struct {
	Name     string // user name, or "uid N" without a passwd entry
	UID, GID int
	Groups   []int // supplementary groups, the primary one included
}

// lookup finds uid's name, primary group and groups, as systemd's
// User= would set them; a uid without a passwd entry keeps the directory's
// group and no other.
func lookup(uid, dirGID int) Owner {
	o := Owner{Name: "uid " + strconv.Itoa(uid), UID: uid, GID: dirGID, Groups: []int{dirGID}}
	u, err := user.LookupId(strconv.Itoa(uid))
	if err != nil {
		return o
	}
	o.Name = u.Username
	if gid, err := strconv.Atoi(u.Gid); err == nil {
		o.GID, o.Groups = gid, []int{gid}
	}
	if ids, err := u.GroupIds(); err == nil {
		for _, id := range ids {
			if gid, err := strconv.Atoi(id); err == nil && gid != o.GID {
				o.Groups = append(o.Groups, gid)
			}
		}
	}
	return o
}

// Become switches the whole process to o: groups first, then the group,
// then the user (after which none of it can be undone), and checks that
// it took.
func (o Owner) Become() error {
	if err := syscall.Setgroups(o.Groups); err != nil {
		return fmt.Errorf("setgroups: %w", err)
	}
	if err := syscall.Setgid(o.GID); err != nil {
		return fmt.Errorf("setgid %d: %w", o.GID, err)
	}
	if err := syscall.Setuid(o.UID); err != nil {
		return fmt.Errorf("setuid %d: %w", o.UID, err)
	}
	if os.Getuid() != o.UID || os.Geteuid() != o.UID || os.Getegid() != o.GID {
		return errors.New("the process still runs as another user")
	}
	return nil
}

// Within reports whether any path is dir or inside it.
func Within(dir string, paths []string) bool {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return true
	}
	for _, p := range paths {
		if p, err := filepath.Abs(p); err != nil || p == dir || strings.HasPrefix(p, dir+string(filepath.Separator)) {
			return true
		}
	}
	return false
}

// Who names the user running this process and the machine, as USER@HOST
// ("uid N" without a passwd entry): taken before Become, it is the
// operator who ran the command.
func Who() string {
	name := fmt.Sprintf("uid %d", os.Geteuid())
	if u, err := user.Current(); err == nil {
		name = u.Username
	}
	if h, err := os.Hostname(); err == nil {
		name += "@" + h
	}
	return name
}

// NotOwnerError is a command that would write into a directory of another
// user, run by neither root nor that user.
type NotOwnerError struct {
	Dir   string
	Owner Owner
	EUID  int
}

func (e *NotOwnerError) Error() string {
	return fmt.Sprintf("the state directory %s belongs to %s, and this command writes there as %s", e.Dir, e.Owner.Name, humanize.UserName(e.EUID))
}

// BecomeError is a switch to a directory's owner that failed.
type BecomeError struct {
	Dir   string
	Owner Owner
	Err   error
}

func (e *BecomeError) Error() string {
	return fmt.Sprintf("run as %s, the owner of the state directory %s: %v", e.Owner.Name, e.Dir, e.Err)
}
func (e *BecomeError) Unwrap() error { return e.Err }

// SwitchFor makes this process the owner of dir, a state directory, when
// one of targets (the paths a command is about to write; none means dir
// itself) is inside it and it belongs to another user: as root it becomes
// that user (Become); as anyone else it refuses with a *NotOwnerError. A
// failed switch is a *BecomeError. It changes nothing when dir does not
// exist yet (the command creates it for the running user) or is not a
// plain directory (the state directory checks refuse that with their own
// reason); switched says whether it switched.
func SwitchFor(dir string, targets ...string) (o Owner, switched bool, err error) {
	if len(targets) == 0 {
		targets = []string{dir}
	}
	if !Within(dir, targets) {
		return Owner{}, false, nil
	}
	o, ok := DirOwner(dir)
	if !ok {
		return Owner{}, false, nil
	}
	if euid := os.Geteuid(); euid != 0 {
		return o, false, &NotOwnerError{Dir: dir, Owner: o, EUID: euid}
	}
	if err := o.Become(); err != nil {
		return o, false, &BecomeError{Dir: dir, Owner: o, Err: err}
	}
	return o, true, nil
}

var shellSafe = regexp.MustCompile(`^[A-Za-z0-9_./:=@%+,-]+$`)

// CommandLine is words quoted for a POSIX shell, where they need it: a
// command a hint tells the user to run as another user.
func CommandLine(words ...string) string {
	quoted := make([]string, len(words))
	for i, s := range words {
		quoted[i] = s
		if !shellSafe.MatchString(s) {
			quoted[i] = "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
		}
	}
	return strings.Join(quoted, " ")
}
