package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/felhom/felhom-converge/apply"
	"github.com/felhom/felhom-converge/config"
	"github.com/felhom/felhom-converge/ops"
	"github.com/felhom/felhom-converge/trust"
)

// Signature requests and verification; the work is in package trust.

type SignaturesCmd struct {
	Pending SignaturesPendingCmd `cmd:"" help:"Write every request waiting for a signature on this host as a bundle (stdout or -o FILE)."`
	Sign    SignaturesSignCmd    `cmd:"" help:"Sign a bundle's requests with ssh-keygen -Y sign, asking per request (on the operator's workstation; needs no host config)."`
	Install SignaturesInstallCmd `cmd:"" help:"Check a signed bundle's requests as verify does and install the accepted ones into the signatures directory."`
	Verify  SignaturesVerifyCmd  `cmd:"" help:"Check signed requests in a directory, or (with --raw) one signature like 'ssh-keygen -Y verify'."`
	Request SignaturesRequestCmd `cmd:"" help:"Write a canonical signature request for one step."`
}

type SignaturesVerifyCmd struct {
	SimFlag
	Signatures string `help:"Directory of <id>.req + <id>.req.sig pairs (default: the signatures directory in the state directory)." placeholder:"DIR" type:"path"`

	Raw            bool   `help:"Check one signature exactly like 'ssh-keygen -Y verify -f FILE -I P -n NS -s SIGFILE < MESSAGE'; the message is read from stdin."`
	AllowedSigners string `help:"With --raw: allowed_signers file (ssh-keygen -f)." placeholder:"FILE" type:"path"`
	Principal      string `help:"With --raw: signer principal (ssh-keygen -I)." placeholder:"P"`
	Namespace      string `help:"With --raw: signature namespace (ssh-keygen -n)." placeholder:"NS"`
	Signature      string `help:"With --raw: signature file (ssh-keygen -s)." placeholder:"SIGFILE" type:"path"`
	VerifyTime     string `help:"With --raw: check key validity at TIME (YYYYMMDD[HHMM[SS]][Z]; ssh-keygen -O verify-time=TIME)." placeholder:"TIME"`
	Revoked        string `help:"With --raw: revocation list of plain public keys (ssh-keygen -r)." placeholder:"FILE" type:"path"`
}

func (c *SignaturesVerifyCmd) Validate() error {
	raw := map[string]string{
		"--allowed-signers": c.AllowedSigners, "--principal": c.Principal, "--namespace": c.Namespace,
		"--signature": c.Signature, "--verify-time": c.VerifyTime, "--revoked": c.Revoked,
	}
	if c.Raw {
		for _, f := range []string{"--allowed-signers", "--principal", "--namespace", "--signature"} {
			if raw[f] == "" {
				return fmt.Errorf("--raw needs %s", f)
			}
		}
		if c.Signatures != "" || c.Sim != "" {
			return errors.New("--raw takes neither --signatures nor --sim")
		}
		return nil
	}
	for f, v := range raw {
		if v != "" {
			return fmt.Errorf("%s needs --raw", f)
		}
	}
	return nil
}

func (c *SignaturesVerifyCmd) Run(ctx context.Context, g *globals) error {
	if c.Raw {
		return c.runRaw(g, os.Stdin)
	}
	cfg, v, hostID, err := g.loadVerifier(ctx, c.Sim)
	if err != nil {
		return err
	}
	dir := c.Signatures
	if dir == "" {
		dir = trust.NewRequestDir(cfg.StateDir, nil).Signatures
	}
	ok, err := v.VerifyDir(cfg.Host, hostID, dir, c.Signatures == "", g.report())
	switch {
	case errors.As(err, new(*trust.DirReadError)):
		return withHint(err, "put <id>.req and its <id>.req.sig there, or name another directory with --signatures DIR")
	case err != nil:
		return err
	case !ok:
		return silentError{code: exitError}
	}
	return nil
}

// loadVerifier loads the config, checks that this host's name is known
// and returns the gate of the host as apply decides with it
// (apply.CheckingGate).
func (g *globals) loadVerifier(ctx context.Context, simDir string) (*config.Config, *trust.Verifier, string, error) {
	cfg, err := g.hostConfig(simDir, "")
	if err != nil {
		return nil, nil, "", err
	}
	v, hostID, err := apply.CheckingGate(ctx, cfg, simDir, g.warn)
	if errors.Is(err, trust.ErrUnsafePermissions) {
		err = withHint(err, "the trust root and its directory must be owned by root or the service user and not be group- or world-writable (chmod 0644 the file, chmod 0755 the directory)")
	}
	return cfg, v, hostID, connectHint(err)
}

