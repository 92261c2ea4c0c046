package journal

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/felhom/felhom-converge/atomicfile"
)

// Bounds.
const (
	// DefaultMaxSize is the largest journal Open reads; a larger one is
	// refused (Options.MaxSize).
	DefaultMaxSize = 64 << 20
	// DefaultCompactAt is the size past which the journal is compacted
	// (Options.CompactAt).
	DefaultCompactAt = 4 << 20
	// MaxRecordSize bounds one line, checksum and newline included.
	MaxRecordSize = 1 << 20
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// ErrReadOnly is returned by Append on a journal from Read.
var ErrReadOnly = errors.New("journal opened for reading only")

// Options tune Open and Read. The zero value is the default.
type Options struct {
	MaxSize   int64            // refuse a larger journal; 0: DefaultMaxSize
	CompactAt int64            // compact past this size; 0: DefaultCompactAt, <0: never
	Now       func() time.Time // the clock for records without a time; nil: time.Now
}

func (o Options) withDefaults() Options {
	if o.MaxSize <= 0 {
		o.MaxSize = DefaultMaxSize
	}
	if o.CompactAt == 0 {
		o.CompactAt = DefaultCompactAt
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return o
}

// CorruptError is a damaged record before the last one: a crash cannot
// leave that (every earlier record was fsynced before the next was
// written), so the journal is not trusted and refuses to append.
type CorruptError struct {
	Path   string
	Offset int64 // byte offset of the damaged line
	Line   int   // 1-based line number
	Reason string
	// Partial is the journal of the records before Offset, for display
	// only (journal show); it refuses to append.
	Partial *Journal
}

func (e *CorruptError) Error() string {
	return fmt.Sprintf("journal %s is corrupt at byte %d (line %d): %s; the tool will not mutate the host until it is repaired: keep a copy, inspect it with 'felhom-converge journal show', and fix the damaged line (a line removed is a record lost: 'felhom-converge journal reset --accept-loss' then accepts it)",
		e.Path, e.Offset, e.Line, e.Reason)
}

// TooLargeError is a journal above Options.MaxSize.
type TooLargeError struct {
	Path      string
	Size, Max int64
}

func (e *TooLargeError) Error() string {
	return fmt.Sprintf("journal %s is %d bytes, above the bound of %d bytes; it is compacted long before that, so it was not written by felhom-converge alone: inspect it and cut what was added; moving it aside loses its records, which the next run refuses until 'felhom-converge journal reset --accept-loss' accepts it", e.Path, e.Size, e.Max)
}

// TornTail describes an incomplete or damaged last line: what a crash
// during a write leaves. Its record was never acknowledged (Append had not
// returned), so the action it describes was not taken on its account. It
// is left out of the view, and a writer cuts it off before its next
// append, saving the bytes to TornFile first.
type TornTail struct {
	Path   string
	Offset int64 // where the torn line begins
	Length int64
	Reason string
	// Unlocked is set when the journal was read without the lock (Read):
	// the line may then also be a write still in progress.
	Unlocked bool
}

func (t *TornTail) String() string {
	cause := "left by a crash during a write"
	if t.Unlocked {
		cause += ", or a run is writing it right now"
	}
	return fmt.Sprintf("journal %s: ignored a torn last record at byte %d (%d bytes, %s), %s",
		t.Path, t.Offset, t.Length, t.Reason, cause)
}

// Journal is the append-only log of the state directory and the view
// computed from it. Its methods are safe for concurrent use.
type Journal struct {
	mu       sync.Mutex
	path     string
	dir      *StateDir
	f        *os.File // nil when read-only or closed
	lock     *Lock    // nil when read-only
	opts     Options
	size     int64 // bytes of valid records in the file
	fileSize int64 // bytes in the file, torn tail included
	torn     *TornTail
	refuse   error // set when the journal may not be appended to
	records  []Record
	x        *index
	// compactedTo is the size right after the last compaction, so a
	// journal whose live part is large is not compacted on every append.
	compactedTo int64
	compactErr  error
	// The anchor (anchor.go): the sequence number and checksum of the last
	// record, and the anchor file naming them (nil until written).
	lastSeq  int64
	lastCRC  uint32
	anchor   anchor
	anchored bool     // Open found a valid anchor file
	anchorF  *os.File // the anchor file, open for in-place updates
	lost     *LostError
}

// Open opens the journal of the locked state directory for appending,
// creating it when missing, and reads every record. The caller keeps the
// lock held while it uses the journal. A torn last line is reported by
// TornTail; a damaged earlier line is a *CorruptError; a journal above
// the size bound a *TooLargeError; a journal that lost records its anchor
// names (missing, emptied, cut short, replaced) a *LostError.
func Open(l *Lock, opts Options) (*Journal, error) {
	j, err := open(l, opts)
	if err != nil {
		return nil, err
	}
	if j.lost != nil {
		j.Close()
		return nil, j.lost
	}
	if err := j.settle(); err != nil {
		j.Close()
		return nil, err
	}
	return j, nil
}

// open opens and reads the journal and judges it against its anchor
// (j.lost), writing nothing yet except a missing journal file when no
// anchor names a record.
func open(l *Lock, opts Options) (*Journal, error) {
	if l == nil || !l.Held() {
		return nil, errors.New("journal: open needs the held run lock")
	}
	d := l.Dir()
	path := filepath.Join(d.Path(), LogFile)
	removeStaleTemps(d.Path())
	st, err := readAnchor(d)
	if err != nil {
		return nil, err
	}
	j := &Journal{path: path, dir: d, lock: l, opts: opts.withDefaults(), anchor: st.a, anchored: st.present}
	_, err = os.Lstat(path)
	missing := errors.Is(err, fs.ErrNotExist)
	if missing {
		// Not created while an anchor names a record it held.
		j.x = newIndex()
		if j.lost = (logView{anchorLoc: AnchorFile}).lost(path, st); j.lost != nil {
			j.refuse = j.lost
			return j, nil
		}
	}
	f, err := d.OpenFile(LogFile, os.O_RDWR|os.O_CREATE)
	if err != nil {
		return nil, fmt.Errorf("journal: %w", err)
	}
	if missing {
		if err := atomicfile.SyncDir(d.Path()); err != nil {
			f.Close()
			return nil, fmt.Errorf("journal: %w", err)
		}
	}
	j.f = f
	if err := j.load(f, st); err != nil {
		f.Close()
		return nil, err
	}
	if j.lost != nil {
		j.refuse = j.lost
	}
	return j, nil
}

// settle brings the anchor up to the journal's last record (it may lag
// after a crash, or be missing in a state directory of an older version)
// and compacts a journal past the bound.
func (j *Journal) settle() error {
	if j.anchored {
		f, err := j.dir.OpenFile(AnchorFile, os.O_RDWR)
		if err != nil {
			return fmt.Errorf("journal anchor: %w", err)
		}
		j.anchorF = f
	}
	if j.lastSeq > 0 {
		if err := j.advanceAnchor(); err != nil {
			return err
		}
	}
	if j.opts.CompactAt > 0 && j.size > j.opts.CompactAt {
		j.compactAfter()
	}
	return nil
}

// Read reads the journal of a state directory without the lock and
// without writing anything: for plan, status and journal show. A missing
// journal reads as empty. Append on the result returns ErrReadOnly. A torn
// last line may also be a write in progress by a concurrent run. A journal
// that lost records its anchor names reads as what is left, and Lost
// says what is gone.
func Read(d *StateDir, opts Options) (*Journal, error) {
	path := filepath.Join(d.Path(), LogFile)
	j := &Journal{path: path, dir: d, opts: opts.withDefaults(), refuse: ErrReadOnly}
	// The anchor first: a writer syncs a record before its anchor names
	// it, so the journal read after it holds that record (or a compaction
	// that continues it).
	st, err := readAnchor(d)
	if err != nil {
		return nil, err
	}
	f, err := d.OpenFile(LogFile, os.O_RDONLY)
	if errors.Is(err, fs.ErrNotExist) {
		j.x = newIndex()
		j.lost = logView{anchorLoc: AnchorFile}.lost(path, st)
		return j, nil
	}
	if err != nil {
		return nil, fmt.Errorf("journal: %w", err)
	}
	defer f.Close()
	if err := j.load(f, st); err != nil {
		return nil, err
	}
	return j, nil
}

// Lost is what Open refused with, for a journal from Read: the records
// the anchor names that the journal no longer holds, or nil.
func (j *Journal) Lost() *LostError {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.lost
}

func (j *Journal) load(f *os.File, st anchorState) error {
	fi, err := f.Stat()
	if err != nil {
		return fmt.Errorf("journal: %w", err)
	}
	if fi.Size() > j.opts.MaxSize {
		return &TooLargeError{Path: j.path, Size: fi.Size(), Max: j.opts.MaxSize}
	}
	// Read what Stat reported, and one byte more to notice a file that
	// grew since: the bound holds whatever the file does meanwhile.
	data := make([]byte, fi.Size()+1)
	n, err := io.ReadFull(io.NewSectionReader(f, 0, j.opts.MaxSize+1), data)
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
		return fmt.Errorf("journal %s: %w", j.path, err)
	}
	data = data[:n]
	if n > int(fi.Size()) {
		// It grew (a concurrent writer, for Read): take all of it, bounded.
		rest, err := io.ReadAll(io.NewSectionReader(f, int64(n), j.opts.MaxSize+1-int64(n)))
		if err != nil {
			return fmt.Errorf("journal %s: %w", j.path, err)
		}
		data = append(data, rest...)
	}
	if int64(len(data)) > j.opts.MaxSize {
		return &TooLargeError{Path: j.path, Size: int64(len(data)), Max: j.opts.MaxSize}
	}
	recs, valid, torn, cerr := parse(data)
	j.x = newIndex()
	for _, r := range recs {
		j.x.add(r)
	}
	j.records = recs
	j.size = valid
	j.fileSize = int64(len(data))
	if torn != nil {
		torn.Path = j.path
		torn.Unlocked = j.lock == nil
		j.torn = torn
	}
	if cerr != nil {
		cerr.Path = j.path
		j.refuse = cerr
		if j.f != nil {
			j.f.Close()
			j.f = nil
		}
		cerr.Partial = j
		return cerr
	}
	v := logView{exists: true, torn: torn != nil, firstSeq: 1, anchorLoc: AnchorFile, resets: j.x.resets}
	if cp, ok := first(recs); ok {
		v.first, v.firstSeq = &cp, cp.Seq
	}
	v.lastSeq = v.firstSeq + int64(len(recs)) - 1
	v.crcAt = func(seq int64) uint32 { return lineCRC(data, int(seq-v.firstSeq)) }
	j.lastSeq = max(v.lastSeq, 0)
	if len(recs) > 0 {
		j.lastCRC = lineCRC(data[:valid], -1)
	}
	j.lost = v.lost(j.path, st)
	return nil
}

// first is the checkpoint that begins recs, if one does.
func first(recs []Record) (Checkpoint, bool) {
	if len(recs) == 0 {
		return Checkpoint{}, false
	}
	cp, ok := recs[0].(Checkpoint)
	return cp, ok
}

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

// TornTail is the torn last line Open or Read found, or nil. It is
// reported once per Open: callers warn about it.
func (j *Journal) TornTail() *TornTail {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.torn == nil {
		return nil
	}
	t := *j.torn
	return &t
}

// Path is the journal file's path.
func (j *Journal) Path() string { return j.path }

// Size is the length in bytes of the journal's valid records.
func (j *Journal) Size() int64 {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.size
}

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

// Close closes the journal file. It does not release the lock.
func (j *Journal) Close() error {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.anchorF != nil {
		j.anchorF.Close()
		j.anchorF = nil
	}
	if j.f == nil {
		return nil
	}
	err := j.f.Close()
	j.f = nil
	if j.refuse == nil {
		j.refuse = errors.New("journal: closed")
	}
	return err
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

// Records is every record in order.
func (j *Journal) Records() []Record {
	j.mu.Lock()
	defer j.mu.Unlock()
	return slices.Clone(j.records)
}

// Transactions is every transaction still in the journal, in the order
// they began.
func (j *Journal) Transactions() []Transaction {
	j.mu.Lock()
	defer j.mu.Unlock()
	out := make([]Transaction, len(j.x.order))
	for i, t := range j.x.order {
		out[i] = t.public()
	}
	return out
}

// OpenTxns is the begin record of every transaction without an end
// record, in the order they began.
func (j *Journal) OpenTxns() []TxnBegin {
	j.mu.Lock()
	defer j.mu.Unlock()
	var out []TxnBegin
	for _, t := range j.x.order {
		if t.end == nil {
			out = append(out, t.begin)
		}
	}
	return out
}

// InFlight is every step with an intent but no terminal record, in the
// order their intents were written.
func (j *Journal) InFlight() []InFlight {
	j.mu.Lock()
	defer j.mu.Unlock()
	steps := make([]*stepState, 0, len(j.x.inflight))
	for _, s := range j.x.inflight {
		steps = append(steps, s)
	}
	sort.Slice(steps, func(a, b int) bool { return steps[a].seq < steps[b].seq })
	out := make([]InFlight, len(steps))
	for i, s := range steps {
		out[i] = InFlight{Intent: s.intent}
		if s.task != nil {
			out[i].UPID, out[i].TaskTime = s.task.UPID, s.task.Time
		}
	}
	return out
}

// JobDone reports whether the job id completed.
func (j *Journal) JobDone(id string) bool {
	j.mu.Lock()
	defer j.mu.Unlock()
	_, ok := j.x.jobs[id]
	return ok
}

// LastDigest is the config digest recorded for the guest after the last
// successful step on it.
func (j *Journal) LastDigest(vmid int) (Digest, bool) {
	j.mu.Lock()
	defer j.mu.Unlock()
	d, ok := j.x.digests[vmid]
	if !ok {
		return Digest{}, false
	}
	return Digest{Guest: d.Guest, Digest: d.Digest, Time: d.Time, Txn: d.Txn, Owns: d.Owns}, true
}

// CreatedInTxn reports the transaction that created the guest (restored
// it) when that transaction is still open: then removing the guest again
// is benign, by provenance.
func (j *Journal) CreatedInTxn(vmid int) (string, bool) {
	j.mu.Lock()
	defer j.mu.Unlock()
	c, ok := j.x.created[vmid]
	if !ok || !j.x.open(c.Txn) {
		return "", false
	}
	return c.Txn, true
}

// CreatedIn reports whether transaction txn created the guest.
func (j *Journal) CreatedIn(vmid int, txn string) bool {
	j.mu.Lock()
	defer j.mu.Unlock()
	_, ok := j.x.createdT[guestKey(txn, vmid)]
	return ok
}

// ToolSnapshot reports whether the guest's snapshot name is a safety
// snapshot the tool took and has not removed.
func (j *Journal) ToolSnapshot(vmid int, name string) bool {
	j.mu.Lock()
	defer j.mu.Unlock()
	_, ok := j.x.snaps[snapKey{vmid, name}]
	return ok
}

// ToolSnapshots is every safety snapshot the tool took and has not
// removed, oldest first.
func (j *Journal) ToolSnapshots() []Snapshot {
	j.mu.Lock()
	defer j.mu.Unlock()
	out := make([]Snapshot, 0, len(j.x.snaps))
	for _, s := range j.x.snaps {
		out = append(out, Snapshot{Guest: s.Guest, Name: s.Name, SnapTime: s.SnapTime, Txn: s.Txn, Created: s.Time})
	}
	sort.Slice(out, func(a, b int) bool {
		if !out[a].Created.Equal(out[b].Created) {
			return out[a].Created.Before(out[b].Created)
		}
		if out[a].Guest != out[b].Guest {
			return out[a].Guest < out[b].Guest
		}
		return out[a].Name < out[b].Name
	})
	return out
}

// ToolBackups is every safety backup the tool took and has not removed,
// oldest first.
func (j *Journal) ToolBackups() []Backup {
	j.mu.Lock()
	defer j.mu.Unlock()
	out := make([]Backup, 0, len(j.x.backups))
	for _, b := range j.x.backups {
		out = append(out, Backup{Guest: b.Guest, VolID: b.VolID, Created: b.Created, Size: b.Size, UPID: b.UPID, Txn: b.Txn})
	}
	sort.Slice(out, func(a, b int) bool {
		if !out[a].Created.Equal(out[b].Created) {
			return out[a].Created.Before(out[b].Created)
		}
		return strings.Compare(out[a].VolID, out[b].VolID) < 0
	})
	return out
}

// LastDigests is the last recorded digest of every guest, by vmid.
func (j *Journal) LastDigests() []Digest {
	j.mu.Lock()
	defer j.mu.Unlock()
	out := make([]Digest, 0, len(j.x.digests))
	for _, d := range j.x.digests {
		out = append(out, Digest{Guest: d.Guest, Digest: d.Digest, Time: d.Time, Txn: d.Txn, Owns: d.Owns})
	}
	sort.Slice(out, func(a, b int) bool { return out[a].Guest < out[b].Guest })
	return out
}

// RecordJSON is the JSON of r as the journal stores it: an object whose
// first member is "type".
func RecordJSON(r Record) ([]byte, error) { return marshalRecord(r) }

// TaskRecorded reports whether some step's record holds the task UPID:
// recovery never takes another call's task for its own.
func (j *Journal) TaskRecorded(upid string) bool {
	j.mu.Lock()
	defer j.mu.Unlock()
	for _, s := range j.x.steps {
		if s.task != nil && s.task.UPID == upid {
			return true
		}
	}
	return false
}

// BackupRecorded reports whether volid is a safety backup the tool
// recorded and has not removed.
func (j *Journal) BackupRecorded(volid string) bool {
	j.mu.Lock()
	defer j.mu.Unlock()
	_, ok := j.x.backups[volid]
	return ok
}
