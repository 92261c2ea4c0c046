package apply

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"time"

	"github.com/felhom/felhom-converge/config"
	"github.com/felhom/felhom-converge/journal"
	"github.com/felhom/felhom-converge/plan"
	"github.com/felhom/felhom-converge/proxmox"
	"github.com/felhom/felhom-converge/schema"
	"github.com/felhom/felhom-converge/trust"
)

// Host is one Proxmox host, bound once: its local config, its API
// client, the fenced root runner for what the API cannot do, and its own
// file system as storage blocks see it. A real host and the simulator
// differ only in how these are made.
type Host struct {
	Config *config.Config
	Client *proxmox.Client
	Root   Root
	FS     HostFS
	// MountedUUIDs reports, of the wanted mount points (→ file-system
	// UUID), those where that UUID is mounted; nil when unknown.
	MountedUUIDs func(wanted map[string]string) map[string]string
}

// PlanSource is what plan.Make needs to plan desired (read from file,
// whose bytes are src) against this host.
func (h *Host) PlanSource(desired *schema.Host, src []byte, file string, prov plan.Provenance, requests plan.RequestOptions) plan.Source {
	var mounts map[string]string
	if h.MountedUUIDs != nil {
		wanted := map[string]string{}
		for _, st := range desired.Storages {
			wanted[st.Mountpoint] = st.USBUUID
		}
		mounts = h.MountedUUIDs(wanted)
	}
	return plan.Source{
		Desired: desired, DesiredSrc: src, DesiredFile: file, Host: h.Config.Host, API: h.Client,
		Concurrency: h.Config.Proxmox.Concurrency, Provenance: prov, AllowedSigners: h.Config.AllowedSigners,
		Mounts: mounts, GoldenVMIDs: h.Config.Safety.GoldenVMIDs, NoSafetyBackup: !h.Config.Safety.Enabled,
		Requests: requests, SignPolicy: h.Config.Gate.Sign, RootPassword: h.Config.Create.RootPasswordFile != "",
		BindMountDirs: h.Config.Privileged.BindMountDirs,
	}
}

// SessionOptions are what a session's runs share besides the host.
type SessionOptions struct {
	LockTimeout time.Duration // how long to wait for another run's lock
	Out         io.Writer     // step lines, recovery lines
	Warn        func(string)  // warnings about the state directory and trust root
	Log         *slog.Logger  // mirrors each audit entry
	Hook        func(point, op string)
}

// Session is one run against a host's state directory: it holds the
// directory's lock, the journal, the audit log, the trust root with its
// nonce store, and the requests and signatures directories. Open it with
// OpenSession; Recover, then Plan, then Apply; Close releases the lock.
type Session struct {
	Host     *Host
	Journal  *journal.Journal
	Requests *trust.RequestDir
	opts     Options
	lock     *journal.Lock
}

// OpenSession checks and locks the host's state directory (a
// *journal.LockedError when another run holds it), opens the journal (a
// damaged or lost one refuses) and the audit log, and loads the trust root
// (absent: nobody is trusted; unsafe: refused).
func OpenSession(ctx context.Context, h *Host, so SessionOptions) (*Session, error) {
	warn := so.Warn
	if warn == nil {
		warn = func(string) {}
	}
	sd, err := journal.OpenStateDir(h.Config.StateDir)
	if err != nil {
		return nil, err
	}
	lock, err := sd.Lock(ctx, so.LockTimeout)
	if err != nil {
		return nil, err
	}
	j, err := journal.Open(lock, journal.Options{})
	if err != nil {
		lock.Unlock()
		return nil, err
	}
	if t := j.TornTail(); t != nil {
		warn(t.String())
	}
	s := &Session{Host: h, Journal: j, lock: lock}
	verifier, err := loadVerifier(h.Config, sd.Path(), warn)
	if err != nil {
		s.Close()
		return nil, err
	}
	s.Requests = trust.NewRequestDir(sd.Path(), verifier.Nonces)
	token, _ := proxmox.ParseToken(h.Config.Proxmox.Token.Reveal())
	s.opts = Options{
		Host:               h.Config.Host,
		Client:             h.Client,
		Journal:            j,
		Audit:              AuditIn(sd, so.Log),
		Verifier:           verifier,
		SignaturesDir:      s.Requests.Signatures,
		RequestsDir:        s.Requests.Requests,
		AllowedSignersPath: h.Config.AllowedSigners,
		Safety:             Safety{Enabled: h.Config.Safety.Enabled, BackupStorage: h.Config.Safety.BackupStorage, Keep: h.Config.Safety.Keep},
		GoldenVMIDs:        h.Config.Safety.GoldenVMIDs,
		RootPassword:       h.Config.RootPassword,
		BindMountDirs:      h.Config.Privileged.BindMountDirs,
		Parallel:           h.Config.Apply.Parallel,
		RecoverWait:        h.Config.Apply.RecoverWait,
		Mounter:            h.Root,
		Root:               h.Root,
		HostFS:             h.FS,
		TokenUser:          token.ID(),
		Out:                so.Out,
		Hook:               so.Hook,
	}
	return s, nil
}

