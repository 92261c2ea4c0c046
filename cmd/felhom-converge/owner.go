package main

// Running a command by hand as root on a host whose state directory belongs
// to the service user: the command must not leave root-owned files there
// (the next timer run, as that user, could not read or replace them).

import (
	"fmt"
	"os"
	"regexp"
	"strings"

	"github.com/felhom/felhom-converge/config"
	"github.com/felhom/felhom-converge/humanize"
	"github.com/felhom/felhom-converge/runas"
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
	if !runas.Within(cfg.StateDir, targets) {
		return nil
	}
	o, ok := runas.DirOwner(cfg.StateDir)
	if !ok {
		return nil
	}
	if euid := os.Geteuid(); euid != 0 {
		return withHint(fmt.Errorf("the state directory %s belongs to %s, and this command writes there as %s",
			cfg.StateDir, o.Name, humanize.UserName(euid)),
			"run it as root, which reads the token and then runs as %s: sudo %s", o.Name, g.commandLine())
	}
	if err := o.Become(); err != nil {
		return withHint(fmt.Errorf("run as %s, the owner of the state directory %s: %w", o.Name, cfg.StateDir, err),
			"run it as %s: runuser -u %s -- %s", o.Name, o.Name, g.commandLine())
	}
	g.keepToken(cfg)
	g.log.Info("running as the state directory's owner", "user", o.Name, "uid", o.UID, "gid", o.GID, "state_dir", cfg.StateDir)
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
