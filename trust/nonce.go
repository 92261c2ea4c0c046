package trust

import (
	"bytes"
	"errors"
	"fmt"
	"hash/crc32"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/felhom/felhom-converge/atomicfile"
	"github.com/rogpeppe/go-internal/lockedfile"
)

// NonceStore remembers the nonces of requests that were accepted, so a
// signature is used at most once, across restarts. The journal can take
// this role over behind the same interface.
type NonceStore interface {
	// Consumed reports whether nonce was consumed.
	Consumed(nonce string) (bool, error)
	// Consume records nonce as consumed, to be kept at least until
	// keepUntil. It checks and records atomically: when the nonce was
	// already consumed it returns ErrNonceConsumed and changes nothing.
	// When it returns nil, the record is durable.
	Consume(nonce string, keepUntil time.Time) error
}

// ErrNonceConsumed is returned by Consume for a nonce seen before (or one
// the store can no longer prove unused; the error says which).
var ErrNonceConsumed = errors.New("nonce already consumed")

// forgottenError is ErrNonceConsumed for a nonce the store may have
// pruned.
type forgottenError struct{ why string }

func (e *forgottenError) Error() string { return "nonce may have been consumed: " + e.why }
func (e *forgottenError) Unwrap() error { return ErrNonceConsumed }

// ErrNonceStoreCorrupt is wrapped by every error for a nonce store whose
// content is damaged. It refuses every destructive step until an operator
// repairs the store; it never means "not consumed".
var ErrNonceStoreCorrupt = errors.New("nonce store is damaged")

// MemNonceStore is a NonceStore in memory, for tests and one-shot checks.
type MemNonceStore struct {
	mu sync.Mutex
	m  map[string]time.Time
}

// Consumed implements NonceStore.
func (s *MemNonceStore) Consumed(nonce string) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.m[nonce]
	return ok, nil
}

// Consume implements NonceStore.
func (s *MemNonceStore) Consume(nonce string, keepUntil time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.m[nonce]; ok {
		return ErrNonceConsumed
	}
	if s.m == nil {
		s.m = map[string]time.Time{}
	}
	s.m[nonce] = keepUntil
	return nil
}

// FileNonceStore keeps consumed nonces in STATE_DIR/consumed-nonces and
// fails closed: any damage it can see is an error (ErrNonceStoreCorrupt),
// never "not consumed".
//
// # Format (v1)
//
// A text file of fixed-width lines, each with the CRC-32C (Castagnoli) of
// its bytes before the checksum, in lower-case hex:
//
//	felhom-converge consumed-nonces v1 pruned <pruned-until> <crc32c>   the header
//	<nonce> <keep-until> <high-water> <crc32c>     one record per consumed nonce
//	end <count> <crc32c>                           the end record, always last
//
// nonce is 32 lower-case hex digits; the times are RFC 3339 UTC
// ("2026-11-28T03:05:00Z"); count is the number of records, ten decimal
// digits. The header is 72 bytes, a record 84, the end record 24.
// high-water is the latest host time the store had seen when the record
// was written; the store's high-water is the largest of them.
// pruned-until is the latest keep-until of any entry ever pruned.
//
// Consume appends by writing the new record and a new end record over the
// old end record, then fsyncs, and returns only after that. The file is
// created, pruned and repaired by an atomic rewrite, the only writes of
// the header (atomicfile). An flock
// on consumed-nonces.lock serialises writers.
//
// # What is detected
//
// A missing or changed header (an emptied file, a file truncated into the
// header, another file); a changed byte in any record (its checksum); a
// record whose newline was removed, a record removed or added (the end
// record's count), a file cut at a record boundary or within the end
// record (no end record), and a file with its last newline removed; a
// file larger than MaxNonceStoreSize, refused before it is read. Each is
// an error naming the byte offset.
//
// # A crash during an append
//
// Consume returns only after fsync, so nothing was ever accepted on an
// append that a crash tore. Such an append leaves, after the last complete
// record, between 24 and 108 bytes (the old end record's length up to a
// new record and end record) that do not end in a valid end record. That
// is read as a torn append, not as damage. If its first 33 bytes are a
// nonce and a space, that nonce counts as consumed (fail closed: at worst
// the operator signs again); otherwise the torn bytes name no nonce and
// are ignored. The next Consume rewrites the file without them (keeping
// the torn nonce as a record).
//
// # What is not detected
//
// The checksums find damage, not forgery: someone who can write the state
// directory can write a valid file with fewer records, or delete it (a
// missing file is a host that never consumed a nonce). A cut that leaves
// 24 to 108 bytes after a complete record looks exactly like a torn
// append: the records wholly cut away with it are forgotten. The state
// directory's permissions (owned by the service user, mode 0700) are what
// protect the store against both.
//
// # Time
//
// Entries are kept until PruneMargin after their keep-until, and the
// store never prunes while the host clock is behind its high-water. A
// clock that jumped forward may still have pruned entries whose requests
// are valid again once it is back: so a nonce whose keep-until is not
// after pruned-until counts as consumed (Consume refuses it, with the
// reason) even when the store holds no record of it. Such a request can
// only be valid while the clock is behind; the operator signs a new one.
type FileNonceStore struct {
	path string
	now  func() time.Time
	max  int64 // MaxNonceStoreSize; smaller in tests
}