// loadVerifier loads the trust root and the nonce store. An absent trust
// root trusts nobody (every destructive step stays pending); an unsafe one
// (trust.ErrUnsafePermissions) is refused.
func loadVerifier(cfg *config.Config, stateDir string, warn func(string)) (*trust.Verifier, error) {
	signers, err := trust.LoadAllowedSigners(cfg.AllowedSigners)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		warn(fmt.Sprintf("%s does not exist: no signer is trusted, so every destructive step stays pending", cfg.AllowedSigners))
		signers = &trust.AllowedSigners{Name: cfg.AllowedSigners}
	case err != nil:
		return nil, err
	}
	nonces, err := trust.OpenFileNonceStore(stateDir, nil)
	if err != nil {
		return nil, err
	}
	return trust.NewVerifier(signers, nonces), nil
}

// Options are the session's run options; callers may set the
// per-command ones (directories, request TTL, progress) before Apply.
func (s *Session) Options() *Options { return &s.opts }

// Close closes the journal and releases the lock.
func (s *Session) Close() {
	s.Journal.Close()
	s.lock.Unlock()
}

// UnsettledError is a call recovery could not settle yet (the host did
// not answer, or its task still runs): nothing else may change the host.
type UnsettledError struct{ Recovered }

func (e *UnsettledError) Error() string {
	return fmt.Sprintf("recovery could not settle %s (%s): %s; nothing else was changed", e.Call, e.Op, e.Message)
}

// Recover settles what a crashed run left in flight (see Recover). It
// returns an *UnsettledError when a call is still unknown.
func (s *Session) Recover(ctx context.Context) ([]Recovered, error) {
	rec, err := Recover(ctx, s.opts)
	if err != nil {
		return rec, err
	}
	for _, r := range rec {
		if r.Result == "" {
			return rec, &UnsettledError{r}
		}
	}
	return rec, nil
}

// Plan observes the host and plans desired (the bytes src of file) with
// the journal's provenance, writing the requests of destructive steps
// (unexpired, unspent ones are kept) with ttl. Apply runs against it.
func (s *Session) Plan(ctx context.Context, desired *schema.Host, src []byte, file string, ttl time.Duration) (*plan.Plan, error) {
	ro := plan.RequestOptions{Dir: s.requestDir(), TTL: ttl}
	src2 := s.Host.PlanSource(desired, src, file, s.Journal, ro)
	src2.NewStateDir = len(s.Journal.Records()) == 0 && s.Journal.Lost() == nil
	p, hostID, err := plan.Make(ctx, src2)
	if err != nil {
		return nil, err
	}
	s.opts.HostID, s.opts.Desired, s.opts.RequestTTL = hostID, desired, ttl
	return p, nil
}

// requestDir is the session's requests directory where its options put
// it (apply --requests).
func (s *Session) requestDir() *trust.RequestDir {
	dir := *s.Requests
	dir.Requests = s.opts.RequestsDir
	return &dir
}

// DropSpentRequests removes the requests whose nonce was spent (see
// trust.RequestDir.DropSpent) and returns their ids.
func (s *Session) DropSpentRequests() ([]string, error) {
	return s.requestDir().DropSpent()
}

// Apply runs p (see Run).
func (s *Session) Apply(ctx context.Context, p *plan.Plan) (*Result, error) {
	return Run(ctx, p, s.opts)
}

// Reobserve plans desired again after a run that replaced what its plan
// was made against (Result.Replaced: a rollback, a restore over, a
// rebuild) and records in res the steps the fresh plan still has, so the
// run reports them as remaining, never the host as converged. A run that
// replaced nothing, or failed, is left as it is.
func (s *Session) Reobserve(ctx context.Context, res *Result, desired *schema.Host, src []byte, file string, ttl time.Duration) error {
	if res == nil || !res.Replaced() || res.Failed() || ctx.Err() != nil {
		return nil
	}
	p, err := s.Plan(ctx, desired, src, file, ttl)
	if err != nil {
		return fmt.Errorf("plan again after the run: %w", err)
	}
	for _, st := range p.Steps {
		res.Remaining = append(res.Remaining, StepResult{ID: st.ID, Op: st.Op, Guest: st.VMID(), GuestName: st.GuestName,
			Outcome: OutcomeRemaining, Request: st.Request})
	}
	return nil
}
