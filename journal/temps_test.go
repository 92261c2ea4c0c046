package journal

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/felhom/felhom-converge/atomicfile"
	"github.com/felhom/felhom-converge/trust"
)

// Open, which holds the run lock, removes the temporary files killed
// writers left in the state directory: those of files only a lock holder
// writes at any age, every other one once it is atomicfile.StaleAge old
// (another process may be writing it without the lock), two levels deep.
func TestOpenRemovesStaleTemps(t *testing.T) {
	if nonceFile != trust.NonceFile {
		t.Fatalf("the journal names trust's nonce store %q, trust %q", nonceFile, trust.NonceFile)
	}
	dir := t.TempDir()
	old := time.Now().Add(-atomicfile.StaleAge - time.Minute)
	files := map[string]bool{ // path ("old/": last modified past the bound) → removed
		".consumed-nonces.tmp123":                    true, // young, but only a lock holder writes it
		".journal.log.tmp1":                          true,
		".journal.anchor.tmp2":                       true,
		".journal.log.torn.tmp3":                     true,
		".last-run.json.tmp4":                        false, // young: a run that released the lock may be writing it
		"old/.last-run.json.tmp5":                    true,
		"requests/.guest.destroy-110-a.req.tmp6":     false,
		"old/requests/.guest.destroy-110-b.req.tmp7": true,
		"old/desired/.host.hcl.pull.json.tmp8":       true,
		"old/signatures/spent/.x.req.sig.tmp9":       true,  // two levels down
		"old/a/b/c/.deep.tmp10":                      false, // three
		"old/requests/keep.req":                      false,
	}
	paths := map[string]bool{}
	for name, removed := range files {
		rel, isOld := name, false
		if len(name) > 4 && name[:4] == "old/" {
			rel, isOld = name[4:], true
		}
		p := filepath.Join(dir, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte("x"), 0o600); err != nil {
			t.Fatal(err)
		}
		if isOld {
			if err := os.Chtimes(p, old, old); err != nil {
				t.Fatal(err)
			}
		}
		paths[p] = removed
	}
	openJournal(t, dir, Options{})
	for p, removed := range paths {
		if _, err := os.Stat(p); os.IsNotExist(err) != removed {
			t.Errorf("%s: removed %v, want %v", p, os.IsNotExist(err), removed)
		}
	}
}
