package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/felhom/felhom-converge/atomicfile"
	"github.com/felhom/felhom-converge/config"
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
	pr, err := g.makePlan(ctx, planSpec{sim: c.Sim, file: c.File, requests: c.Requests, ttl: c.RequestTTL})
	if err != nil {
		return err
	}
	defer pr.release()
	p := pr.plan
	if c.Out != "" {
		if err := writeSavedPlan(pr.cfg.StateDir, c.Out, p); err != nil {
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
		color := isTerminal(g.stdout) && g.getenv("NO_COLOR") == "" && g.getenv("TERM") != "dumb"
		if err := p.Render(g.stdout, plan.RenderOptions{Color: color}); err != nil {
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
			errorf(g.stderr, "%s: %s kept out of the plan (see above)", c.File, plural(len(p.Errors), "problem"))
		}
		return silentError{exitError}
	}
	if c.DetailedExitcode && !p.Empty() {
		return silentError{exitPending}
	}
	return nil
}

// writeSavedPlan writes p to path as a saved plan authenticated with the
// state directory's plan key (made on first use).
func writeSavedPlan(stateDir, path string, p *plan.Plan) error {
	if _, err := journal.OpenStateDir(stateDir); err != nil {
		return withHint(err, "the state directory must be owned by the service user and not be group- or world-writable (chmod 0700)")
	}
	key, err := plan.PlanKey(stateDir, true)
	if err != nil {
		return err
	}
	doc, err := p.Saved(key)
	if err != nil {
		return err
	}
	if err := atomicfile.WriteFile(path, doc, 0o600); err != nil {
		return fmt.Errorf("write the saved plan: %w", err)
	}
	return nil
}

// planSpec says what to plan.
type planSpec struct {
	sim      string
	file     string
	requests string // "" = STATE_DIR/requests
	ttl      time.Duration
	prov     plan.Provenance
}

// planned is a plan together with what made it; release frees the
// connection (and the embedded simulator).
type planned struct {
	warn    func(string) // prints a warning on stderr
	cfg     *config.Config
	desired *schema.Host
	src     []byte
	client  *proxmox.Client
	live    *plan.Live
	plan    *plan.Plan
	hostID  string // the node's identity, which requests bind to
	release func()
}

// loadDesired reads and checks a desired-state file under the load
// budget (a hostile file ends the command before anything touches the
// host), printing its diagnostics the way validate does.
func (g *globals) loadDesired(ctx context.Context, file string) (*schema.Host, []byte, error) {
	h, src, diags, err := schema.LoadBudgeted(ctx, file, schema.DefaultBudget)
	if err != nil {
		return nil, nil, err
	}
	newDiagPrinter(g).print(src, diags)
	if diags.HasErrors() {
		errs, _ := countDiags(diags)
		return nil, nil, withHint(fmt.Errorf("%s: %s; nothing was changed", file, plural(errs, "error")),
			"fix the file (felhom-converge validate %s checks it without a host)", file)
	}
	return h, src, nil
}

// makePlan loads the desired state, checks it is this host's, observes the
// host and computes the plan with its signature requests.
func (g *globals) makePlan(ctx context.Context, spec planSpec) (*planned, error) {
	desired, src, err := g.loadDesired(ctx, spec.file)
	if err != nil {
		return nil, err
	}
	cfg, err := g.loadConfig(spec.sim, desired.Name)
	if err != nil {
		return nil, err
	}
	if err := cfg.RequireHost(); err != nil {
		return nil, err
	}
	if err := desired.CheckHost(cfg.Host); err != nil {
		return nil, withHint(err, "each host applies only its own file; check the host block's label and the local config's host")
	}
	client, release, err := g.connect(ctx, cfg, spec.sim)
	if err != nil {
		return nil, err
	}
	pr := &planned{cfg: cfg, desired: desired, src: src, client: client, release: release,
		warn: func(msg string) { warnf(g.stderr, "%s", msg) }}
	if err := pr.replan(ctx, spec); err != nil {
		release()
		return nil, err
	}
	return pr, nil
}

