package trust

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

func nonceN(i int) string { return fmt.Sprintf("%032x", i) }

// nonceStoreSuite is what every NonceStore must do.
func nonceStoreSuite(t *testing.T, open func() NonceStore) {
	s := open()
	until := testNow.Add(time.Hour)
	if used, err := s.Consumed(nonceN(1)); err != nil || used {
		t.Fatalf("fresh store: %v %v", used, err)
	}
	if err := s.Consume(nonceN(1), until); err != nil {
		t.Fatal(err)
	}
	if err := s.Consume(nonceN(1), until); !errors.Is(err, ErrNonceConsumed) {
		t.Fatalf("second consume: %v", err)
	}
	if used, err := s.Consumed(nonceN(1)); err != nil || !used {
		t.Fatalf("after consume: %v %v", used, err)
	}
	if used, _ := s.Consumed(nonceN(2)); used {
		t.Fatal("another nonce consumed")
	}
	// Concurrent consumers of one nonce: exactly one wins.
	var wg sync.WaitGroup
	wins := make(chan int, 8)
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			if err := open().Consume(nonceN(3), until); err == nil {
				wins <- i
			} else if !errors.Is(err, ErrNonceConsumed) {
				t.Error(err)
			}
		}(i)
	}
	wg.Wait()
	close(wins)
	if n := len(wins); n != 1 {
		t.Fatalf("%d concurrent consumers won", n)
	}
}

func TestMemNonceStore(t *testing.T) {
	s := &MemNonceStore{}
	nonceStoreSuite(t, func() NonceStore { return s })
}

func TestFileNonceStore(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state")
	open := func() NonceStore {
		s, err := OpenFileNonceStore(dir, func() time.Time { return testNow })
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	nonceStoreSuite(t, open)
	fi, err := os.Stat(dir)
	if err != nil || fi.Mode().Perm() != 0o700 {
		t.Fatalf("state dir: %v %v", fi, err)
	}
}

func TestFileNonceStorePrunes(t *testing.T) {
	dir := t.TempDir()
	now := testNow
	s, _ := OpenFileNonceStore(dir, func() time.Time { return now })
	for i := 0; i < 4; i++ {
		if err := s.Consume(nonceN(i), testNow.Add(time.Duration(i)*time.Hour)); err != nil {
			t.Fatal(err)
		}
	}
	now = testNow.Add(150*time.Minute + PruneMargin) // nonces 0, 1 and 2 are a margin past their keep-until
	if err := s.Consume(nonceN(10), now.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(filepath.Join(dir, NonceFile))
	if got := strings.Count(string(data), "\n"); got != 4 { // header, two records, end
		t.Fatalf("after pruning %d lines remain:\n%s", got, data)
	}
	for i, want := range map[int]bool{3: true, 10: true, 0: false} {
		if used, _ := s.Consumed(nonceN(i)); used != want {
			t.Errorf("nonce %d consumed=%v, want %v", i, used, want)
		}
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 2 {
		t.Errorf("state directory after pruning: %v", entries)
	}
}

func TestFileNonceStoreMissingDir(t *testing.T) {
	s, err := OpenFileNonceStore(filepath.Join(t.TempDir(), "none"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if used, err := s.Consumed(nonceN(1)); err != nil || used {
		t.Fatalf("%v %v", used, err)
	}
	if _, err := OpenFileNonceStore("", nil); err == nil {
		t.Fatal("empty state dir accepted")
	}
}

// TestFileNonceStoreCheckWritesNothing: Consumed is what signatures verify
// calls, often as another user (root, through sudo) than the service. It
// must create nothing in the state directory: a lock file created by root
// would lock the service out of its own store, and then every signed step
// would fail.
func TestFileNonceStoreCheckWritesNothing(t *testing.T) {
	dir := t.TempDir()
	s, _ := OpenFileNonceStore(dir, func() time.Time { return testNow })
	if used, err := s.Consumed(nonceN(1)); err != nil || used {
		t.Fatalf("empty store: %v %v", used, err)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Fatalf("checking an empty store created %v", entries)
	}
	if err := s.Consume(nonceN(1), testNow.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(dir, NonceFile+".lock")); err != nil {
		t.Fatal(err)
	}
	if used, err := s.Consumed(nonceN(1)); err != nil || !used {
		t.Fatalf("after consume: %v %v", used, err)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 || entries[0].Name() != NonceFile {
		t.Fatalf("checking a store left %v in the state directory", entries)
	}
}
