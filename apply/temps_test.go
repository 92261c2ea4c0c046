package apply_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/felhom/felhom-converge/apply"
)

// Recover, the first thing a run holding the lock does, removes the
// temporary file a signers.rotate killed before its rename left beside
// the trust root, and nothing else there.
func TestRecoverRemovesTheTrustRootsTemporaryFile(t *testing.T) {
	e := newEnv(t)
	etc := t.TempDir()
	e.opts.AllowedSignersPath = filepath.Join(etc, "allowed_signers")
	leftover := filepath.Join(etc, ".allowed_signers.tmp1234")
	mine := filepath.Join(etc, ".config.hcl.tmp99")
	for _, p := range []string{e.opts.AllowedSignersPath, leftover, mine} {
		if err := os.WriteFile(p, []byte("x"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := apply.Recover(context.Background(), e.opts); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(leftover); !os.IsNotExist(err) {
		t.Errorf("the rotation's leftover is still there: %v", err)
	}
	for _, p := range []string{e.opts.AllowedSignersPath, mine} {
		if _, err := os.Stat(p); err != nil {
			t.Errorf("%s: %v", p, err)
		}
	}
}
