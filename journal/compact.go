package journal

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/felhom/felhom-converge/atomicfile"
)

// Compact rewrites the journal with only what is still needed, atomically
// (atomicfile: temporary file, fsync, rename, directory fsync), so a crash
// leaves either the old journal or the new one. Append and Open call it
// when the journal passes Options.CompactAt; it is exported for tests and
// tools.
func (j *Journal) Compact() error {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.refuse != nil {
		return j.refuse
	}
	if j.f == nil {
		return errors.New("journal: closed")
	}
	return j.compactLocked()
}

// kept is what compaction keeps, in the journal's order:
//   - every record of a transaction still open (no end record) or with a
//     step still in flight, and any in-flight step's intent and UPID;
//   - every completed job id (the first record of each);
//   - the last digest of each guest (when it is not the empty "gone" one);
//   - the creation record of each safety snapshot and backup not removed;
//   - the last journal reset, so it stays visible.
//
// The compacted journal begins with a Checkpoint that continues the
// sequence numbers and names the last record's checksum (compactLocked).
//
// Everything else (closed transactions, their steps and results, removed
// objects, a guest's older digests, a closed transaction's guest
// creations) is history and goes.
func (j *Journal) kept() []Record {
	x := j.x
	live := map[string]bool{}
	for id, t := range x.txns {
		if t.end == nil {
			live[id] = true
		}
	}
	for k := range x.inflight {
		live[k.txn] = true
	}
	out := make([]Record, 0, len(j.records)/4)
	for _, r := range j.records {
		if live[r.TxnID()] {
			out = append(out, r)
			continue
		}
		keep := false
		switch r := r.(type) {
		case JobDone:
			keep = x.jobs[r.Job] == r
		case GuestDigest:
			d, ok := x.digests[r.Guest]
			keep = ok && d == r
		case SnapshotCreated:
			s, ok := x.snaps[snapKey{r.Guest, r.Name}]
			keep = ok && s == r
		case BackupCreated:
			b, ok := x.backups[r.VolID]
			keep = ok && b == r
		case JournalReset:
			keep = r == x.resets[len(x.resets)-1]
		}
		if keep {
			out = append(out, r)
		}
	}
	return out
}

// writeCompacted replaces the journal; a variable so a test can make it
// fail.
var writeCompacted = atomicfile.WriteFile

func (j *Journal) compactLocked() error {
	keep := j.kept()
	cp := Checkpoint{Time: stampTime(time.Time{}, j.opts.Now()), Seq: j.lastSeq + 1, Dropped: len(j.records) - len(keep)}
	if j.lastSeq > 0 {
		cp.Prev = fmt.Sprintf("%08x", j.lastCRC)
	}
	var buf bytes.Buffer
	for _, r := range append([]Record{cp}, keep...) {
		line, err := encodeLine(r)
		if err != nil {
			return fmt.Errorf("journal: compact: %w", err)
		}
		buf.Write(line)
	}
	if j.fileSize != j.size {
		torn := make([]byte, j.fileSize-j.size)
		if _, err := j.f.ReadAt(torn, j.size); err != nil && !errors.Is(err, io.EOF) {
			return fmt.Errorf("journal %s: read torn tail: %w", j.path, err)
		}
		if err := atomicfile.WriteFile(filepath.Join(j.dir.Path(), TornFile), torn, 0o600); err != nil {
			return fmt.Errorf("journal: save torn tail: %w", err)
		}
	}
	if err := writeCompacted(j.path, buf.Bytes(), 0o600); err != nil {
		return fmt.Errorf("journal: compact: %w", err)
	}
	f, err := j.dir.OpenFile(LogFile, os.O_RDWR)
	if err != nil {
		j.refuse = fmt.Errorf("journal %s: reopen after compaction: %w; open it again", j.path, err)
		return j.refuse
	}
	j.f.Close()
	j.f = f
	j.records = append([]Record{cp}, keep...)
	j.x = newIndex()
	for _, r := range keep {
		j.x.add(r)
	}
	j.size = int64(buf.Len())
	j.fileSize = j.size
	j.compactedTo = j.size
	j.lastSeq = cp.Seq + int64(len(keep))
	j.lastCRC = lineCRC(buf.Bytes(), -1)
	// A crash before the anchor names the new last record leaves it
	// naming record cp.Seq-1, which the checkpoint continues.
	return j.advanceAnchor()
}
