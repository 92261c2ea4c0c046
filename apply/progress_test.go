package apply_test

import (
	"bytes"
	"context"
	"fmt"
	"testing"

	"github.com/felhom/felhom-converge/apply"
	"github.com/felhom/felhom-converge/progress"
	"github.com/felhom/felhom-converge/proxmox"
)

// On a terminal, ShowProgress routes apply's per-step lines through the
// progress line and draws each poll after the callback set before; not on
// a terminal it changes nothing.
func TestShowProgressWiresOnlyATerminal(t *testing.T) {
	var plain bytes.Buffer
	o := apply.Options{Out: &plain, Audit: apply.OpenAudit(t.TempDir()+"/audit.jsonl", nil)}
	o.ShowProgress(context.Background(), nil, nil)
	if o.Out != &plain || o.Wait.Progress != nil || o.Audit.Observe != nil {
		t.Fatalf("not a terminal: options changed")
	}

	var term bytes.Buffer // a terminal 80 columns wide
	line := progress.NewLine(&term, func() int { return 80 })
	polls := 0
	o.Wait.Progress = func(proxmox.TaskStatus) { polls++ }
	o.ShowProgress(context.Background(), line, &proxmox.Client{})
	if err := o.Audit.Write(apply.AuditEntry{Txn: "t", Step: "guest.stop-100-a", Op: "guest.stop", Decision: apply.DecisionBenign}); err != nil {
		t.Fatal(err)
	}
	// An outcome names no new step.
	if err := o.Audit.Write(apply.AuditEntry{Txn: "t", Step: "guest.set-101-x", Op: "guest.set", Result: apply.ResultOK}); err != nil {
		t.Fatal(err)
	}
	o.Wait.Progress(proxmox.TaskStatus{UPID: "not a upid", Type: "vzshutdown", ID: "100", Status: "running"})
	fmt.Fprintln(o.Out, "done              guest.stop 100")
	if got, want := term.String(), "\r  ...   guest.stop-100-a: vzshutdown 100 running for 0s\033[K\r\033[Kdone              guest.stop 100\n"; got != want || polls != 1 {
		t.Errorf("terminal (%d earlier callbacks):\n got %q\nwant %q", polls, got, want)
	}
}
