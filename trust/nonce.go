package trust

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
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

// ErrNonceConsumed is returned by Consume for a nonce seen before.
var ErrNonceConsumed = errors.New("nonce already consumed")

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

// FileNonceStore keeps consumed nonces in a file in the state directory:
// one "<nonce> <keep-until unix seconds>" line per nonce, appended and
// fsynced before Consume returns. A torn last line (a crash during the
// append, before Consume returned) is ignored and cut off. An flock on a
// separate lock file serialises processes, so check-and-record is atomic
// across concurrent runs. Entries whose keep-until has passed are pruned
// by an atomic rewrite (temp file, fsync, rename, directory fsync).
type FileNonceStore struct {
	path string
	now  func() time.Time
}

// NonceFile is the file name of the store inside the state directory.
const NonceFile = "consumed-nonces"

// OpenFileNonceStore returns the store in stateDir. The directory is
// created (mode 0700) by the first Consume; until then Consumed reports
// nothing consumed. now is the clock used for pruning; nil means time.Now.
func OpenFileNonceStore(stateDir string, now func() time.Time) (*FileNonceStore, error) {
	if stateDir == "" {
		return nil, errors.New("nonce store: no state directory")
	}
	if now == nil {
		now = time.Now
	}
	return &FileNonceStore{path: filepath.Join(stateDir, NonceFile), now: now}, nil
}

func (s *FileNonceStore) lock() (func(), error) {
	unlock, err := lockedfile.MutexAt(s.path + ".lock").Lock()
	if err != nil {
		return nil, fmt.Errorf("lock nonce store: %w", err)
	}
	return unlock, nil
}

type nonceEntry struct {
	nonce     string
	keepUntil int64
}

// load reads the entries and the length of the well-formed prefix.
func (s *FileNonceStore) load() ([]nonceEntry, int64, error) {
	data, err := os.ReadFile(s.path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, 0, nil
	}
	if err != nil {
		return nil, 0, fmt.Errorf("read nonce store: %w", err)
	}
	var entries []nonceEntry
	var good int64
	for len(data) > 0 {
		i := bytes.IndexByte(data, '\n')
		if i < 0 {
			break // torn last line: never acknowledged
		}
		line := string(data[:i])
		nonce, until, ok := strings.Cut(line, " ")
		t, err := strconv.ParseInt(until, 10, 64)
		if !ok || err != nil || !validNonce(nonce) {
			return nil, 0, fmt.Errorf("nonce store %s: corrupt record at byte %d", s.path, good)
		}
		entries = append(entries, nonceEntry{nonce, t})
		good += int64(i + 1)
		data = data[i+1:]
	}
	return entries, good, nil
}

// Consumed implements NonceStore. It only reads, and writes nothing to the
// state directory (not even the lock file), so an operator may run a check
// as any user who can read the store without breaking the service's own
// access to it. No lock is needed: records are appended whole and fsynced
// by the one writer holding the lock, a record still being written has no
// final newline yet and is ignored like a torn line, and pruning replaces
// the file by an atomic rename.
func (s *FileNonceStore) Consumed(nonce string) (bool, error) {
	entries, _, err := s.load()
	if err != nil {
		return false, err
	}
	for _, e := range entries {
		if e.nonce == nonce {
			return true, nil
		}
	}
	return false, nil
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
	entries, good, err := s.load()
	if err != nil {
		return err
	}
	now := s.now().Unix()
	expired := 0
	for _, e := range entries {
		if e.nonce == nonce {
			return ErrNonceConsumed
		}
		if e.keepUntil < now {
			expired++
		}
	}
	rec := nonceEntry{nonce, keepUntil.Unix()}
	if expired > 0 && expired*2 >= len(entries) {
		var kept []nonceEntry
		for _, e := range entries {
			if e.keepUntil >= now {
				kept = append(kept, e)
			}
		}
		return s.rewrite(append(kept, rec))
	}
	return s.appendRecord(rec, good)
}

func (e nonceEntry) line() string { return fmt.Sprintf("%s %d\n", e.nonce, e.keepUntil) }

func (s *FileNonceStore) appendRecord(rec nonceEntry, good int64) error {
	f, err := os.OpenFile(s.path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("open nonce store: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return fmt.Errorf("stat nonce store: %w", err)
	}
	created := fi.Size() == 0
	if fi.Size() != good { // cut a torn last line
		if err := f.Truncate(good); err != nil {
			return fmt.Errorf("truncate nonce store: %w", err)
		}
	}
	if _, err := f.WriteAt([]byte(rec.line()), good); err != nil {
		return fmt.Errorf("write nonce store: %w", err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("sync nonce store: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("close nonce store: %w", err)
	}
	if created {
		return atomicfile.SyncDir(filepath.Dir(s.path))
	}
	return nil
}

func (s *FileNonceStore) rewrite(entries []nonceEntry) error {
	var buf bytes.Buffer
	for _, e := range entries {
		buf.WriteString(e.line())
	}
	if err := atomicfile.WriteFile(s.path, buf.Bytes(), 0o600); err != nil {
		return fmt.Errorf("rewrite nonce store: %w", err)
	}
	return nil
}
