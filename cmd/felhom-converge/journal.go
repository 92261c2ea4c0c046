package main

import (
	"errors"
	"fmt"
	"io/fs"

	"github.com/felhom/felhom-converge/apply"
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
	d, err := journal.InspectStateDir(cfg.StateDir)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return withHint(fmt.Errorf("journal show: %w", err), "state_dir comes from %s", cfg.Origin("state_dir"))
	}
	l, show, err := journal.ReadListing(cfg.StateDir, d)
	if show {
		if l.Journal != nil && l.Journal.TornTail() != nil {
			warnf(g.stderr, "%s", l.Journal.TornTail())
		}
		l.Last, l.Keep = c.Last, cfg.Safety.Keep
		if d != nil {
			held, herr := apply.HeldSteps(d)
			if herr != nil {
				warnf(g.stderr, "audit log: %v; steps held back may be missing", herr)
			}
			l.Held = held
		}
		if c.JSON {
			if err := l.WriteJSON(g.stdout); err != nil {
				return err
			}
		} else {
			l.WriteText(g.stdout)
		}
	}
	if err != nil {
		return fmt.Errorf("journal show: %w", err)
	}
	return nil
}
