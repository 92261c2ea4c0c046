package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/felhom/felhom-converge/config"
	"github.com/felhom/felhom-converge/proxmox"
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
		return nil, withHint(err, "the local host config is described in the README under 'Local host config'")
	}
	return cfg, nil
}

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
	release := func() {}
	if simDir != "" {
		sim, err := startEmbeddedSim(ctx, simDir)
		if err != nil {
			return nil, nil, fmt.Errorf("start the simulator in %s: %w", simDir, err)
		}
		release = func() {
			if err := sim.Close(); err != nil {
				warnf(g.stderr, "simulator: %v", err)
			}
		}
		if err := cfg.UseSimulator(sim.Endpoint, sim.Node, sim.Token, sim.Fingerprint); err != nil {
			release()
			return nil, nil, err
		}
	}
	if err := cfg.RequireProxmox(); err != nil {
		release()
		return nil, nil, withHint(err, "set up the Proxmox connection as the README's 'Local host config' shows, or try the bundled simulator with --sim DIR")
	}
	token, err := proxmox.ParseToken(cfg.Proxmox.Token.Reveal())
	if err != nil {
		release()
		return nil, nil, fmt.Errorf("config: proxmox.token (from %s): %w", cfg.Origin("proxmox.token"), err)
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
		return nil, nil, fmt.Errorf("proxmox client: %w", err)
	}
	closeSim := release
	release = func() {
		client.CloseIdleConnections() // so the simulator's shutdown waits for no spare connection
		closeSim()
	}
	return client, release, nil
}
