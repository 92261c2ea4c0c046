package main

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// startCommand starts the real command line in a child process (the test
// binary plays felhom-converge, see TestMain) and returns it with its
// stderr, after giving it time to install its signal handling.
func startCommand(t *testing.T, stdin *os.File, args ...string) (*exec.Cmd, *bytes.Buffer) {
	t.Helper()
	bin, err := exec.LookPath("felhom-converge")
	if err != nil {
		t.Fatalf("the test binary is not on PATH as felhom-converge: %v", err)
	}
	cmd := exec.Command(bin, args...)
	var stderr bytes.Buffer
	ready := filepath.Join(t.TempDir(), "signals-ready")
	cmd.Stdin, cmd.Stderr = stdin, &stderr
	cmd.Env = append(os.Environ(), "FELHOM_CONVERGE_CONFIG=", "FELHOM_CONVERGE_TEST_SIGNALS_READY="+ready)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	// Signal it only once it handles signals (a loaded machine may take a
	// while to start it), and once it is at work.
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if _, err := os.Stat(ready); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the command never got to handle signals\n%s", &stderr)
		}
	}
	time.Sleep(100 * time.Millisecond)
	return cmd, &stderr
}

// stopsOnSIGTERM sends SIGTERM to cmd, which must be still running, and
// checks that it exits within 2 s with exitInterrupted and says why:
// through its context when viaContext, else through the grace period.
func stopsOnSIGTERM(t *testing.T, cmd *exec.Cmd, stderr *bytes.Buffer, viaContext bool) {
	t.Helper()
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatalf("the command had already ended: %v\n%s", err, stderr)
	}
	sent := time.Now()
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	var err error
	select {
	case err = <-done:
	case <-time.After(10 * time.Second):
		t.Fatalf("still running 10s after SIGTERM\n%s", stderr)
	}
	if took := time.Since(sent); took > 2*time.Second {
		t.Errorf("stopped %s after SIGTERM, want within 2s", took)
	}
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != exitInterrupted {
		t.Fatalf("exit: %v, want status %d\n%s", err, exitInterrupted, stderr)
	}
	if !strings.Contains(stderr.String(), "felhom-converge: error: interrupted") {
		t.Errorf("stderr does not say it was interrupted:\n%s", stderr)
	}
	if graced := strings.Contains(stderr.String(), "did not stop within"); graced == viaContext {
		t.Errorf("stopped through the grace period: %v, want %v\n%s", graced, !viaContext, stderr)
	}
}

// TestSIGTERMStopsValidate sends SIGTERM to a validate of slow files (each
// as many tokens as the bounds allow, so loading them takes a while): it
// stops at once, exit 130, instead of finishing them.
func TestSIGTERMStopsValidate(t *testing.T) {
	dir := t.TempDir()
	var b strings.Builder
	b.WriteString("host \"pve-demo\" {\n  node = \"pve\"\n}\nlocals {\n  x = [")
	for b.Len() < 500_000 {
		b.WriteString("1,")
	}
	b.WriteString("1]\n}\n")
	var files []string
	for i := range 20 {
		name := filepath.Join(dir, fmt.Sprintf("slow%02d.hcl", i))
		if err := os.WriteFile(name, []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
		files = append(files, name)
	}
	cmd, stderr := startCommand(t, nil, append([]string{"validate"}, files...)...)
	stopsOnSIGTERM(t, cmd, stderr, true)
}

// TestSIGTERMStopsVerifyBlockedOnAFIFO sends SIGTERM to a 'signatures
// verify --raw' blocked reading its message from a pipe nobody writes.
func TestSIGTERMStopsVerifyBlockedOnAFIFO(t *testing.T) {
	if _, err := exec.LookPath("ssh-keygen"); err != nil {
		t.Skip("needs ssh-keygen")
	}
	dir := t.TempDir()
	key, msg, signers := filepath.Join(dir, "key"), filepath.Join(dir, "msg"), filepath.Join(dir, "allowed_signers")
	sig := msg + ".sig"
	if err := os.WriteFile(msg, []byte("hello\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{
		{"-q", "-t", "ed25519", "-N", "", "-C", "", "-f", key},
		{"-q", "-Y", "sign", "-n", "felhom-operational", "-f", key, msg},
	} {
		if out, err := exec.Command("ssh-keygen", args...).CombinedOutput(); err != nil {
			t.Fatalf("ssh-keygen %v: %v\n%s", args, err, out)
		}
	}
	pub, err := os.ReadFile(key + ".pub")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(signers, []byte("alice@ops namespaces=\"felhom-operational\" "+string(pub)), 0o644); err != nil {
		t.Fatal(err)
	}
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close() // held open: the reader waits for more
	defer r.Close()
	cmd, stderr := startCommand(t, r, "signatures", "verify", "--raw", "--allowed-signers", signers,
		"--principal", "alice@ops", "--namespace", "felhom-operational", "--signature", sig)
	// Nothing reaches a read blocked on a pipe: the grace period ends it.
	stopsOnSIGTERM(t, cmd, stderr, false)
}
