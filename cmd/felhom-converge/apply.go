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
	"strings"
	"syscall"
	"time"

	"github.com/felhom/felhom-converge/apply"
	"github.com/felhom/felhom-converge/atomicfile"
	"github.com/felhom/felhom-converge/config"
	"github.com/felhom/felhom-converge/journal"
	"github.com/felhom/felhom-converge/plan"
	"github.com/felhom/felhom-converge/proxmox"
	"github.com/felhom/felhom-converge/proxmox/hostexec"
	"github.com/felhom/felhom-converge/trust"
)

type ApplyCmd struct {
	SimFlag
	File        string        `arg:"" help:"Desired-state HCL file (planned afresh), or a saved plan written by 'plan --out' (applied exactly)." type:"path"`
	Signatures  string        `help:"Directory of signed requests (<id>.req + <id>.req.sig); default STATE_DIR/signatures." placeholder:"DIR" type:"path"`
	Requests    string        `help:"Directory the signature requests of pending steps are written to; default STATE_DIR/requests." placeholder:"DIR" type:"path"`
	LockTimeout time.Duration `default:"0s" help:"How long to wait for another run to release the state directory's lock (0: fail at once, exit 3)."`
	RequestTTL  time.Duration `name:"request-ttl" default:"24h" help:"How long a new signature request stays signable."`
	// AutoApprove is accepted for Terraform users' habits: apply never
	// asks (benign steps run, destructive ones wait for a signature).
	AutoApprove bool `name:"auto-approve" hidden:"" help:"Accepted and ignored: apply never asks for confirmation."`
}

// Help is the detailed --help text.
func (c *ApplyCmd) Help() string {
	return `Exit status: 0 converged; 2 converged except steps waiting for an operator
signature (or refused one) or for a reboot; 1 a step or the run failed; 3
another run holds the state directory's lock.`
}

