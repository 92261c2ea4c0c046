package trust

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// OpenSSH's own SSHSIG unit-test vectors (testdata/openssh, see its
// README): through the library here, and through ssh-keygen when present.

func readVector(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "openssh", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestOpenSSHVectors(t *testing.T) {
	msg := readVector(t, "signed-data")
	ns := string(readVector(t, "namespace"))
	tests := []struct {
		name string
		want bool
		why  string
	}{
		{"rsa", true, "rsa-sha2-512"},
		{"ecdsa", true, "nistp256"},
		{"ed25519", true, "ed25519"},
		{"ecdsa_sk", true, "FIDO ECDSA, user present"},
		{"ed25519_sk", true, "FIDO Ed25519, user present"},
		{"ecdsa_sk_webauthn", false, "deliberate: x/crypto cannot verify webauthn signatures (ssh-keygen can)"},
		{"mldsa44-ed25519", false, "ML-DSA hybrid: neither OpenSSH 9.2 nor x/crypto knows the key type"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pub := strings.TrimSpace(string(readVector(t, tt.name+".pub")))
			allowed := []byte(tt.name + "@test " + pub + "\n")
			sigBytes := readVector(t, tt.name+".sig")
			at := time.Now()
			verify := func(msg []byte) error {
				sig, err := ParseSignature(sigBytes)
				if err != nil {
					return err
				}
				_, err = OpenSSHVerify(allowed, "allowed", nil, tt.name+"@test", ns, sig, bytes.NewReader(msg), at)
				return err
			}
			err := verify(msg)
			if (err == nil) != tt.want {
				t.Fatalf("%s: verify = %v, want good=%v", tt.why, err, tt.want)
			}
			if !tt.want {
				return
			}
			if err := verify(append(append([]byte{}, msg...), '\n')); err == nil {
				t.Fatal("a changed message verified")
			}
			sig, _ := ParseSignature(sigBytes)
			if _, err := OpenSSHVerify(allowed, "allowed", nil, tt.name+"@test", "felhom-operational", sig, bytes.NewReader(msg), at); err == nil {
				t.Fatal("verified under another namespace")
			}
		})
	}
}

// TestOpenSSHVectorsWithSSHKeygen checks that ssh-keygen agrees with the
// table above, so the expectations are OpenSSH's and not ours.
func TestOpenSSHVectorsWithSSHKeygen(t *testing.T) {
	if _, err := exec.LookPath("ssh-keygen"); err != nil {
		t.Skip("ssh-keygen (OpenSSH) is not installed; install openssh-client to run the interop tests")
	}
	ns := string(readVector(t, "namespace"))
	for name, want := range map[string]bool{
		"rsa": true, "ecdsa": true, "ed25519": true, "ecdsa_sk": true, "ed25519_sk": true,
		"ecdsa_sk_webauthn": true, // ssh-keygen accepts; we refuse on purpose
		"mldsa44-ed25519":   false,
	} {
		dir := t.TempDir()
		pub := strings.TrimSpace(string(readVector(t, name+".pub")))
		allowed := filepath.Join(dir, "allowed")
		if err := os.WriteFile(allowed, []byte("p@test "+pub+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command("ssh-keygen", "-Y", "verify", "-f", allowed, "-I", "p@test", "-n", ns,
			"-s", filepath.Join("testdata", "openssh", name+".sig"))
		cmd.Stdin = bytes.NewReader(readVector(t, "signed-data"))
		out, err := cmd.CombinedOutput()
		if (err == nil) != want {
			t.Errorf("%s: ssh-keygen good=%v, want %v\n%s", name, err == nil, want, out)
		}
	}
}

// TestFIDOUserPresence: a FIDO signature whose user-presence flag is
// cleared is refused (ssh-keygen does not check the flag). The flag is
// signed, so clearing it also breaks the signature; the point is that no
// path accepts it.
func TestFIDOUserPresence(t *testing.T) {
	msg := readVector(t, "signed-data")
	ns := string(readVector(t, "namespace"))
	sig, err := ParseSignature(readVector(t, "ed25519_sk.sig"))
	if err != nil {
		t.Fatal(err)
	}
	if len(sig.Sig.Rest) != 5 || sig.Sig.Rest[0]&1 == 0 {
		t.Fatalf("vector should carry flags with user presence, got % x", sig.Sig.Rest)
	}
	if err := sig.Verify(ns, bytes.NewReader(msg)); err != nil {
		t.Fatalf("vector: %v", err)
	}
	sig.Sig.Rest[0] &^= 1
	if err := sig.Verify(ns, bytes.NewReader(msg)); err == nil {
		t.Fatal("signature without user presence verified")
	}
	sig.Sig.Rest = append([]byte{1}, sig.Sig.Rest[1:]...)
	sig.Sig.Rest = append(sig.Sig.Rest, 0)
	if err := sig.Verify(ns, bytes.NewReader(msg)); err == nil {
		t.Fatal("FIDO signature with trailing bytes verified")
	}
}

// TestDecideFIDO runs the gate with OpenSSH's FIDO public keys: a FIDO
// key in the trust root is an ordinary signer. The vectors sign
// "unittest" data, so the gate sees a foreign namespace.
func TestDecideFIDO(t *testing.T) {
	pub := strings.TrimSpace(string(readVector(t, "ed25519_sk.pub")))
	v := NewVerifier(mustSigners(t, `fido@ops namespaces="felhom-operational" `+pub+"\n"), &MemNonceStore{})
	d, err := v.Decide(destroy105, readVector(t, "signed-data"), readVector(t, "ed25519_sk.sig"))
	if err != nil || d.Outcome != WrongNamespace {
		t.Fatalf("got %v %s (%s), want wrong_namespace", err, d.Outcome, d.Reason)
	}
}
