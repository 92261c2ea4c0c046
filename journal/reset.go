package journal

import (
	"errors"
	"fmt"
	"os"

	"github.com/felhom/felhom-converge/atomicfile"
)

// ErrNothingLost is AcceptLoss's answer for a journal that holds the
// record its anchor names: there is no loss to accept.
var ErrNothingLost = errors.New("the journal holds every record its anchor names: there is no loss to accept")

// AcceptLoss is 'journal reset --accept-loss': it opens the journal of
// the locked state directory as Open does, but takes a journal that lost
// records (what Open refuses with a *LostError) as it now is. It appends
// a JournalReset naming what was lost (what remains is kept; a missing
// journal is created) and writes a new anchor naming that record, so the
// journal accepts appends again. by says who accepted the loss. It
// returns the journal, open for appending, and the reset record. A
// journal that lost nothing is ErrNothingLost; a corrupt or oversized one
// is refused as by Open (a damaged record is repaired, not accepted).
func AcceptLoss(l *Lock, opts Options, by string) (*Journal, JournalReset, error) {
	j, err := open(l, opts)
	if err != nil {
		return nil, JournalReset{}, err
	}
	lost := j.lost
	if lost == nil {
		j.Close()
		return nil, JournalReset{}, ErrNothingLost
	}
	if j.f == nil {
		f, err := j.dir.OpenFile(LogFile, os.O_RDWR|os.O_CREATE)
		if err != nil {
			return nil, JournalReset{}, fmt.Errorf("journal: %w", err)
		}
		j.f = f
		if err := atomicfile.SyncDir(j.dir.Path()); err != nil {
			j.Close()
			return nil, JournalReset{}, fmt.Errorf("journal: %w", err)
		}
	}
	r := JournalReset{Lost: lost.Reason, AnchorSeq: lost.AnchorSeq, AnchorCRC: lost.AnchorCRC, FoundSeq: lost.FoundSeq, By: by}
	r = r.stamp(j.opts.Now()).(JournalReset)
	j.mu.Lock()
	j.refuse, j.lost = nil, nil
	// The anchor file is replaced whole (advanceAnchor writes a new one
	// when none is open): the old one may be damaged.
	err = j.write(r)
	j.mu.Unlock()
	if err != nil {
		j.Close()
		return nil, JournalReset{}, err
	}
	return j, r, nil
}
