package journal

import (
	"bytes"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/felhom/felhom-converge/atomicfile"
)

// AnchorFile is the journal's anchor in the state directory: the sequence
// number and checksum of the last record appended, so a journal that was
// deleted, emptied or cut short is noticed (see the package documentation,
// Anchor).
const AnchorFile = "journal.anchor"

// The anchor file is two slots of anchorSlot bytes, each in its own disk
// sector; a slot is one line, padded with spaces to its newline:
//
//	felhom-converge journal anchor v1 write <w> seq <s> crc <c> <check>
//
// w and s are 20 decimal digits, c the record's checksum and check the
// CRC-32C of the line before " <check>", each 8 lower-case hex digits.
const (
	anchorSlot   = 512
	anchorMagic  = "felhom-converge journal anchor v1"
	anchorLine   = len(anchorMagic) + len(" write ") + 20 + len(" seq ") + 20 + len(" crc ") + 8 + 1 + 8
	anchorFormat = anchorMagic + " write %020d seq %020d crc %08x"
)

// anchor is what one slot holds.
type anchor struct {
	write uint64 // how many times the anchor was written: the higher slot wins
	seq   int64  // the sequence number of the journal's last record
	crc   uint32 // that record's checksum
}

func (a anchor) slot() []byte {
	b := make([]byte, 0, anchorSlot)
	b = fmt.Appendf(b, anchorFormat, a.write, a.seq, a.crc)
	b = fmt.Appendf(b, " %08x", crc32.Checksum(b, castagnoli))
	for len(b) < anchorSlot-1 {
		b = append(b, ' ')
	}
	return append(b, '\n')
}

// parseSlot decodes one slot. empty reports a slot never written (all
// zeros), which is not damage.
func parseSlot(b []byte) (a anchor, empty bool, err error) {
	if len(bytes.Trim(b, "\x00")) == 0 {
		return anchor{}, true, nil
	}
	line := bytes.TrimRight(b, " \n")
	if len(line) != anchorLine || !bytes.HasPrefix(line, []byte(anchorMagic+" ")) || len(b) != anchorSlot || b[anchorSlot-1] != '\n' {
		return anchor{}, false, errors.New("not an anchor slot")
	}
	body, check := line[:len(line)-9], line[len(line)-8:]
	want, err := parseCRC(check)
	if err != nil || crc32.Checksum(body, castagnoli) != want {
		return anchor{}, false, errors.New("checksum mismatch")
	}
	var w uint64
	var crc uint32
	var seq int64
	if n, err := fmt.Sscanf(string(body), anchorFormat, &w, &seq, &crc); n != 3 || err != nil || seq < 0 {
		return anchor{}, false, errors.New("unreadable fields")
	}
	return anchor{write: w, seq: seq, crc: crc}, false, nil
}

// anchorState is what reading the anchor file found.
type anchorState struct {
	a       anchor
	present bool   // the file exists and has a valid slot
	damaged string // the file exists but no slot is valid: why
}

