package selftest

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/felhom/felhom-converge/config"
	"github.com/felhom/felhom-converge/proxmox"
)

// Options say what a selftest checks and against which host.
type Options struct {
	Config *config.Config
	Client *proxmox.Client
	Now    time.Time
	// Task runs the task check on guest VMID after the read-only checks
	// passed; AllowRestart lets it roll back a running guest.
	Task         bool
	VMID         int
	AllowRestart bool
	// Lock takes the state directory's run lock for the task check and
	// returns its release; the check does not run when it fails.
	Lock func(ctx context.Context) (unlock func(), err error)
	// TaskProgress shows a task being waited for (see progress.Task);
	// nil shows nothing.
	TaskProgress func(what string) (tick, done func())
	// Live prints the report as text as it goes, after a header; nil
	// prints nothing (the caller renders the report, as JSON say).
	Live io.Writer
}

// Run runs the local and host checks and, with Task, the task check. Only
// a failure to take the lock for the task check is an error; every
// failed check is a line of the report.
func Run(ctx context.Context, o Options) (*Report, error) {
	rep := NewReport(o.Now, o.VMID, o.Live)
	if w := o.Live; w != nil {
		if o.Task {
			fmt.Fprintf(w, "felhom-converge selftest: read-only checks, then the task check on guest %d\n", o.VMID)
			fmt.Fprintf(w, "  the rollback discards whatever guest %d writes between the snapshot and the rollback (milliseconds, but it is the guest's data)\n", o.VMID)
		} else {
			fmt.Fprintln(w, "felhom-converge selftest: read-only, nothing on the host is changed")
		}
	}
	host := HostChecks(o.Config, o.Client) // its first check, config, is local
	failed := rep.Run(ctx, "local", append(host[:1:1], LocalChecks(o.Config, o.Now)...), false)
	failed += rep.Run(ctx, "host", host[1:], false)
	switch {
	case o.Task && failed == 0:
		// The task check mutates the guest: it runs under the run lock,
		// and not while a crashed run's calls wait for recovery (its
		// rollback could be taken for theirs).
		unlock, err := o.Lock(ctx)
		if err != nil {
			return rep, err
		}
		defer unlock()
		rep.Run(ctx, "task", TaskChecks(o.Client, o.VMID, o.AllowRestart, o.Now.UTC(), o.TaskProgress), true)
	case o.Task:
		rep.Add("task", "task check", ResultSkip, "the read-only checks failed")
	}
	return rep, nil
}
