package main

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

// stopGrace is how long a command may take to stop after SIGINT or
// SIGTERM cancelled its context before the process exits anyway: every
// command stops within 2 s of a signal, even one blocked where no context
// reaches (a read from a FIFO, a parser). What the tool writes is safe to
// cut at any point (atomic files, a journal that survives a torn record).
const stopGrace = time.Second

// interrupts turns SIGINT and SIGTERM into the cancellation of the
// commands' context. A second signal, or a command still running
// stopGrace after the first, ends the process at once with exitInterrupted.
type interrupts struct {
	ctx      context.Context
	cancel   context.CancelFunc
	signals  chan os.Signal
	done     chan struct{}
	received atomic.Bool
}

func handleInterrupts(stderr io.Writer) *interrupts {
	ctx, cancel := context.WithCancel(context.Background())
	in := &interrupts{ctx: ctx, cancel: cancel, signals: make(chan os.Signal, 2), done: make(chan struct{})}
	signal.Notify(in.signals, os.Interrupt, syscall.SIGTERM)
	go in.watch(stderr)
	if ready := os.Getenv("FELHOM_CONVERGE_TEST_SIGNALS_READY"); ready != "" {
		// A test hook: tests signal the process only once it handles
		// signals. Never set in production.
		_ = os.WriteFile(ready, nil, 0o600)
	}
	return in
}

func (in *interrupts) watch(stderr io.Writer) {
	select {
	case <-in.signals:
	case <-in.done:
		return
	}
	in.received.Store(true)
	in.cancel()
	grace := time.NewTimer(stopGrace)
	defer grace.Stop()
	select {
	case <-in.signals:
		fmt.Fprintln(stderr, "felhom-converge: error: interrupted again: exiting now")
	case <-grace.C:
		fmt.Fprintf(stderr, "felhom-converge: error: interrupted: the command did not stop within %s: exiting now\n", stopGrace)
	case <-in.done:
		return
	}
	os.Exit(exitInterrupted)
}

// stop ends the handling: signals get their default effect again.
func (in *interrupts) stop() {
	signal.Stop(in.signals)
	close(in.done)
	in.cancel()
}

// interrupted reports whether a signal arrived.
func (in *interrupts) interrupted() bool { return in.received.Load() }
