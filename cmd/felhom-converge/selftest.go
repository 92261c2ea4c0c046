package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/felhom/felhom-converge/journal"
	"github.com/felhom/felhom-converge/progress"
	"github.com/felhom/felhom-converge/selftest"
)

type SelftestCmd struct {
	SimFlag
	Task         bool `help:"Also exercise a reversible task on guest --vmid: take a snapshot, roll back to it, delete it. The rollback discards whatever the guest wrote since the snapshot."`
	VMID         int  `help:"Guest for --task, or the VMID --conformance creates (no guest may have it)." placeholder:"N"`
	AllowRestart bool `name:"allow-restart" help:"Let --task roll back a running guest: Proxmox stops it for the rollback and starts it again."`
	JSON         bool `help:"Print the report as one JSON document."`
	ConformanceFlags
}

// checkFlags refuses flags that go only with --task (reported as the
// command's own error, with a hint).
func (c *SelftestCmd) checkFlags() error {
	switch {
	case c.Task && c.VMID == 0:
		return withHint(errors.New("selftest --task needs --vmid N"), "name a guest whose snapshot may be taken and rolled back, e.g. --task --vmid 100")
	case c.VMID != 0 && !c.Task:
		return withHint(errors.New("selftest --vmid is only used with --task"), "add --task to run the snapshot, rollback and delete check on that guest")
	case c.AllowRestart && !c.Task:
		return withHint(errors.New("selftest --allow-restart is only used with --task"), "add --task --vmid N to run the task check")
	}
	return nil
}

// Run runs the checks of package selftest and prints the report: each
// line as it comes, or one JSON document at the end. Exit 1 when a check
// failed.
func (c *SelftestCmd) Run(ctx context.Context, g *globals) error {
	if c.Conformance || c.From != "" || c.Storage != "" {
		return c.conformance(ctx, g)
	}
	if err := c.checkFlags(); err != nil {
		return err
	}
	// Root checks what the service sees; --task takes the lock.
	cfg, client, release, err := g.connectAs(ctx, c.Sim, c.Task || os.Geteuid() == 0)
	if err != nil {
		return err
	}
	defer release()
	o := selftest.Options{Config: cfg, Client: client, Now: time.Now(), Task: c.Task, VMID: c.VMID, AllowRestart: c.AllowRestart,
		Lock:         func(ctx context.Context) (func(), error) { return taskLock(ctx, cfg.StateDir) },
		TaskProgress: func(what string) (func(), func()) { return progress.Task(g.stderr, what) },
	}
	if !c.JSON {
		o.Live = g.stdout
	}
	rep, err := selftest.Run(ctx, o)
	if err != nil {
		return err
	}
	if c.JSON {
		if err := rep.WriteJSON(g.stdout); err != nil {
			return err
		}
	} else {
		rep.WriteSummary(g.stdout)
	}
	if rep.Failed > 0 {
		return silentError{exitError}
	}
	return nil
}

// taskLock takes the state directory's run lock for selftest --task
// (selftest.TaskLock).
func taskLock(ctx context.Context, stateDir string) (func(), error) {
	sd, err := journal.OpenStateDir(stateDir)
	if err != nil {
		return nil, withHint(fmt.Errorf("selftest --task: %w", err), "the task check runs under the state directory's lock, like apply")
	}
	unlock, err := selftest.TaskLock(ctx, sd)
	var inflight *selftest.InFlightError
	if errors.As(err, &inflight) {
		return nil, withHint(err, "run 'felhom-converge recover' first")
	}
	return unlock, err
}
