package trust

import (
	"bytes"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"errors"
	"fmt"
	"hash"
	"io"
	"strings"

	"golang.org/x/crypto/ssh"
)

// The SSHSIG envelope (OpenSSH PROTOCOL.sshsig): armour, blob and signed
// data. x/crypto/ssh parses keys and checks the key algorithm's signature;
// everything around it is here.

const (
	armorBegin = "-----BEGIN SSH SIGNATURE-----\n"
	armorEnd   = "\n-----END SSH SIGNATURE-----"
	sigMagic   = "SSHSIG"
	sigVersion = 1

	// MaxSignatureSize bounds an armoured signature file before it is
	// parsed. The largest legitimate one (a certificate on a 16384-bit RSA
	// key) is far smaller.
	MaxSignatureSize = 32 << 10

	// MinRSABits is the smallest RSA modulus accepted for a signer.
	MinRSABits = 2048
)

// ErrBadSignature is wrapped by every error that says a signature is
// malformed, of an unsupported kind, or does not verify.
var ErrBadSignature = errors.New("bad signature")

// ErrMessageMismatch is wrapped (with ErrBadSignature) when a well-formed
// signature by an acceptable key does not verify the message: the message
// is not the one that was signed.
var ErrMessageMismatch = errors.New("signature does not verify")

func badSig(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrBadSignature, fmt.Sprintf(format, args...))
}

// Signature is a parsed SSHSIG blob. Nothing in it is trusted until
// [Signature.Verify] succeeds and its key has matched the trust root.
type Signature struct {
	PublicKey     ssh.PublicKey // the signer's key; may be an *ssh.Certificate
	Namespace     string        // as written in the blob (not itself signed)
	HashAlgorithm string        // "sha256" or "sha512"
	Sig           *ssh.Signature
}

// ParseSignature de-armours and parses an SSHSIG signature as written by
// ssh-keygen -Y sign. It is stricter than ssh-keygen in three ways, each
// deliberate: nothing but white space may follow the footer, the version
// must be exactly 1 (ssh-keygen also takes 0) and the reserved field must
// be empty (ssh-keygen ignores it). Neither the version nor the reserved
// field is signed, so accepting variants would only add malleability.
func ParseSignature(armored []byte) (*Signature, error) {
	if len(armored) > MaxSignatureSize {
		return nil, badSig("signature larger than %d bytes", MaxSignatureSize)
	}
	blob, err := dearmor(armored)
	if err != nil {
		return nil, err
	}
	return parseBlob(blob)
}

// dearmor follows OpenSSH's sshsig_dearmor: the header at offset 0 and
// followed by LF (OpenSSH 9.2 refuses CRLF there), the body up to the first
// LF + footer, white space anywhere in the base64 ignored, padding required.
func dearmor(b []byte) ([]byte, error) {
	if !bytes.HasPrefix(b, []byte(armorBegin)) {
		return nil, badSig("missing armour header")
	}
	rest := b[len(armorBegin):]
	end := bytes.Index(rest, []byte(armorEnd))
	if end < 0 {
		return nil, badSig("missing armour footer")
	}
	if len(bytes.TrimLeft(rest[end+len(armorEnd):], cSpace)) != 0 {
		return nil, badSig("data after the armour footer")
	}
	body := make([]byte, 0, end)
	for _, c := range rest[:end] {
		if strings.IndexByte(cSpace, c) < 0 {
			body = append(body, c)
		}
	}
	blob := make([]byte, base64.StdEncoding.DecodedLen(len(body)))
	n, err := base64.StdEncoding.Strict().Decode(blob, body)
	if err != nil {
		return nil, badSig("armour body is not valid base64")
	}
	return blob[:n], nil
}

// cSpace is the C isspace set, which OpenSSH's base64 decoder skips.
const cSpace = " \t\n\v\f\r"

// sshString reads one RFC 4251 string.
func sshString(b []byte) (s, rest []byte, ok bool) {
	if len(b) < 4 {
		return nil, nil, false
	}
	n := uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
	b = b[4:]
	if uint64(n) > uint64(len(b)) {
		return nil, nil, false
	}
	return b[:n], b[n:], true
}

func parseBlob(b []byte) (*Signature, error) {
	if !bytes.HasPrefix(b, []byte(sigMagic)) {
		return nil, badSig("missing SSHSIG magic")
	}
	b = b[len(sigMagic):]
	if len(b) < 4 {
		return nil, badSig("truncated blob")
	}
	if v := uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3]); v != sigVersion {
		return nil, badSig("unsupported SSHSIG version %d", v)
	}
	b = b[4:]
	var fields [5][]byte
	for i := range fields {
		var ok bool
		if fields[i], b, ok = sshString(b); !ok {
			return nil, badSig("truncated blob")
		}
	}
	if len(b) != 0 {
		return nil, badSig("trailing data after the signature blob")
	}
	keyBlob, ns, reserved, hashAlg, sigBytes := fields[0], fields[1], fields[2], fields[3], fields[4]
	if len(reserved) != 0 {
		return nil, badSig("reserved field is not empty")
	}
	if len(ns) == 0 || bytes.IndexByte(ns, 0) >= 0 {
		return nil, badSig("invalid namespace")
	}
	if _, err := newHash(string(hashAlg)); err != nil {
		return nil, err
	}
	key, err := ssh.ParsePublicKey(keyBlob)
	if err != nil {
		return nil, badSig("signer key: %v", err)
	}
	if c, ok := key.(*ssh.Certificate); ok {
		if err := verifyCertSignature(c); err != nil {
			return nil, err
		}
	}
	sig := new(ssh.Signature)
	if err := ssh.Unmarshal(sigBytes, sig); err != nil {
		return nil, badSig("signature field: %v", err)
	}
	return &Signature{PublicKey: key, Namespace: string(ns), HashAlgorithm: string(hashAlg), Sig: sig}, nil
}

