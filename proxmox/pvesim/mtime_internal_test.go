package pvesim

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestStateVersionsLookDifferent: another process decides whether to
// reload the state file by its identity, size and modification time.
// File-system timestamps are coarse (a clock tick) and a replaced file's
// inode can be reused, so every write must stamp the file strictly later
// than the version it replaces, or a same-sized change made within one
// tick could go unseen.
func TestStateVersionsLookDifferent(t *testing.T) {
	t.Parallel()
	s, err := New(Options{StatePath: filepath.Join(t.TempDir(), "host.json")})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	s.mu.Lock()
	defer s.mu.Unlock()
	var last time.Time
	for i := 0; i < 50; i++ {
		s.st.Guests[110].Conf["memory"] = []string{"2048", "3072"}[i%2]
		if err := s.persistLocked(); err != nil {
			t.Fatal(err)
		}
		fi, err := os.Stat(s.opts.StatePath)
		if err != nil {
			t.Fatal(err)
		}
		if !fi.ModTime().After(last) {
			t.Fatalf("write %d stamped %v, not after the previous version's %v", i, fi.ModTime(), last)
		}
		last = fi.ModTime()
	}
}
