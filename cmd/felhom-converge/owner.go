package main

// Running a command by hand as root on a host whose state directory belongs
// to the service user: the command must not leave root-owned files there
// (the next timer run, as that user, could not read or replace them).

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

	"github.com/felhom/felhom-converge/config"
	"github.com/felhom/felhom-converge/humanize"
)

// asStateOwner is called by every command that writes the state directory,
// once it has read what only root may read (the config and the API token,
// the hub token, a file named on the command line) and before it writes
// anything. targets are the paths it is about to write; none means the
// state directory itself. When one of them is inside the state directory
// and that directory belongs to another user than the one running:
//
//   - as root, the whole process switches to the directory's owner (its
//     groups, its group, then its user; on Linux, Go applies them to every
//     thread), so whatever the command writes belongs to that user, as if
//     the service had run it;
//   - as anyone else, it refuses with the command to run instead.
//
// It changes nothing when the directory does not exist yet (the command
// creates it for the running user) or is not a plain directory (the state
// directory checks refuse that with their own reason).
func (g *globals) asStateOwner(cfg *config.Config, targets ...string) error {
	if len(targets) == 0 {
		targets = []string{cfg.StateDir}
	}
	if !anyWithin(cfg.StateDir, targets) {
		return nil
	}
	fi, err := os.Lstat(cfg.StateDir)
	if err != nil || !fi.IsDir() {
		return nil
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return nil
	}
	owner, euid := int(st.Uid), os.Geteuid()
	if owner == euid {
		return nil
	}
	o := lookupOwner(owner, int(st.Gid))
	if euid != 0 {
		return withHint(fmt.Errorf("the state directory %s belongs to %s, and this command writes there as %s",
			cfg.StateDir, o.name, humanize.UserName(euid)),
			"run it as root, which reads the token and then runs as %s: sudo %s", o.name, g.commandLine())
	}
	if err := o.become(); err != nil {
		return withHint(fmt.Errorf("run as %s, the owner of the state directory %s: %w", o.name, cfg.StateDir, err),
			"run it as %s: runuser -u %s -- %s", o.name, o.name, g.commandLine())
	}
	g.keepToken(cfg)
	g.log.Info("running as the state directory's owner", "user", o.name, "uid", o.uid, "gid", o.gid, "state_dir", cfg.StateDir)
	return nil
}

// stateOwner is the user a run switches to.
type stateOwner struct {
	name     string // user name, or "uid N" without a passwd entry
	uid, gid int
	groups   []int // supplementary groups, the primary one included
}

// lookupOwner finds uid's name, primary group and groups, as systemd's
// User= would set them; a uid without a passwd entry keeps the directory's
// group and no other.
func lookupOwner(uid, dirGID int) stateOwner {
	o := stateOwner{name: "uid " + strconv.Itoa(uid), uid: uid, gid: dirGID, groups: []int{dirGID}}
	u, err := user.LookupId(strconv.Itoa(uid))
	if err != nil {
		return o
	}
	o.name = u.Username
	if gid, err := strconv.Atoi(u.Gid); err == nil {
		o.gid, o.groups = gid, []int{gid}
	}
	if ids, err := u.GroupIds(); err == nil {
		for _, id := range ids {
			if gid, err := strconv.Atoi(id); err == nil && gid != o.gid {
				o.groups = append(o.groups, gid)
			}
		}
	}
	return o
}

// become switches the whole process to o: groups first, then the group,
// then the user (after which none of it can be undone), and checks that
// it took.
func (o stateOwner) become() error {
	if err := syscall.Setgroups(o.groups); err != nil {
		return fmt.Errorf("setgroups: %w", err)
	}
	if err := syscall.Setgid(o.gid); err != nil {
		return fmt.Errorf("setgid %d: %w", o.gid, err)
	}
	if err := syscall.Setuid(o.uid); err != nil {
		return fmt.Errorf("setuid %d: %w", o.uid, err)
	}
	if os.Getuid() != o.uid || os.Geteuid() != o.uid || os.Getegid() != o.gid {
		return errors.New("the process still runs as another user")
	}
	return nil
}

// keepToken keeps the API token that root read, so that the config loaded
// again later in the run (the last-run record) still has it: the token
// file itself is root's. It stays in this process; a command it starts
// does not inherit it.
func (g *globals) keepToken(cfg *config.Config) {
	if !cfg.Proxmox.Token.IsSet() {
		return
	}
	token, getenv := cfg.Proxmox.Token, g.getenv
	g.getenv = func(k string) string {
		if k == "FELHOM_CONVERGE_PROXMOX_TOKEN" {
			return token.Reveal()
		}
		return getenv(k)
	}
}

// anyWithin reports whether any path is dir or inside it.
func anyWithin(dir string, paths []string) bool {
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

// commandLine is this run's command line, quoted for a shell.
func (g *globals) commandLine() string {
	words := []string{"felhom-converge"}
	for _, a := range g.args {
		words = append(words, shellQuote(a))
	}
	return strings.Join(words, " ")
}

var shellSafe = regexp.MustCompile(`^[A-Za-z0-9_./:=@%+,-]+$`)

// shellQuote quotes s for a POSIX shell when it needs quoting.
func shellQuote(s string) string {
	if shellSafe.MatchString(s) {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
