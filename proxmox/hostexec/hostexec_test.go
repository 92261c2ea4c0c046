package hostexec_test

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/felhom/felhom-converge/proxmox"
	"github.com/felhom/felhom-converge/proxmox/hostexec"
)

// script writes an executable shell script standing in for a host tool.
func script(t *testing.T, name, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte("#!/bin/sh\n"+body+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestRunOutputsAndExitCode(t *testing.T) {
	p := script(t, "tool", `echo "out:$1"; echo "env:$LC_ALL:$HOME"; echo "err" >&2; exit 3`)
	out, errOut, err := hostexec.Runner{}.Run(context.Background(), []string{p, "a b"})
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 3 {
		t.Fatalf("err %v, want exit status 3", err)
	}
	// The argument arrives as one word (no shell in between), and the
	// environment is the fixed minimal one.
	if string(out) != "out:a b\nenv:C:\n" || string(errOut) != "err\n" {
		t.Fatalf("stdout %q stderr %q", out, errOut)
	}
}

// A command that exits while a child it started still holds stdout does
// not hang the run: it succeeds once WaitDelay has passed.
func TestRunLeftoverChildDoesNotHang(t *testing.T) {
	p := script(t, "tool", `sleep 3 & echo started`)
	start := time.Now()
	out, _, err := hostexec.Runner{WaitDelay: 100 * time.Millisecond}.Run(context.Background(), []string{p})
	if err != nil || string(out) != "started\n" {
		t.Fatalf("stdout %q, err %v", out, err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("Run took %s: it waited for the leftover child", d)
	}
}

// A command that fails still fails when a leftover child holds its output.
func TestRunLeftoverChildKeepsExitCode(t *testing.T) {
	p := script(t, "tool", `sleep 3 & exit 4`)
	_, _, err := hostexec.Runner{WaitDelay: 100 * time.Millisecond}.Run(context.Background(), []string{p})
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 4 {
		t.Fatalf("err %v, want exit status 4", err)
	}
}

// A cancelled command is asked to stop with SIGTERM first, so it can
// clean up; one that ignores it is killed WaitDelay later.
func TestRunCancelTermsThenKills(t *testing.T) {
	polite := script(t, "tool", `trap 'echo cleaned up; exit 7' TERM; echo ready; : > "$1"; while :; do sleep 0.05; done`)
	stubborn := script(t, "tool", `trap '' TERM; echo ready; : > "$1"; while :; do sleep 0.05; done`)
	for _, tc := range []struct {
		name, path string
		wantOut    string
	}{
		{"cleans up on SIGTERM", polite, "ready\ncleaned up\n"},
		{"ignores SIGTERM and is killed", stubborn, "ready\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ready := filepath.Join(t.TempDir(), "ready")
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			go func() { // cancel once the trap is in place
				for {
					if _, err := os.Stat(ready); err == nil {
						cancel()
						return
					}
					select {
					case <-ctx.Done():
						return
					case <-time.After(10 * time.Millisecond):
					}
				}
			}()
			start := time.Now()
			out, _, err := hostexec.Runner{WaitDelay: 300 * time.Millisecond}.Run(ctx, []string{tc.path, ready})
			if err == nil || string(out) != tc.wantOut {
				t.Fatalf("stdout %q, err %v", out, err)
			}
			if d := time.Since(start); d > 10*time.Second {
				t.Fatalf("took %s", d)
			}
		})
	}
}

func TestRunEmpty(t *testing.T) {
	if _, _, err := (hostexec.Runner{}).Run(context.Background(), nil); err == nil {
		t.Fatal("ran an empty command")
	}
}

// Privileged with the real runner: sensors' JSON is parsed, and a failing
// tool's exit code and stderr reach the CommandError.
func TestPrivilegedWithRealRunner(t *testing.T) {
	ok := script(t, "sensors", `echo '{"acpitz-acpi-0":{"Adapter":"ACPI interface","temp1":{"temp1_input":27.8}}}'`)
	p, err := proxmox.NewPrivileged(proxmox.ModeDirect, hostexec.Runner{}, proxmox.Tools{Sensors: ok})
	if err != nil {
		t.Fatal(err)
	}
	chips, err := p.Sensors(context.Background())
	if err != nil || len(chips) != 1 || chips[0].Adapter != "ACPI interface" {
		t.Fatalf("Sensors = %+v, %v", chips, err)
	}

	bad := script(t, "sensors", `echo "No sensors found!" >&2; exit 1`)
	p, err = proxmox.NewPrivileged(proxmox.ModeDirect, hostexec.Runner{}, proxmox.Tools{Sensors: bad})
	if err != nil {
		t.Fatal(err)
	}
	_, err = p.Sensors(context.Background())
	var ce *proxmox.CommandError
	if !errors.As(err, &ce) || ce.ExitCode != 1 || ce.Stderr != "No sensors found!" || !strings.Contains(err.Error(), bad) {
		t.Fatalf("err %v", err)
	}
}
