package schema

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"runtime/debug"
	"runtime/metrics"
	"strconv"
	"sync"
	"syscall"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/hashicorp/hcl/v2"
)

// Budget bounds the work of loading one desired-state file, as defence in
// depth behind the bounds on what the file may say (limits.go): should the
// HCL library have a super-linear path nobody has found yet, the budget is
// what stops it.
type Budget struct {
	// CPU bounds the CPU time the process spends while the file is read
	// and loaded (the garbage collector's included).
	CPU time.Duration
	// Wall bounds the wall-clock time of reading and loading the file,
	// for what takes no CPU (a read that blocks).
	Wall time.Duration
	// Heap bounds the growth of the Go heap while the file loads (live
	// and not yet collected objects), in bytes.
	Heap uint64
	// Exceeded is called, from another goroutine, when a load goes over
	// the budget. The load cannot be stopped from outside (the parser does
	// not look at a context), so Exceeded must end the process; nil prints
	// the error on stderr and exits with status 1.
	Exceeded func(*BudgetError)
}

// DefaultBudget is the budget the commands load desired state under. The
// largest files the bounds in limits.go admit load in well under a second
// and well under the heap bound (docs/hcl.md, "What a hostile file can
// cost", has the measurements), so it is never approached by a file that
// is merely large.
//
// In a binary built with the race detector, which runs code several times
// slower, the times are ten times as long.
var DefaultBudget = Budget{CPU: 10 * time.Second, Wall: 30 * time.Second, Heap: 256 << 20}

// BudgetError says that loading a file went over its budget.
type BudgetError struct {
	File   string
	Budget Budget
	What   string // "CPU time", "time" or "memory"
	Used   string // what it had used when it was stopped
}

func (e *BudgetError) Error() string {
	return fmt.Sprintf("%s: loading the desired state went over its %s budget (%s of CPU, %s, %d MiB of heap): stopped after %s; the file is refused",
		DisplayName(e.File), e.What, e.Budget.CPU, e.Budget.Wall, e.Budget.Heap>>20, e.Used)
}

// LoadBudgeted reads the desired-state file at path (see ReadFile) and
// loads it with Load, under budget b: every command that loads a
// desired-state file (validate, plan, apply, pull) calls it, so a hostile
// file costs at most b before anything touches the host or the journal.
// Going over the budget calls b.Exceeded, which ends the process (exit 1
// by default). When ctx is done first, it returns ctx.Err() at once and
// the caller must exit soon: the load goes on in the background until the
// process ends.
//
// It returns the host, the file's bytes (for rendering diagnostics with
// Files) and Load's diagnostics; err is set only when the file could not
// be read or ctx was done.
func LoadBudgeted(ctx context.Context, path string, b Budget) (*Host, []byte, hcl.Diagnostics, error) {
	type loaded struct {
		h     *Host
		src   []byte
		diags hcl.Diagnostics
	}
	r, err := runBudgeted(ctx, path, b, func() (loaded, error) {
		src, err := ReadFile(path)
		if err != nil {
			return loaded{}, err
		}
		h, diags := Load(src, path)
		return loaded{h, src, diags}, nil
	})
	return r.h, r.src, r.diags, err
}

// LoadSourceBudgeted loads src, a desired-state file already in memory
// (pull's body from the hub), under budget b, as LoadBudgeted loads a file
// by name; filename is used in diagnostics and in the budget's error.
func LoadSourceBudgeted(ctx context.Context, src []byte, filename string, b Budget) (*Host, hcl.Diagnostics, error) {
	type loaded struct {
		h     *Host
		diags hcl.Diagnostics
	}
	r, err := runBudgeted(ctx, filename, b, func() (loaded, error) {
		h, diags := Load(src, filename)
		return loaded{h, diags}, nil
	})
	return r.h, r.diags, err
}

// FormatBudgeted reads the desired-state file at path and formats it with
// Format, under budget b, as LoadBudgeted loads it (the fmt command).
func FormatBudgeted(ctx context.Context, path string, b Budget) (src, formatted []byte, diags hcl.Diagnostics, err error) {
	type result struct {
		src, formatted []byte
		diags          hcl.Diagnostics
	}
	r, err := runBudgeted(ctx, path, b, func() (result, error) {
		src, err := ReadFile(path)
		if err != nil {
			return result{}, err
		}
		formatted, diags := Format(src, path)
		return result{src, formatted, diags}, nil
	})
	return r.src, r.formatted, r.diags, err
}

