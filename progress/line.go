// Package progress draws what a run waits for on one line of a terminal,
// redrawn in place: the tasks in flight, the step each belongs to, how long
// each has run and, while one runs alone, its latest log line. Off a
// terminal (under a systemd timer) nothing is drawn and output stays
// line-oriented. Text from the host never reaches the terminal unescaped.
package progress

import (
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"syscall"
	"unicode"
	"unicode/utf8"
	"unsafe"
)

// IsTerminal reports whether w is an interactive terminal: a file whose
// terminal settings can be read, as isatty(3) asks. Another character
// device (/dev/null, as cron and 'ssh -n' give) is not one.
func IsTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	var t syscall.Termios
	_, _, errno := syscall.Syscall(syscall.SYS_IOCTL, f.Fd(), ioctlGetTermios, uintptr(unsafe.Pointer(&t)))
	return errno == 0
}

// TerminalWidth is w's width in columns: the terminal's, else $COLUMNS,
// else 80.
func TerminalWidth(w io.Writer, getenv func(string) string) int {
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

// Line is one line of a terminal redrawn in place: Draw returns to the
// line's start, writes the text cut to the width and erases the rest of
// the line; Clear erases it. Everything else written through it (the
// per-step lines) first clears the line, so nothing is drawn over.
type Line struct {
	mu    sync.Mutex
	w     io.Writer
	width func() int
	shown bool
}

// NewLine is a line on the terminal w, width columns wide.
func NewLine(w io.Writer, width func() int) *Line {
	return &Line{w: w, width: width}
}

const (
	eraseLine = "\r\033[K" // back to the line's start, erase to its end
	ellipsis  = "…"
	// MinColumns is the least a line is cut to, however narrow the
	// terminal.
	MinColumns = 20
)

// Draw shows text (one line: control characters become spaces) in place
// of what was drawn before.
func (l *Line) Draw(text string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	fmt.Fprint(l.w, "\r"+fitWidth(text, l.width()-1)+"\033[K")
	l.shown = true
}

// Clear erases the line if something is drawn.
func (l *Line) Clear() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.clear()
}

func (l *Line) clear() {
	if l.shown {
		fmt.Fprint(l.w, eraseLine)
		l.shown = false
	}
}

// Write clears the line, then writes p.
func (l *Line) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.clear()
	return l.w.Write(p)
}

// Clearing returns a writer to w (another stream on the same terminal)
// that clears the line before each write.
func (l *Line) Clearing(w io.Writer) io.Writer {
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
// MinColumns), ending in an ellipsis when cut. Task log lines come from
// the host: no escape sequence of theirs reaches the terminal.
func fitWidth(s string, width int) string {
	width = max(width, MinColumns)
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
