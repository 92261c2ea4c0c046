package main

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/felhom/felhom-converge/progress"
	"github.com/felhom/felhom-converge/runlog"
)

// LogFlags are the global logging flags. Logs are slog records on stderr,
// one line each, with stable keys (run, txn, step, op, guest, decision,
// upid), which journald stores well: text on a terminal, JSON otherwise.
type LogFlags struct {
	LogFormat string `name:"log-format" default:"auto" env:"FELHOM_CONVERGE_LOG_FORMAT" placeholder:"auto|text|json" help:"Log format on stderr: text, json, or auto (text on a terminal, json otherwise)."`
	LogLevel  string `name:"log-level" env:"FELHOM_CONVERGE_LOG_LEVEL" placeholder:"debug|info|warn|error" help:"Least severe log records shown: debug, info, warn or error (default: warn on a terminal, where the step lines say what happens; info otherwise, for the journal)."`
}

// setupOutput builds the run's logger on stderr and, when stdout is a
// terminal, the progress line drawn there. A log record written while the
// line is drawn on the same terminal clears it first.
func (g *globals) setupOutput(f LogFlags) error {
	if progress.IsTerminal(g.stdout) {
		out := g.stdout
		g.progress = progress.NewLine(out, func() int { return progress.TerminalWidth(out, g.getenv) })
	}
	w := g.stderr
	if g.progress != nil && progress.IsTerminal(w) {
		w = g.progress.Clearing(w)
	}
	log, err := runlog.New(f.LogFormat, f.LogLevel, w, progress.IsTerminal(g.stderr))
	if err != nil {
		return withHint(err, "run 'felhom-converge --help' for usage")
	}
	g.log = log
	return nil
}

// runStarted logs the start of an apply or recover run and returns the
// func that logs its end: the result, the duration and the counts given.
func (g *globals) runStarted(cmd string, attrs ...any) (ended func(err error, attrs ...any)) {
	start := time.Now()
	g.log.Info("run start", append([]any{"cmd", cmd}, attrs...)...)
	return func(err error, attrs ...any) {
		result, level := runResult(cmd, err)
		args := append([]any{"cmd", cmd, "result", result, "duration", time.Since(start).Round(time.Millisecond).String()}, attrs...)
		if level >= slog.LevelError {
			var silent silentError
			if !errors.As(err, &silent) {
				args = append(args, "reason", err.Error())
			}
		}
		g.log.Log(context.Background(), level, "run end", args...)
	}
}

// runResult names how a run ended, as the exit code does: converged (or
// ok for recover), pending, failed, locked, interrupted or error.
func runResult(cmd string, err error) (string, slog.Level) {
	var silent silentError
	switch {
	case err == nil && cmd == "apply":
		return "converged", slog.LevelInfo
	case err == nil:
		return "ok", slog.LevelInfo
	case errors.Is(err, errPending):
		return "pending", slog.LevelInfo
	case locked(err):
		return "locked", slog.LevelWarn
	case errors.Is(err, context.Canceled):
		return "interrupted", slog.LevelWarn
	case errors.As(err, &silent):
		return "failed", slog.LevelError
	}
	return "error", slog.LevelError
}
