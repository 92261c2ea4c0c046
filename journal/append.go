package journal

// Appending records: each fsynced before Append returns, then the anchor,
// then compaction past the size bound.

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/felhom/felhom-converge/atomicfile"
)

// Append writes r as one line and fsyncs it before returning: once it
// returns nil, the record survives a crash. A record with a zero time gets
// the clock's time. Append checks that r fits what came before (a step's
// UPID and result need its intent in flight, an intent needs an open
// transaction, ...). When Append returns an error the record may or may
// not be on disk: the caller must not take the action it describes (an
// intent then left behind reads as in flight, and recovery finds that
// nothing happened). After a failed fsync the journal refuses further
// appends: Close it and Open it again.
func (j *Journal) Append(r Record) error {
	j.mu.Lock()
	defer j.mu.Unlock()
	if err := j.writable(); err != nil {
		return err
	}
	if r == nil {
		return errors.New("journal: append of a nil record")
	}
	r = r.stamp(j.opts.Now())
	if err := r.validate(); err != nil {
		return fmt.Errorf("journal: record %s: %w", r.Type(), err)
	}
	if err := j.x.checkAppend(r); err != nil {
		return fmt.Errorf("journal: record %s: %w", r.Type(), err)
	}
	return j.write(r)
}

// writable says why nothing may be appended now, or nil.
func (j *Journal) writable() error {
	if j.refuse != nil {
		return j.refuse
	}
	if j.f == nil {
		return errors.New("journal: closed")
	}
	if !j.lock.Held() {
		return errors.New("journal: the run lock was released; take it again and reopen the journal")
	}
	return nil
}

// write appends the checked record r: one line, fsynced, then the anchor
// moved on to it.
func (j *Journal) write(r Record) error {
	line, err := encodeLine(r)
	if err != nil {
		return fmt.Errorf("journal: %w", err)
	}
	if j.size+int64(len(line)) > j.opts.MaxSize && j.opts.CompactAt > 0 {
		if err := j.compactLocked(); err != nil {
			return err
		}
	}
	if j.size+int64(len(line)) > j.opts.MaxSize {
		return fmt.Errorf("journal %s: full (%d bytes of records still needed, bound %d)", j.path, j.size, j.opts.MaxSize)
	}
	if j.fileSize != j.size {
		if err := j.cutTornTail(); err != nil {
			return err
		}
	}
	if _, err := j.f.WriteAt(line, j.size); err != nil {
		// Take the partial line back so the file ends with a whole record.
		if terr := j.f.Truncate(j.size); terr != nil {
			j.refuse = fmt.Errorf("journal %s: a write failed and could not be undone (%v); open it again", j.path, terr)
		}
		return fmt.Errorf("journal %s: %w", j.path, err)
	}
	j.fileSize = j.size + int64(len(line))
	if err := syncFile(j.f); err != nil {
		// After a failed fsync the kernel may have dropped the data; what
		// is on disk is unknown until the file is read again.
		j.refuse = fmt.Errorf("journal %s: fsync failed (%v); open it again", j.path, err)
		return fmt.Errorf("journal %s: fsync: %w", j.path, err)
	}
	j.size = j.fileSize
	j.records = append(j.records, r)
	j.x.add(r)
	j.lastSeq++
	j.lastCRC = lineCRC(line, 0)
	// The record is durable; only then may the anchor name it. If the
	// anchor cannot be written, the record stands, the anchor lags (which
	// hides a later loss of this record, never invents one), and the
	// caller hears of it like of any failed append.
	if err := j.advanceAnchor(); err != nil {
		return fmt.Errorf("journal %s: record written, but %w", j.path, err)
	}
	if j.opts.CompactAt > 0 && j.size > j.opts.CompactAt && j.size > 2*j.compactedTo {
		j.compactAfter()
	}
	return nil
}

// compactAfter compacts once a record is safely written (or at Open). A
// failure leaves the journal as it was, which is no reason to fail the
// Append (the record is durable): it is kept for CompactErr, and the next
// attempt waits until the journal doubled again.
func (j *Journal) compactAfter() {
	if err := j.compactLocked(); err != nil {
		j.compactErr = err
		j.compactedTo = j.size
		return
	}
	j.compactErr = nil
}

// CompactErr is the error of the last automatic compaction, nil when it
// succeeded or none ran. The journal stays usable either way (it keeps
// growing up to Options.MaxSize); callers may warn.
func (j *Journal) CompactErr() error {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.compactErr
}

// syncFile is (*os.File).Sync; a variable so a test can make it fail.
var syncFile = (*os.File).Sync

// cutTornTail saves the torn bytes to TornFile and truncates them away.
func (j *Journal) cutTornTail() error {
	torn := make([]byte, j.fileSize-j.size)
	if _, err := j.f.ReadAt(torn, j.size); err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("journal %s: read torn tail: %w", j.path, err)
	}
	if err := atomicfile.WriteFile(filepath.Join(j.dir.Path(), TornFile), torn, 0o600); err != nil {
		return fmt.Errorf("journal: save torn tail: %w", err)
	}
	if err := j.f.Truncate(j.size); err != nil {
		return fmt.Errorf("journal %s: cut torn tail: %w", j.path, err)
	}
	if err := j.f.Sync(); err != nil {
		j.refuse = fmt.Errorf("journal %s: fsync failed (%v); open it again", j.path, err)
		return j.refuse
	}
	j.fileSize = j.size
	return nil
}

// NewTxnID returns a fresh transaction id: the UTC time and 32 random bits,
// like 20261128T030000Z-3f9a0c1e, so ids sort by time.
func NewTxnID(now time.Time) string {
	var b [4]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err) // crypto/rand does not fail on supported systems
	}
	return now.UTC().Format("20060102T150405Z") + "-" + hex.EncodeToString(b[:])
}
