package hostexec

import (
	"fmt"
	"io"
	"os/exec"
)

// SSHKeygen signs files with the operator's stock 'ssh-keygen -Y sign -n
// NAMESPACE -f Key FILE...', which writes FILE.sig beside each (a
// trust.Keygen). Unlike Runner it runs on the operator's workstation, with
// the operator's environment (ssh-agent's socket, a FIDO key's helper),
// and its prompts (a passphrase, a touch) reach the terminal: Stdin is
// passed on, and its output goes to Stderr.
type SSHKeygen struct {
	Key    string
	Stdin  io.Reader
	Stderr io.Writer
}

// Sign runs ssh-keygen once for all files.
func (k SSHKeygen) Sign(namespace string, files []string) error {
	cmd := exec.Command("ssh-keygen", append([]string{"-Y", "sign", "-n", namespace, "-f", k.Key}, files...)...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = k.Stdin, k.Stderr, k.Stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("ssh-keygen -Y sign -n %s -f %s: %w", namespace, k.Key, err)
	}
	return nil
}
