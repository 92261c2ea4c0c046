package main

// Output rules, in one place:
//   - results (plans, reports, JSON) go to stdout;
//   - messages go to stderr as "felhom-converge: error: ...", lower case, no
//     final period, with "hint: ..." lines saying what to do next;
//   - log records (audit entries, run start and end) go to stderr through
//     the run's slog logger (logging.go): text on a terminal, JSON lines
//     otherwise;
//   - HCL problems are rendered as diagnostics with the source snippet;
//   - progress is drawn in place on one line, on a terminal only;
//   - nothing ever prints the API token.

import (
	"context"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"
	"unicode"
	"unicode/utf8"
	"unsafe"

	"github.com/felhom/felhom-converge/apply"
	"github.com/felhom/felhom-converge/proxmox"
)

func errorf(w io.Writer, format string, args ...any) {
	fmt.Fprintf(w, "felhom-converge: error: "+format+"\n", args...)
}

func warnf(w io.Writer, format string, args ...any) {
	fmt.Fprintf(w, "felhom-converge: warning: "+format+"\n", args...)
}

func hintf(w io.Writer, format string, args ...any) {
	fmt.Fprintf(w, "felhom-converge: hint: "+format+"\n", args...)
}

// colors reports whether color is wanted (on a terminal, which the
// caller checks): not with --no-color, NO_COLOR or TERM=dumb.
func (g *globals) colors() bool {
	return !g.noColor && g.getenv("NO_COLOR") == "" && g.getenv("TERM") != "dumb"
}

// isTerminal reports whether w is an interactive terminal. Progress lines
// are drawn only there; under a systemd timer output stays line-oriented.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// terminalWidth is w's width in columns: the terminal's, else $COLUMNS,
// else 80.
func terminalWidth(w io.Writer, getenv func(string) string) int {
	if f, ok := w.(*os.File); ok {
		var ws struct{ Row, Col, X, Y uint16 }
		_, _, errno := syscall.Syscall(syscall.SYS_IOCTL, f.Fd(), uintptr(syscall.TIOCGWINSZ), uintptr(unsafe.Pointer(&ws)))
		if errno == 0 && ws.Col > 0 {
			return int(ws.Col)
		}
	}
	var n int
	if _, err := fmt.Sscan(getenv("COLUMNS"), &n); err == nil && n > 0 {
		return n
	}
	return 80
}

// statusLine is one line of a terminal redrawn in place: Draw returns to
// the line's start, writes the text cut to the width and erases the rest
// of the line; Clear erases it. Everything else written through it (the
// per-step lines) first clears the line, so nothing is drawn over.
type statusLine struct {
	mu    sync.Mutex
	w     io.Writer
	width func() int
	shown bool
}

func newStatusLine(w io.Writer, width func() int) *statusLine {
	return &statusLine{w: w, width: width}
}

const (
	eraseLine  = "\r\033[K" // back to the line's start, erase to its end
	ellipsis   = "…"
	minColumns = 20
)

// Draw shows text (one line: control characters become spaces) in place
// of what was drawn before.
func (l *statusLine) Draw(text string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	fmt.Fprint(l.w, "\r"+fitWidth(text, l.width()-1)+"\033[K")
	l.shown = true
}

// Clear erases the line if something is drawn.
func (l *statusLine) Clear() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.clear()
}

func (l *statusLine) clear() {
	if l.shown {
		fmt.Fprint(l.w, eraseLine)
		l.shown = false
	}
}

// Write clears the line, then writes p.
func (l *statusLine) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.clear()
	return l.w.Write(p)
}

