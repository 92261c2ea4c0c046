package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/felhom/felhom-converge/apply"
	"github.com/felhom/felhom-converge/config"
	"github.com/felhom/felhom-converge/plan"
	"github.com/felhom/felhom-converge/schema"
	"github.com/felhom/felhom-converge/trust"
)

type ApplyCmd struct {
	SimFlag
	File        string        `arg:"" help:"Desired-state HCL file (planned afresh), or a saved plan written by 'plan --out' (applied exactly)." type:"path"`
	Signatures  string        `help:"Directory of signed requests (<id>.req + <id>.req.sig); default STATE_DIR/signatures." placeholder:"DIR" type:"path"`
	Requests    string        `help:"Directory the signature requests of pending steps are written to; default STATE_DIR/requests." placeholder:"DIR" type:"path"`
	LockTimeout time.Duration `default:"0s" help:"How long to wait for another run to release the state directory's lock (0: fail at once, exit 3)."`
	RequestTTL  time.Duration `name:"request-ttl" default:"24h" help:"How long a new signature request stays signable."`
	Parallelism *int          `help:"Run the steps of at most N guests at once, 1 to 64 (default: the config's apply.parallel, 3); one guest's steps always run in order." placeholder:"N"`
	// AutoApprove is accepted for Terraform users' habits: apply never
	// asks (benign steps run, destructive ones wait for a signature).
	AutoApprove bool `name:"auto-approve" hidden:"" help:"Accepted and ignored: apply never asks for confirmation."`
}

// Validate checks the flags kong cannot.
func (c *ApplyCmd) Validate() error {
	if c.Parallelism == nil {
		return nil
	}
	if err := config.CheckParallel(*c.Parallelism); err != nil {
		return fmt.Errorf("--parallelism %w (as apply.parallel)", err)
	}
	return nil
}

// Help is the detailed --help text.
func (c *ApplyCmd) Help() string {
	return `Exit status: 0 converged; 2 converged except steps waiting for an operator
signature (or refused one) or for a reboot, or changes a plan made again
after the run's rollback, restore or rebuild still has; 1 a step or the run
failed; 3 another run holds the state directory's lock.`
}

// Run applies the plan: lock → recover → plan afresh (narrowed to a
// saved plan's steps, for 'apply PLANFILE') → gate and execute every step
// under the journal.
func (c *ApplyCmd) Run(ctx context.Context, g *globals) (err error) {
	var p *plan.Plan
	var res *apply.Result
	defer g.recordRun(c.Sim, c.File, time.Now(), &p, &res, &err) // STATE_DIR/last-run.json (status.go)
	ended := g.runStarted("apply", "file", c.File)
	defer func() { ended(err, res.LogAttrs()...) }()
	in, err := g.applyInput(ctx, c.Sim, c.File)
	if err != nil {
		return err
	}
	s, release, err := g.session(ctx, c.Sim, in.Desired.Name, c.LockTimeout, func(cfg *config.Config) error { return hostHint(in.CheckHost(cfg.Host)) })
	if err != nil {
		return err
	}
	defer release()
	o := s.Options()
	o.SignaturesDir = cmp.Or(c.Signatures, o.SignaturesDir)
	o.RequestsDir = cmp.Or(c.Requests, o.RequestsDir)
	if c.Parallelism != nil {
		o.Parallel = *c.Parallelism
	}
	if err := g.recover(ctx, s); err != nil {
		return err
	}
	if p, err = g.planForApply(ctx, s, in, c.RequestTTL); err != nil {
		return err
	}
	if res, err = s.Apply(ctx, p); err != nil {
		return err
	}
	if err := s.Reobserve(ctx, res, in.Desired, in.Src, in.File, c.RequestTTL); err != nil {
		return err
	}
	res.WriteRemaining(g.stdout)
	switch {
	case ctx.Err() != nil:
		return ctx.Err() // interrupted: exit 130; recover settles what was in flight
	case res.Failed() || len(p.Errors) > 0:
		return silentError{code: exitError}
	case res.Pending():
		return errPending
	}
	return nil
}

// applyInput reads file (apply.ReadInput): a saved plan and the desired
// file it names, or a desired-state HCL file.
func (g *globals) applyInput(ctx context.Context, simDir, file string) (*apply.Input, error) {
	in, err := apply.ReadInput(file, func() (string, error) {
		cfg, err := g.loadConfig(simDir, "")
		if err != nil {
			return "", err
		}
		return cfg.StateDir, nil
	}, func(file string) (*schema.Host, []byte, error) { return g.loadDesired(ctx, file) })
	return in, savedPlanHint(err)
}

// recover settles what a crashed run left in flight; the run goes on
// only when nothing is left unknown.
func (g *globals) recover(ctx context.Context, s *apply.Session) error {
	_, err := s.Recover(ctx)
	var unsettled *apply.UnsettledError
	if errors.As(err, &unsettled) {
		return withHint(err, "run 'felhom-converge recover' again once the host answers and the task has ended (the next run does too); apply.recover_wait bounds each wait")
	}
	return err
}

// planForApply drops spent requests and plans afresh; for a saved plan,
// it keeps only the saved steps the fresh plan has identically. It
// prints the plan's errors and drift.
func (g *globals) planForApply(ctx context.Context, s *apply.Session, in *apply.Input, ttl time.Duration) (*plan.Plan, error) {
	if in.Saved != nil {
		if err := s.CheckSaved(in.Saved); err != nil {
			return nil, savedPlanHint(err)
		}
	}
	spent, err := s.DropSpentRequests()
	if errors.Is(err, trust.ErrNonceStoreCorrupt) {
		warnf(g.stderr, "%v; benign steps still run", cmp.Or(errors.Unwrap(err), err)) // the gate refuses every signature
	} else if err != nil {
		return nil, fmt.Errorf("requests directory: %w", err)
	}
	for _, id := range spent {
		fmt.Fprintf(g.stdout, "removed the spent request %s (its nonce was used)\n", trust.QuoteName(id))
	}
	p, err := s.Plan(ctx, in.Desired, in.Src, in.File, ttl)
	if err != nil {
		return nil, planError(err)
	}
	if in.Saved != nil {
		narrowed, dropped, err := s.Narrow(in.Saved, p)
		for _, id := range dropped {
			warnf(g.stderr, "saved plan: step %s is not in a fresh plan of the host; it does not run", id)
		}
		if err != nil {
			return nil, savedPlanHint(err)
		}
		p = narrowed
	}
	for _, e := range p.Errors {
		errorf(g.stderr, "%s (kept out of the plan)", e)
	}
	for _, d := range p.Drift {
		warnf(g.stderr, "%s", d)
	}
	if len(p.Steps) == 0 && len(p.Outstanding) == 0 && len(p.Errors) == 0 {
		fmt.Fprintln(g.stdout, "No changes: the host is converged.")
	}
	return p, nil
}

// hostHint says what to do about a desired file or saved plan for
// another host.
func hostHint(err error) error {
	if errors.As(err, new(*schema.WrongHostError)) {
		return withHint(err, "each host applies only its own file; check the host block's label and the local config's host")
	}
	return savedPlanHint(err)
}

// savedPlanHint says what to do about a saved plan that is refused.
func savedPlanHint(err error) error {
	if errors.As(err, new(*plan.SavedPlanError)) || errors.As(err, new(*apply.SavedPlanReadError)) {
		return withHint(err, "plan again: felhom-converge plan --out FILE DESIRED.hcl")
	}
	return err
}
