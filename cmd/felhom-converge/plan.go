package main

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"time"

	"github.com/felhom/felhom-converge/apply"
	"github.com/felhom/felhom-converge/config"
	"github.com/felhom/felhom-converge/humanize"
	"github.com/felhom/felhom-converge/journal"
	"github.com/felhom/felhom-converge/plan"
	"github.com/felhom/felhom-converge/proxmox"
	"github.com/felhom/felhom-converge/schema"
	"github.com/felhom/felhom-converge/trust"
)

type PlanCmd struct {
	SimFlag
	File             string        `arg:"" help:"Desired-state HCL file of this host." type:"path"`
	Out              string        `help:"Also write the plan to FILE as a saved plan for 'apply FILE'." placeholder:"FILE" type:"path"`
	JSON             bool          `help:"Print the plan as a JSON document (format_version 1)."`
	DetailedExitcode bool          `help:"Exit 0 when there is nothing to do, 2 when there are changes, 1 on error."`
	Requests         string        `help:"Directory for signature requests (default STATE_DIR/requests)." placeholder:"DIR" type:"path"`
	RequestTTL       time.Duration `name:"request-ttl" default:"24h" help:"How long a new signature request stays signable."`
}

// Run observes the host, prints the plan and writes a signature request for
// every destructive step. It writes nothing else and takes no lock.
func (c *PlanCmd) Run(ctx context.Context, g *globals) error {
	err := c.run(ctx, g)
	if err != nil && c.JSON {
		return jsonError(g, err)
	}
	return err
}

func (c *PlanCmd) run(ctx context.Context, g *globals) error {
	if err := plan.CheckSavedName(c.Out); c.Out != "" && err != nil {
		return err
	}
	desired, src, err := g.loadDesired(ctx, c.File)
	if err != nil {
		return err
	}
	// As the state directory's owner: plan writes requests and the
	// saved-plan key there.
	h, release, err := g.hostFor(ctx, c.Sim, desired.Name, func(cfg *config.Config) error { return hostHint(desired.CheckHost(cfg.Host)) })
	if err != nil {
		return err
	}
	defer release()
	cfg := h.Config
	po := apply.PlanOnly{RequestsDir: cmp.Or(c.Requests, filepath.Join(cfg.StateDir, trust.RequestsDirName)), TTL: c.RequestTTL,
		Warn: g.warn}
	p, err := po.Plan(ctx, h, desired, src, c.File)
	if err != nil {
		return planError(err)
	}
	if c.Out != "" {
		if err := writeSavedPlan(cfg.StateDir, c.Out, p); err != nil {
			return err
		}
	}
	if c.JSON {
		doc, err := p.JSON()
		if err != nil {
			return err
		}
		if _, err := g.stdout.Write(doc); err != nil {
			return err
		}
	} else {
		if err := p.Render(g.stdout, plan.RenderOptions{Color: g.color(g.stdout)}); err != nil {
			return err
		}
		if c.Out != "" {
			cmd := "felhom-converge apply"
			if g.configPath != "" {
				cmd += " --config " + g.configPath
			}
			if c.Sim != "" {
				cmd += " --sim " + c.Sim
			}
			if c.Requests != "" {
				cmd += " --requests " + c.Requests
			}
			fmt.Fprintf(g.stdout, "Saved the plan to %s; apply exactly it with: %s %s\n", c.Out, cmd, c.Out)
		}
	}
	if len(p.Errors) > 0 {
		if !c.JSON {
			errorf(g.stderr, "%s: %s kept out of the plan (see above)", c.File, humanize.Plural(len(p.Errors), "problem"))
		}
		return silentError{exitError}
	}
	if c.DetailedExitcode && !p.Empty() {
		return silentError{exitPending}
	}
	return nil
}

// writeSavedPlan writes p to path as a saved plan (plan.WriteSaved) once
// the state directory that keeps its key is safe.
func writeSavedPlan(stateDir, path string, p *plan.Plan) error {
	if _, err := journal.OpenStateDir(stateDir); err != nil {
		return withHint(err, "the state directory must be owned by the service user and not be group- or world-writable (chmod 0700)")
	}
	return p.WriteSaved(stateDir, path)
}

// loadDesired reads and checks a desired-state file under the load
// budget (a hostile file ends the command before anything touches the
// host), printing its diagnostics the way validate does.
func (g *globals) loadDesired(ctx context.Context, file string) (*schema.Host, []byte, error) {
	h, src, diags, err := schema.LoadBudgeted(ctx, file, schema.DefaultBudget)
	if err != nil {
		return nil, nil, err
	}
	newDiagPrinter(g).Print(src, diags)
	if diags.HasErrors() {
		errs, _ := schema.CountDiags(diags)
		return nil, nil, withHint(fmt.Errorf("%s: %s; nothing was changed", file, humanize.Plural(errs, "error")),
			"fix the file (felhom-converge validate %s checks it without a host)", file)
	}
	return h, src, nil
}

// planError adds what to do to an error of making a plan.
func planError(err error) error {
	var obs *plan.ObserveError
	var jr *apply.JournalReadError
	var ce *journal.CorruptError
	switch {
	case errors.As(err, &obs):
		return withHint(err, "%s", observeHint(err))
	case errors.As(err, &ce):
		return withHint(err, "'felhom-converge journal show' shows where it is damaged")
	case errors.As(err, &jr):
		return withHint(err, "the state directory must be owned by the service user and not be group- or world-writable")
	}
	return err
}

// observeHint says what to do about a failed observe.
func observeHint(err error) string {
	var api *proxmox.APIError
	switch {
	case errors.As(err, &api) && api.Privilege != "":
		return fmt.Sprintf("grant the token %s on %s (the role in docs/operating.md lists every privilege the tool needs)", api.Privilege, api.ACLPath)
	case errors.As(err, &api) && api.Status == 401:
		return "the API token was refused: check the token (FELHOM_CONVERGE_PROXMOX_TOKEN, token_file, or the proxmox-token credential) and that it exists ('pveum user token list')"
	}
	var fp *proxmox.FingerprintMismatchError
	if errors.As(err, &fp) {
		return "the host's certificate does not match the pinned fingerprint: compare with 'pvenode cert info' and update proxmox.tls.fingerprint"
	}
	return "check the endpoint and that the host answers: 'felhom-converge selftest' reports each part"
}

// jsonError prints err as a JSON object on stdout, for --json callers.
func jsonError(g *globals, err error) error {
	var silent silentError
	if errors.As(err, &silent) {
		return err // already reported (a plan with errors carries them)
	}
	doc := map[string]string{"error": err.Error()}
	var h hinter
	if errors.As(err, &h) {
		doc["hint"] = h.Hint()
	}
	b, _ := json.Marshal(doc)
	fmt.Fprintf(g.stdout, "%s\n", b)
	return silentError{exitCodeFor(io.Discard, err)}
}