// runRaw checks one signature as ssh-keygen -Y verify does (trust.RawVerify.Check).
func (c *SignaturesVerifyCmd) runRaw(g *globals, stdin io.Reader) error {
	at := time.Now()
	if c.VerifyTime != "" {
		t, err := trust.ParseOpenSSHTime(c.VerifyTime)
		if err != nil { // ssh-keygen, too, says it could not verify.
			fmt.Fprintln(g.stdout, trust.CouldNotVerify)
			errorf(g.stderr, "--verify-time: %v", err)
			hintf(g.stderr, "write the time as ssh-keygen does, e.g. 20261215120000Z")
			return silentError{code: exitError}
		}
		at = t
	}
	v := trust.RawVerify{AllowedSigners: c.AllowedSigners, Principal: c.Principal, Namespace: c.Namespace, Signature: c.Signature, Revoked: c.Revoked}
	if !v.Check(stdin, at, g.report()) {
		return silentError{code: exitError}
	}
	return nil
}

type SignaturesRequestCmd struct {
	SimFlag
	Op       string `required:"" help:"Operation, e.g. guest.destroy." placeholder:"OP"`
	Guest    string `help:"Guest vmid; empty for the host-level ops signers.rotate and storage.mount." placeholder:"VMID"`
	Params   string `default:"{}" help:"Step parameters as a JSON object; written in canonical form." placeholder:"JSON"`
	NotAfter string `default:"24h" help:"How long the request stays valid: a duration (24h, 90m), days (1d, 7d) or an RFC 3339 time (2026-12-24T12:00:00Z)." placeholder:"WHEN"`
	HostID   string `name:"host-id" help:"The host's identity: its certificate's SHA-256 fingerprint ('pvenode cert info'); default: read from the host." placeholder:"FINGERPRINT"`
	Out      string `default:"." help:"Directory to write <id>.req into." placeholder:"DIR" type:"path"`
}

func (c *SignaturesRequestCmd) Run(ctx context.Context, g *globals) error {
	if !ops.Known(c.Op) {
		return withHint(fmt.Errorf("request: %w", &ops.UnknownOpError{Op: c.Op}), "ops are: %s", strings.Join(ops.Names(), ", "))
	}
	if c.Guest == "" && !ops.HostLevel(c.Op) {
		return fmt.Errorf("request: --guest is required for %s", c.Op)
	}
	if c.Guest != "" && ops.HostLevel(c.Op) {
		return fmt.Errorf("request: %s acts on the host and takes no --guest", c.Op)
	}
	var guest int
	if c.Guest != "" {
		n, err := strconv.Atoi(c.Guest)
		if err != nil || strconv.Itoa(n) != c.Guest {
			return fmt.Errorf("--guest %q is not a vmid", c.Guest)
		}
		guest = n
	}
	notAfter, err := trust.ParseNotAfter(c.NotAfter, time.Now())
	if err != nil {
		return fmt.Errorf("--not-after %w", err)
	}
	cfg, err := g.hostConfig(c.Sim, "")
	if err != nil {
		return err
	}
	hostID := strings.ToUpper(c.HostID)
	if hostID == "" {
		if hostID, err = g.hostIdentity(ctx, cfg, c.Sim); err != nil {
			return withHint(fmt.Errorf("request: read the host's identity: %w", err), "pass --host-id: the host certificate's SHA-256 fingerprint, as 'pvenode cert info' shows it")
		}
	}
	req, err := trust.MakeRequest(trust.Action{Host: cfg.Host, HostID: hostID, Op: c.Op, Guest: guest, Params: []byte(c.Params)}, notAfter)
	if err != nil {
		return fmt.Errorf("request: %w", err)
	}
	if err := g.asStateOwner(cfg, c.Out); err != nil {
		return err
	}
	path, err := trust.WriteRequest(c.Out, req)
	if err != nil {
		return fmt.Errorf("request: %w", err)
	}
	fmt.Fprintf(g.stdout, "wrote %s\nsign it with:\n  %s\n", path, trust.SignCommand(trust.RoleOperational, path))
	if req.Op == ops.SignersRotate {
		fmt.Fprintf(g.stdout, "or with a recovery key:\n  %s\n", trust.SignCommand(trust.RoleRecovery, path))
	}
	return nil
}
