package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/felhom/felhom-converge/apply"
	"github.com/felhom/felhom-converge/config"
	"github.com/felhom/felhom-converge/journal"
	"github.com/felhom/felhom-converge/proxmox"
	"github.com/felhom/felhom-converge/proxmox/hostexec"
	"github.com/felhom/felhom-converge/proxmox/pvesim"
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

// bindHost binds the host of cfg once: its API client and, under --sim,
// the simulator standing in for the host's root commands and file system.
// release frees the connection (and the simulator).
func (g *globals) bindHost(ctx context.Context, cfg *config.Config, simDir string) (*apply.Host, func(), error) {
	client, sim, release, err := g.connectSim(ctx, cfg, simDir)
	if err != nil {
		return nil, nil, err
	}
	h := &apply.Host{Config: cfg, Client: client}
	if simDir != "" {
		root := pvesim.RootHost{Dir: simDir, Sim: sim}
		h.FS, h.MountedUUIDs = root, root.MountedUUIDs
		h.Root, err = proxmox.NewPrivileged(proxmox.ModeDirect, root, proxmox.Tools{})
	} else {
		h.FS, h.MountedUUIDs = proxmox.LocalFS{}, proxmox.MountedUUIDs
		h.Root, err = proxmox.NewPrivileged(proxmox.Mode(cfg.Privileged.Mode), hostexec.Runner{}, proxmox.Tools{})
	}
	if err != nil {
		release()
		return nil, nil, err
	}
	return h, release, nil
}

// openSession locks the host's state directory for a run and opens its
// journal, audit log and trust root, with the hint each refusal needs.
func (g *globals) openSession(ctx context.Context, h *apply.Host, lockTimeout time.Duration) (*apply.Session, error) {
	s, err := apply.OpenSession(ctx, h, apply.SessionOptions{
		LockTimeout: lockTimeout, Out: g.stdout, Log: g.log,
		Warn: func(msg string) { warnf(g.stderr, "%s", msg) },
		Hook: crashHook(g.getenv("FELHOM_CONVERGE_TEST_CRASH_AT")),
	})
	var busy *journal.LockedError
	var unsafe *journal.UnsafeError
	switch {
	case err == nil:
		g.showProgress(ctx, s.Options(), h.Client)
		return s, nil
	case errors.As(err, &busy):
		return nil, lockBusy{err}
	case errors.As(err, &unsafe):
		return nil, withHint(err, "the state directory must be owned by the service user and not be group- or world-writable (chmod 0700)")
	case errors.Is(err, trust.ErrUnsafePermissions):
		return nil, withHint(err, "the trust root must be owned by root or the service user and not be group- or world-writable (chmod 0644)")
	case journalDamage(err):
		return nil, withHint(err, "nothing was changed; the journal must be repaired before apply may mutate the host")
	}
	return nil, err
}

// journalDamage reports a journal that refuses to open: damaged, too
// large, or shorter than its anchor (its error says what to do).
func journalDamage(err error) bool {
	var corrupt *journal.CorruptError
	var large *journal.TooLargeError
	var lost *journal.LostError
	return errors.As(err, &corrupt) || errors.As(err, &large) || errors.As(err, &lost)
}

// lockBusy is the lock-busy error: exit 3, with the holder named.
type lockBusy struct{ err error }

func (e lockBusy) Error() string        { return e.err.Error() }
func (e lockBusy) Is(target error) bool { return target == errLocked }
func (e lockBusy) Unwrap() error        { return e.err }

// errNoProxmox is hostIdentity without a configured Proxmox connection.
var errNoProxmox = errors.New("no Proxmox connection is configured")

// hostIdentity reads the host's identity (its certificate fingerprint,
// which signature requests bind to) from the configured host or the
// simulator.
func (g *globals) hostIdentity(ctx context.Context, cfg *config.Config, simDir string) (string, error) {
	if simDir == "" {
		if err := cfg.RequireProxmox(); err != nil {
			return "", errNoProxmox
		}
	}
	client, release, err := g.connect(ctx, cfg, simDir)
	if err != nil {
		return "", err
	}
	defer release()
	return client.HostID(ctx)
}

// connect returns an API client for cfg. With simDir it first starts the
// in-process simulator and points cfg at it, over HTTPS with the
// simulator's certificate pinned. The returned func releases everything.
func (g *globals) connect(ctx context.Context, cfg *config.Config, simDir string) (*proxmox.Client, func(), error) {
	client, _, release, err := g.connectSim(ctx, cfg, simDir)
	return client, release, err
}

// connectSim is connect, also returning the in-process simulator (nil
// without simDir).
func (g *globals) connectSim(ctx context.Context, cfg *config.Config, simDir string) (*proxmox.Client, *pvesim.Sim, func(), error) {
	release := func() {}
	var embedded *pvesim.Sim
	if simDir != "" {
		sim, err := pvesim.StartEmbedded(ctx, simDir)
		if err != nil {
			return nil, nil, nil, fmt.Errorf("start the simulator in %s: %w", simDir, err)
		}
		embedded = sim.Sim
		release = func() {
			if err := sim.Close(); err != nil {
				warnf(g.stderr, "simulator: %v", err)
			}
		}
		if err := cfg.UseSimulator(sim.Endpoint, sim.Node, sim.Token, sim.Fingerprint); err != nil {
			release()
			return nil, nil, nil, err
		}
	}
	if err := cfg.RequireProxmox(); err != nil {
		release()
		return nil, nil, nil, withHint(err, "set up the Proxmox connection as docs/reference.md's 'Local host config' shows, or try the bundled simulator with --sim DIR")
	}
	token, err := proxmox.ParseToken(cfg.Proxmox.Token.Reveal())
	if err != nil {
		release()
		return nil, nil, nil, fmt.Errorf("config: proxmox.token (from %s): %w", cfg.Origin("proxmox.token"), err)
	}
	client, err := proxmox.New(proxmox.Options{
		Endpoint:           cfg.Proxmox.Endpoint,
		Node:               cfg.Proxmox.Node,
		Token:              token,
		CAFile:             cfg.Proxmox.CAFile,
		Fingerprint:        cfg.Proxmox.Fingerprint,
		InsecureSkipVerify: cfg.Proxmox.InsecureSkipVerify,
		Timeout:            cfg.Proxmox.Timeout,
		Concurrency:        cfg.Proxmox.Concurrency,
	})
	if err != nil {
		release()
		return nil, nil, nil, fmt.Errorf("proxmox client: %w", err)
	}
	closeSim := release
	release = func() {
		client.CloseIdleConnections() // so the simulator's shutdown waits for no spare connection
		closeSim()
	}
	return client, embedded, release, nil
}
