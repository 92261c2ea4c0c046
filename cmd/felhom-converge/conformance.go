package main

// selftest --conformance: the flags' checks, the lock and the output; the
// run itself is package conformance.

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/felhom/felhom-converge/conformance"
)

// ConformanceFlags are selftest's flags of the conformance check.
type ConformanceFlags struct {
	Conformance bool   `help:"Create guest --vmid N (no guest may have it), check on it every Proxmox behaviour plan and apply rely on, and remove it again; exit 1 names the checks where this host differs (docs/operating.md: Conformance check)."`
	From        string `help:"With --conformance: the backup archive or CT template the guest is made from (default: the smallest template)." placeholder:"VOLID"`
	Storage     string `help:"With --conformance: the storage for the guest's volumes (default: one that holds containers, preferably with snapshots)." placeholder:"STORAGE"`
}

// conformanceCleanup is how long an interrupted conformance run may take
// to remove what it made; a second interrupt leaves that to the next run.
const conformanceCleanup = 15 * time.Minute

func (c *SelftestCmd) conformance(ctx context.Context, g *globals) error {
	switch {
	case !c.Conformance:
		return withHint(errors.New("selftest --from and --storage are only used with --conformance"), "add --conformance --vmid N")
	case c.VMID == 0:
		return withHint(errors.New("selftest --conformance needs --vmid N"),
			"name a VMID no guest has: the check creates that guest and removes it again, e.g. --conformance --vmid 990")
	case c.Task || c.AllowRestart:
		return withHint(errors.New("selftest --conformance cannot be combined with --task or --allow-restart"), "run them one after the other")
	}
	cfg, client, release, err := g.connectAs(ctx, c.Sim, true)
	if err != nil {
		return err
	}
	defer release()
	unlock, err := taskLock(ctx, cfg.StateDir) // apply's lock: no run changes the host meanwhile
	if err != nil {
		return err
	}
	defer unlock()
	g.interrupts.AllowCleanup(conformanceCleanup)
	told := false
	o := conformance.Options{Client: client, StateDir: cfg.StateDir, VMID: c.VMID, From: c.From, Storage: c.Storage,
		BackupStorage: cfg.Safety.BackupStorage,
		Check: func(ck conformance.Check) {
			if ctx.Err() != nil && !told {
				told = true
				fmt.Fprintf(g.stderr, "felhom-converge: interrupted: removing guest %d and the run's archives (interrupt again to leave that to the next run, which removes them first)\n", c.VMID)
			}
			if !c.JSON {
				conformance.WriteCheck(g.stdout, ck)
			}
		}}
	if !c.JSON {
		o.Started = func(r *conformance.Report) { r.WriteHeader(g.stdout) }
	}
	rep, err := conformance.Run(ctx, o)
	if rep == nil {
		return err
	}
	if c.JSON {
		if werr := rep.WriteJSON(g.stdout); werr != nil {
			return werr
		}
	} else {
		rep.WriteSummary(g.stdout)
	}
	switch {
	case err != nil:
		return err // interrupted; the cleanup ran
	case !rep.Passed:
		return silentError{exitError}
	}
	return nil
}
