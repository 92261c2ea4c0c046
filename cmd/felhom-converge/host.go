package main

import (
	"github.com/felhom/felhom-converge/config"
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
