// Package runlog makes the logger of one run of the tool: slog records,
// one line each, with stable keys (run, txn, step, op, guest, decision,
// upid) that journald stores well; text on a terminal, JSON otherwise.
package runlog

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
)

// New builds a run's logger on w, terminal when w is one. format is
// text, json or auto (text on a terminal, json otherwise); level is
// debug, info, warn or error (default: warn on a terminal, where the step
// lines say what happens; info otherwise). An empty value (an environment
// variable set to "") is the default. Every record carries the run's id,
// so the lines of one run can be found together in the journal.
func New(format, level string, w io.Writer, terminal bool) (*slog.Logger, error) {
	var lvl slog.Level
	switch level {
	case "":
		lvl = slog.LevelInfo
		if terminal {
			lvl = slog.LevelWarn
		}
	case "info":
		lvl = slog.LevelInfo
	case "debug":
		lvl = slog.LevelDebug
	case "warn":
		lvl = slog.LevelWarn
	case "error":
		lvl = slog.LevelError
	default:
		return nil, fmt.Errorf("--log-level: %q is not debug, info, warn or error", level)
	}
	opts := &slog.HandlerOptions{Level: lvl}
	given := format
	if format == "" || format == "auto" {
		format = "json"
		if terminal {
			format = "text"
		}
	}
	var h slog.Handler
	switch format {
	case "text":
		h = slog.NewTextHandler(w, opts)
	case "json":
		h = slog.NewJSONHandler(w, opts)
	default:
		return nil, fmt.Errorf("--log-format: %q is not text, json or auto", given)
	}
	return slog.New(h).With("run", runID()), nil
}

// runID is a short random id for one run of the command.
func runID() string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
