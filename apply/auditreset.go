package apply

import (
	"fmt"
	"log/slog"
	"os"
	"path/filepath"

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