const (
	// NonceFile is the file name of the store inside the state directory.
	NonceFile = "consumed-nonces"

	// MaxNonceStoreSize bounds the store: a larger file is refused before
	// it is read (about 50,000 records).
	MaxNonceStoreSize = 4 << 20

	// PruneMargin is how long past its keep-until an entry is kept.
	PruneMargin = 7 * 24 * time.Hour

	headerPrefix = "felhom-converge consumed-nonces v1 pruned "
	headerLen    = len(headerPrefix) + 20 + 10
	recordLen    = 84 // nonce, keep-until, high-water, crc, newline
	endLen       = 24 // "end", count, crc, newline
	tornMax      = recordLen + endLen
	rfc3339UTC   = "2006-01-02T15:04:05Z"
)

var (
	castagnoli = crc32.MakeTable(crc32.Castagnoli)
	// The times a record can hold: four-digit years.
	minStoreTime = time.Date(1970, 1, 1, 0, 0, 0, 0, time.UTC).Unix()
	maxStoreTime = time.Date(9999, 12, 31, 23, 59, 59, 0, time.UTC).Unix()
)

// OpenFileNonceStore returns the store in stateDir. The directory is
// created (mode 0700) by the first Consume; until then Consumed reports
// nothing consumed. now is the host clock; nil means time.Now.
func OpenFileNonceStore(stateDir string, now func() time.Time) (*FileNonceStore, error) {
	if stateDir == "" {
		return nil, errors.New("nonce store: no state directory")
	}
	if now == nil {
		now = time.Now
	}
	return &FileNonceStore{path: filepath.Join(stateDir, NonceFile), now: now, max: MaxNonceStoreSize}, nil
}

// Path is the store's file.
func (s *FileNonceStore) Path() string { return s.path }

func (s *FileNonceStore) lock() (func(), error) {
	unlock, err := lockedfile.MutexAt(s.path + ".lock").Lock()
	if err != nil {
		return nil, fmt.Errorf("lock nonce store: %w", err)
	}
	return unlock, nil
}

type nonceEntry struct {
	nonce     string
	keepUntil int64 // unix seconds
	highWater int64 // unix seconds
}

// nonceState is what a store file holds.
type nonceState struct {
	exists    bool
	entries   []nonceEntry
	torn      *nonceEntry // the nonce named by a torn last append, if any
	end       int64       // offset of the end record; -1 when the tail is torn
	highWater int64       // the latest time the store saw
	pruned    int64       // pruned-until: the latest keep-until ever pruned
	size      int64
}

func clampUnix(t int64) int64 { return min(max(t, minStoreTime), maxStoreTime) }

func storeTime(t int64) string { return time.Unix(t, 0).UTC().Format(rfc3339UTC) }

