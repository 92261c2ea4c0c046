package main

// signatures pending and signatures install: the host's ends of the fleet
// signing loop. The bundle format and the decisions are package trust's.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/felhom/felhom-converge/atomicfile"
	"github.com/felhom/felhom-converge/humanize"
	"github.com/felhom/felhom-converge/ops"
	"github.com/felhom/felhom-converge/printable"
	"github.com/felhom/felhom-converge/status"
	"github.com/felhom/felhom-converge/trust"
)

type SignaturesPendingCmd struct {
	SimFlag
	Out string `short:"o" help:"Write the bundle to FILE (atomically) instead of stdout." placeholder:"FILE" type:"path"`
}

// Run writes every pending request of this host as a bundle, each with a
// readable header: host, op, guest, what it loses and the plan's line for
// it (from the last run's record, when it planned the step).
func (c *SignaturesPendingCmd) Run(g *globals) error {
	cfg, err := g.loadConfig(c.Sim, "")
	if err != nil {
		return err
	}
	if err := cfg.RequireHost(); err != nil {
		return err
	}
	nonces, err := trust.OpenFileNonceStore(cfg.StateDir, nil)
	if err != nil {
		return err
	}
	d := trust.NewRequestDir(cfg.StateDir, nonces)
	reqs, problems, err := d.Pending()
	if err != nil {
		return withHint(err, "nothing was written; 'felhom-converge status' shows the state directory's health")
	}
	for _, p := range problems {
		warnf(g.stderr, "%v", p)
	}
	var planned []status.PendingSignature
	if last, err := status.ReadLastRun(cfg.StateDir); err == nil && last != nil {
		planned = last.PendingSignature
	}
	b := &trust.Bundle{}
	for _, r := range reqs {
		b.Entries = append(b.Entries, trust.BundleEntry{
			Name:   r.ID + trust.RequestSuffix,
			Header: pendingHeader(*r.Parsed, findPlanned(planned, r)),
			Req:    r.Req,
		})
	}
	if len(b.Entries) == 0 {
		fmt.Fprintf(g.stderr, "no request waits for a signature on %s\n", cfg.Host)
	} else {
		verb := "wait"
		if len(b.Entries) == 1 {
			verb = "waits"
		}
		fmt.Fprintf(g.stderr, "%s %s for a signature on %s\n", humanize.Plural(len(b.Entries), "request"), verb, cfg.Host)
	}
	if c.Out == "" {
		_, err := g.stdout.Write(b.Marshal())
		return err
	}
	return atomicfile.WriteFile(c.Out, b.Marshal(), 0o644)
}

// findPlanned is the last run's record of the step r waits for: by the
// request's file, else by its binding.
func findPlanned(planned []status.PendingSignature, r trust.SignedRequest) *status.PendingSignature {
	for i, ps := range planned {
		if ps.ID == r.ID || ps.Request == r.Path {
			return &planned[i]
		}
	}
	for i, ps := range planned {
		if ps.Op == r.Parsed.Op && ps.Guest == r.Parsed.Guest && string(ps.Params) == string(r.Parsed.Params) {
			return &planned[i]
		}
	}
	return nil
}

// pendingHeader is the readable header of one request in a bundle.
func pendingHeader(r trust.Request, ps *status.PendingSignature) []string {
	guest := humanize.GuestText(r.Guest, "")
	if ps != nil {
		guest = humanize.GuestText(r.Guest, ps.GuestName)
	}
	spec, _ := ops.Lookup(r.Op)
	plan := "(not in the last apply's plan)"
	if ps != nil {
		plan = "! " + r.Op + humanize.GuestLabel(r.Guest, ps.GuestName)
		if ps.Reason != "" {
			plan += ": " + ps.Reason
		}
		if ps.Source != "" {
			plan += " (" + ps.Source + ")"
		}
	}
	return []string{
		"host:  " + r.Host,
		"op:    " + r.Op,
		"guest: " + guest,
		"loses: " + spec.Loses,
		"plan:  " + plan,
		"sign:  -n " + trust.RoleFor(r.Op) + ", before " + r.NotAfter.UTC().Format(time.RFC3339),
	}
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
	if err := sweepSpent(g, d); err != nil {
		return err
	}
	decisions, err := d.InstallBundle(v, cfg.Host, hostID, b)
	if err != nil {
		return withHint(fmt.Errorf("install: %w", err), "nothing was installed")
	}
	refused, installed := 0, 0
	for _, dec := range decisions {
		fmt.Fprintln(g.stdout, installLine(dec))
		switch {
		case dec.Refused():
			refused++
		case dec.Path != "":
			installed++
		}
	}
	fmt.Fprintf(g.stdout, "install: %d installed into %s, %d refused, %d skipped\n", installed, d.Signatures, refused, len(decisions)-installed-refused)
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

// sweepSpent moves the signed requests whose nonce was spent out of the
// signatures directory, one line each.
func sweepSpent(g *globals, d *trust.RequestDir) error {
	moved, err := d.SweepSpent()
	for _, m := range moved {
		fmt.Fprintf(g.stdout, "moved the spent signature %s (op %s, guest %s, nonce %s) to %s\n",
			trust.QuoteName(m.ID+trust.RequestSuffix), m.Op, humanize.GuestText(m.Guest, ""), m.Nonce, m.Path)
	}
	if err != nil {
		return withHint(err, "nothing was installed")
	}
	return nil
}

// installLine is one request's line: its name, the decision (or
// "skipped") and why, as verify words it.
func installLine(dec trust.InstallDecision) string {
	name := trust.QuoteName(dec.Name)
	switch {
	case dec.Skipped != "":
		return fmt.Sprintf("%s  skipped  %s", name, printable.Escape(dec.Skipped))
	case dec.Path != "":
		return fmt.Sprintf("%s  %s  installed; %s", name, dec.Decision.Outcome, describe(dec.Decision))
	}
	return fmt.Sprintf("%s  %s  %s", name, dec.Decision.Outcome, describe(dec.Decision))
}

// readBundle reads and parses the bundle at path ("-": stdin); hint says
// what a bundle that does not parse means. It returns the bundle and the
// name its errors use.
func readBundle(path, hint string) (*trust.Bundle, string, error) {
	data, name, err := readBundleInput(path, os.Stdin)
	if err != nil {
		return nil, name, err
	}
	b, err := trust.ParseBundle(data, name)
	if err != nil {
		return nil, name, withHint(err, "%s", hint)
	}
	return b, name, nil
}

// readBundleInput reads a bundle from path, or from stdin for "-", up to
// trust.MaxBundleSize; a path must be a regular file. It returns the data
// and the name errors should use.
func readBundleInput(path string, stdin io.Reader) ([]byte, string, error) {
	if path == "-" {
		data, err := io.ReadAll(io.LimitReader(stdin, trust.MaxBundleSize+1))
		if err != nil {
			return nil, "-", fmt.Errorf("read the bundle from stdin: %w", err)
		}
		if len(data) > trust.MaxBundleSize {
			return nil, "-", &trust.BundleError{Name: "-", Msg: fmt.Sprintf("more than the %d bytes a bundle may have", trust.MaxBundleSize)}
		}
		return data, "(stdin)", nil
	}
	data, err := trust.ReadRegular(path, trust.MaxBundleSize)
	if errors.Is(err, trust.ErrTooLarge) {
		return nil, path, &trust.BundleError{Name: path, Msg: fmt.Sprintf("more than the %d bytes a bundle may have", trust.MaxBundleSize)}
	}
	return data, path, err
}
