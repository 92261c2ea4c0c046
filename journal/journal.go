package journal

import (
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"io/fs"
	"os"
	"path/filepath"
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

// Refused reports whether err is a journal that refuses to open for a
// run: damaged (*CorruptError), too large (*TooLargeError), or shorter
// than its anchor (*LostError). Its error says what to do.
func Refused(err error) bool {
	var corrupt *CorruptError
	var large *TooLargeError
	var lost *LostError
	return errors.As(err, &corrupt) || errors.As(err, &large) || errors.As(err, &lost)
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