// parseStoreTime parses a time as storeTime writes it, exactly.
func parseStoreTime(b []byte) (int64, bool) {
	if len(b) != 20 || b[4] != '-' || b[7] != '-' || b[10] != 'T' || b[13] != ':' || b[16] != ':' || b[19] != 'Z' {
		return 0, false
	}
	num := func(from, to int) int {
		n := 0
		for _, c := range b[from:to] {
			if c < '0' || c > '9' {
				return -1
			}
			n = n*10 + int(c-'0')
		}
		return n
	}
	y, mo, d, h, mi, sec := num(0, 4), num(5, 7), num(8, 10), num(11, 13), num(14, 16), num(17, 19)
	t := time.Date(y, time.Month(mo), d, h, mi, sec, 0, time.UTC)
	if y < 0 || t.Year() != y || int(t.Month()) != mo || t.Day() != d || t.Hour() != h || t.Minute() != mi || t.Second() != sec {
		return 0, false
	}
	return t.Unix(), true
}

func withCRC(body string) []byte {
	return fmt.Appendf(nil, "%s %08x\n", body, crc32.Checksum([]byte(body), castagnoli))
}

func (e nonceEntry) record() []byte {
	return withCRC(e.nonce + " " + storeTime(e.keepUntil) + " " + storeTime(e.highWater))
}

func header(prunedUntil int64) []byte { return withCRC(headerPrefix + storeTime(prunedUntil)) }

func endRecord(count int) []byte { return withCRC(fmt.Sprintf("end %010d", count)) }

// checkCRC checks a line "<body> <8 hex>\n" of length n and returns body.
func checkCRC(line []byte) ([]byte, bool) {
	n := len(line)
	if n < 10 || line[n-1] != '\n' || line[n-10] != ' ' {
		return nil, false
	}
	body := line[:n-10]
	var sum uint32
	for _, c := range line[n-9 : n-1] {
		switch {
		case '0' <= c && c <= '9':
			sum = sum<<4 | uint32(c-'0')
		case 'a' <= c && c <= 'f':
			sum = sum<<4 | uint32(c-'a'+10)
		default:
			return nil, false
		}
	}
	return body, sum == crc32.Checksum(body, castagnoli)
}

func parseRecord(line []byte) (nonceEntry, bool) {
	body, ok := checkCRC(line)
	if !ok || len(body) != 74 || body[32] != ' ' || body[53] != ' ' || !validNonce(string(body[:32])) {
		return nonceEntry{}, false
	}
	ku, ok1 := parseStoreTime(body[33:53])
	hw, ok2 := parseStoreTime(body[54:74])
	if !ok1 || !ok2 {
		return nonceEntry{}, false
	}
	return nonceEntry{nonce: string(body[:32]), keepUntil: ku, highWater: hw}, true
}

// parseEnd returns the count of a valid end record.
func parseEnd(line []byte) (int, bool) {
	body, ok := checkCRC(line)
	if !ok || len(body) != 14 || string(body[:4]) != "end " {
		return 0, false
	}
	n, err := strconv.Atoi(string(body[4:]))
	return n, err == nil
}

func (s *FileNonceStore) corrupt(offset int64, format string, args ...any) error {
	return fmt.Errorf("%w: %s at byte %d: %s; every destructive step is refused until it is repaired (see docs/reference.md, Signature requests)",
		ErrNonceStoreCorrupt, s.path, offset, fmt.Sprintf(format, args...))
}