// readAnchor reads the anchor of the state directory. A missing file is
// no anchor; a file without a valid slot is damaged (not an error: the
// caller reports the journal as lost). Only an unsafe file or a failed
// read is an error.
func readAnchor(d *StateDir) (anchorState, error) {
	f, err := d.OpenFile(AnchorFile, os.O_RDONLY)
	if errors.Is(err, fs.ErrNotExist) {
		return anchorState{}, nil
	}
	if err != nil {
		return anchorState{}, fmt.Errorf("journal anchor: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, 2*anchorSlot+1))
	if err != nil {
		return anchorState{}, fmt.Errorf("journal anchor %s: %w", f.Name(), err)
	}
	if len(data) != 2*anchorSlot {
		return anchorState{damaged: fmt.Sprintf("it is %d bytes, not %d", len(data), 2*anchorSlot)}, nil
	}
	var st anchorState
	var why []string
	for i := range 2 {
		a, empty, err := parseSlot(data[i*anchorSlot : (i+1)*anchorSlot])
		switch {
		case empty:
		case err != nil:
			why = append(why, fmt.Sprintf("slot %d: %v", i, err))
		case !st.present || a.write > st.a.write:
			st.a, st.present = a, true
		}
	}
	if !st.present {
		st.damaged = "no valid slot"
		if len(why) > 0 {
			st.damaged = fmt.Sprintf("no valid slot (%s)", strings.Join(why, "; "))
		}
	}
	return st, nil
}

// writeAnchor creates or replaces the anchor file atomically with a in
// both slots, and opens it for the in-place updates of advanceAnchor.
func (j *Journal) writeAnchor(a anchor) error {
	if j.anchorF != nil {
		j.anchorF.Close()
		j.anchorF = nil
	}
	b := append(a.slot(), anchor{write: a.write + 1, seq: a.seq, crc: a.crc}.slot()...)
	if err := atomicfile.WriteFile(filepath.Join(j.dir.Path(), AnchorFile), b, 0o600); err != nil {
		return fmt.Errorf("journal anchor: %w", err)
	}
	f, err := j.dir.OpenFile(AnchorFile, os.O_RDWR)
	if err != nil {
		return fmt.Errorf("journal anchor: %w", err)
	}
	j.anchorF, j.anchor = f, anchor{write: a.write + 1, seq: a.seq, crc: a.crc}
	return nil
}

// advanceAnchor makes the anchor name the journal's last record: it
// overwrites the older of the two slots in place and syncs the file, so a
// write torn by a crash leaves the other slot, which names an earlier
// record (still in the journal: records are synced before the anchor
// names them). Without an open anchor file it writes a new one.
func (j *Journal) advanceAnchor() error {
	if j.anchorF != nil && j.anchor.seq == j.lastSeq && j.anchor.crc == j.lastCRC {
		return nil
	}
	if j.anchorF == nil {
		return j.writeAnchor(anchor{write: j.anchor.write + 1, seq: j.lastSeq, crc: j.lastCRC})
	}
	a := anchor{write: j.anchor.write + 1, seq: j.lastSeq, crc: j.lastCRC}
	if _, err := j.anchorF.WriteAt(a.slot(), int64(a.write%2)*anchorSlot); err != nil {
		return fmt.Errorf("journal anchor: %w", err)
	}
	if err := syncAnchor(j.anchorF); err != nil {
		return fmt.Errorf("journal anchor: sync: %w", err)
	}
	j.anchor = a
	return nil
}

// syncAnchor makes an anchor update durable; a variable so a benchmark
// can compare fsync and fdatasync.
var syncAnchor = (*os.File).Sync

// LostError is a journal that no longer holds the record its anchor
// names: deleted, emptied, cut short (a torn last record that the anchor
// names included: it was acknowledged, so no crash tore it), or replaced
// by another file; or an anchor that cannot be read, so that cannot be
// told. What the lost records said (one-shot jobs done, the tool's safety
// snapshots and backups, config digests for drift) is forgotten, so the
// journal refuses to append until an operator restores it or accepts the
// loss (AcceptLoss).
type LostError struct {
	Path string
	// Reason says what was found, e.g. "is missing" or "ends at record 12".
	Reason string
	// AnchorSeq and AnchorCRC are the record the anchor names (0 and ""
	// when the anchor is damaged).
	AnchorSeq int64
	AnchorCRC string
	// FoundSeq is the sequence number of the journal's last whole record
	// (0: none).
	FoundSeq int64
}

func (e *LostError) Error() string {
	return fmt.Sprintf("journal %s %s: records of one-shot jobs, of the safety snapshots and backups the tool took and of drift may be gone, so the tool will not mutate the host; put the journal back if you have it, or accept the loss with 'felhom-converge journal reset --accept-loss'",
		e.Path, e.Reason)
}

// logView is what judging a journal against its anchor needs.
type logView struct {
	exists    bool
	torn      bool  // a torn tail follows the records
	firstSeq  int64 // the first record's sequence number
	lastSeq   int64 // the last whole record's (firstSeq-1 when none)
	crcAt     func(seq int64) uint32
	first     *Checkpoint
	resets    []JournalReset
	anchorLoc string
}

// lost judges the journal against its anchor: nil when the journal holds
// the record the anchor names (or continues it through a compaction).
func (v logView) lost(path string, st anchorState) *LostError {
	if st.damaged != "" {
		return &LostError{Path: path, FoundSeq: v.lastSeq,
			Reason: fmt.Sprintf("cannot be checked: its anchor %s is damaged (%s)", v.anchorLoc, st.damaged)}
	}
	a := st.a
	if !st.present || a.seq == 0 {
		return nil
	}
	crc := fmt.Sprintf("%08x", a.crc)
	e := &LostError{Path: path, AnchorSeq: a.seq, AnchorCRC: crc, FoundSeq: max(v.lastSeq, 0)}
	for _, r := range v.resets {
		if r.AnchorSeq == a.seq && r.AnchorCRC == crc {
			return nil // the loss was accepted; the anchor update after it was not made
		}
	}
	switch {
	case !v.exists:
		e.Reason = fmt.Sprintf("is missing, but its anchor %s names record %d", v.anchorLoc, a.seq)
	case v.lastSeq < v.firstSeq && !v.torn:
		e.Reason = fmt.Sprintf("is empty, but its anchor %s names record %d", v.anchorLoc, a.seq)
	case v.lastSeq < v.firstSeq:
		e.Reason = fmt.Sprintf("holds no whole record (only a torn one), but its anchor %s names record %d", v.anchorLoc, a.seq)
	case v.first != nil && a.seq == v.first.Seq-1:
		if v.first.Prev == crc {
			return nil // compacted after the anchor was written
		}
		e.Reason = fmt.Sprintf("does not continue the journal its anchor %s names: it was compacted after a record %d with checksum %s, the anchor names checksum %s", v.anchorLoc, a.seq, v.first.Prev, crc)
	case a.seq < v.firstSeq:
		return nil // an anchor from before the compaction that begins the journal
	case a.seq > v.lastSeq:
		e.Reason = fmt.Sprintf("ends at record %d, but its anchor %s names record %d", v.lastSeq, v.anchorLoc, a.seq)
		if v.torn {
			e.Reason += fmt.Sprintf(" (record %d is torn, and a record the anchor names was complete: no crash tore it)", v.lastSeq+1)
		}
	case v.crcAt(a.seq) != a.crc:
		e.Reason = fmt.Sprintf("does not hold the record its anchor %s names: record %d has checksum %08x, the anchor names %s (another journal was put in its place)", v.anchorLoc, a.seq, v.crcAt(a.seq), crc)
	default:
		return nil
	}
	return e
}

// lineCRC is the checksum of line n (0-based) of data, the valid records
// of a journal (every line begins with its checksum); n < 0 counts from
// the end (-1: the last line).
func lineCRC(data []byte, n int) uint32 {
	off := 0
	if n < 0 {
		off = len(data) - 1
		for ; n < 0 && off > 0; n++ {
			off = bytes.LastIndexByte(data[:off], '\n')
		}
		off++
	}
	for ; n > 0; n-- {
		off += bytes.IndexByte(data[off:], '\n') + 1
	}
	v, _ := strconv.ParseUint(string(data[off:off+8]), 16, 32)
	return uint32(v)
}
