package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/felhom/felhom-converge/apply"
	"github.com/felhom/felhom-converge/journal"
	"github.com/felhom/felhom-converge/runas"
)

// JournalResetCmd accepts the loss of journal records deliberately.
type JournalResetCmd struct {
	SimFlag
	AcceptLoss  bool          `name:"accept-loss" help:"Accept that the records the journal's anchor names are gone (required)."`
	LockTimeout time.Duration `default:"0s" help:"How long to wait for another run to release the state directory's lock (0: fail at once, exit 3)."`
}

// Help is the detailed --help text.
func (c *JournalResetCmd) Help() string {
	return `When journal.log was deleted, emptied, cut short or replaced, apply and
recover refuse to run: the records it lost said which one-shot jobs ran,
which snapshots and backups the tool took, and what the guests looked
like. Put the journal back if you can. Otherwise this accepts the loss: it
keeps what is left, records the reset in the journal and the audit log,
and lets apply run again. Jobs in the lost records may then run again.`
}

// Run takes the lock, checks that the journal did lose records, and
// records that the loss was accepted.
func (c *JournalResetCmd) Run(ctx context.Context, g *globals) error {
	if !c.AcceptLoss {
		return withHint(errors.New("journal reset: nothing done without --accept-loss"),
			"'felhom-converge journal reset --accept-loss' accepts that the records the journal lost are gone; put the journal back instead if you can")
	}
	cfg, err := g.loadConfig(c.Sim, "")
	if err != nil {
		return err
	}
	who := runas.Who() // the operator, before a switch to the state directory's owner
	if err := g.asStateOwner(cfg); err != nil {
		return err
	}
	sd, err := journal.OpenStateDir(cfg.StateDir)
	if err != nil {
		return withHint(fmt.Errorf("journal reset: %w", err), "state_dir comes from %s", cfg.Origin("state_dir"))
	}
	lock, err := sd.Lock(ctx, c.LockTimeout)
	if err != nil {
		return err
	}
	defer lock.Unlock()
	err = apply.AcceptLoss(lock, sd, cfg.Host, who, g.stdout, g.warn)
	if errors.Is(err, journal.ErrNothingLost) {
		return withHint(fmt.Errorf("journal reset: %w", err), "'felhom-converge journal show' shows it")
	}
	if err != nil {
		return fmt.Errorf("journal reset: %w", err)
	}
	return nil
}
