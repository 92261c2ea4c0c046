package journal

// A record's line: its CRC-32C in hex, a space, its JSON, a newline; and
// the parse of a whole file into records, a torn tail and damage.

import (
	"bytes"
	"errors"
	"fmt"
	"hash/crc32"
	"strconv"
)

// parse splits data into records. It returns the records, the length of
// the valid prefix, a torn last line if any, and the first damaged line
// before the last.
func parse(data []byte) ([]Record, int64, *TornTail, *CorruptError) {
	recs := make([]Record, 0, bytes.Count(data, []byte{'\n'}))
	off := 0
	for n := 1; off < len(data); n++ {
		nl := bytes.IndexByte(data[off:], '\n')
		if nl < 0 {
			if holdsWholeRecord(data[off:]) {
				return recs, int64(off), nil, &CorruptError{Offset: int64(off), Line: n, Reason: errMerged.Error()}
			}
			return recs, int64(off), &TornTail{Offset: int64(off), Length: int64(len(data) - off), Reason: "no final newline"}, nil
		}
		line := data[off : off+nl]
		last := off+nl+1 == len(data)
		r, framing, err := decodeLine(line)
		if err != nil {
			if last && framing && !holdsWholeRecord(line) {
				return recs, int64(off), &TornTail{Offset: int64(off), Length: int64(nl + 1), Reason: err.Error()}, nil
			}
			if last && framing {
				err = errMerged
			}
			return recs, int64(off), nil, &CorruptError{Offset: int64(off), Line: n, Reason: err.Error()}
		}
		if _, ok := r.(Checkpoint); ok && n > 1 {
			// Only compaction writes one, as the first line of the journal
			// it writes: another place means files were joined or edited.
			return recs, int64(off), nil, &CorruptError{Offset: int64(off), Line: n, Reason: "a checkpoint record after the first line"}
		}
		recs = append(recs, r)
		off += nl + 1
	}
	return recs, int64(off), nil, nil
}

// holdsWholeRecord reports whether a damaged line is a whole valid record,
// one byte where its newline should be, and the start of another record.
// A torn write cannot produce that: the record before the torn one was
// complete, newline included, before the torn one was written. It is a
// damaged newline merging the last two records, which must not pass as a
// torn tail (that would drop both). A whole record followed by anything
// else (zeros of an unwritten sector, a damaged final newline) is the
// last record torn. The checksum runs along the line once, so the cost
// stays linear.
func holdsWholeRecord(line []byte) bool {
	if len(line) < 11 || line[8] != ' ' {
		return false
	}
	want, err := parseCRC(line[:8])
	if err != nil {
		return false
	}
	body := line[9:]
	crc, done := uint32(0), 0
	for i := 0; i < len(body)-1; i++ {
		if body[i] != '}' {
			continue
		}
		crc = crc32.Update(crc, castagnoli, body[done:i+1])
		done = i + 1
		if crc == want && startsRecord(body[i+2:]) {
			if _, err := unmarshalRecord(body[:i+1]); err == nil {
				return true
			}
		}
	}
	return false
}

// startsRecord reports whether b begins like a line: 8 lower-case hex
// digits and a space.
func startsRecord(b []byte) bool {
	if len(b) < 9 || b[8] != ' ' {
		return false
	}
	_, err := parseCRC(b[:8])
	return err == nil
}

var errMerged = errors.New("a whole record runs into the bytes after it (its newline is damaged)")

// decodeLine checks and decodes one line without its newline. framing
// reports an error in the checksum frame (what a torn write produces), as
// against a line whose checksum holds but whose record is not one this
// version knows (never a crash: a hard error even at the end).
func decodeLine(line []byte) (r Record, framing bool, err error) {
	if len(line) > MaxRecordSize {
		return nil, true, fmt.Errorf("line longer than %d bytes", MaxRecordSize)
	}
	if len(line) < 10 || line[8] != ' ' {
		return nil, true, errors.New("no checksum")
	}
	want, err := parseCRC(line[:8])
	if err != nil {
		return nil, true, err
	}
	body := line[9:]
	if got := crc32.Checksum(body, castagnoli); got != want {
		return nil, true, fmt.Errorf("checksum mismatch (recorded %08x, computed %08x)", want, got)
	}
	r, err = unmarshalRecord(body)
	if err != nil {
		return nil, false, err
	}
	return r, false, nil
}

func parseCRC(b []byte) (uint32, error) {
	for _, c := range b {
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return 0, fmt.Errorf("checksum %q is not 8 lower-case hex digits", b)
		}
	}
	v, err := strconv.ParseUint(string(b), 16, 32)
	return uint32(v), err
}

// encodeLine is the line of r: checksum, space, JSON, newline.
func encodeLine(r Record) ([]byte, error) {
	body, err := marshalRecord(r)
	if err != nil {
		return nil, err
	}
	line := make([]byte, 0, len(body)+10)
	line = fmt.Appendf(line, "%08x ", crc32.Checksum(body, castagnoli))
	line = append(line, body...)
	line = append(line, '\n')
	if len(line) > MaxRecordSize {
		return nil, fmt.Errorf("record %s is %d bytes, above the bound of %d", r.Type(), len(line), MaxRecordSize)
	}
	return line, nil
}
