package main

import (
	"context"
	"errors"
	"time"

	"github.com/felhom/felhom-converge/apply"
	"github.com/felhom/felhom-converge/config"
	"github.com/felhom/felhom-converge/journal"
	"github.com/felhom/felhom-converge/proxmox"
	"github.com/felhom/felhom-converge/trust"
)

// loadConfig reads the local host config for a command. simDir is the
// command's --sim DIR ("" for a real host); desiredHost is the host named by
// the command's desired-state file, if it has one.
func (g *globals) loadConfig(simDir, desiredHost string) (*config.Config, error) {
	cfg, err := config.Load(config.Sources{
		File:        g.configPath,
		Getenv:      g.getenv,
		SimDir:      simDir,
		DesiredHost: desiredHost,
	})
	if err != nil {
		return nil, withHint(err, "every setting of the local host config is described in docs/reference.md under 'Local host config'")
	}
	return cfg, nil
}

// hostConfig loads the local config of a command that acts on the host
// (simDir: its --sim DIR; desiredHost: the host its desired file names, if
// any) and checks that it names this host.
func (g *globals) hostConfig(simDir, desiredHost string) (*config.Config, error) {
	cfg, err := g.loadConfig(simDir, desiredHost)
	if err != nil {
		return nil, err
	}
	if err := cfg.RequireHost(); err != nil {
		return nil, err // it says how to set the host
	}
	return cfg, nil
}

// bindHost binds the host of cfg once (apply.Bind): its API client and,
// under --sim, the simulator standing in for the host's root commands and
// file system. release frees the connection (and the simulator).
func (g *globals) bindHost(ctx context.Context, cfg *config.Config, simDir string) (*apply.Host, func(), error) {
	h, release, err := apply.Bind(ctx, cfg, simDir, g.warn)
	return h, release, connectHint(err)
}

// connect returns an API client for cfg (apply.Connect): the in-process
// simulator's with simDir.
func (g *globals) connect(ctx context.Context, cfg *config.Config, simDir string) (*proxmox.Client, func(), error) {
	client, release, err := apply.Connect(ctx, cfg, simDir, g.warn)
	return client, release, connectHint(err)
}

// connectAs loads the config, switches to the state directory's owner
// when asOwner, and connects to the host (connect).
func (g *globals) connectAs(ctx context.Context, simDir string, asOwner bool) (*config.Config, *proxmox.Client, func(), error) {
	cfg, err := g.loadConfig(simDir, "")
	if err != nil {
		return nil, nil, nil, err
	}
	if asOwner {
		if err := g.asStateOwner(cfg); err != nil {
			return nil, nil, nil, err
		}
	}
	client, release, err := g.connect(ctx, cfg, simDir)
	return cfg, client, release, err
}

// connectHint says how to set up a connection the config lacks.
func connectHint(err error) error {
	var unconfigured *apply.UnconfiguredError
	if errors.As(err, &unconfigured) {
		return withHint(err, "set up the Proxmox connection as docs/reference.md's 'Local host config' shows, or try the bundled simulator with --sim DIR")
	}
	return err
}

// hostFor loads the config of a command that acts on the host (checked
// by check, when given), switches to the state directory's owner and
// binds the host; release frees it.
func (g *globals) hostFor(ctx context.Context, simDir, desiredHost string, check func(*config.Config) error) (*apply.Host, func(), error) {
	cfg, err := g.hostConfig(simDir, desiredHost)
	if err != nil {
		return nil, nil, err
	}
	if check != nil {
		if err := check(cfg); err != nil {
			return nil, nil, err
		}
	}
	if err := g.asStateOwner(cfg); err != nil {
		return nil, nil, err
	}
	return g.bindHost(ctx, cfg, simDir)
}

// session binds the host of a run (hostFor) and opens a session on it;
// release closes the session and frees the host.
func (g *globals) session(ctx context.Context, simDir, desiredHost string, lockTimeout time.Duration, check func(*config.Config) error) (*apply.Session, func(), error) {
	h, release, err := g.hostFor(ctx, simDir, desiredHost, check)
	if err != nil {
		return nil, nil, err
	}
	s, err := g.openSession(ctx, h, lockTimeout)
	if err != nil {
		release()
		return nil, nil, err
	}
	return s, func() { s.Close(); release() }, nil
}

// openSession locks the host's state directory for a run and opens its
// journal, audit log and trust root, with the hint each refusal needs.
func (g *globals) openSession(ctx context.Context, h *apply.Host, lockTimeout time.Duration) (*apply.Session, error) {
	s, err := apply.OpenSession(ctx, h, apply.SessionOptions{
		LockTimeout: lockTimeout, Out: g.stdout, Log: g.log,
		Warn: g.warn,
		Hook: apply.CrashHook(g.getenv("FELHOM_CONVERGE_TEST_CRASH_AT")),
	})
	var unsafe *journal.UnsafeError
	switch {
	case err == nil:
		s.Options().ShowProgress(ctx, g.progress, h.Client)
		return s, nil
	case errors.As(err, &unsafe):
		return nil, withHint(err, "the state directory must be owned by the service user and not be group- or world-writable (chmod 0700)")
	case errors.Is(err, trust.ErrUnsafePermissions):
		return nil, withHint(err, "the trust root must be owned by root or the service user and not be group- or world-writable (chmod 0644)")
	case journal.Refused(err):
		return nil, withHint(err, "nothing was changed; the journal must be repaired before apply may mutate the host")
	}
	return nil, err
}

// hostIdentity reads the host's identity (apply.HostIdentity).
func (g *globals) hostIdentity(ctx context.Context, cfg *config.Config, simDir string) (string, error) {
	id, err := apply.HostIdentity(ctx, cfg, simDir, g.warn)
	return id, connectHint(err)
}
