package apply

import (
	"context"

	"github.com/felhom/felhom-converge/progress"
	"github.com/felhom/felhom-converge/proxmox"
)

// ShowProgress draws on line (a terminal's; nil when stdout is none) the
// task the run waits for, read through client, and routes the per-step
// lines through line so they never land on a half-drawn line. With a nil
// line it changes nothing: the plain per-step lines stay the only output.
func (o *Options) ShowProgress(ctx context.Context, line *progress.Line, client *proxmox.Client) {
	if line == nil {
		return
	}
	p := progress.NewWaits(ctx, line, client.TaskLogTail)
	o.Out = line
	o.Audit.Observe = func(e AuditEntry) {
		if e.Result == "" { // a gate decision comes right before the step's calls
			p.Step(e.Step, e.Op, e.Guest)
		}
	}
	prev := o.Wait.Progress
	o.Wait.Progress = func(st proxmox.TaskStatus) {
		if prev != nil {
			prev(st)
		}
		p.Poll(st)
	}
}