// clearing returns a writer to w (another stream on the same terminal)
// that clears the line before each write.
func (l *statusLine) clearing(w io.Writer) io.Writer {
	return writerFunc(func(p []byte) (int, error) {
		l.mu.Lock()
		defer l.mu.Unlock()
		l.clear()
		return w.Write(p)
	})
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

// fitWidth makes s one printable line of at most width runes (at least
// minColumns), ending in an ellipsis when cut. Task log lines come from
// the host: no escape sequence of theirs reaches the terminal.
func fitWidth(s string, width int) string {
	width = max(width, minColumns)
	s = strings.Map(func(r rune) rune {
		if r == utf8.RuneError || unicode.IsControl(r) || !unicode.IsPrint(r) {
			return ' '
		}
		return r
	}, s)
	if utf8.RuneCountInString(s) <= width {
		return s
	}
	r := []rune(s)
	return string(r[:width-1]) + ellipsis
}

// taskProgress returns a WaitTask progress callback that shows, on a
// terminal only, how long a task has been running, and a func that clears
// the line when the wait is over.
func taskProgress(w io.Writer, what string) (progress func(), done func()) {
	if !isTerminal(w) {
		return func() {}, func() {}
	}
	line := newStatusLine(w, func() int { return terminalWidth(w, os.Getenv) })
	start := time.Now()
	return func() {
		line.Draw(fmt.Sprintf("  ...   %s running for %s", what, time.Since(start).Round(time.Second)))
	}, line.Clear
}

// waitProgress draws, on a terminal, what the run is waiting for: each
// task in flight with its step (from the audit log's gate decisions), how
// long it has run and, while it is the only one, its latest log line. The
// line is cleared when the last task stops. apply runs several guests'
// tasks at once; every one is shown.
type waitProgress struct {
	line *statusLine
	// tail reads a task's last log lines (client.TaskLogTail).
	tail func(ctx context.Context, upid proxmox.UPID, n int) ([]string, error)
	ctx  context.Context
	now  func() time.Time
	// tailEvery bounds how often the log is read (each read is two API
	// calls; the status is polled up to ten times a second).
	tailEvery time.Duration

	mu     sync.Mutex
	steps  map[string][2]string // guest (as a task names it) → its step and op
	latest [2]string            // the last gate decision's step and op
	tasks  map[string]*shownTask
}

// shownTask is one task in flight on the progress line.
type shownTask struct {
	st       proxmox.TaskStatus
	step, op string
	start    time.Time
	last     string // its latest log line
	tailAt   time.Time
}

// observe takes the step being run from an audit entry: a gate decision
// (no result yet) comes right before the step's calls.
func (p *waitProgress) observe(e apply.AuditEntry) {
	if e.Result != "" {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.latest = [2]string{e.Step, e.Op}
	if e.Guest != nil {
		if p.steps == nil {
			p.steps = map[string][2]string{}
		}
		p.steps[fmt.Sprint(*e.Guest)] = p.latest
	}
}

// progress is the WaitOptions.Progress callback: called on every poll of
// every task waited for.
func (p *waitProgress) progress(st proxmox.TaskStatus) {
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
		if u, err := proxmox.ParseUPID(st.UPID); err == nil {
			// The wait polls on only when the read is done: bound it.
			ctx, cancel := context.WithTimeout(p.ctx, tailTimeout)
			lines, err := p.tail(ctx, u, 1)
			cancel()
			// Proxmox reads an empty log as the one line "no content".
			if err == nil && len(lines) > 0 && lines[len(lines)-1] != "no content" {
				t.last = lines[len(lines)-1]
			}
		}
	}
	p.draw()
}

// draw shows the tasks in flight: one in full, several side by side.
func (p *waitProgress) draw() {
	now := p.now()
	if len(p.tasks) == 1 {
		for _, t := range p.tasks {
			p.line.Draw(progressText(t.step, t.op, t.st, now.Sub(t.start), t.last))
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

// progressText is the progress line: "  ...   STEP (OP): TASK ID running
// for ELAPSED: LAST LOG LINE", the parts that are known.
func progressText(step, op string, st proxmox.TaskStatus, elapsed time.Duration, last string) string {
	var b strings.Builder
	b.WriteString("  ...   ")
	if step != "" {
		b.WriteString(step)
		if op != "" && !strings.HasPrefix(step, op) { // step ids begin with their op
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
