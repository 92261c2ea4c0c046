package apply

import (
	"errors"
	"io"
	"time"

	"github.com/felhom/felhom-converge/config"
	"github.com/felhom/felhom-converge/journal"
	"github.com/felhom/felhom-converge/proxmox"
	"github.com/felhom/felhom-converge/schema"
	"github.com/felhom/felhom-converge/trust"
)

// Safety configures the safety steps taken before signed destructive
// steps.
type Safety struct {
	Enabled       bool
	BackupStorage string        // vzdump target of safety backups (default "local")
	Keep          time.Duration // how long the tool's safety snapshots and backups are kept
}

// Options are everything one apply run needs. Host, Client, Journal and
// Audit are required.
type Options struct {
	Host string // this host's name (the local config's host)
	// HostID is the node's identity that requests bind to besides its
	// name: the SHA-256 fingerprint of its certificate, as /nodes reports
	// it.
	HostID  string
	Client  Client
	Journal *journal.Journal
	Audit   *Audit
	// Verifier decides on signed requests. Nil trusts nobody: every
	// destructive step stays pending.
	Verifier *trust.Verifier
	// SignaturesDir holds <id>.req + <id>.req.sig pairs; RequestsDir is
	// where requests for pending steps are written.
	SignaturesDir, RequestsDir string
	// Desired is the desired state the plan came from; signers.rotate
	// takes the new trust root from it.
	Desired *schema.Host
	// AllowedSignersPath is the live trust root signers.rotate replaces.
	AllowedSignersPath string
	Safety             Safety
	// GoldenVMIDs, when set, are the guests whose archives a create may
	// restore unsigned (the local config's golden images); any other
	// archive needs a signature. When empty, only an archive of another
	// live guest does.
	GoldenVMIDs []int
	// RootPassword reads the root password of guests created from a
	// template (the local config's create.root_password_file); nil or
	// !ok: none is set.
	RootPassword func() (pw config.Secret, ok bool, err error)
	// Mounter mounts host storage for storage.mount (nil: such steps fail).
	Mounter Mounter
	// Root builds golden images and adds bind mounts through the fenced
	// root path (nil: such steps fail).
	Root Root
	// BindMountDirs are the host directories a mount.add may bind into a
	// guest (the local config's privileged.bind_mount_dirs), exactly.
	BindMountDirs []string
	// HostFS shows the host's mounts and directories to storage.mount's
	// check (nil: such steps fail).
	HostFS HostFS
	// TokenUser is the API token's id, USER@REALM!TOKENID: recovery finds
	// a task whose UPID was never recorded among this user's tasks.
	TokenUser string
	// Now is the clock (default time.Now).
	Now func() time.Time
	// Out receives one line per step and the summary (default: discard).
	Out io.Writer
	// Wait configures WaitTask.
	Wait proxmox.WaitOptions
	// ShutdownTimeout bounds a clean shutdown before the guest is
	// stopped hard (default 60s).
	ShutdownTimeout time.Duration
	// PlanID is the id recorded with the transaction (default: the id of
	// the plan run; for a saved plan, the saved plan's, so it is applied
	// once).
	PlanID string
	// RequestTTL is how long a newly written request stays valid
	// (default 24h).
	RequestTTL time.Duration
	// LockWait bounds how long a call refused because someone else holds
	// the guest's lock (a backup job, say) waits for it before it is made
	// again (default 10m).
	LockWait time.Duration
	// Parallel bounds the steps of different guests that run at once
	// (default 3, like pveproxy's workers; 1: one step at a time).
	Parallel int
	// SettleWindow is how long a call whose answer was lost, or was an
	// error that may have come after Proxmox acted, keeps looking for its
	// task in the node's task list before deciding it never ran (a real
	// host may list a task late). Default 5s.
	SettleWindow time.Duration
	// RecoverWait bounds how long recovery waits for a task a crashed run
	// left running: past it the call stays in flight for the next run, so
	// one hung task cannot hold every run (and the lock). Default
	// config.DefaultRecoverWait.
	RecoverWait time.Duration
	// Hook, when set, is called after each durable record of a call
	// ("intent", "upid", "terminal"), once while its task runs ("wait"),
	// and when the gate accepted a signature (its nonce spent, no intent
	// yet: "accepted"), with the op. Tests use it to crash at exactly
	// these points.
	Hook func(point, op string)
}

func (o *Options) check() error {
	switch {
	case o.Host == "":
		return errors.New("apply: no host name")
	case o.Client == nil:
		return errors.New("apply: no Proxmox client")
	case o.Journal == nil:
		return errors.New("apply: no journal")
	case o.Audit == nil:
		return errors.New("apply: no audit log")
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Out == nil {
		o.Out = io.Discard
	}
	if o.ShutdownTimeout <= 0 {
		o.ShutdownTimeout = 60 * time.Second
	}
	if o.RequestTTL <= 0 {
		o.RequestTTL = 24 * time.Hour
	}
	if o.LockWait <= 0 {
		o.LockWait = 10 * time.Minute
	}
	if o.Parallel <= 0 {
		o.Parallel = 3
	}
	if o.SettleWindow <= 0 {
		o.SettleWindow = 5 * time.Second
	}
	if o.RecoverWait <= 0 {
		o.RecoverWait = config.DefaultRecoverWait
	}
	if o.Safety.BackupStorage == "" {
		o.Safety.BackupStorage = "local"
	}
	return nil
}

func (o *Options) hook(point, op string) {
	if o.Hook != nil {
		o.Hook(point, op)
	}
}
