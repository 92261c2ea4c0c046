// Package hostexec runs the commands the tool starts: the host commands of
// proxmox.Privileged (Runner) and, on an operator's workstation,
// ssh-keygen -Y sign (SSHKeygen). It is the only package of the module
// that imports os/exec, so the API client in package proxmox provably
// cannot start a process.
//
// Commands run with an argument vector, never through a shell; the host
// commands with a fixed minimal environment (PATH of the system
// directories, LC_ALL=C so the tools' output parses the same everywhere).
package hostexec

import (
	"bytes"
	"context"
	"errors"
	"os/exec"
	"syscall"
	"time"
)

// Runner implements proxmox.Runner with os/exec.
type Runner struct {
	// WaitDelay bounds how long Run waits for the command's output once
	// the command has exited while something it started still holds its
	// stdout or stderr open, such as a helper that mount leaves running; a
	// command that exited 0 then still succeeds, with the output read so
	// far. When ctx ends, the command gets SIGTERM, and SIGKILL if it is
	// still running WaitDelay later. Default 5s.
	WaitDelay time.Duration
}

// env is the whole environment of every command.
var env = []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "LC_ALL=C"}

// Run runs argv[0] (an absolute path) with the arguments argv[1:] and
// returns its stdout and stderr. A non-zero exit is an *exec.ExitError,
// whose ExitCode method Privileged reads.
func (r Runner) Run(ctx context.Context, argv []string) (stdout, stderr []byte, err error) {
	if len(argv) == 0 {
		return nil, nil, errors.New("hostexec: empty command")
	}
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Env = env
	// On cancel, ask the command to stop (pct cleans up on SIGTERM) and
	// kill it only if it has not ended WaitDelay later.
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = r.WaitDelay
	if cmd.WaitDelay <= 0 {
		cmd.WaitDelay = 5 * time.Second
	}
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err = cmd.Run()
	if errors.Is(err, exec.ErrWaitDelay) {
		err = nil // exited 0; only a leftover child held the output open
	}
	return out.Bytes(), errb.Bytes(), err
}
