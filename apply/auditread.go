package apply

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"

	"github.com/felhom/felhom-converge/journal"
	"github.com/felhom/felhom-converge/trust"
)

// HeldSteps reads the audit log of the state directory sd (its rotated
// files, oldest first, then the current one) for the steps the gate held
// back, by transaction: those waiting for a signature, those whose
// signature was refused, and those a check refused before any call. The
// journal records what ran; these ran not, so 'journal show' takes them
// from here. A line that does not decode (a torn tail) is skipped.
func HeldSteps(sd *journal.StateDir) (map[string][]journal.Held, error) {
	held := map[string][]journal.Held{}
	for n := AuditKeep; n >= 0; n-- {
		name := AuditFile
		if n > 0 {
			name = fmt.Sprintf("%s.%d", AuditFile, n)
		}
		if err := readHeld(sd, name, held); err != nil {
			return held, fmt.Errorf("read %s: %w", name, err)
		}
	}
	return held, nil
}

func readHeld(sd *journal.StateDir, name string, held map[string][]journal.Held) error {
	f, err := sd.OpenFile(name, os.O_RDONLY)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	defer f.Close()
	r := bufio.NewReader(f)
	for {
		line, err := r.ReadBytes('\n')
		var e AuditEntry
		if len(line) > 0 && json.Unmarshal(line, &e) == nil && e.Txn != "" && heldBack(e) {
			h := journal.Held{Time: e.Time, Step: e.Step, Op: e.Op, Decision: e.Decision, Reason: e.Reason}
			if e.Result == ResultRefusedPrecheck {
				h.Decision = ResultRefusedPrecheck
			}
			if e.Guest != nil {
				h.Guest = *e.Guest
			}
			held[e.Txn] = append(held[e.Txn], h)
		}
		if err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return err
		}
	}
}

// heldBack reports an audit entry of a step that did not run: a gate
// decision that waits for a signature or refuses one, or a check that
// refused the step before its first call.
func heldBack(e AuditEntry) bool {
	if e.Result == ResultRefusedPrecheck {
		return true
	}
	if e.Result != "" {
		return false
	}
	switch trust.Outcome(e.Decision) {
	case trust.PendingSignature, trust.UnknownSigner, trust.BadSignature, trust.WrongNamespace, trust.Expired,
		trust.Replayed, trust.WrongHost, trust.BindingMismatch, trust.RoleDenied:
		return true
	}
	return e.Decision == "error"
}
