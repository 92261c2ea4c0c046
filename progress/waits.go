package progress

import (
	"context"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/felhom/felhom-converge/proxmox"
)

// Task returns a WaitTask progress callback that shows, on a terminal
// only, how long a task has been running, and a func that clears the line
// when the wait is over.
func Task(w io.Writer, what string) (tick func(), done func()) {
	if !IsTerminal(w) {
		return func() {}, func() {}
	}
	line := NewLine(w, func() int { return TerminalWidth(w, os.Getenv) })
	start := time.Now()
	return func() {
		line.Draw(fmt.Sprintf("  ...   %s running for %s", what, time.Since(start).Round(time.Second)))
	}, line.Clear
}

// Waits draws what a run is waiting for: each task in flight with its
// step, how long it has run and, while it is the only one, its latest log
// line. The line is cleared when the last task stops. apply runs several
// guests' tasks at once; every one is shown.
type Waits struct {
	line *Line
	// tail reads a task's last log lines (client.TaskLogTail); nil: none
	// is shown.
	tail func(ctx context.Context, upid proxmox.UPID, n int) ([]string, error)
	ctx  context.Context
	now  func() time.Time
	// tailEvery bounds how often the log is read (each read is two API
	// calls; the status is polled up to ten times a second).
	tailEvery time.Duration

	mu     sync.Mutex
	steps  map[string][2]string // guest (as a task names it) → its step and op
	latest [2]string            // the last step begun and its op
	tasks  map[string]*shownTask
}

// NewWaits draws on line; tail reads a task's log (nil: no log line).
func NewWaits(ctx context.Context, line *Line, tail func(ctx context.Context, upid proxmox.UPID, n int) ([]string, error)) *Waits {
	return &Waits{line: line, tail: tail, ctx: ctx, now: time.Now, tailEvery: time.Second}
}

// shownTask is one task in flight on the progress line.
type shownTask struct {
	st       proxmox.TaskStatus
	step, op string
	start    time.Time
	last     string // its latest log line
	tailAt   time.Time
}

// Step says which step (of op, on guest if not nil) the run begins: the
// tasks that follow, of that guest or of none known, are shown as its.
func (p *Waits) Step(step, op string, guest *int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.latest = [2]string{step, op}
	if guest != nil {
		if p.steps == nil {
			p.steps = map[string][2]string{}
		}
		p.steps[fmt.Sprint(*guest)] = p.latest
	}
}

// Poll is the WaitOptions.Progress callback: called on every poll of
// every task waited for.
func (p *Waits) Poll(st proxmox.TaskStatus) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.tasks == nil {
		p.tasks = map[string]*shownTask{}
	}
	if !st.Running() {
		delete(p.tasks, st.UPID)
		if len(p.tasks) == 0 {
			p.line.Clear()
			return
		}
		p.draw()
		return
	}
	now := p.now()
	t, ok := p.tasks[st.UPID]
	if !ok {
		step, known := p.steps[st.ID]
		if !known {
			step = p.latest
		}
		// The host counts in whole seconds: its start time is taken only
		// for a task found running long since (recover waiting for the
		// task of a crashed run).
		t = &shownTask{step: step[0], op: step[1], start: now}
		if ts := time.Unix(int64(st.StartTime), 0); st.StartTime > 0 && now.Sub(ts) > 2*time.Second {
			t.start = ts
		}
		p.tasks[st.UPID] = t
	}
	t.st = st
	if len(p.tasks) == 1 && p.tail != nil && (t.tailAt.IsZero() || now.Sub(t.tailAt) >= p.tailEvery) {
		t.tailAt = now
		t.readTail(p)
	}
	p.draw()
}

// readTail takes the task's latest log line, within tailTimeout.
func (t *shownTask) readTail(p *Waits) {
	u, err := proxmox.ParseUPID(t.st.UPID)
	if err != nil {
		return
	}
	// The wait polls on only when the read is done: bound it.
	ctx, cancel := context.WithTimeout(p.ctx, tailTimeout)
	lines, err := p.tail(ctx, u, 1)
	cancel()
	// Proxmox reads an empty log as the one line "no content".
	if err == nil && len(lines) > 0 && lines[len(lines)-1] != "no content" {
		t.last = lines[len(lines)-1]
	}
}

// draw shows the tasks in flight: one in full, several side by side.
func (p *Waits) draw() {
	now := p.now()
	if len(p.tasks) == 1 {
		for _, t := range p.tasks {
			p.line.Draw(text(t.step, t.op, t.st, now.Sub(t.start), t.last))
		}
		return
	}
	shown := slices.SortedFunc(maps.Values(p.tasks), func(a, b *shownTask) int { return a.start.Compare(b.start) })
	parts := make([]string, len(shown))
	for i, t := range shown {
		what := strings.TrimSpace(t.st.Type + " " + t.st.ID)
		if t.step != "" {
			what = t.step
		}
		parts[i] = fmt.Sprintf("%s %s", what, now.Sub(t.start).Round(time.Second))
	}
	p.line.Draw(fmt.Sprintf("  ...   %d tasks running: %s", len(shown), strings.Join(parts, ", ")))
}

// tailTimeout bounds one read of a task's log for the progress line.
const tailTimeout = 2 * time.Second

// text is the progress line: "  ...   STEP (OP): TASK ID running for
// ELAPSED: LAST LOG LINE", the parts that are known.
func text(step, op string, st proxmox.TaskStatus, elapsed time.Duration, last string) string {
	var b strings.Builder
	b.WriteString("  ...   ")
	if step != "" {
		b.WriteString(step)
		if op != "" && !strings.HasPrefix(step, op) { // action ids begin with their op
			fmt.Fprintf(&b, " (%s)", op)
		}
		b.WriteString(": ")
	}
	task := strings.TrimSpace(st.Type + " " + st.ID)
	if task == "" {
		task = "task"
	}
	fmt.Fprintf(&b, "%s running for %s", task, elapsed.Round(time.Second))
	if last = strings.TrimSpace(last); last != "" {
		b.WriteString(": " + last)
	}
	return b.String()
}
