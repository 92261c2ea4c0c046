package hub

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The hub token file is read only when it is a regular file, opened
// without following a link: a FIFO or a link to /dev/zero is an error at
// once, never a hang or a read without end.
func TestHubTokenFileMustBeRegular(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Skip(err)
	}
	link := filepath.Join(dir, "link")
	if err := os.Symlink("/dev/zero", link); err != nil {
		t.Fatal(err)
	}
	good := filepath.Join(dir, "token")
	os.WriteFile(good, []byte("  abc  \n"), 0o600)
	noenv := func(string) string { return "" }
	for _, name := range []string{fifo, link, "/dev/zero"} {
		done := make(chan error, 1)
		go func() { _, err := Token(noenv, name); done <- err }()
		select {
		case err := <-done:
			if err == nil || !strings.Contains(err.Error(), "not a regular file") {
				t.Errorf("%s: err = %v", name, err)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("%s: reading the token hangs", name)
		}
	}
	if tok, err := Token(noenv, good); err != nil || tok.Reveal() != "abc" {
		t.Errorf("a regular file: %v", err)
	}
}

// A token file named by --token-file wins over FELHOM_CONVERGE_HUB_TOKEN,
// which wins over the systemd credential.
func TestHubTokenOrder(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "token")
	os.WriteFile(file, []byte("from-file\n"), 0o600)
	os.WriteFile(filepath.Join(dir, CredentialName), []byte("from-credential\n"), 0o600)
	env := map[string]string{"FELHOM_CONVERGE_HUB_TOKEN": "from-env", "CREDENTIALS_DIRECTORY": dir}
	getenv := func(k string) string { return env[k] }
	for _, c := range []struct{ file, want string }{{file, "from-file"}, {"", "from-env"}} {
		if tok, err := Token(getenv, c.file); err != nil || tok.Reveal() != c.want {
			t.Errorf("file %q: got %q, %v; want %q", c.file, tok.Reveal(), err, c.want)
		}
	}
	delete(env, "FELHOM_CONVERGE_HUB_TOKEN")
	if tok, err := Token(getenv, ""); err != nil || tok.Reveal() != "from-credential" {
		t.Errorf("credential: got %q, %v", tok.Reveal(), err)
	}
}
