package main

// status: the last run, what waits, and the journal's health, read from
// the state directory only (no API call), as text, JSON or a Prometheus
// textfile; and recordRun, which writes the last-run record at the end of
// every apply.

import (
	"errors"
	"fmt"
	"time"

	"github.com/felhom/felhom-converge/apply"
	"github.com/felhom/felhom-converge/plan"
	"github.com/felhom/felhom-converge/status"
)

type StatusCmd struct {
	SimFlag
	JSON       bool   `help:"Print the report as one JSON document."`
	Prometheus string `help:"Write the report as Prometheus metrics to FILE for node-exporter's textfile collector (atomically), and print nothing." type:"path" placeholder:"FILE"`
}

// Run reads the state directory and reports. It takes no lock, writes
// nothing there and never calls the Proxmox API, so it works with the API
// down and while a run is in progress.
func (c *StatusCmd) Run(g *globals) error {
	if c.JSON && c.Prometheus != "" {
		return errors.New("status: --json and --prometheus exclude each other")
	}
	cfg, err := g.loadConfig(c.Sim, "")
	if err != nil {
		return err
	}
	rep, err := status.Read(cfg.StateDir, time.Now())
	if err != nil {
		return withHint(fmt.Errorf("status: %w", err), "state_dir comes from %s", cfg.Origin("state_dir"))
	}
	switch {
	case c.Prometheus != "":
		if err := rep.WritePrometheus(c.Prometheus); err != nil {
			return withHint(fmt.Errorf("status: %w", err), // it names the file
				"the directory must be writable by this user (under the systemd unit: ReadWritePaths=)")
		}
		return nil
	case c.JSON:
		return rep.WriteJSON(g.stdout)
	}
	rep.WriteText(g.stdout)
	return nil
}

// recordRun writes STATE_DIR/last-run.json at the end of an apply run;
// ApplyCmd.Run defers it first thing. p, res and err point at the run's
// plan, result and returned error, read when the run ends. A run that
// found the lock busy writes nothing (the run holding it writes its own);
// one that failed before the config loaded cannot (no state directory). A
// failure to write is a warning: the run's outcome stands.
func (g *globals) recordRun(simDir, file string, started time.Time, p **plan.Plan, res **apply.Result, err *error) {
	if locked(*err) {
		return
	}
	cfg, cerr := g.loadConfig(simDir, "")
	if cerr != nil || g.asStateOwner(cfg) != nil {
		return
	}
	var runErr error
	var silent silentError
	if *err != nil && !errors.Is(*err, errPending) && !errors.As(*err, &silent) {
		runErr = *err
	}
	if werr := status.RecordApply(cfg.StateDir, cfg.Host, file, started, *p, *res, runErr); werr != nil {
		warnf(g.stderr, "status: %v", werr)
	}
}