// ReadFile reads a desired-state file: it must be a regular file (a FIFO,
// a device or a directory is refused without blocking on it) of at most
// MaxFileSize+1 bytes read, so that Load reports one over the bound.
func ReadFile(path string) ([]byte, error) {
	// O_NONBLOCK: opening a FIFO for reading would otherwise wait for a
	// writer. It changes nothing for a regular file.
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, &MissingFileError{Path: path, Err: pathError(err)}
	}
	if err != nil {
		return nil, fmt.Errorf("read desired state: %w", pathError(err))
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("read desired state: %w", pathError(err))
	}
	if !info.Mode().IsRegular() {
		return nil, fmt.Errorf("read desired state: %s is not a regular file (%s)", DisplayName(path), fileKind(info.Mode()))
	}
	src, err := io.ReadAll(io.LimitReader(f, MaxFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("read desired state %s: %w", DisplayName(path), pathError(err))
	}
	return src, nil
}

func fileKind(m os.FileMode) string {
	switch {
	case m.IsDir():
		return "a directory"
	case m&os.ModeNamedPipe != 0:
		return "a FIFO"
	case m&os.ModeSocket != 0:
		return "a socket"
	case m&os.ModeDevice != 0:
		return "a device"
	}
	return "mode " + m.String()
}

// budgetMu serialises budgeted loads: the heap is measured for the whole
// process, and the memory limit is set for the whole process.
var budgetMu sync.Mutex

// budgetTick is how often the watchdog samples the clock and the heap.
const budgetTick = 5 * time.Millisecond

// runBudgeted runs work in a goroutine and watches it: past b.CPU of the
// process's CPU time or b.Wall of wall-clock time, or when the heap has
// grown by more than b.Heap since it started, it calls b.Exceeded. While it runs, the garbage collector's soft memory limit is
// the heap budget, so garbage is collected before it counts against it.
func runBudgeted[T any](ctx context.Context, name string, b Budget, work func() (T, error)) (T, error) {
	var zero T
	if b.CPU <= 0 {
		b.CPU = DefaultBudget.CPU
	}
	if b.Wall <= 0 {
		b.Wall = DefaultBudget.Wall
	}
	if b.Heap == 0 {
		b.Heap = DefaultBudget.Heap
	}
	if err := ctx.Err(); err != nil {
		return zero, err
	}
	budgetMu.Lock()
	defer budgetMu.Unlock()
	sample := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	heap := func() uint64 {
		metrics.Read(sample)
		if sample[0].Value.Kind() != metrics.KindUint64 {
			return 0
		}
		return sample[0].Value.Uint64()
	}
	base := heap()
	limit := debug.SetMemoryLimit(-1)
	debug.SetMemoryLimit(min(limit, int64(min(base+b.Heap, 1<<62))))
	defer debug.SetMemoryLimit(limit)

	start, cpuStart := time.Now(), cpuTime()
	maxCPU, maxWall := b.CPU*raceFactor, b.Wall*raceFactor
	type result struct {
		v   T
		err error
	}
	done := make(chan result, 1)
	go func() {
		v, err := work()
		done <- result{v, err}
	}()
	tick := time.NewTicker(budgetTick)
	defer tick.Stop()
	for {
		select {
		case r := <-done:
			return r.v, r.err
		case <-ctx.Done():
			return zero, ctx.Err()
		case <-tick.C:
			var used uint64
			if h := heap(); h > base {
				used = h - base
			}
			elapsed, cpu := time.Since(start), cpuTime()-cpuStart
			var what string
			switch {
			case used > b.Heap:
				what = "memory"
			case cpu > maxCPU:
				what = "CPU time"
			case elapsed > maxWall:
				what = "time"
			default:
				continue
			}
			exceeded(b, &BudgetError{File: name, Budget: b, What: what,
				Used: fmt.Sprintf("%s, %s of CPU and %d MiB", elapsed.Round(time.Millisecond), cpu.Round(time.Millisecond), used>>20)})
			// Exceeded returned (a test's): the load is abandoned.
			return zero, errBudgetAbandoned
		}
	}
}

var errBudgetAbandoned = errors.New("load abandoned over its budget")

func exceeded(b Budget, err *BudgetError) {
	if b.Exceeded != nil {
		b.Exceeded(err)
		return
	}
	fmt.Fprintf(os.Stderr, "felhom-converge: error: %v\n", err)
	os.Exit(1)
}

// DisplayName returns a file name fit to print: as it is when every
// character is printable, quoted with Go escapes otherwise, so that a
// newline or an escape sequence in a name cannot forge an output line or
// drive the terminal.
func DisplayName(name string) string {
	for _, r := range name {
		if !unicode.IsPrint(r) || r == utf8.RuneError {
			return strconv.Quote(name)
		}
	}
	return name
}

// pathError describes err without repeating the path raw, as
// *fs.PathError would.
func pathError(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return fmt.Errorf("%s %s: %w", pe.Op, DisplayName(pe.Path), pe.Err)
	}
	return err
}

// cpuTime returns the CPU time the process has used, user and system.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
