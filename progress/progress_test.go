package progress

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/felhom/felhom-converge/proxmox"
)

// fakeTerminal records what is written to a terminal of a fixed width.
type fakeTerminal struct {
	bytes.Buffer
	cols int
}

func (f *fakeTerminal) width() int { return f.cols }

// take returns what was written since the last take.
func (f *fakeTerminal) take() string {
	s := f.String()
	f.Reset()
	return s
}

func TestStatusLineRedrawsInPlaceAndClears(t *testing.T) {
	term := &fakeTerminal{cols: 30}
	l := NewLine(term, term.width)

	l.Clear()
	if got := term.take(); got != "" {
		t.Errorf("clear of an empty line wrote %q", got)
	}
	l.Draw("short")
	if got := term.take(); got != "\rshort\033[K" {
		t.Errorf("draw: %q", got)
	}
	// Cut to the width less one column (no wrap at the last column).
	l.Draw(strings.Repeat("x", 40))
	if got, want := term.take(), "\r"+strings.Repeat("x", 28)+"…\033[K"; got != want {
		t.Errorf("long draw:\n got %q\nwant %q", got, want)
	}
	// A task's log line cannot move the cursor or recolour the terminal.
	l.Draw("a\033[31mred\ttab\nnl")
	if got := term.take(); got != "\ra [31mred tab nl\033[K" {
		t.Errorf("control characters: %q", got)
	}
	// A per-step line through the status line lands on a cleared line.
	fmt.Fprintln(l, "done              guest.create 102 (wiki)")
	if got := term.take(); got != "\r\033[Kdone              guest.create 102 (wiki)\n" {
		t.Errorf("write over the line: %q", got)
	}
	fmt.Fprintln(l, "apply: 1 done")
	if got := term.take(); got != "apply: 1 done\n" {
		t.Errorf("write with nothing drawn: %q", got)
	}
	// Another stream on the same terminal clears it too.
	var stderr bytes.Buffer
	l.Draw("é" + strings.Repeat("y", 5))
	term.take()
	fmt.Fprint(l.Clearing(&stderr), "level=INFO\n")
	if term.take() != "\r\033[K" || stderr.String() != "level=INFO\n" {
		t.Errorf("clearing writer: terminal %q, stderr %q", term.String(), stderr.String())
	}
	l.Draw("z")
	l.Clear()
	if got := term.take(); got != "\rz\033[K\r\033[K" {
		t.Errorf("draw then clear: %q", got)
	}
	// A very narrow terminal still shows a readable start.
	term.cols = 5
	l.Draw(strings.Repeat("w", 40))
	if got := term.take(); got != "\r"+strings.Repeat("w", MinColumns-1)+"…\033[K" {
		t.Errorf("narrow: %q", got)
	}
}

func TestWaitProgressShowsStepElapsedAndLatestLogLine(t *testing.T) {
	term := &fakeTerminal{cols: 120}
	now := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	tails := 0
	logLine := "no content"
	p := &Waits{
		line: NewLine(term, term.width),
		tail: func(_ context.Context, u proxmox.UPID, n int) ([]string, error) {
			if n != 1 || u.Type != "vzrestore" {
				t.Errorf("tail of %v, %d lines", u, n)
			}
			tails++
			return []string{logLine}, nil
		},
		ctx: context.Background(), now: func() time.Time { return now }, tailEvery: time.Second,
	}
	upid := "UPID:pve:0002A3F3:05265C00:6B0EF443:vzrestore:102:felhom@pve!converge:"
	running := proxmox.TaskStatus{UPID: upid, Type: "vzrestore", ID: "102", Status: "running", StartTime: proxmox.Int(now.Unix())}

	p.Step("guest.create-102-a0d97690", "guest.create", nil)
	p.Poll(running)
	if got, want := term.take(), "\r  ...   guest.create-102-a0d97690: vzrestore 102 running for 0s\033[K"; got != want {
		t.Errorf("first poll:\n got %q\nwant %q", got, want)
	}
	logLine = "progress 42% (read 1.1 GiB of 2.5 GiB)"
	now = now.Add(400 * time.Millisecond)
	p.Poll(running) // the log is read at most once a second
	if got, want := term.take(), "\r  ...   guest.create-102-a0d97690: vzrestore 102 running for 0s\033[K"; got != want || tails != 1 {
		t.Errorf("second poll (%d log reads):\n got %q\nwant %q", tails, got, want)
	}
	now = now.Add(65 * time.Second)
	p.Poll(running)
	if got, want := term.take(), "\r  ...   guest.create-102-a0d97690: vzrestore 102 running for 1m5s: progress 42% (read 1.1 GiB of 2.5 GiB)\033[K"; got != want || tails != 2 {
		t.Errorf("later poll (%d log reads):\n got %q\nwant %q", tails, got, want)
	}
	stopped := running
	stopped.Status, stopped.ExitStatus = "stopped", "OK"
	p.Poll(stopped)
	if got := term.take(); got != "\r\033[K" || tails != 2 {
		t.Errorf("task end: %q (%d log reads)", got, tails)
	}

	// A task found running long since (recover) counts from its start;
	// with no step known, the task alone is named.
	p = &Waits{line: NewLine(term, term.width), now: func() time.Time { return now }}
	old := proxmox.TaskStatus{UPID: "UPID:pve:1:2:3:vzdump:100:u@pve!t:", Type: "vzdump", ID: "100", Status: "running", StartTime: proxmox.Int(now.Add(-3 * time.Minute).Unix())}
	p.Poll(old)
	if got, want := term.take(), "\r  ...   vzdump 100 running for 3m0s\033[K"; got != want {
		t.Errorf("recover's wait:\n got %q\nwant %q", got, want)
	}
}

// Guests' tasks run at once: each one in flight is shown with its step,
// the oldest first; the line clears when the last one stops.
func TestWaitProgressShowsEveryTaskInFlight(t *testing.T) {
	term := &fakeTerminal{cols: 200}
	now := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	p := &Waits{line: NewLine(term, term.width), now: func() time.Time { return now }, tailEvery: time.Second}
	task := func(vmid, typ string) proxmox.TaskStatus {
		return proxmox.TaskStatus{UPID: "UPID:pve:1:2:3:" + typ + ":" + vmid + ":u@pve!t:", Type: typ, ID: vmid, Status: "running"}
	}
	for _, v := range []int{120, 121} {
		v := v
		p.Step(fmt.Sprintf("guest.create-%d-a", v), "guest.create", &v)
	}
	a, b := task("120", "vzrestore"), task("121", "vzrestore")
	p.Poll(a)
	now = now.Add(2 * time.Second)
	p.Poll(b)
	if got, want := term.take(), "\r  ...   guest.create-120-a: vzrestore 120 running for 0s\033[K\r  ...   2 tasks running: guest.create-120-a 2s, guest.create-121-a 0s\033[K"; got != want {
		t.Errorf("two tasks:\n got %q\nwant %q", got, want)
	}
	a.Status = "stopped"
	p.Poll(a)
	if got, want := term.take(), "\r  ...   guest.create-121-a: vzrestore 121 running for 0s\033[K"; got != want {
		t.Errorf("one left:\n got %q\nwant %q", got, want)
	}
	b.Status = "stopped"
	p.Poll(b)
	if got := term.take(); got != "\r\033[K" {
		t.Errorf("none left: %q", got)
	}
}
