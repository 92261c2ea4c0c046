package trust

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"golang.org/x/crypto/ssh"
)

// lineVerdict is how one allowed_signers line judges a signer key.
type lineVerdict int

const (
	lineNoMatch   lineVerdict = iota // the line is not about this key (or principal)
	lineNamespace                    // the key matches, the namespace is not allowed
	lineTime                         // key and namespace match, outside the validity window
	lineOK
)

// lineMatch is the result of judging one line.
type lineMatch struct {
	verdict    lineVerdict
	principals string // the principal(s) the line vouches for
	reason     string
}

// match judges a signer key against line l, as OpenSSH's
// check_allowed_keys_line does. principal is the -I value, or "" to find
// the principals (as ssh-keygen -Y find-principals). With felhomRoles a
// line without namespaces= allows no namespace; OpenSSH allows any.
func (l *SignerLine) match(key ssh.PublicKey, principal, namespace string, at time.Time, felhomRoles bool) lineMatch {
	if principal != "" && !matchPatternList(principal, l.Principals) {
		return lineMatch{verdict: lineNoMatch}
	}
	m := lineMatch{verdict: lineOK, principals: principal}
	cert, isCert := key.(*ssh.Certificate)
	switch {
	case !l.CertAuthority && bytes.Equal(key.Marshal(), l.Key.Marshal()):
		if principal == "" {
			m.principals = l.Principals
		}
	case l.CertAuthority && isCert && bytes.Equal(cert.SignatureKey.Marshal(), l.Key.Marshal()):
		if cert.CertType != ssh.UserCert {
			return lineMatch{verdict: lineNoMatch, reason: "not a user certificate"}
		}
		if principal != "" {
			if !slices.Contains(cert.ValidPrincipals, principal) {
				return lineMatch{verdict: lineNoMatch, reason: fmt.Sprintf("certificate does not list principal %q", principal)}
			}
		} else {
			var names []string
			for _, p := range cert.ValidPrincipals {
				if matchPatternList(p, l.Principals) {
					names = append(names, p)
				}
			}
			if len(names) == 0 {
				return lineMatch{verdict: lineNoMatch, reason: "no certificate principal matches the line"}
			}
			m.principals = strings.Join(names, ",")
		}
		if r := certTimeProblem(cert, at); r != "" {
			m.verdict, m.reason = lineTime, r
		}
	default:
		return lineMatch{verdict: lineNoMatch}
	}
	switch {
	case felhomRoles && !l.HasNamespaces:
		return lineMatch{verdict: lineNamespace, principals: m.principals, reason: fmt.Sprintf("line %d has no namespaces= option and grants no role", l.Line)}
	case l.HasNamespaces && !matchPatternList(namespace, l.Namespaces):
		return lineMatch{verdict: lineNamespace, principals: m.principals, reason: fmt.Sprintf("line %d does not allow namespace %q", l.Line, namespace)}
	}
	if m.verdict == lineTime {
		return m
	}
	now := at.Unix()
	if !l.ValidAfter.IsZero() && now < l.ValidAfter.Unix() {
		return lineMatch{verdict: lineTime, principals: m.principals, reason: fmt.Sprintf("line %d is not valid before %s", l.Line, l.ValidAfter.UTC().Format(time.RFC3339))}
	}
	if !l.ValidBefore.IsZero() && now > l.ValidBefore.Unix() {
		return lineMatch{verdict: lineTime, principals: m.principals, reason: fmt.Sprintf("line %d expired at %s", l.Line, l.ValidBefore.UTC().Format(time.RFC3339))}
	}
	return m
}

// certTimeProblem checks a certificate's validity as OpenSSH does:
// valid_after inclusive, valid_before exclusive.
func certTimeProblem(c *ssh.Certificate, at time.Time) string {
	now := uint64(max(at.Unix(), 0))
	if now < c.ValidAfter {
		return "certificate not yet valid"
	}
	if c.ValidBefore != ssh.CertTimeInfinity && now >= c.ValidBefore {
		return "certificate expired"
	}
	return ""
}

// verifyCertSignature checks a certificate's CA signature, as OpenSSH
// does when it parses a certificate. The CA key is held to the same policy
// as a signer key (no DSA, no RSA under MinRSABits), and SHA-1 RSA CA
// signatures are refused.
func verifyCertSignature(c *ssh.Certificate) error {
	if _, ok := c.SignatureKey.(*ssh.Certificate); ok {
		return badSig("certificate signed by a certificate")
	}
	if err := checkKeyPolicy(c.SignatureKey); err != nil {
		return fmt.Errorf("certificate authority: %w", err)
	}
	if c.Signature == nil {
		return badSig("certificate has no signature")
	}
	if !allowedFormat(c.SignatureKey.Type(), c.Signature.Format) {
		return badSig("certificate signature algorithm %s not allowed", c.Signature.Format)
	}
	c2 := *c
	c2.Signature = nil
	data := c2.Marshal()
	data = data[:len(data)-4] // drop the empty signature's length, as x/crypto does
	if err := c.SignatureKey.Verify(data, c.Signature); err != nil {
		return badSig("certificate signature does not verify")
	}
	return nil
}

