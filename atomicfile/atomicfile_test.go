package atomicfile

import (
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestWriteFileReplacesAndSetsMode(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "state.json")
	if err := WriteFile(path, []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := WriteFile(path, []byte("new"), 0o600); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(path)
	if err != nil || string(got) != "new" {
		t.Fatalf("content %q, %v", got, err)
	}
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o600 {
		t.Errorf("mode %v, want 0600", fi.Mode().Perm())
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("temporary files left behind: %v", entries)
	}
}

func TestWriteFileRefusesNonRegularTarget(t *testing.T) {
	dir := t.TempDir()
	if err := WriteFile(dir, []byte("x"), 0o600); err == nil {
		t.Fatal("replaced a directory")
	}
}

// RemoveStale removes the temporary files a killed WriteFile left, only
// for the targets named, only older than the cutoff (unless it is zero),
// and nothing that merely looks alike.
func TestRemoveStale(t *testing.T) {
	dir := t.TempDir()
	old := time.Now().Add(-2 * StaleAge)
	files := map[string]bool{ // name → removed by RemoveStale(dir, "*.req", an hour ago)
		".a.req.tmp123":      true,
		".b.req.tmp9":        true,
		".c.req.tmp42young":  false, // not WriteFile's name
		".d.req.tmpx":        false,
		".e.req.tmp":         false,
		".f.sig.tmp1":        false, // another target
		"g.req.tmp1":         false, // no dot: not WriteFile's
		".h.req":             false,
		".x.tmp.req.tmp7":    true,  // a name with .tmp in it
		".young.req.tmp5555": false, // written just now: maybe a write in progress
	}
	for name := range files {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte("x"), 0o600); err != nil {
			t.Fatal(err)
		}
		if name != ".young.req.tmp5555" {
			if err := os.Chtimes(p, old, old); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := os.Mkdir(filepath.Join(dir, ".dir.req.tmp1"), 0o700); err != nil {
		t.Fatal(err)
	}
	removed := RemoveStale(dir, "*.req", time.Now().Add(-StaleAge))
	for name, want := range files {
		_, err := os.Stat(filepath.Join(dir, name))
		if gone := os.IsNotExist(err); gone != want {
			t.Errorf("%s: removed %v, want %v", name, gone, want)
		}
	}
	if len(removed) != 3 {
		t.Errorf("removed %v", removed)
	}
	if _, err := os.Stat(filepath.Join(dir, ".dir.req.tmp1")); err != nil {
		t.Error("removed a directory")
	}
	// A zero cutoff: any age.
	if got := RemoveStale(dir, "young.req", time.Time{}); len(got) != 1 {
		t.Errorf("zero cutoff removed %v", got)
	}
}

// WriteFile removes its own target's leftovers once they are StaleAge
// old, and leaves younger ones (another writer's, maybe).
func TestWriteFileRemovesItsStaleTemps(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "last-run.json")
	stale := filepath.Join(dir, ".last-run.json.tmp111")
	young := filepath.Join(dir, ".last-run.json.tmp222")
	other := filepath.Join(dir, ".other.json.tmp333")
	for _, p := range []string{stale, young, other} {
		if err := os.WriteFile(p, nil, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	old := time.Now().Add(-StaleAge - time.Minute)
	for _, p := range []string{stale, other} {
		if err := os.Chtimes(p, old, old); err != nil {
			t.Fatal(err)
		}
	}
	if err := WriteFile(path, []byte("{}"), 0o600); err != nil {
		t.Fatal(err)
	}
	for p, gone := range map[string]bool{stale: true, young: false, other: false} {
		if _, err := os.Stat(p); os.IsNotExist(err) != gone {
			t.Errorf("%s: removed %v, want %v", p, os.IsNotExist(err), gone)
		}
	}
}

func TestSharedRemovesWhatAKilledWriterLeft(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "m.prom")
	for _, name := range []string{".m.prom.tmp123", "m.prom4567", "other.prom", ".other.tmp1"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte("x"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if err := Shared(path, []byte("new"), 0o644, "m.prom[0-9]*"); err != nil {
		t.Fatal(err)
	}
	entries, _ := os.ReadDir(dir)
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if strings.Join(names, " ") != ".other.tmp1 m.prom other.prom" {
		t.Errorf("left: %v", names)
	}
	if b, _ := os.ReadFile(path); string(b) != "new" {
		t.Errorf("content %q", b)
	}
}

func TestSharedWritersExcludeEachOther(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "state.json")
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for i := 0; i < 16; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			errs <- Shared(path, []byte(strings.Repeat("x", i+1)), 0o600)
		}(i)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err) // a writer's temporary file removed by another
		}
	}
}