// Run applies the plan: lock → recover → plan afresh (narrowed to a
// saved plan's steps, for 'apply PLANFILE') → gate and execute every step
// under the journal.
func (c *ApplyCmd) Run(ctx context.Context, g *globals) (err error) {
	var p *plan.Plan
	var res *apply.Result
	defer g.recordRun(c.Sim, c.File, time.Now(), &p, &res, &err) // STATE_DIR/last-run.json (status.go)
	ended := g.runStarted("apply", "file", c.File)
	defer func() { ended(err, applyCounts(res)...) }()
	data, err := readDesiredState(c.File)
	if err != nil {
		return err
	}
	var saved *plan.Plan
	desiredFile := c.File
	if plan.IsSaved(data) {
		if saved, err = g.readSavedPlan(c.Sim, data); err != nil {
			return err
		}
		desiredFile = saved.DesiredFile
	}
	desired, src, err := g.loadDesired(ctx, desiredFile)
	if err != nil {
		if saved != nil {
			return savedPlanRefused(fmt.Errorf("saved plan: its desired file: %w", err))
		}
		return err
	}
	if saved != nil && saved.DesiredDigest != sha256Hex(src) {
		return savedPlanRefused(&plan.SavedPlanError{Msg: fmt.Sprintf("the desired file %s changed since the plan was made", desiredFile)})
	}
	cfg, err := g.loadConfig(c.Sim, desired.Name)
	if err != nil {
		return err
	}
	if err := cfg.RequireHost(); err != nil {
		return err
	}
	if saved != nil && saved.Host != cfg.Host {
		return savedPlanRefused(&plan.SavedPlanError{Msg: fmt.Sprintf("it is for host %q, this is %q", saved.Host, cfg.Host)})
	}
	if err := desired.CheckHost(cfg.Host); err != nil {
		return withHint(err, "each host applies only its own file; check the host block's label and the local config's host")
	}
	client, release, err := g.connect(ctx, cfg, c.Sim)
	if err != nil {
		return err
	}
	defer release()
	s, err := g.openSession(ctx, cfg, client, c.Sim, c.LockTimeout)
	if err != nil {
		return err
	}
	defer s.close()
	s.opts.Desired = desired
	s.opts.SignaturesDir = orDir(c.Signatures, cfg.StateDir, signaturesDirName)
	s.opts.RequestsDir = orDir(c.Requests, cfg.StateDir, "requests")
	s.opts.RequestTTL = c.RequestTTL
	if err := s.recover(ctx, g); err != nil {
		return err
	}
	if saved != nil {
		id := apply.PlanID(saved)
		for _, t := range s.j.Transactions() {
			if t.Begin.PlanID == id {
				return savedPlanRefused(&plan.SavedPlanError{Msg: fmt.Sprintf("it was applied already (transaction %s)", t.Begin.Txn)})
			}
		}
	}
	spent, err := apply.DropSpentRequests(s.opts.RequestsDir, s.opts.Verifier.Nonces)
	if err != nil {
		return fmt.Errorf("requests directory: %w", err)
	}
	for _, id := range spent {
		fmt.Fprintf(g.stdout, "removed the spent request %s (its nonce was used)\n", trust.QuoteName(id))
	}
	pr := &planned{cfg: cfg, desired: desired, src: src, client: client, release: func() {}}
	if err := pr.replan(ctx, planSpec{sim: c.Sim, file: desiredFile, requests: s.opts.RequestsDir, ttl: c.RequestTTL, prov: s.j}); err != nil {
		return err
	}
	p, s.opts.HostID = pr.plan, pr.hostID
	if saved != nil {
		narrowed, dropped, err := saved.Narrow(p)
		if err != nil {
			return savedPlanRefused(err)
		}
		for _, id := range dropped {
			warnf(g.stderr, "saved plan: step %s is not in a fresh plan of the host; it does not run", id)
		}
		s.opts.PlanID = apply.PlanID(saved)
		p = narrowed
	}
	for _, e := range p.Errors {
		errorf(g.stderr, "%s (kept out of the plan)", e)
	}
	for _, d := range p.Drift {
		warnf(g.stderr, "%s", driftLine(d))
	}
	if len(p.Steps) == 0 && len(p.Outstanding) == 0 && len(p.Errors) == 0 {
		fmt.Fprintln(g.stdout, "No changes: the host is converged.")
	}
	res, err = apply.Run(ctx, p, s.opts)
	if err != nil {
		return err
	}
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

// readSavedPlan authenticates a saved plan with this host's plan key.
func (g *globals) readSavedPlan(simDir string, data []byte) (*plan.Plan, error) {
	cfg, err := g.loadConfig(simDir, "")
	if err != nil {
		return nil, err
	}
	key, err := plan.PlanKey(cfg.StateDir, false)
	if err != nil {
		return nil, savedPlanRefused(fmt.Errorf("saved plan: %w", err))
	}
	p, err := plan.ReadSaved(data, key)
	if err != nil {
		return nil, savedPlanRefused(err)
	}
	return p, nil
}

func savedPlanRefused(err error) error {
	return withHint(err, "plan again: felhom-converge plan --out FILE DESIRED.hcl")
}

func sha256Hex(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// driftLine renders a drift report line, as Terraform reports drift.
func driftLine(d plan.Drift) string {
	return fmt.Sprintf("guest %d changed outside felhom-converge since the last apply (%s)", d.Guest, d.Since.UTC().Format(time.RFC3339))
}

func orDir(flag, stateDir, name string) string {
	if flag != "" {
		return flag
	}
	return filepath.Join(stateDir, name)
}

// session is the locked state directory of one apply or recover run.
type session struct {
	lock *journal.Lock
	j    *journal.Journal
	opts apply.Options
}

func (s *session) close() {
	s.j.Close()
	s.lock.Unlock()
}

// lockBusy is the lock-busy error: exit 3, with the holder named.
type lockBusy struct{ err error }

func (e lockBusy) Error() string        { return e.err.Error() }
func (e lockBusy) Is(target error) bool { return target == errLocked }
func (e lockBusy) Unwrap() error        { return e.err }

// openSession checks and locks the state directory, opens the journal
// and the audit log, and loads the trust root.
func (g *globals) openSession(ctx context.Context, cfg *config.Config, client *proxmox.Client, simDir string, lockTimeout time.Duration) (*session, error) {
	sd, err := journal.OpenStateDir(cfg.StateDir)
	if err != nil {
		return nil, withHint(err, "the state directory must be owned by the service user and not be group- or world-writable (chmod 0700)")
	}
	lock, err := sd.Lock(ctx, lockTimeout)
	var busy *journal.LockedError
	if errors.As(err, &busy) {
		return nil, lockBusy{err}
	}
	if err != nil {
		return nil, err
	}
	j, err := journal.Open(lock, journal.Options{})
	if err != nil {
		lock.Unlock()
		return nil, withHint(err, "nothing was changed; the journal must be repaired before apply may mutate the host")
	}
	if t := j.TornTail(); t != nil {
		warnf(g.stderr, "%s", t)
	}
	token, _ := proxmox.ParseToken(cfg.Proxmox.Token.Reveal())
	s := &session{lock: lock, j: j}
	audit := apply.NewAudit(filepath.Join(sd.Path(), apply.AuditFile), func() (*os.File, error) {
		return sd.OpenFile(apply.AuditFile, os.O_WRONLY|os.O_APPEND|os.O_CREATE)
	}, g.log)
	s.opts = apply.Options{
		Host:               cfg.Host,
		Client:             client,
		Journal:            j,
		Audit:              audit,
		AllowedSignersPath: cfg.AllowedSigners,
		Safety:             apply.Safety{Enabled: cfg.Safety.Enabled, BackupStorage: cfg.Safety.BackupStorage, Keep: cfg.Safety.Keep},
		GoldenVMIDs:        cfg.Safety.GoldenVMIDs,
		TokenUser:          token.ID(),
		Out:                g.stdout,
		Hook:               crashHook(g.getenv("FELHOM_CONVERGE_TEST_CRASH_AT")),
	}
	g.showProgress(ctx, &s.opts, client)
	if s.opts.Verifier, err = g.verifier(cfg, sd.Path()); err != nil {
		s.close()
		return nil, err
	}
	if simDir != "" {
		s.opts.Mounter, err = proxmox.NewPrivileged(proxmox.ModeDirect, simRunner{path: filepath.Join(simDir, "mounts.json")}, proxmox.Tools{})
	} else {
		s.opts.Mounter, err = proxmox.NewPrivileged(proxmox.Mode(cfg.Privileged.Mode), hostexec.Runner{}, proxmox.Tools{})
	}
	if err != nil {
		s.close()
		return nil, err
	}
	return s, nil
}

// verifier loads the trust root. Under --sim an absent one trusts nobody;
// on a host an unreadable trust root is an error (no destructive step
// could be judged).
func (g *globals) verifier(cfg *config.Config, stateDir string) (*trust.Verifier, error) {
	signers, err := trust.LoadAllowedSigners(cfg.AllowedSigners)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		warnf(g.stderr, "%s does not exist: no signer is trusted, so every destructive step stays pending", cfg.AllowedSigners)
		signers = &trust.AllowedSigners{Name: cfg.AllowedSigners}
	case errors.Is(err, trust.ErrUnsafePermissions):
		return nil, withHint(err, "the trust root must be owned by root or the service user and not be group- or world-writable (chmod 0644)")
	case err != nil:
		return nil, err
	}
	nonces, err := trust.OpenFileNonceStore(stateDir, nil)
	if err != nil {
		return nil, err
	}
	return trust.NewVerifier(signers, nonces), nil
}

// recover settles what a crashed run left in flight; apply goes on only
// when nothing is left unknown.
func (s *session) recover(ctx context.Context, g *globals) error {
	rec, err := apply.Recover(ctx, s.opts)
	if err != nil {
		return err
	}
	for _, r := range rec {
		if r.Result == "" {
			return withHint(fmt.Errorf("recovery could not settle %s (%s): %s; nothing else was changed", r.Call, r.Op, r.Message),
				"run 'felhom-converge recover' again once the host answers")
		}
	}
	return nil
}

// crashHook is a test hook: FELHOM_CONVERGE_TEST_CRASH_AT=POINT[:OP]
// (POINT one of accepted, intent, upid, wait, terminal) kills the
// process with SIGKILL right after the first journal record of that kind
// (for accepted: once the gate spent a signature's nonce, before the
// intent; for wait: while the first task is running), for the op OP when
// given.
// Crash tests use it to stop a run at exactly that point; it is never set
// in production.
func crashHook(spec string) func(point, op string) {
	if spec == "" {
		return nil
	}
	point, op, _ := strings.Cut(spec, ":")
	return func(p, o string) {
		if p == point && (op == "" || op == o) {
			syscall.Kill(os.Getpid(), syscall.SIGKILL)
			select {} // the signal is on its way
		}
	}
}

// simRunner stands in for the host's root commands under --sim: it plays
// findmnt and mount for storage.mount, keeping what is mounted where in
// a JSON file in the simulator's directory.
type simRunner struct{ path string }

type simExit int

func (e simExit) Error() string { return fmt.Sprintf("exit status %d", int(e)) }
func (e simExit) ExitCode() int { return int(e) }

func (r simRunner) Run(_ context.Context, argv []string) ([]byte, []byte, error) {
	mounts := map[string]string{} // mount point → UUID
	if b, err := os.ReadFile(r.path); err == nil {
		if err := json.Unmarshal(b, &mounts); err != nil {
			return nil, []byte(err.Error()), simExit(2)
		}
	}
	tools := proxmox.DefaultTools()
	switch {
	case len(argv) > 0 && argv[0] == tools.Findmnt:
		mp := argv[len(argv)-1]
		uuid, ok := mounts[mp]
		if !ok {
			return nil, nil, simExit(1)
		}
		out, _ := json.Marshal(map[string]any{"filesystems": []map[string]string{{"target": mp, "source": "/dev/disk/by-uuid/" + uuid, "uuid": uuid}}})
		return out, nil, nil
	case len(argv) == 3 && argv[0] == tools.Mount && strings.HasPrefix(argv[1], "UUID="):
		mounts[argv[2]] = strings.TrimPrefix(argv[1], "UUID=")
		b, _ := json.MarshalIndent(mounts, "", "  ")
		if err := atomicfile.WriteFile(r.path, append(b, '\n'), 0o600); err != nil {
			return nil, []byte(err.Error()), simExit(32)
		}
		return nil, nil, nil
	}
	return nil, []byte("simulated host: no such command"), simExit(127)
}
