package progress

import (
	"os"
	"path/filepath"
	"testing"
)

// TestIsTerminalOnlyForATerminal: /dev/null is a character device but no
// terminal (cron and 'ssh -n' give it as stdin); a pipe and a file are not
// terminals either; a pseudo-terminal is.
func TestIsTerminalOnlyForATerminal(t *testing.T) {
	null, err := os.Open(os.DevNull)
	if err != nil {
		t.Fatal(err)
	}
	defer null.Close()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	file, err := os.Create(filepath.Join(t.TempDir(), "out"))
	if err != nil {
		t.Fatal(err)
	}
	defer file.Close()
	for name, f := range map[string]*os.File{"/dev/null": null, "pipe": w, "file": file} {
		if IsTerminal(f) {
			t.Errorf("IsTerminal(%s) = true", name)
		}
	}
	if IsTerminal(&fakeTerminal{}) {
		t.Error("IsTerminal of a writer that is no file = true")
	}

	ptmx, err := os.OpenFile("/dev/ptmx", os.O_RDWR, 0)
	if err != nil {
		t.Skipf("no pseudo-terminal to check against: %v", err)
	}
	defer ptmx.Close()
	if !IsTerminal(ptmx) {
		t.Error("IsTerminal(/dev/ptmx) = false")
	}
}
