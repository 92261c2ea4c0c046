package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/felhom/felhom-converge/apply"
	"github.com/felhom/felhom-converge/status"
)

type RecoverCmd struct {
	SimFlag
	LockTimeout time.Duration `default:"0s" help:"How long to wait for another run to release the state directory's lock (0: fail at once, exit 3)."`
}

// Run settles the calls a crashed run left in flight and closes its
// transactions, as every apply does first. It never re-posts a call.
func (c *RecoverCmd) Run(ctx context.Context, g *globals) (err error) {
	var open, calls, unknown int
	ended := g.runStarted("recover")
	defer func() { ended(err, "open", open, "calls", calls, "unknown", unknown) }()
	s, release, err := g.session(ctx, c.Sim, "", c.LockTimeout, nil)
	if err != nil {
		return err
	}
	defer release()
	open = len(s.Journal.OpenTxns())
	rec, err := s.Recover(ctx)
	var unsettled *apply.UnsettledError
	if err != nil && !errors.As(err, &unsettled) {
		return err
	}
	calls = len(rec)
	if len(rec) == 0 && open == 0 {
		fmt.Fprintln(g.stdout, "recover: nothing in flight")
		return nil
	}
	for _, r := range rec {
		if r.Result == "" {
			unknown++
		}
	}
	if unknown > 0 {
		return withHint(fmt.Errorf("recover: %d call(s) still unknown", unknown), "run 'felhom-converge recover' again once the host answers and the task has ended (the next run does too); apply.recover_wait bounds each wait")
	}
	fmt.Fprintf(g.stdout, "recover: settled %d call(s)\n", len(rec))
	if err := status.SettleRecovered(s.Host.Config.StateDir, rec); err != nil {
		warnf(g.stderr, "status: %v", err)
	}
	return nil
}