// parse checks a whole store file; see FileNonceStore for the rules.
func (s *FileNonceStore) parse(data []byte) (nonceState, error) {
	st := nonceState{exists: true, size: int64(len(data))}
	if len(data) == 0 {
		return st, s.corrupt(0, "the file is empty (a store always holds its header and end record)")
	}
	body, ok := []byte(nil), len(data) >= headerLen
	if ok {
		body, ok = checkCRC(data[:headerLen])
	}
	if ok {
		st.pruned, ok = parseStoreTime(bytes.TrimPrefix(body, []byte(headerPrefix)))
		ok = ok && bytes.HasPrefix(body, []byte(headerPrefix))
	}
	if !ok {
		return st, s.corrupt(0, "no valid %q header", headerPrefix+"...")
	}
	p := headerLen
	st.entries = make([]nonceEntry, 0, (len(data)-p)/recordLen)
	for p+recordLen <= len(data) {
		e, ok := parseRecord(data[p : p+recordLen])
		if !ok {
			break
		}
		st.entries = append(st.entries, e)
		st.highWater = max(st.highWater, e.highWater)
		p += recordLen
	}
	tail := data[p:]
	n := len(st.entries)
	if len(tail) == endLen {
		if count, ok := parseEnd(tail); ok {
			if count != n {
				return st, s.corrupt(int64(p), "the end record counts %d records, the file holds %d (a record was removed, merged or damaged)", count, n)
			}
			st.end = int64(p)
			return st, nil
		}
	}
	if len(tail) >= endLen {
		if count, ok := parseEnd(tail[len(tail)-endLen:]); ok {
			return st, s.corrupt(int64(p), "record %d of %d is damaged", n+1, count)
		}
	}
	switch {
	case len(tail) == 0:
		return st, s.corrupt(int64(p), "the file ends without its end record (truncated)")
	case len(tail) < endLen:
		return st, s.corrupt(int64(p), "the file ends inside its end record (truncated, or its last newline removed)")
	case len(tail) > tornMax:
		return st, s.corrupt(int64(p), "record %d is damaged", n+1)
	}
	// A torn append: nothing was accepted on it. Fail closed on the
	// nonce it names, if it names one.
	st.end = -1
	if len(tail) > 32 && tail[32] == ' ' && validNonce(string(tail[:32])) {
		e := nonceEntry{nonce: string(tail[:32]), keepUntil: maxStoreTime, highWater: st.highWater}
		if len(tail) >= 53 {
			if ku, ok := parseStoreTime(tail[33:53]); ok {
				e.keepUntil = ku
			}
		}
		st.torn = &e
	}
	return st, nil
}

// open opens the store file for reading (or, with write, for writing too),
// refusing anything but a regular file.
func (s *FileNonceStore) open(write bool) (*os.File, fs.FileInfo, error) {
	flags := os.O_RDONLY
	if write {
		flags = os.O_RDWR
	}
	f, fi, err := openRegular(s.path, flags)
	if err != nil {
		return nil, nil, fmt.Errorf("nonce store: %w", err)
	}
	return f, fi, nil
}

// load reads and checks the store. A missing file is an empty store.
func (s *FileNonceStore) load(f *os.File, fi fs.FileInfo) (nonceState, error) {
	if f == nil {
		return nonceState{end: -1}, nil
	}
	data, err := readBounded(f, fi, s.path, s.max)
	if err != nil {
		return nonceState{}, fmt.Errorf("%w: %w", ErrNonceStoreCorrupt, err)
	}
	return s.parse(data)
}

func (st *nonceState) has(nonce string) bool {
	if st.torn != nil && st.torn.nonce == nonce {
		return true
	}
	for _, e := range st.entries {
		if e.nonce == nonce {
			return true
		}
	}
	return false
}

// Consumed implements NonceStore. It only reads, and writes nothing to the
// state directory (not even the lock file), so an operator may run a check
// as any user who can read the store without breaking the service's own
// access to it. No lock is needed: an append being written is read as a
// torn append (its nonce, once written, already counts), and pruning and
// repair replace the file by an atomic rename. (A read racing an append
// that spans a page boundary may rarely see the file cut inside its end
// record: then it reports damage, which the next read does not; it never
// reports a consumed nonce as unused.)
func (s *FileNonceStore) Consumed(nonce string) (bool, error) {
	st, err := s.read()
	if err != nil {
		return false, err
	}
	return st.has(nonce), nil
}

// consumedFor is Consumed for a request kept until keepUntil: it also
// reports true when the store may have pruned such a nonce (see
// FileNonceStore, Time), with the reason.
func (s *FileNonceStore) consumedFor(nonce string, keepUntil time.Time) (bool, string, error) {
	st, err := s.read()
	if err != nil {
		return false, "", err
	}
	if st.has(nonce) {
		return true, "", nil
	}
	if why := st.forgets(keepUntil); why != "" {
		return true, why, nil
	}
	return false, "", nil
}

