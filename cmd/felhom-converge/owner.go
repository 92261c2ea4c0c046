package main

// Running a command by hand as root on a host whose state directory belongs
// to the service user: the command must not leave root-owned files there
// (the next timer run, as that user, could not read or replace them).

import (
	"errors"

	"github.com/felhom/felhom-converge/config"
	"github.com/felhom/felhom-converge/runas"
)

// asStateOwner is called by every command that writes the state directory,
// once it has read what only root may read (the config and the API token,
// the hub token, a file named on the command line) and before it writes
// anything. targets are the paths it is about to write; none means the
// state directory itself. When one of them is inside the state directory
// and that directory belongs to another user, root switches the whole
// process to that user (runas.SwitchFor), so whatever the command writes
// belongs to that user, as if the service had run it; anyone else is
// refused with the command to run instead.
func (g *globals) asStateOwner(cfg *config.Config, targets ...string) error {
	o, switched, err := runas.SwitchFor(cfg.StateDir, targets...)
	var notOwner *runas.NotOwnerError
	switch {
	case errors.As(err, &notOwner):
		return withHint(err, "run it as root, which reads the token and then runs as %s: sudo %s", o.Name, g.commandLine())
	case err != nil:
		return withHint(err, "run it as %s: runuser -u %s -- %s", o.Name, o.Name, g.commandLine())
	case !switched:
		return nil
	}
	// The config loaded again later in the run (the last-run record)
	// still has the token, whose file is root's.
	g.getenv = cfg.KeepToken(g.getenv)
	g.log.Info("running as the state directory's owner", "user", o.Name, "uid", o.UID, "gid", o.GID, "state_dir", cfg.StateDir)
	return nil
}

// commandLine is this run's command line, quoted for a shell.
func (g *globals) commandLine() string {
	return runas.CommandLine(append([]string{"felhom-converge"}, g.args...)...)
}
