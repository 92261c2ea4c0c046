package proxmox

import (
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"strings"
)

// FingerprintMismatchError is a TLS handshake refused because the server's
// certificate is not the pinned one. Seen is printed so an operator can
// compare it with the node's certificate (`pvenode cert info`, or
// GET /nodes/{node}/certificates/info).
type FingerprintMismatchError struct {
	Want string // the pinned fingerprint, normalised
	Seen string // SHA-256 of the leaf certificate the server presented
}

func (e *FingerprintMismatchError) Error() string {
	return fmt.Sprintf("server certificate fingerprint %s does not match the pinned %s"+
		" (if the node's certificate was renewed, compare with `pvenode cert info` on the node and update the pinned fingerprint)", e.Seen, e.Want)
}

// Fingerprint formats the SHA-256 of a DER certificate the way Proxmox
// reports it: colon-separated upper-case hex.
func Fingerprint(der []byte) string {
	sum := sha256.Sum256(der)
	return colonHex(sum[:])
}

// NormalizeFingerprint accepts a SHA-256 fingerprint in any case, with or
// without colons, and returns Proxmox's form (AB:CD:..., upper case).
func NormalizeFingerprint(s string) (string, error) {
	raw, err := hex.DecodeString(strings.ReplaceAll(strings.TrimSpace(s), ":", ""))
	if err != nil || len(raw) != sha256.Size {
		return "", fmt.Errorf("fingerprint %q is not a SHA-256 fingerprint (64 hex digits, colons optional)", s)
	}
	return colonHex(raw), nil
}

// colonHex is "AB:CD:...", upper case.
func colonHex(b []byte) string {
	parts := make([]string, len(b))
	for i, c := range b {
		parts[i] = fmt.Sprintf("%02X", c)
	}
	return strings.Join(parts, ":")
}

// TLSClientConfig is the TLS client configuration the Client uses, for
// exactly one trust mode: caFile (full verification), fingerprint (a
// SHA-256 pin of the leaf, any case, colons optional; a mismatch fails the
// handshake with a *FingerprintMismatchError) or insecureSkipVerify. Other
// HTTPS clients of the tool (the hub puller) share it, so every trust
// decision is made in one place.
func TLSClientConfig(caFile, fingerprint string, insecureSkipVerify bool) (*tls.Config, error) {
	return tlsConfig(Options{CAFile: caFile, Fingerprint: fingerprint, InsecureSkipVerify: insecureSkipVerify})
}

// tlsConfig builds the client TLS configuration for exactly one trust mode.
// HTTP/2 is never offered: pveproxy speaks HTTP/1.1 only.
func tlsConfig(o Options) (*tls.Config, error) {
	n := 0
	for _, set := range []bool{o.CAFile != "", o.Fingerprint != "", o.InsecureSkipVerify} {
		if set {
			n++
		}
	}
	if n != 1 {
		return nil, errors.New("choose exactly one of CAFile, Fingerprint and InsecureSkipVerify for an https endpoint")
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, NextProtos: []string{"http/1.1"}}
	switch {
	case o.CAFile != "":
		pem, err := os.ReadFile(o.CAFile)
		if err != nil {
			return nil, fmt.Errorf("read CA file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("CA file %s holds no PEM certificate", o.CAFile)
		}
		cfg.RootCAs = pool
	case o.Fingerprint != "":
		want, err := NormalizeFingerprint(o.Fingerprint)
		if err != nil {
			return nil, err
		}
		// Chain and name checks are replaced by the pin, which is checked
		// for every connection, resumed ones included.
		cfg.InsecureSkipVerify = true
		cfg.VerifyConnection = func(cs tls.ConnectionState) error {
			if len(cs.PeerCertificates) == 0 {
				return errors.New("server presented no certificate")
			}
			if seen := Fingerprint(cs.PeerCertificates[0].Raw); seen != want {
				return &FingerprintMismatchError{Want: want, Seen: seen}
			}
			return nil
		}
	default:
		cfg.InsecureSkipVerify = true
	}
	return cfg, nil
}
