package journal

import (
	"errors"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

func TestOpenStateDirCreates0700(t *testing.T) {
	path := filepath.Join(t.TempDir(), "a", "state")
	d, err := OpenStateDir(path)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Lstat(path)
	if err != nil {
		t.Fatal(err)
	}
	if !fi.IsDir() || fi.Mode().Perm() != 0o700 {
		t.Errorf("created %v, want a directory with mode 0700", fi.Mode())
	}
	if d.Path() != path || d.ReadOnly() {
		t.Errorf("Path %q ReadOnly %v", d.Path(), d.ReadOnly())
	}
	f, err := d.OpenFile("x", os.O_RDWR|os.O_CREATE)
	if err != nil {
		t.Fatal(err)
	}
	f.Close()
	if fi, _ := os.Stat(filepath.Join(path, "x")); fi.Mode().Perm() != 0o600 {
		t.Errorf("file mode %v, want 0600", fi.Mode().Perm())
	}
}

func wantUnsafe(t *testing.T, err error, reason string) {
	t.Helper()
	var ue *UnsafeError
	if !errors.As(err, &ue) {
		t.Fatalf("got %v, want an *UnsafeError", err)
	}
	if !errors.Is(err, ErrUnsafe) {
		t.Errorf("errors.Is(err, ErrUnsafe) is false")
	}
	if !strings.Contains(ue.Reason, reason) {
		t.Errorf("reason %q, want it to say %q", ue.Reason, reason)
	}
	if ue.Fix == "" {
		t.Errorf("%v: says nothing about what to do", err)
	}
}

func TestOpenStateDirRefusesForeignWritable(t *testing.T) {
	for _, mode := range []fs.FileMode{0o777, 0o770, 0o702} {
		path := filepath.Join(t.TempDir(), "state")
		if err := os.Mkdir(path, 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(path, mode); err != nil {
			t.Fatal(err)
		}
		_, err := OpenStateDir(path)
		wantUnsafe(t, err, "group- or world-writable")
		if !strings.Contains(err.Error(), "chmod 0700") {
			t.Errorf("%v: does not say how to fix it", err)
		}
		_, err = InspectStateDir(path)
		wantUnsafe(t, err, "group- or world-writable")
	}
}

func TestOpenStateDirRefusesSymlinkAndFile(t *testing.T) {
	base := t.TempDir()
	real := filepath.Join(base, "real")
	if err := os.Mkdir(real, 0o700); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(base, "link")
	if err := os.Symlink(real, link); err != nil {
		t.Fatal(err)
	}
	_, err := OpenStateDir(link)
	wantUnsafe(t, err, "symbolic link")
	_, err = InspectStateDir(link)
	wantUnsafe(t, err, "symbolic link")

	file := filepath.Join(base, "file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	_, err = OpenStateDir(file)
	wantUnsafe(t, err, "not a directory")
}

func TestOpenStateDirRefusesWorldWritableParent(t *testing.T) {
	parent := filepath.Join(t.TempDir(), "shared")
	if err := os.Mkdir(parent, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(parent, 0o777); err != nil {
		t.Fatal(err)
	}
	_, err := OpenStateDir(filepath.Join(parent, "state"))
	wantUnsafe(t, err, "anyone may write")
	// With the sticky bit (as /tmp) nobody else may rename it away.
	if err := os.Chmod(parent, 0o777|fs.ModeSticky); err != nil {
		t.Fatal(err)
	}
	if _, err := OpenStateDir(filepath.Join(parent, "state")); err != nil {
		t.Fatal(err)
	}
}

func TestInspectStateDirCreatesNothing(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state")
	_, err := InspectStateDir(path)
	if !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("got %v, want not-exist", err)
	}
	if _, err := os.Lstat(path); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("InspectStateDir created %s", path)
	}
	if err := os.Mkdir(path, 0o700); err != nil {
		t.Fatal(err)
	}
	d, err := InspectStateDir(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.OpenFile("x", os.O_RDWR|os.O_CREATE); err == nil {
		t.Fatal("a read-only state directory opened a file for writing")
	}
	if _, err := d.Lock(t.Context(), 0); err == nil {
		t.Fatal("a read-only state directory took the lock")
	}
}

func TestOpenFileRefusesUnsafeFiles(t *testing.T) {
	dir := t.TempDir()
	d, err := OpenStateDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	target := filepath.Join(t.TempDir(), "elsewhere")
	if err := os.WriteFile(target, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(target, filepath.Join(dir, "link")); err != nil {
		t.Fatal(err)
	}
	_, err = d.OpenFile("link", os.O_RDWR|os.O_CREATE)
	wantUnsafe(t, err, "symbolic link")
	if !strings.Contains(err.Error(), "remove it") {
		t.Errorf("fix for a link: %v", err)
	}
	// A linked journal is not removed: that would lose its records.
	if err := os.Symlink(target, filepath.Join(dir, LogFile)); err != nil {
		t.Fatal(err)
	}
	_, err = d.OpenFile(LogFile, os.O_RDWR|os.O_CREATE)
	wantUnsafe(t, err, "symbolic link")
	if !strings.Contains(err.Error(), "replace the link with the file it points to") || strings.Contains(err.Error(), "remove it;") {
		t.Errorf("fix for a linked journal: %v", err)
	}

	if err := syscall.Mkfifo(filepath.Join(dir, "fifo"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err = d.OpenFile("fifo", os.O_RDONLY) // must not block
	wantUnsafe(t, err, "not a regular file")

	if err := os.WriteFile(filepath.Join(dir, "loose"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(filepath.Join(dir, "loose"), 0o666); err != nil {
		t.Fatal(err)
	}
	_, err = d.OpenFile("loose", os.O_RDONLY)
	wantUnsafe(t, err, "group- or world-writable")

	for _, bad := range []string{"", ".", "..", "a/b", "../x"} {
		if _, err := d.OpenFile(bad, os.O_RDONLY); err == nil {
			t.Errorf("OpenFile(%q) accepted a name that is not a plain file name", bad)
		}
	}
}

// The ownership checks with a real second user: as root, run the test
// binary as nobody (65534) against a directory root owns, and open a
// directory nobody owns as root.
func TestOpenStateDirRefusesForeignOwner(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to run a process as a second uid")
	}
	const nobody = 65534
	base, err := os.MkdirTemp("", "journal-uid")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(base) })
	if err := os.Chmod(base, 0o755); err != nil {
		t.Fatal(err)
	}
	// A copy of the test binary the second user may execute.
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	src, err := os.Open(exe)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	bin := filepath.Join(base, "journal.test")
	dst, err := os.OpenFile(bin, os.O_WRONLY|os.O_CREATE, 0o755)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(dst, src); err != nil {
		t.Fatal(err)
	}
	if err := dst.Close(); err != nil {
		t.Fatal(err)
	}
	asNobody := func(dir string, env ...string) string {
		cmd := exec.Command(bin, "-test.run=^$")
		cmd.Env = append(append(os.Environ(), "JOURNAL_TEST_HELPER=statedir", "JOURNAL_TEST_DIR="+dir, helperGorace), env...)
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: nobody, Gid: nobody}}
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("helper as uid %d: %v\n%s", nobody, err, out)
		}
		return strings.TrimSpace(string(out))
	}

	rootOwned := filepath.Join(base, "root-owned")
	if err := os.Mkdir(rootOwned, 0o755); err != nil {
		t.Fatal(err)
	}
	if got := asNobody(rootOwned); !strings.Contains(got, "unsafe: belongs to root, not to nobody who runs this") {
		t.Errorf("uid %d on a root-owned state directory: %s", nobody, got)
	}
	// Not even for reading: only root reads another user's journal.
	if got := asNobody(rootOwned, "JOURNAL_TEST_INSPECT=1"); !strings.Contains(got, "unsafe: belongs to root, not to nobody who runs this") {
		t.Errorf("uid %d inspecting a root-owned state directory: %s", nobody, got)
	}
	// Writable by the other user through its mode: refused by mode.
	if err := os.Chmod(rootOwned, 0o777); err != nil {
		t.Fatal(err)
	}
	_, err = OpenStateDir(rootOwned)
	wantUnsafe(t, err, "group- or world-writable")

	nobodyOwned := filepath.Join(base, "nobody-owned")
	if err := os.Mkdir(nobodyOwned, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(nobodyOwned, nobody, nobody); err != nil {
		t.Fatal(err)
	}
	if got := asNobody(nobodyOwned); got != "accepted" {
		t.Errorf("uid %d on its own state directory: %s", nobody, got)
	}
	_, err = OpenStateDir(nobodyOwned)
	wantUnsafe(t, err, "belongs to nobody, not to root who runs this")
	// The fix names the owner to run as, never a chown that would take
	// the directory from the service.
	if msg := err.Error(); !strings.Contains(msg, "run felhom-converge as nobody") || strings.Contains(msg, "chown") {
		t.Errorf("the fix for another user's directory: %s", msg)
	}
	// Reading is allowed: root reads the service user's journal.
	if _, err := InspectStateDir(nobodyOwned); err != nil {
		t.Errorf("InspectStateDir as root on uid %d's directory: %v", nobody, err)
	}
}
