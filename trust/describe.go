package trust

// How decisions, installs and moves are worded for operators: one line
// each, with every name from a directory or a bundle quoted (QuoteName) or
// escaped, so a file name cannot forge a line.

import (
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/felhom/felhom-converge/humanize"
	"github.com/felhom/felhom-converge/printable"
)

// Describe renders what a decision establishes, or why it refuses.
func (d Decision) Describe() string {
	if !d.Accepted() {
		var b strings.Builder
		b.WriteString(d.Reason)
		// Who signed, once: the reason may name the signer or the key
		// already.
		switch {
		case d.Principal != "" && !strings.Contains(d.Reason, d.Principal):
			fmt.Fprintf(&b, " (signer %s)", d.Principal)
		case d.Principal == "" && d.Fingerprint != "" && !strings.Contains(d.Reason, d.Fingerprint):
			fmt.Fprintf(&b, " (key %s)", d.Fingerprint)
		}
		return b.String()
	}
	r := d.Request
	guest := NoGuest
	if r.Guest != 0 {
		guest = strconv.Itoa(r.Guest)
	}
	return fmt.Sprintf("signer=%s key=%s role=%s host=%s op=%s guest=%s params=%s not-after=%s nonce=unused",
		d.Principal, d.Fingerprint, d.Role, r.Host, r.Op, guest, r.Params, r.NotAfter.Format(time.RFC3339))
}

// Line is one installed request's line: its name, the decision (or
// "skipped") and why, as verify words it.
func (d InstallDecision) Line() string {
	name := QuoteName(d.Name)
	switch {
	case d.Skipped != "":
		return fmt.Sprintf("%s  skipped  %s", name, printable.Escape(d.Skipped))
	case d.Path != "":
		return fmt.Sprintf("%s  %s  installed; %s", name, d.Decision.Outcome, d.Decision.Describe())
	}
	return fmt.Sprintf("%s  %s  %s", name, d.Decision.Outcome, d.Decision.Describe())
}

// Line says where the spent signature went.
func (s SpentSignature) Line() string {
	return fmt.Sprintf("moved the spent signature %s (op %s, guest %s, nonce %s) to %s",
		QuoteName(s.ID+RequestSuffix), s.Op, humanize.GuestText(s.Guest, ""), s.Nonce, s.Path)
}

// SharedNonces are warnings about signed requests that carry the same
// nonce: at most one of them can ever be accepted, since accepting spends
// it.
func SharedNonces(reqs []SignedRequest) []string {
	byNonce := map[string][]string{}
	var nonces []string
	for _, s := range reqs {
		if !s.Signed() || s.Parsed == nil {
			continue
		}
		n := s.Parsed.Nonce
		if byNonce[n] == nil {
			nonces = append(nonces, n)
		}
		byNonce[n] = append(byNonce[n], QuoteName(s.ID+RequestSuffix))
	}
	var out []string
	for _, n := range nonces {
		if ids := byNonce[n]; len(ids) > 1 {
			out = append(out, fmt.Sprintf("%s carry the same nonce %s: at most one of them can ever be accepted", strings.Join(ids, ", "), n))
		}
	}
	return out
}

// WideRoles are warnings about trust-root lines whose namespaces= grant
// both roles (namespaces="*", "felhom-*"): such a key is an operational and
// a recovery key at once.
func (a *AllowedSigners) WideRoles() []string {
	var out []string
	for _, l := range a.Lines {
		if len(l.Roles()) == 2 {
			out = append(out, fmt.Sprintf("%s:%d: namespaces=%q grants %s both roles, %s and %s; name the one it needs",
				a.Name, l.Line, l.Namespaces, l.Principals, RoleOperational, RoleRecovery))
		}
	}
	return out
}

// RawVerify is one check as 'ssh-keygen -Y verify -f AllowedSigners -I
// Principal -n Namespace -s Signature [-r Revoked]' makes it.
type RawVerify struct {
	AllowedSigners, Principal, Namespace, Signature string
	Revoked                                         string // "" for none
}

// Verify reads the files (regular files, bounded) and checks the
// signature over message at the time at, as ssh-keygen does.
func (v RawVerify) Verify(message io.Reader, at time.Time) (*Signer, error) {
	sigBytes, err := ReadRegular(v.Signature, MaxSignatureSize)
	if err != nil {
		return nil, err
	}
	sig, err := ParseSignature(sigBytes)
	if err != nil {
		return nil, err
	}
	allowed, err := ReadRegular(v.AllowedSigners, MaxAllowedSignersSize)
	if err != nil {
		return nil, fmt.Errorf("read allowed signers: %w", err)
	}
	var revoked *RevokedKeys
	if v.Revoked != "" {
		data, err := ReadRegular(v.Revoked, MaxAllowedSignersSize)
		if err != nil {
			return nil, fmt.Errorf("read revocation list: %w", err)
		}
		if revoked, err = ParseRevokedKeys(data, v.Revoked); err != nil {
			return nil, err
		}
	}
	return OpenSSHVerify(allowed, v.AllowedSigners, revoked, v.Principal, v.Namespace, sig, message, at)
}

// ReadBundleInput reads a bundle from path, or from stdin for "-", up to
// MaxBundleSize; a path must be a regular file. It returns the data and
// the name errors should use.
func ReadBundleInput(path string, stdin io.Reader) ([]byte, string, error) {
	if path == "-" {
		data, err := io.ReadAll(io.LimitReader(stdin, MaxBundleSize+1))
		if err != nil {
			return nil, "-", fmt.Errorf("read the bundle from stdin: %w", err)
		}
		if len(data) > MaxBundleSize {
			return nil, "-", &BundleError{Name: "-", Msg: fmt.Sprintf("more than the %d bytes a bundle may have", MaxBundleSize)}
		}
		return data, "(stdin)", nil
	}
	data, err := ReadRegular(path, MaxBundleSize)
	if errors.Is(err, ErrTooLarge) {
		return nil, path, &BundleError{Name: path, Msg: fmt.Sprintf("more than the %d bytes a bundle may have", MaxBundleSize)}
	}
	return data, path, err
}
