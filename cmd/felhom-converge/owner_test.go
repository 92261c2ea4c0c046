package main

import (
	"bytes"
	"errors"
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// Run by hand as root on a state directory that belongs to the service
// user, every command that writes there runs as that user: nothing in the
// directory belongs to root afterwards, and the service's next run (as
// that user) works. Another user is refused with the command to run.
func TestRootRunsAsStateOwner(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: it runs the command as root and as two other users")
	}
	const owner, stranger = 65534, 65533
	base, err := os.MkdirTemp("", "owner")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(base) })
	bin := filepath.Join(base, "felhom-converge")
	copyExecutable(t, bin)
	desired := filepath.Join(base, "demo.hcl")
	copyFile(t, "../../examples/demo.hcl", desired, 0o644)
	sim, state := filepath.Join(base, "sim"), filepath.Join(base, "sim", "state")
	for dir, mode := range map[string]fs.FileMode{base: 0o755, sim: 0o755, state: 0o700} {
		if err := os.MkdirAll(dir, mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(dir, mode); err != nil {
			t.Fatal(err)
		}
	}
	for _, dir := range []string{sim, state} { // as the package's postinst does
		if err := os.Chown(dir, owner, owner); err != nil {
			t.Fatal(err)
		}
	}
	var env []string // for the next runs, besides the basics
	run := func(uid int, want int, args ...string) string {
		t.Helper()
		cmd := exec.Command(bin, args...)
		cmd.Dir = base
		cmd.Env = append([]string{"PATH=/usr/bin:/bin", "HOME=" + base, "GORACE=atexit_sleep_ms=0"}, env...)
		if uid != 0 {
			cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(uid), Gid: uint32(uid)}}
		}
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		err := cmd.Run()
		code := 0
		var exit *exec.ExitError
		if errors.As(err, &exit) {
			code = exit.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		if code != want {
			t.Fatalf("%v as uid %d: exit %d, want %d\n%s", args, uid, code, want, out.String())
		}
		return out.String()
	}

	// Root, by hand: each command that writes the state directory.
	run(0, exitOK, "plan", "--sim", sim, desired)                       // writes a signature request
	run(0, exitPending, "apply", "--sim", sim, desired)                 // journal, audit, last run
	run(0, exitOK, "recover", "--sim", sim)                             // takes the lock
	run(0, exitOK, "selftest", "--sim", sim, "--task", "--vmid", "110") // the task lock
	// pull into the state directory, with a hub token only root may read.
	const hubToken = "s3cr3t-hub-token"
	demo, err := os.ReadFile(desired)
	if err != nil {
		t.Fatal(err)
	}
	hub := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer "+hubToken {
			http.Error(w, "no", http.StatusUnauthorized)
			return
		}
		w.Write(demo)
	}))
	t.Cleanup(hub.Close)
	tokenFile := filepath.Join(base, "hub-token")
	if err := os.WriteFile(tokenFile, []byte(hubToken), 0o600); err != nil {
		t.Fatal(err)
	}
	env = []string{"FELHOM_CONVERGE_HOST=pve-demo", "FELHOM_CONVERGE_STATE_DIR=" + state}
	pulled := filepath.Join(state, "desired", "host.hcl")
	run(0, exitOK, "pull", hub.URL+"/demo.hcl", "--to", pulled, "--token-file", tokenFile)
	env = nil

	var rootOwned []string
	filepath.WalkDir(sim, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			t.Fatal(err)
		}
		if fi, err := d.Info(); err == nil && fi.Sys().(*syscall.Stat_t).Uid != owner {
			rootOwned = append(rootOwned, path)
		}
		return nil
	})
	if len(rootOwned) > 0 {
		t.Errorf("after root's runs, not owned by uid %d: %s", owner, strings.Join(rootOwned, ", "))
	}
	if _, err := os.Stat(filepath.Join(state, "journal.log")); err != nil {
		t.Errorf("root's apply left no journal: %v", err)
	}

	if _, err := os.Stat(pulled); err != nil {
		t.Errorf("root's pull left no desired file: %v", err)
	}

	// The timer's next run, as the service user.
	env = []string{"FELHOM_CONVERGE_HOST=pve-demo", "FELHOM_CONVERGE_STATE_DIR=" + state, "FELHOM_CONVERGE_HUB_TOKEN=" + hubToken}
	run(owner, exitOK, "pull", hub.URL+"/demo.hcl", "--to", pulled)
	env = nil
	run(owner, exitPending, "apply", "--sim", sim, pulled)
	run(owner, exitOK, "status", "--sim", sim)

	// Another user is refused, with the command to run instead; never a
	// chown that would take the directory from the service.
	out := run(stranger, exitError, "apply", "--sim", sim, desired)
	for _, want := range []string{"belongs to nobody", "sudo felhom-converge apply --sim " + sim + " " + desired} {
		if !strings.Contains(out, want) {
			t.Errorf("refusal for uid %d does not say %q:\n%s", stranger, want, out)
		}
	}
	if strings.Contains(out, "chown") {
		t.Errorf("refusal for uid %d advises a chown:\n%s", stranger, out)
	}
}

// copyExecutable copies the test binary, which plays felhom-converge (see
// TestMain), to path, where other users may run it.
func copyExecutable(t *testing.T, path string) {
	t.Helper()
	exe, err := exec.LookPath("felhom-converge")
	if err != nil {
		t.Fatalf("the test binary is not on PATH as felhom-converge: %v", err)
	}
	copyFile(t, exe, path, 0o755)
}

func copyFile(t *testing.T, from, to string, mode fs.FileMode) {
	t.Helper()
	src, err := os.Open(from)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	dst, err := os.OpenFile(to, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(dst, src); err != nil {
		t.Fatal(err)
	}
	if err := dst.Close(); err != nil {
		t.Fatal(err)
	}
}
