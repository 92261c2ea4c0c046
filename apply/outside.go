package apply

// The host's gate outside a run: 'signatures verify', 'signatures
// install' and 'pull --signatures' check signed requests as apply would
// decide them, spending nothing; 'signatures request' binds a request to
// the host's identity.

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/felhom/felhom-converge/config"
	"github.com/felhom/felhom-converge/trust"
)

// ErrNoProxmox is HostIdentity without a configured Proxmox connection.
var ErrNoProxmox = errors.New("no Proxmox connection is configured")

// HostIdentity reads the host's identity (its certificate fingerprint,
// which signature requests bind to) from the configured host or, with
// simDir, the simulator (Connect).
func HostIdentity(ctx context.Context, cfg *config.Config, simDir string, warn func(string)) (string, error) {
	if simDir == "" {
		if err := cfg.RequireProxmox(); err != nil {
			return "", ErrNoProxmox
		}
	}
	client, release, err := Connect(ctx, cfg, simDir, warn)
	if err != nil {
		return "", err
	}
	defer release()
	return client.HostID(ctx)
}

// NoTrustRootError is a check of signatures on a host without its trust
// root: there is no signer to check them against.
type NoTrustRootError struct {
	Path string
	Err  error
}

func (e *NoTrustRootError) Error() string { return e.Err.Error() }
func (e *NoTrustRootError) Unwrap() error { return e.Err }

// Hint says what the trust root holds and how to create it, as the
// install guide does.
func (e *NoTrustRootError) Hint() string {
	return fmt.Sprintf("the trust root lists the operators' public keys with their roles, one a line "+
		"(alice@ops namespaces=\"felhom-operational\" ssh-ed25519 AAAA...); create it owned by root and not group- or world-writable: "+
		"install -m 0644 allowed_signers %s (docs/operating.md: Signing; allowed_signers or FELHOM_CONVERGE_ALLOWED_SIGNERS names another file)", e.Path)
}

// CheckingGate returns the gate of cfg's host as apply decides with it:
// a verifier of its trust root and its nonce store, from which a check
// spends nothing (Verifier.Check), and the host's identity ("" when no
// Proxmox connection is configured; when the host does not answer, warn
// hears of it, for apply checks it). An absent trust root is refused,
// except the simulated host's default one (no signer is trusted then), as
// is an unsafe one (trust.ErrUnsafePermissions).
func CheckingGate(ctx context.Context, cfg *config.Config, simDir string, warn func(string)) (*trust.Verifier, string, error) {
	signers, err := trust.LoadAllowedSigners(cfg.AllowedSigners)
	switch {
	case errors.Is(err, os.ErrNotExist) && strings.HasPrefix(cfg.Origin("allowed_signers"), "--sim "):
		// The simulated host's default trust root may be absent: then no
		// signer is trusted, as docs/reference.md's Local host config says.
		warn(fmt.Sprintf("%s does not exist: no signer is trusted", cfg.AllowedSigners))
		signers = &trust.AllowedSigners{Name: cfg.AllowedSigners}
	case errors.Is(err, os.ErrNotExist):
		return nil, "", &NoTrustRootError{Path: cfg.AllowedSigners, Err: err}
	case err != nil:
		return nil, "", err
	}
	nonces, err := trust.OpenFileNonceStore(cfg.StateDir, nil)
	if err != nil {
		return nil, "", err
	}
	for _, w := range signers.WideRoles() {
		warn(w)
	}
	hostID, err := HostIdentity(ctx, cfg, simDir, warn)
	if err != nil && !errors.Is(err, ErrNoProxmox) {
		warn(fmt.Sprintf("the host's identity was not checked (%v); apply checks it", err))
	}
	return trust.NewVerifier(signers, nonces), hostID, nil
}