// RevokedKeys is a revocation list in the plain form ssh-keygen -r
// accepts: one public key a line. A key is revoked when it, its certified
// key, or the CA of its certificate is listed. Binary KRLs are refused.
type RevokedKeys struct {
	keys [][]byte // wire encodings of plain keys
}

// ParseRevokedKeys parses a revocation list. Blank lines and comments are
// skipped; any other line that is not a public key is an error (as in
// ssh-keygen, where it fails the verification).
func ParseRevokedKeys(data []byte, name string) (*RevokedKeys, error) {
	if bytes.HasPrefix(data, []byte("SSHKRL\n\x00")) {
		return nil, fmt.Errorf("%s: binary KRL revocation lists are not supported; list plain public keys, one a line", name)
	}
	r := &RevokedKeys{}
	for i, line := range splitLines(data) {
		cp := strings.TrimLeft(line, spaceTab)
		if cp == "" || cp[0] == '#' || cp[0] == '\n' {
			continue
		}
		k, err := readKey(cp)
		if err != nil {
			return nil, &LineError{Name: name, Line: i + 1, Msg: "invalid key: " + err.Error()}
		}
		r.keys = append(r.keys, plainKey(k).Marshal())
	}
	return r, nil
}

// Revoked reports whether k is revoked. A nil list revokes nothing.
func (r *RevokedKeys) Revoked(k ssh.PublicKey) bool {
	if r == nil {
		return false
	}
	cands := [][]byte{plainKey(k).Marshal()}
	if c, ok := k.(*ssh.Certificate); ok {
		cands = append(cands, plainKey(c.SignatureKey).Marshal())
	}
	for _, rk := range r.keys {
		for _, c := range cands {
			if bytes.Equal(rk, c) {
				return true
			}
		}
	}
	return false
}

// Signer is who made a verified signature.
type Signer struct {
	Principal   string // the -I principal, or the principals the line vouches for
	Key         ssh.PublicKey
	Fingerprint string // SHA256:..., as ssh-keygen prints it
	Line        int    // allowed_signers line that matched
}

// ErrNotAllowed is wrapped when a valid signature's key is not allowed by
// the allowed_signers file for that principal, namespace and time.
var ErrNotAllowed = errors.New("signer not allowed")

// OpenSSHVerify is the plain OpenSSH check: the same decision as
//
//	ssh-keygen -Y verify -f FILE -I principal -n namespace -s SIG [-O verify-time=T] [-r REVOKED] < message
//
// allowedSigners is the file's content (bad lines are skipped, as
// ssh-keygen skips them); revoked may be nil; at is the verify time. It is
// deliberately stricter than ssh-keygen where ParseSignature and
// Signature.Verify say so (SHA-1 RSA signatures, trailing bytes, FIDO
// signatures without user presence, DSA and small RSA keys, key types
// x/crypto cannot verify, version 0, a non-empty reserved field).
func OpenSSHVerify(allowedSigners []byte, name string, revoked *RevokedKeys, principal, namespace string, sig *Signature, message io.Reader, at time.Time) (*Signer, error) {
	if err := sig.Verify(namespace, message); err != nil {
		return nil, err
	}
	if revoked.Revoked(sig.PublicKey) {
		return nil, fmt.Errorf("%w: key %s is revoked", ErrNotAllowed, Fingerprint(sig.PublicKey))
	}
	as, _ := parseAllowedSigners(allowedSigners, name)
	var reasons []string
	for i := range as.Lines {
		m := as.Lines[i].match(sig.PublicKey, principal, namespace, at, false)
		if m.verdict == lineOK {
			return &Signer{Principal: principal, Key: sig.PublicKey, Fingerprint: Fingerprint(sig.PublicKey), Line: as.Lines[i].Line}, nil
		}
		if m.reason != "" {
			reasons = append(reasons, fmt.Sprintf("%s:%d: %s", name, as.Lines[i].Line, m.reason))
		}
	}
	if len(reasons) == 0 {
		return nil, fmt.Errorf("%w: no line of %s lists principal %q with key %s", ErrNotAllowed, name, principal, Fingerprint(sig.PublicKey))
	}
	return nil, fmt.Errorf("%w: %s", ErrNotAllowed, strings.Join(reasons, "; "))
}
