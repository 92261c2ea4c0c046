// Package interrupt stops a command on SIGINT or SIGTERM: the first
// signal cancels the command's context, and the process ends at once at a
// second one, or when the command has not stopped within StopGrace. So
// every command stops within 2 s of a signal, even one blocked where no
// context reaches (a read from a FIFO, a parser); what the tool writes is
// safe to cut at any point (atomic files, a journal that survives a torn
// record). The one exception is a command that must undo what it made on
// the host (AllowCleanup): it gets longer, and a second signal still ends
// it at once.
package interrupt

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sync/atomic"
	"syscall"
	"time"
)

// StopGrace is how long a command may take to stop after SIGINT or
// SIGTERM cancelled its context before the process exits anyway.
const StopGrace = time.Second

// Handler turns SIGINT and SIGTERM into the cancellation of its context.
// A second signal, or a command still running StopGrace after the first,
// ends the process at once with its exit code.
type Handler struct {
	// Ctx is cancelled by the first signal.
	Ctx      context.Context
	code     int
	cancel   context.CancelFunc
	signals  chan os.Signal
	done     chan struct{}
	received atomic.Bool
	grace    atomic.Int64 // how long the command may take after the first signal
}

// AllowCleanup gives the command d instead of StopGrace after the first
// signal, to undo what it made (selftest --conformance removes its
// guest); a second signal still ends the process at once. in may be nil
// (a command run without signal handling, in tests).
func (in *Handler) AllowCleanup(d time.Duration) {
	if in != nil {
		in.grace.Store(int64(d))
	}
}

// Handle handles SIGINT and SIGTERM until Stop: the first cancels Ctx,
// and the process exits with code (saying why on stderr) at a second, or
// when it is still running StopGrace later.
func Handle(stderr io.Writer, code int) *Handler {
	ctx, cancel := context.WithCancel(context.Background())
	in := &Handler{Ctx: ctx, code: code, cancel: cancel, signals: make(chan os.Signal, 2), done: make(chan struct{})}
	in.grace.Store(int64(StopGrace))
	signal.Notify(in.signals, os.Interrupt, syscall.SIGTERM)
	go in.watch(stderr)
	if ready := os.Getenv("FELHOM_CONVERGE_TEST_SIGNALS_READY"); ready != "" {
		// A test hook: tests signal the process only once it handles
		// signals. Never set in production.
		_ = os.WriteFile(ready, nil, 0o600)
	}
	return in
}

func (in *Handler) watch(stderr io.Writer) {
	select {
	case <-in.signals:
	case <-in.done:
		return
	}
	in.received.Store(true)
	in.cancel()
	grace := time.NewTimer(time.Duration(in.grace.Load()))
	defer grace.Stop()
	select {
	case <-in.signals:
		fmt.Fprintln(stderr, "felhom-converge: error: interrupted again: exiting now")
	case <-grace.C:
		fmt.Fprintf(stderr, "felhom-converge: error: interrupted: the command did not stop within %s: exiting now\n", time.Duration(in.grace.Load()))
	case <-in.done:
		return
	}
	os.Exit(in.code)
}

// Stop ends the handling: signals get their default effect again.
func (in *Handler) Stop() {
	signal.Stop(in.signals)
	close(in.done)
	in.cancel()
}

// Interrupted reports whether a signal arrived.
func (in *Handler) Interrupted() bool { return in.received.Load() }