// newHash accepts exactly the two names SSHSIG allows.
func newHash(name string) (hash.Hash, error) {
	switch name {
	case "sha256":
		return sha256.New(), nil
	case "sha512":
		return sha512.New(), nil
	}
	return nil, badSig("unsupported hash algorithm %q", name)
}

// plainKey returns the key that signs: the certified key for a certificate.
func plainKey(k ssh.PublicKey) ssh.PublicKey {
	if c, ok := k.(*ssh.Certificate); ok {
		return c.Key
	}
	return k
}

// checkKeyPolicy refuses key types and sizes felhom does not accept as
// signers: DSA, RSA below MinRSABits, and anything x/crypto cannot verify.
func checkKeyPolicy(k ssh.PublicKey) error {
	k = plainKey(k)
	switch k.Type() {
	case ssh.KeyAlgoED25519, ssh.KeyAlgoECDSA256, ssh.KeyAlgoECDSA384, ssh.KeyAlgoECDSA521,
		ssh.KeyAlgoSKED25519, ssh.KeyAlgoSKECDSA256:
		return nil
	case ssh.KeyAlgoRSA:
		ck, ok := k.(ssh.CryptoPublicKey)
		if !ok {
			return badSig("unreadable RSA key")
		}
		pk, ok := ck.CryptoPublicKey().(*rsa.PublicKey)
		if !ok || pk.N.BitLen() < MinRSABits {
			return badSig("RSA key smaller than %d bits", MinRSABits)
		}
		return nil
	}
	return badSig("unsupported key type %s", k.Type())
}

// allowedFormat says whether a signature format may be used with a key
// type. RSA must use rsa-sha2-256 or rsa-sha2-512: a SHA-1 "ssh-rsa"
// signature is refused (x/crypto would verify it).
func allowedFormat(keyType, format string) bool {
	if keyType == ssh.KeyAlgoRSA {
		return format == ssh.KeyAlgoRSASHA256 || format == ssh.KeyAlgoRSASHA512
	}
	return format == keyType
}

// signedData builds the buffer the key signed: magic, the verifier's
// expected namespace, an empty reserved field, the hash name and the
// message digest.
func signedData(namespace, hashAlg string, digest []byte) []byte {
	return ssh.Marshal(struct {
		Magic     [6]byte
		Namespace string
		Reserved  string
		HashAlg   string
		Digest    []byte
	}{[6]byte([]byte(sigMagic)), namespace, "", hashAlg, digest})
}

// Verify checks that s is a valid signature over message for namespace,
// the namespace the verifier expects (never one read from the signature).
// It checks only the cryptography and the key policy; who may sign is the
// trust root's business. message is read to its end.
func (s *Signature) Verify(namespace string, message io.Reader) error {
	if s.Namespace != namespace {
		return badSig("signature is for namespace %q, not %q", s.Namespace, namespace)
	}
	if err := checkKeyPolicy(s.PublicKey); err != nil {
		return err
	}
	h, err := newHash(s.HashAlgorithm)
	if err != nil {
		return err
	}
	if _, err := io.Copy(h, message); err != nil {
		return fmt.Errorf("read message: %w", err)
	}
	key := plainKey(s.PublicKey)
	if !allowedFormat(key.Type(), s.Sig.Format) {
		return badSig("signature algorithm %s not allowed for %s keys", s.Sig.Format, key.Type())
	}
	switch key.Type() {
	case ssh.KeyAlgoSKED25519, ssh.KeyAlgoSKECDSA256:
		// x/crypto parses the FIDO flags and counter from Rest, refuses
		// trailing bytes and requires the user-presence flag.
	default:
		if len(s.Sig.Rest) != 0 {
			return badSig("trailing bytes in the signature")
		}
	}
	if err := key.Verify(signedData(namespace, s.HashAlgorithm, h.Sum(nil)), s.Sig); err != nil {
		if strings.Contains(err.Error(), "user presence") {
			return badSig("signature does not verify: %v", err)
		}
		return fmt.Errorf("%w: %w: %v", ErrBadSignature, ErrMessageMismatch, err)
	}
	return nil
}

// Fingerprint is the SHA-256 fingerprint ssh-keygen prints for a key; for
// a certificate, that of the certified key.
func Fingerprint(k ssh.PublicKey) string { return ssh.FingerprintSHA256(plainKey(k)) }

// KeyKind is the short key type name ssh-keygen prints ("ED25519",
// "ECDSA", "RSA", "ED25519-SK", "ECDSA-SK", with "-CERT" for certificates).
func KeyKind(k ssh.PublicKey) string {
	var kind string
	switch plainKey(k).Type() {
	case ssh.KeyAlgoED25519:
		kind = "ED25519"
	case ssh.KeyAlgoECDSA256, ssh.KeyAlgoECDSA384, ssh.KeyAlgoECDSA521:
		kind = "ECDSA"
	case ssh.KeyAlgoRSA:
		kind = "RSA"
	case ssh.KeyAlgoSKED25519:
		kind = "ED25519-SK"
	case ssh.KeyAlgoSKECDSA256:
		kind = "ECDSA-SK"
	case keyAlgoDSA:
		kind = "DSA"
	default:
		kind = plainKey(k).Type()
	}
	if _, ok := k.(*ssh.Certificate); ok {
		kind += "-CERT"
	}
	return kind
}
