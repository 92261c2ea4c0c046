package apply

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/felhom/felhom-converge/humanize"
	"github.com/felhom/felhom-converge/journal"
)

// AuditIn is the audit log of the state directory sd (AuditFile), its
// file opened as the directory's files are (NewAudit), mirrored on log
// (nil: not mirrored).
func AuditIn(sd *journal.StateDir, log *slog.Logger) *Audit {
	return NewAudit(filepath.Join(sd.Path(), AuditFile), func() (*os.File, error) {
		return sd.OpenFile(AuditFile, os.O_WRONLY|os.O_APPEND|os.O_CREATE)
	}, log)
}

// AuditReset records in the audit log of sd that an operator accepted
// the loss of the records of host's journal j ('journal reset
// --accept-loss'); r is the reset journal.AcceptLoss recorded. It is not
// mirrored on a log as a gate decision: the command says it.
func AuditReset(sd *journal.StateDir, host string, j *journal.Journal, r journal.JournalReset) error {
	return AuditIn(sd, nil).Write(AuditEntry{Time: r.Time, Host: host, Op: "journal.reset", Decision: "accepted_loss",
		Reason: fmt.Sprintf("journal %s %s; accepted by %s", j.Path(), r.Lost, r.By)})
}

// AcceptLoss accepts, under lock, the loss of the records of the journal
// in sd ('journal reset --accept-loss', by who): journal.AcceptLoss, then a
// line of host's audit log (AuditReset; a failure there is a warning,
// through warn, as the journal has the reset). It says on out what was
// lost, what was kept and what is forgotten. Its errors are
// journal.AcceptLoss's (journal.ErrNothingLost: nothing was lost).
func AcceptLoss(lock *journal.Lock, sd *journal.StateDir, host, who string, out io.Writer, warn func(string)) error {
	j, r, err := journal.AcceptLoss(lock, journal.Options{}, who)
	if err != nil {
		return err
	}
	defer j.Close()
	if err := AuditReset(sd, host, j, r); err != nil {
		warn("the reset is in the journal, but not in the audit log: " + err.Error())
	}
	fmt.Fprintf(out, "journal reset: accepted the loss: journal %s %s\n", j.Path(), r.Lost)
	fmt.Fprintf(out, "kept the %s that were left; the reset is record %d of the journal and a line of the audit log\n",
		humanize.Plural(len(j.Records())-1, "record"), r.FoundSeq+1)
	fmt.Fprintln(out, "what the lost records said is forgotten: one-shot jobs they marked done may run again, and safety snapshots and backups the tool took are no longer known as its own (remove them by hand once they are not needed)")
	return nil
}
