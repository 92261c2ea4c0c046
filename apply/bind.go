package apply

import (
	"context"
	"fmt"

	"github.com/felhom/felhom-converge/config"
	"github.com/felhom/felhom-converge/proxmox"
	"github.com/felhom/felhom-converge/proxmox/hostexec"
	"github.com/felhom/felhom-converge/proxmox/pvesim"
)

// UnconfiguredError is a config that names no complete Proxmox
// connection (config.RequireProxmox's refusal).
type UnconfiguredError struct{ Err error }

func (e *UnconfiguredError) Error() string { return e.Err.Error() }
func (e *UnconfiguredError) Unwrap() error { return e.Err }

// Connect returns an API client for cfg. With simDir it first starts the
// in-process simulator (pvesim.StartEmbedded) and points cfg at it, over
// HTTPS with the simulator's certificate pinned. release frees everything;
// warn hears of a simulator that did not stop cleanly.
func Connect(ctx context.Context, cfg *config.Config, simDir string, warn func(string)) (client *proxmox.Client, release func(), err error) {
	client, _, release, err = connect(ctx, cfg, simDir, warn)
	return client, release, err
}

// connect is Connect, also returning the in-process simulator (nil
// without simDir).
func connect(ctx context.Context, cfg *config.Config, simDir string, warn func(string)) (*proxmox.Client, *pvesim.Sim, func(), error) {
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
				warn(fmt.Sprintf("simulator: %v", err))
			}
		}
		if err := cfg.UseSimulator(sim.Endpoint, sim.Node, sim.Token, sim.Fingerprint); err != nil {
			release()
			return nil, nil, nil, err
		}
	}
	if err := cfg.RequireProxmox(); err != nil {
		release()
		return nil, nil, nil, &UnconfiguredError{err}
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
	return client, embedded, func() {
		client.CloseIdleConnections() // so the simulator's shutdown waits for no spare connection
		closeSim()
	}, nil
}

// Bind binds the host of cfg once (Connect): its API client and its root
// runner and file system, which under simDir are the simulator's
// (pvesim.RootHost, which plays pct against the same simulator) and
// otherwise this machine's.
func Bind(ctx context.Context, cfg *config.Config, simDir string, warn func(string)) (*Host, func(), error) {
	client, sim, release, err := connect(ctx, cfg, simDir, warn)
	if err != nil {
		return nil, nil, err
	}
	h := &Host{Config: cfg, Client: client}
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
