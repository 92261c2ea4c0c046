package main

// signatures pending and signatures install: the host's ends of the fleet
// signing loop. The bundle format and the decisions are package trust's.

import (
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/felhom/felhom-converge/humanize"
	"github.com/felhom/felhom-converge/status"
	"github.com/felhom/felhom-converge/trust"
)

type SignaturesPendingCmd struct {
	SimFlag
	Out string `short:"o" help:"Write the bundle to FILE (atomically) instead of stdout ('-': stdout)." placeholder:"FILE" type:"path"`
}

// Run writes every pending request of this host as a bundle, each with a
// readable header: host, op, guest, what it loses and the plan's line for
// it (from the last run's record, when it planned the step).
func (c *SignaturesPendingCmd) Run(g *globals) error {
	cfg, err := g.hostConfig(c.Sim, "")
	if err != nil {
		return err
	}
	nonces, err := trust.OpenFileNonceStore(cfg.StateDir, nil)
	if err != nil {
		return err
	}
	b, problems, err := status.PendingBundle(cfg.StateDir, nonces)
	if err != nil {
		return withHint(err, "nothing was written; 'felhom-converge status' shows the state directory's health")
	}
	for _, p := range problems {
		warnf(g.stderr, "%v", p)
	}
	fmt.Fprintln(g.stderr, b.Waiting(cfg.Host))
	return b.Write(c.Out, g.stdout)
}

type SignaturesInstallCmd struct {
	SimFlag
	File string `arg:"" help:"The signed bundle ('-': stdin)." placeholder:"FILE|-"`
}

// Run decides each signed request of the bundle as 'signatures verify'
// does and installs the accepted ones; one line per request on stdout.
func (c *SignaturesInstallCmd) Run(ctx context.Context, g *globals) error {
	b, name, err := readBundle(c.File, "nothing was installed; a bundle is what 'signatures pending' wrote, signed by 'signatures sign'")
	if err != nil {
		return err
	}
	cfg, v, hostID, err := g.loadVerifier(ctx, c.Sim)
	if err != nil {
		return err
	}
	if err := g.asStateOwner(cfg); err != nil {
		return err
	}
	d := trust.NewRequestDir(cfg.StateDir, v.Nonces)
	decisions, err := d.InstallReported(v, cfg.Host, hostID, b, g.stdout)
	if errors.As(err, new(*trust.SweepError)) {
		return withHint(err, "nothing was installed")
	} else if err != nil {
		return withHint(fmt.Errorf("install: %w", err), "nothing was installed")
	}
	for _, dec := range decisions {
		fmt.Fprintln(g.stdout, dec.Line())
	}
	installed, refused, skipped := trust.Tally(decisions)
	fmt.Fprintf(g.stdout, "install: %d installed into %s, %d refused, %d skipped\n", installed, d.Signatures, refused, skipped)
	if refused > 0 {
		errorf(g.stderr, "%s refused", humanize.Plural(refused, "signed request"))
		return silentError{code: exitError}
	}
	if installed == 0 {
		errorf(g.stderr, "no signed request for %s in %s", cfg.Host, name)
		hintf(g.stderr, "sign the bundle first: felhom-converge signatures sign %s -f KEY", name)
		return silentError{code: exitError}
	}
	return nil
}

// readBundle reads and parses the bundle at path ("-": stdin); hint says
// what a bundle that does not parse means. It returns the bundle and the
// name its errors use.
func readBundle(path, hint string) (*trust.Bundle, string, error) {
	data, name, err := trust.ReadBundleInput(path, os.Stdin)
	if err != nil {
		return nil, name, err
	}
	b, err := trust.ParseBundle(data, name)
	if err != nil {
		return nil, name, withHint(err, "%s", hint)
	}
	return b, name, nil
}