func (s *FileNonceStore) read() (nonceState, error) {
	f, fi, err := s.open(false)
	if errors.Is(err, fs.ErrNotExist) {
		return nonceState{end: -1}, nil
	}
	if err != nil {
		return nonceState{}, err
	}
	defer f.Close()
	return s.load(f, fi)
}

// forgets says why a nonce kept until keepUntil may have been pruned, or
// "" when the store would still hold it.
func (st *nonceState) forgets(keepUntil time.Time) string {
	if st.pruned <= minStoreTime || clampUnix(keepUntil.Unix()) > st.pruned {
		return ""
	}
	return fmt.Sprintf("the store has pruned nonces kept until %s, and this request's is kept until %s (the host clock was ahead when it pruned; the store has seen %s); sign a new request",
		storeTime(st.pruned), storeTime(clampUnix(keepUntil.Unix())), storeTime(st.highWater))
}

// Consume implements NonceStore.
func (s *FileNonceStore) Consume(nonce string, keepUntil time.Time) error {
	if !validNonce(nonce) {
		return fmt.Errorf("consume nonce: invalid nonce %q", nonce)
	}
	if err := os.MkdirAll(filepath.Dir(s.path), 0o700); err != nil {
		return fmt.Errorf("nonce store: %w", err)
	}
	unlock, err := s.lock()
	if err != nil {
		return err
	}
	defer unlock()
	f, fi, err := s.open(true)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		f = nil
	case err != nil:
		return err
	default:
		defer f.Close()
	}
	st, err := s.load(f, fi)
	if err != nil {
		return err
	}
	if st.has(nonce) {
		return ErrNonceConsumed
	}
	if why := st.forgets(keepUntil); why != "" {
		return &forgottenError{why: why}
	}
	now := clampUnix(s.now().Unix())
	rec := nonceEntry{nonce: nonce, keepUntil: clampUnix(keepUntil.Unix()), highWater: max(st.highWater, now)}
	entries := st.entries
	if st.torn != nil {
		entries = append(entries, *st.torn)
	}
	// Prune only when the clock is not behind anything the store saw.
	var kept []nonceEntry
	prunable, pruned := 0, st.pruned
	if now >= st.highWater {
		cutoff := now - int64(PruneMargin/time.Second)
		for _, e := range entries {
			if e.keepUntil < cutoff {
				prunable++
				pruned = max(pruned, e.keepUntil)
			} else {
				kept = append(kept, e)
			}
		}
	}
	grown := st.size + recordLen
	switch {
	case prunable > 0 && (prunable*2 >= len(entries) || grown > s.max):
		return s.rewrite(pruned, append(kept, rec))
	case grown > s.max:
		return fmt.Errorf("nonce store %s is full: %d nonces that are not yet %s past their expiry", s.path, len(entries), PruneMargin)
	case f == nil || st.end < 0:
		return s.rewrite(max(st.pruned, minStoreTime), append(entries, rec))
	}
	buf := append(rec.record(), endRecord(len(entries)+1)...)
	if _, err := f.WriteAt(buf, st.end); err != nil {
		return fmt.Errorf("write nonce store: %w", err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("sync nonce store: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("close nonce store: %w", err)
	}
	return nil
}

// rewrite replaces the store atomically with entries.
func (s *FileNonceStore) rewrite(prunedUntil int64, entries []nonceEntry) error {
	buf := make([]byte, 0, headerLen+len(entries)*recordLen+endLen)
	buf = append(buf, header(prunedUntil)...)
	for _, e := range entries {
		buf = append(buf, e.record()...)
	}
	buf = append(buf, endRecord(len(entries))...)
	if err := atomicfile.WriteFile(s.path, buf, 0o600); err != nil {
		return fmt.Errorf("rewrite nonce store: %w", err)
	}
	return nil
}
