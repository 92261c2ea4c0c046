package main

import (
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"

	"github.com/felhom/felhom-converge/journal"
)

type JournalCmd struct {
	Show  JournalShowCmd  `cmd:"" help:"Print the journal's transactions and steps."`
	Reset JournalResetCmd `cmd:"" help:"Accept that a deleted, emptied or cut-short journal lost records (--accept-loss), so apply runs again."`
}

type JournalShowCmd struct {
	SimFlag
	JSON bool `help:"Print the journal as one JSON document."`
	Last int  `help:"Show only the last N transactions (0: all)." placeholder:"N" default:"0"`
}

// Run reads the journal of the configured state directory. It takes no
// lock and writes nothing, so it is safe while an apply runs (a record
// being written at that moment shows as a torn tail).
func (c *JournalShowCmd) Run(g *globals) error {
	if c.Last < 0 {
		return errors.New("journal show: --last must not be negative")
	}
	cfg, err := g.loadConfig(c.Sim, "")
	if err != nil {
		return err
	}
	logPath := filepath.Join(cfg.StateDir, journal.LogFile)
	d, err := journal.InspectStateDir(cfg.StateDir)
	if errors.Is(err, fs.ErrNotExist) {
		return c.render(g, logPath, nil, nil)
	}
	if err != nil {
		return withHint(fmt.Errorf("journal show: %w", err), "state_dir comes from %s", cfg.Origin("state_dir"))
	}
	j, err := journal.Read(d, journal.Options{})
	var ce *journal.CorruptError
	if errors.As(err, &ce) && ce.Partial != nil {
		// Show what precedes the damage, then fail with the offset.
		if rerr := c.render(g, logPath, ce.Partial, ce); rerr != nil {
			return rerr
		}
		return fmt.Errorf("journal show: %w", err)
	}
	if err != nil {
		return fmt.Errorf("journal show: %w", err)
	}
	if err := c.render(g, logPath, j, nil); err != nil {
		return err
	}
	if l := j.Lost(); l != nil {
		return fmt.Errorf("journal show: %w", l)
	}
	return nil
}

func (c *JournalShowCmd) render(g *globals, path string, j *journal.Journal, corrupt *journal.CorruptError) error {
	if j != nil {
		if t := j.TornTail(); t != nil {
			warnf(g.stderr, "%s", t)
		}
	}
	l := journal.Listing{Path: path, Journal: j, Corrupt: corrupt, Last: c.Last}
	if c.JSON {
		return l.WriteJSON(g.stdout)
	}
	l.WriteText(g.stdout)
	return nil
}