// replan observes the host again and recomputes the plan.
func (pr *planned) replan(ctx context.Context, spec planSpec) error {
	if pr.desired.Node != "" && pr.desired.Node != pr.client.Node() {
		return fmt.Errorf("%s: the host block names node %q, the local config node %q", spec.file, pr.desired.Node, pr.client.Node())
	}
	prov := spec.prov
	if prov == nil {
		var err error
		if prov, err = readProvenance(pr.cfg.StateDir, pr.warn); err != nil {
			return err
		}
	}
	live, err := plan.Observe(ctx, pr.client, pr.desired, pr.cfg.Proxmox.Concurrency, prov)
	if err != nil {
		return withHint(fmt.Errorf("observe the host: %w", err), "%s", observeHint(err))
	}
	var signers []byte
	if pr.desired.Signers != nil {
		signers, err = os.ReadFile(pr.cfg.AllowedSigners)
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("read the trust root: %w", err)
		}
	}
	sum := sha256.Sum256(pr.src)
	p := plan.Diff(pr.desired, live, plan.Inputs{
		DesiredFile:    spec.file,
		DesiredDigest:  hex.EncodeToString(sum[:]),
		Provenance:     prov,
		Now:            time.Now(),
		AllowedSigners: signers,
		Mounts:         hostMounts(pr.desired.Storages, spec.sim),
		GoldenVMIDs:    pr.cfg.Safety.GoldenVMIDs,
		NoSafetyBackup: !pr.cfg.Safety.Enabled,
	})
	if err := p.CheckResources(ctx, pr.client); err != nil {
		return withHint(fmt.Errorf("observe the host: %w", err), "%s", observeHint(err))
	}
	dir := spec.requests
	if dir == "" {
		dir = filepath.Join(pr.cfg.StateDir, "requests")
	}
	hostID, err := pr.client.HostID(ctx)
	if err != nil {
		return withHint(fmt.Errorf("observe the host: read its identity: %w", err), "%s", observeHint(err))
	}
	if err := p.AttachRequests(plan.RequestOptions{Dir: dir, Host: pr.cfg.Host, HostID: hostID, TTL: spec.ttl, Now: time.Now(), Spent: spentNonces(pr.cfg.StateDir)}); err != nil {
		return fmt.Errorf("signature requests: %w", err)
	}
	pr.live, pr.plan, pr.hostID = live, p, hostID
	return nil
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
	return silentError{exitCodeFor(discard{}, err)}
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }

// readProvenance reads the journal without the lock and without writing,
// for a plan: which jobs ran, what the tool created, the digests the last
// apply recorded. No state directory yet means no history.
func readProvenance(stateDir string, warn func(string)) (plan.Provenance, error) {
	d, err := journal.InspectStateDir(stateDir)
	if errors.Is(err, fs.ErrNotExist) {
		return plan.NoProvenance{}, nil
	}
	if err != nil {
		return nil, withHint(fmt.Errorf("read the journal: %w", err), "the state directory must be owned by the service user and not be group- or world-writable")
	}
	j, err := journal.Read(d, journal.Options{})
	var ce *journal.CorruptError
	if errors.As(err, &ce) && ce.Partial != nil && warn != nil {
		// plan changes nothing: it may show what the records before the
		// damage say (apply refuses until the journal is repaired).
		warn(fmt.Sprintf("%v; this plan uses the %d records before the damage (a job that ran after it may show again), and apply refuses to run until it is repaired", err, len(ce.Partial.Records())))
		return ce.Partial, nil
	}
	if err != nil {
		return nil, withHint(fmt.Errorf("read the journal: %w", err), "'felhom-converge journal show' shows where it is damaged")
	}
	if l := j.Lost(); l != nil && warn != nil {
		warn(fmt.Sprintf("%v; this plan uses the %d records left (a job that ran may show again), and apply refuses to run", l, len(j.Records())))
	}
	return j, nil
}

// spentNonces reports, from the state directory's consumed-nonce store,
// whether a request's signature was already used, so plan never offers a
// spent request again. A store that cannot be read counts every nonce as
// spent (a new request costs a signature, never a replay); no store means
// nothing was ever accepted.
func spentNonces(stateDir string) func(string) bool {
	if _, err := os.Lstat(filepath.Join(stateDir, trust.NonceFile)); errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	store, err := trust.OpenFileNonceStore(stateDir, nil)
	if err != nil {
		return func(string) bool { return true }
	}
	return func(nonce string) bool {
		used, err := store.Consumed(nonce)
		return used || err != nil
	}
}
