package trust

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"fmt"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"
)

// A test-side SSHSIG signer, built independently of the parser from
// PROTOCOL.sshsig, so tests can craft signatures ssh-keygen never writes
// (SHA-1, trailing bytes, odd versions). Interop with the real tool is
// tested separately with ssh-keygen.

type sigOpts struct {
	namespace string // written into the blob
	signedNS  string // used in the signed data; defaults to namespace
	hashAlg   string // default sha512
	algo      string // RSA signature algorithm; default rsa-sha2-512
	version   uint32 // default 1
	reserved  string
	sigRest   []byte // appended inside the signature string
	blobTail  []byte // appended after the blob
}

func newSigner(t testing.TB, kind string) ssh.Signer {
	t.Helper()
	var key any
	var err error
	switch kind {
	case "ed25519":
		_, key, err = ed25519.GenerateKey(rand.Reader)
	case "ecdsa256":
		key, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case "ecdsa384":
		key, err = ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	case "ecdsa521":
		key, err = ecdsa.GenerateKey(elliptic.P521(), rand.Reader)
	case "rsa2048":
		key, err = rsa.GenerateKey(rand.Reader, 2048)
	case "rsa1024":
		key, err = rsa.GenerateKey(rand.Reader, 1024)
	default:
		t.Fatalf("unknown key kind %q", kind)
	}
	if err != nil {
		t.Fatal(err)
	}
	s, err := ssh.NewSignerFromKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func signWith(t testing.TB, s ssh.Signer, msg []byte, o sigOpts) []byte {
	t.Helper()
	if o.hashAlg == "" {
		o.hashAlg = "sha512"
	}
	if o.signedNS == "" {
		o.signedNS = o.namespace
	}
	if o.version == 0 {
		o.version = 1
	}
	var digest []byte
	switch o.hashAlg {
	case "sha256":
		h := sha256.Sum256(msg)
		digest = h[:]
	default:
		h := sha512.Sum512(msg)
		digest = h[:]
	}
	data := ssh.Marshal(struct {
		Magic                  [6]byte
		NS, Reserved, HashAlgo string
		Digest                 []byte
	}{[6]byte([]byte("SSHSIG")), o.signedNS, "", o.hashAlg, digest})
	var sig *ssh.Signature
	var err error
	if as, ok := s.(ssh.AlgorithmSigner); ok && s.PublicKey().Type() == ssh.KeyAlgoRSA {
		algo := o.algo
		if algo == "" {
			algo = ssh.KeyAlgoRSASHA512
		}
		sig, err = as.SignWithAlgorithm(rand.Reader, data, algo)
	} else {
		sig, err = s.Sign(rand.Reader, data)
	}
	if err != nil {
		t.Fatal(err)
	}
	sig.Rest = append(sig.Rest, o.sigRest...)
	sigBytes := ssh.Marshal(sig)
	blob := ssh.Marshal(struct {
		Magic     [6]byte
		Version   uint32
		PublicKey []byte
		NS        string
		Reserved  string
		HashAlgo  string
		Sig       []byte
	}{[6]byte([]byte("SSHSIG")), o.version, s.PublicKey().Marshal(), o.namespace, o.reserved, o.hashAlg, sigBytes})
	return armor(append(blob, o.blobTail...))
}

// armor wraps a blob as ssh-keygen does: base64 at 70 columns.
func armor(blob []byte) []byte {
	b64 := base64.StdEncoding.EncodeToString(blob)
	var b bytes.Buffer
	b.WriteString("-----BEGIN SSH SIGNATURE-----\n")
	for len(b64) > 70 {
		b.WriteString(b64[:70] + "\n")
		b64 = b64[70:]
	}
	b.WriteString(b64 + "\n-----END SSH SIGNATURE-----\n")
	return b.Bytes()
}

// dearmorTest returns the blob of an armoured signature.
func dearmorTest(t testing.TB, sig []byte) []byte {
	t.Helper()
	s := strings.TrimPrefix(string(sig), "-----BEGIN SSH SIGNATURE-----\n")
	s, _, _ = strings.Cut(s, "-----END")
	b, err := base64.StdEncoding.DecodeString(strings.ReplaceAll(s, "\n", ""))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// authorizedLine is "principals options key" for an allowed_signers file.
func authorizedLine(principals, options string, k ssh.PublicKey) string {
	key := strings.TrimSpace(string(ssh.MarshalAuthorizedKey(k)))
	if options == "" {
		return fmt.Sprintf("%s %s\n", principals, key)
	}
	return fmt.Sprintf("%s %s %s\n", principals, options, key)
}

func mustSigners(t testing.TB, content string) *AllowedSigners {
	t.Helper()
	as, err := ParseAllowedSigners(strings.NewReader(content), "allowed_signers")
	if err != nil {
		t.Fatal(err)
	}
	return as
}
