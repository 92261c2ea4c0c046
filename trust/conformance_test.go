package trust

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
)

// Conformance with OpenSSH: every case runs through ssh-keygen -Y verify
// and through OpenSSHVerify on the same files, and the two must agree,
// except where a case names the deliberate strictness it exercises (then
// ssh-keygen accepts and we refuse).

// keygenKit runs the real ssh-keygen in a temporary directory.
type keygenKit struct {
	t   *testing.T
	dir string
	n   int
}

func newKeygenKit(t *testing.T) *keygenKit {
	t.Helper()
	if _, err := exec.LookPath("ssh-keygen"); err != nil {
		t.Skip("ssh-keygen (OpenSSH) is not installed; install openssh-client to run the interop tests")
	}
	return &keygenKit{t: t, dir: t.TempDir()}
}

func (k *keygenKit) run(stdin []byte, args ...string) (string, error) {
	cmd := exec.Command("ssh-keygen", args...)
	cmd.Dir = k.dir
	cmd.Env = append(os.Environ(), "SSH_AUTH_SOCK=") // never sign through an agent
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return out.String(), err
}

func (k *keygenKit) must(stdin []byte, args ...string) string {
	k.t.Helper()
	out, err := k.run(stdin, args...)
	if err != nil {
		k.t.Fatalf("ssh-keygen %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

// key generates a key pair named name and returns its public key.
func (k *keygenKit) key(name string, typeArgs ...string) ssh.PublicKey {
	k.t.Helper()
	k.must(nil, append(append([]string{"-q"}, typeArgs...), "-N", "", "-C", name, "-f", name)...)
	return k.pub(name + ".pub")
}

func (k *keygenKit) pub(file string) ssh.PublicKey {
	k.t.Helper()
	data, err := os.ReadFile(filepath.Join(k.dir, file))
	if err != nil {
		k.t.Fatal(err)
	}
	pk, _, _, _, err := ssh.ParseAuthorizedKey(data)
	if err != nil {
		k.t.Fatal(err)
	}
	return pk
}

// sign signs msg with ssh-keygen -Y sign and returns the armoured signature.
func (k *keygenKit) sign(keyFile, namespace string, msg []byte, extra ...string) []byte {
	k.t.Helper()
	k.n++
	name := fmt.Sprintf("msg%d", k.n)
	k.write(name, msg)
	k.must(nil, append(append([]string{"-Y", "sign", "-n", namespace, "-f", keyFile}, extra...), name)...)
	sig, err := os.ReadFile(filepath.Join(k.dir, name+".sig"))
	if err != nil {
		k.t.Fatal(err)
	}
	return sig
}

// cert signs keyName.pub with CA caName into keyName-cert.pub.
func (k *keygenKit) cert(caName, keyName string, args ...string) ssh.PublicKey {
	k.t.Helper()
	k.must(nil, append(append([]string{"-q", "-s", caName, "-I", keyName + "-id"}, args...), keyName+".pub")...)
	return k.pub(keyName + "-cert.pub")
}

func (k *keygenKit) write(name string, data []byte) string {
	k.t.Helper()
	p := filepath.Join(k.dir, name)
	if err := os.WriteFile(p, data, 0o600); err != nil {
		k.t.Fatal(err)
	}
	return p
}

type verifyCase struct {
	name       string
	allowed    string
	principal  string
	namespace  string
	sig        []byte
	msg        []byte
	verifyTime string
	revoked    string // file content; "" for none
	stricter   string // non-empty: ssh-keygen accepts, we refuse on purpose (why)
	wantGood   bool   // what ssh-keygen must say (pins the case's meaning)
}

// sshKeygenVerify is the oracle.
func (k *keygenKit) sshKeygenVerify(c verifyCase) (bool, string) {
	k.n++
	prefix := fmt.Sprintf("case%d", k.n)
	args := []string{"-Y", "verify",
		"-f", k.write(prefix+".allowed", []byte(c.allowed)),
		"-I", c.principal, "-n", c.namespace,
		"-s", k.write(prefix+".sig", c.sig)}
	if c.verifyTime != "" {
		args = append(args, "-O", "verify-time="+c.verifyTime)
	}
	if c.revoked != "" {
		args = append(args, "-r", k.write(prefix+".revoked", []byte(c.revoked)))
	}
	out, err := k.run(c.msg, args...)
	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) {
		k.t.Fatal(err)
	}
	return err == nil, out
}

// ourVerify is OpenSSHVerify on the same inputs.
func ourVerify(c verifyCase) (*Signer, error) {
	at := time.Now()
	if c.verifyTime != "" {
		t, err := ParseOpenSSHTime(c.verifyTime)
		if err != nil {
			return nil, err
		}
		at = t
	}
	sig, err := ParseSignature(c.sig)
	if err != nil {
		return nil, err
	}
	var revoked *RevokedKeys
	if c.revoked != "" {
		if revoked, err = ParseRevokedKeys([]byte(c.revoked), "revoked"); err != nil {
			return nil, err
		}
	}
	return OpenSSHVerify([]byte(c.allowed), "allowed_signers", revoked, c.principal, c.namespace, sig, bytes.NewReader(c.msg), at)
}

func runVerifyCases(t *testing.T, k *keygenKit, cases []verifyCase) {
	t.Helper()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			theirs, out := k.sshKeygenVerify(c)
			if theirs != c.wantGood {
				t.Fatalf("ssh-keygen says good=%v, the case expects %v; the case is wrong\n%s", theirs, c.wantGood, out)
			}
			signer, err := ourVerify(c)
			ours := err == nil
			switch {
			case c.stricter != "":
				if !theirs || ours {
					t.Fatalf("deliberate strictness (%s): want ssh-keygen good and us bad, got ssh-keygen=%v us=%v (%v)", c.stricter, theirs, ours, err)
				}
			case ours != theirs:
				t.Fatalf("disagree with ssh-keygen: ssh-keygen good=%v, ours good=%v (%v)\nssh-keygen: %s", theirs, ours, err, out)
			case ours:
				// Both good: the line we print must be ssh-keygen's.
				line := fmt.Sprintf("Good %q signature for %s with %s key %s", c.namespace, signer.Principal, KeyKind(signer.Key), signer.Fingerprint)
				if !strings.Contains(out, line) {
					t.Fatalf("ssh-keygen printed %q, we would print %q", out, line)
				}
			}
		})
	}
}

func pubLine(k ssh.PublicKey) string { return strings.TrimSpace(string(ssh.MarshalAuthorizedKey(k))) }

func TestConformanceKeyTypes(t *testing.T) {
	k := newKeygenKit(t)
	msg := []byte("felhom-converge request v1\nexample\n")
	const ns = "felhom-operational"
	type keyCase struct {
		name, stricter string
		args           []string
	}
	keys := []keyCase{
		{"ed25519", "", []string{"-t", "ed25519"}},
		{"ecdsa256", "", []string{"-t", "ecdsa", "-b", "256"}},
		{"ecdsa384", "", []string{"-t", "ecdsa", "-b", "384"}},
		{"ecdsa521", "", []string{"-t", "ecdsa", "-b", "521"}},
		{"rsa3072", "", []string{"-t", "rsa", "-b", "3072"}},
		{"rsa2048", "", []string{"-t", "rsa", "-b", "2048"}},
		{"rsa1024", "RSA keys under 2048 bits", []string{"-t", "rsa", "-b", "1024"}},
	}
	var cases []verifyCase
	for _, kc := range keys {
		pk := k.key(kc.name, kc.args...)
		allowed := "op@felhom " + pubLine(pk) + "\n"
		for _, hash := range []string{"sha512", "sha256"} {
			cases = append(cases, verifyCase{
				name: kc.name + "/" + hash, allowed: allowed, principal: "op@felhom", namespace: ns,
				sig: k.sign(kc.name, ns, msg, "-O", "hashalg="+hash), msg: msg, stricter: kc.stricter, wantGood: true,
			})
		}
		cases = append(cases, verifyCase{
			name: kc.name + "/tampered message", allowed: allowed, principal: "op@felhom", namespace: ns,
			sig: k.sign(kc.name, ns, msg), msg: append(append([]byte{}, msg...), '\n'),
		})
	}
	if _, err := k.run(nil, "-q", "-t", "dsa", "-N", "", "-f", "dsa"); err == nil {
		pub, err := os.ReadFile(filepath.Join(k.dir, "dsa.pub")) // x/crypto no longer parses DSA keys
		if err != nil {
			t.Fatal(err)
		}
		cases = append(cases, verifyCase{
			name: "dsa", allowed: "op@felhom " + string(pub), principal: "op@felhom", namespace: ns,
			sig: k.sign("dsa", ns, msg), msg: msg, stricter: "DSA keys", wantGood: true,
		})
	}
	runVerifyCases(t, k, cases)
}

func TestConformanceAllowedSigners(t *testing.T) {
	k := newKeygenKit(t)
	msg := []byte("approve\n")
	const ns = "felhom-operational"
	pk := k.key("alice", "-t", "ed25519")
	other := k.key("mallory", "-t", "ed25519")
	sig := k.sign("alice", ns, msg)
	key := pubLine(pk)
	good := func(name, allowed, principal string) verifyCase {
		return verifyCase{name: name, allowed: allowed, principal: principal, namespace: ns, sig: sig, msg: msg, wantGood: true}
	}
	bad := func(name, allowed, principal string) verifyCase {
		return verifyCase{name: name, allowed: allowed, principal: principal, namespace: ns, sig: sig, msg: msg}
	}
	cases := []verifyCase{
		good("plain line", "alice@ops "+key+"\n", "alice@ops"),
		good("comment after key", "alice@ops "+key+" alice's laptop\n", "alice@ops"),
		good("comments and blank lines", "# ops\n\n   \n\t# more\nalice@ops "+key+"\n", "alice@ops"),
		good("principal list", "bob@ops,alice@ops "+key+"\n", "alice@ops"),
		good("wildcard principal", "*@ops "+key+"\n", "alice@ops"),
		good("question-mark pattern", "alic?@ops "+key+"\n", "alice@ops"),
		bad("negated principal", "*@ops,!alice@ops "+key+"\n", "alice@ops"),
		bad("principal is literal, not a pattern", "alice@ops "+key+"\n", "*"),
		bad("principal is case-sensitive", "Alice@ops "+key+"\n", "alice@ops"),
		good("quoted principals", `"alice@ops,bob@ops" `+key+"\n", "alice@ops"),
		good("namespaces option", `alice@ops namespaces="felhom-operational" `+key+"\n", "alice@ops"),
		good("namespaces pattern", `alice@ops namespaces="felhom-*" `+key+"\n", "alice@ops"),
		good("option keyword case-insensitive", `alice@ops NAMESPACES="felhom-operational" `+key+"\n", "alice@ops"),
		bad("namespace not listed", `alice@ops namespaces="felhom-recovery" `+key+"\n", "alice@ops"),
		bad("empty namespaces", `alice@ops namespaces="" `+key+"\n", "alice@ops"),
		bad("space in namespaces pattern", `alice@ops namespaces="file, felhom-operational" `+key+"\n", "alice@ops"),
		good("namespaces list", `alice@ops namespaces="file,felhom-operational" `+key+"\n", "alice@ops"),
		good("leading comma in options", `alice@ops ,namespaces="felhom-operational" `+key+"\n", "alice@ops"),
		bad("trailing comma in options", `alice@ops namespaces="felhom-operational", `+key+"\n", "alice@ops"),
		bad("unknown option", `alice@ops no-touch-required `+key+"\n", "alice@ops"),
		bad("duplicate namespaces", `alice@ops namespaces="felhom-operational",namespaces="x" `+key+"\n", "alice@ops"),
		bad("unquoted option value", `alice@ops namespaces=felhom-operational `+key+"\n", "alice@ops"),
		good("valid window", `alice@ops valid-after="20200101",valid-before="20991231Z" `+key+"\n", "alice@ops"),
		bad("not yet valid", `alice@ops valid-after="20990101Z" `+key+"\n", "alice@ops"),
		bad("expired line", `alice@ops valid-before="20200101Z" `+key+"\n", "alice@ops"),
		good("UTC suffix", `alice@ops valid-before="209912312359UTC" `+key+"\n", "alice@ops"),
		good("valid-before inclusive", `alice@ops valid-before="20261215120000Z" `+key+"\n", "alice@ops"),
		bad("bad time", `alice@ops valid-before="2099123" `+key+"\n", "alice@ops"),
		good("second window line wins", `alice@ops valid-before="20200101Z" `+key+"\nalice@ops valid-after=\"20200101Z\" "+key+"\n", "alice@ops"),
		good("bad lines are skipped", "garbage\nalice@ops namespaces=\"x "+key+"\nalice@ops bogus=\"1\" "+key+"\n\"alice "+key+"\nalice@ops "+key+"\n", "alice@ops"),
		bad("other key", "alice@ops "+pubLine(other)+"\n", "alice@ops"),
		bad("CA line does not vouch for its own key", "alice@ops cert-authority "+key+"\n", "alice@ops"),
		bad("short key type name", "alice@ops ED25519 "+strings.Fields(key)[1]+"\n", "alice@ops"),
		bad("key type name mismatch", "alice@ops ssh-rsa "+strings.Fields(key)[1]+"\n", "alice@ops"),
		good("CRLF line", "alice@ops "+key+"\r\n", "alice@ops"),
		good("tab separators", "alice@ops\t"+strings.Replace(key, " ", "\t", 1)+"\n", "alice@ops"),
		good("no final newline", "alice@ops "+key, "alice@ops"),
	}
	// verify-time: the inclusive bound at exactly that second.
	for i := range cases {
		if cases[i].name == "valid-before inclusive" {
			cases[i].verifyTime = "20261215120000Z"
		}
	}
	cases = append(cases,
		verifyCase{name: "verify-time before window", allowed: `alice@ops valid-after="20261215120001Z" ` + key + "\n", principal: "alice@ops", namespace: ns, sig: sig, msg: msg, verifyTime: "20261215120000Z"},
		verifyCase{name: "verify-time inside window", allowed: `alice@ops valid-after="20261215Z",valid-before="20261216Z" ` + key + "\n", principal: "alice@ops", namespace: ns, sig: sig, msg: msg, verifyTime: "202612151200Z", wantGood: true},
		verifyCase{name: "wrong namespace", allowed: "alice@ops " + key + "\n", principal: "alice@ops", namespace: "felhom-recovery", sig: sig, msg: msg},
		verifyCase{name: "file namespace signature", allowed: "alice@ops " + key + "\n", principal: "alice@ops", namespace: ns, sig: k.sign("alice", "file", msg), msg: msg},
		verifyCase{name: "revoked key", allowed: "alice@ops " + key + "\n", principal: "alice@ops", namespace: ns, sig: sig, msg: msg, revoked: "# revoked\n" + key + " old laptop\n"},
		verifyCase{name: "revocation list of other keys", allowed: "alice@ops " + key + "\n", principal: "alice@ops", namespace: ns, sig: sig, msg: msg, revoked: pubLine(other) + "\n", wantGood: true},
		verifyCase{name: "malformed revocation list", allowed: "alice@ops " + key + "\n", principal: "alice@ops", namespace: ns, sig: sig, msg: msg, revoked: "not a key\n"},
	)
	runVerifyCases(t, k, cases)
}

func TestConformanceCertificates(t *testing.T) {
	k := newKeygenKit(t)
	msg := []byte("approve\n")
	const ns = "felhom-operational"
	ca := k.key("ca", "-t", "ed25519")
	otherCA := k.key("otherca", "-t", "ecdsa")
	k.key("alice", "-t", "ed25519")
	k.cert("ca", "alice", "-n", "alice@ops,alice@felhom", "-V", "20200101:20991231")
	sig := k.sign("alice-cert.pub", ns, msg)
	k.key("old", "-t", "ecdsa")
	k.cert("ca", "old", "-n", "old@ops", "-V", "20200101:20210101")
	oldSig := k.sign("old-cert.pub", ns, msg)
	k.key("host", "-t", "ed25519")
	k.cert("ca", "host", "-h", "-n", "host@ops")
	hostSig := k.sign("host-cert.pub", ns, msg)
	k.key("rsauser", "-t", "rsa", "-b", "3072")
	k.cert("otherca", "rsauser", "-n", "rsa@ops", "-O", "force-command=/bin/true", "-O", "no-pty")
	rsaSig := k.sign("rsauser-cert.pub", ns, msg, "-O", "hashalg=sha256")
	caSig := k.sign("ca", ns, msg)

	caLine := "*@ops cert-authority " + pubLine(ca) + "\n"
	cases := []verifyCase{
		{name: "certificate under CA line", allowed: caLine, principal: "alice@ops", namespace: ns, sig: sig, msg: msg, wantGood: true},
		{name: "CA line with namespaces", allowed: `*@ops cert-authority,namespaces="felhom-operational" ` + pubLine(ca) + "\n", principal: "alice@ops", namespace: ns, sig: sig, msg: msg, wantGood: true},
		{name: "principal not in certificate", allowed: caLine, principal: "bob@ops", namespace: ns, sig: sig, msg: msg},
		{name: "principal in certificate, not in line", allowed: caLine, principal: "alice@felhom", namespace: ns, sig: sig, msg: msg},
		{name: "certificate of another CA", allowed: "*@ops cert-authority " + pubLine(otherCA) + "\n", principal: "alice@ops", namespace: ns, sig: sig, msg: msg},
		{name: "CA key on a plain line", allowed: "*@ops " + pubLine(ca) + "\n", principal: "alice@ops", namespace: ns, sig: sig, msg: msg},
		{name: "certified key on a plain line", allowed: "alice@ops " + pubLine(k.pub("alice.pub")) + "\n", principal: "alice@ops", namespace: ns, sig: sig, msg: msg},
		{name: "CA signing for itself", allowed: caLine, principal: "alice@ops", namespace: ns, sig: caSig, msg: msg},
		{name: "expired certificate", allowed: caLine, principal: "old@ops", namespace: ns, sig: oldSig, msg: msg},
		{name: "certificate at verify-time inside its validity", allowed: caLine, principal: "old@ops", namespace: ns, sig: oldSig, msg: msg, verifyTime: "20200601Z", wantGood: true},
		{name: "certificate valid-before is exclusive", allowed: caLine, principal: "old@ops", namespace: ns, sig: oldSig, msg: msg, verifyTime: "20210101Z"},
		{name: "certificate after verify-time", allowed: caLine, principal: "alice@ops", namespace: ns, sig: sig, msg: msg, verifyTime: "20190101Z"},
		{name: "host certificate", allowed: caLine, principal: "host@ops", namespace: ns, sig: hostSig, msg: msg},
		{name: "RSA certificate with options", allowed: "rsa@ops cert-authority " + pubLine(otherCA) + "\n", principal: "rsa@ops", namespace: ns, sig: rsaSig, msg: msg, wantGood: true},
		{name: "certificate with revoked CA", allowed: caLine, principal: "alice@ops", namespace: ns, sig: sig, msg: msg, revoked: pubLine(ca) + "\n"},
		{name: "certificate with revoked key", allowed: caLine, principal: "alice@ops", namespace: ns, sig: sig, msg: msg, revoked: pubLine(k.pub("alice.pub")) + "\n"},
	}
	runVerifyCases(t, k, cases)
}

func TestConformanceArmorAndBlob(t *testing.T) {
	k := newKeygenKit(t)
	msg := []byte("approve\n")
	const ns = "felhom-operational"
	pk := k.key("alice", "-t", "ecdsa", "-b", "256")
	rsa := k.key("rsa", "-t", "rsa", "-b", "2048")
	allowed := "alice@ops " + pubLine(pk) + "\nrsa@ops " + pubLine(rsa) + "\n"
	sig := k.sign("alice", ns, msg)
	blob := dearmorTest(t, sig)
	b64 := base64.StdEncoding.EncodeToString(blob)
	wrap := func(s string, width int) string {
		var b strings.Builder
		for len(s) > width {
			b.WriteString(s[:width] + "\n")
			s = s[width:]
		}
		return b.String() + s
	}
	edit := func(f func(b []byte) []byte) []byte { return armor(f(append([]byte{}, blob...))) }
	// Offsets in the blob: magic(6) version(4) then the key string.
	keyLen := int(blob[10])<<24 | int(blob[11])<<16 | int(blob[12])<<8 | int(blob[13])
	nsOff := 14 + keyLen // namespace string
	type armourCase struct {
		name, stricter string
		sig            []byte
		good           bool
	}
	armours := []armourCase{
		{name: "as written", sig: sig, good: true},
		{name: "no final newline", sig: bytes.TrimSuffix(sig, []byte("\n")), good: true},
		{name: "rewrapped at 40", sig: []byte("-----BEGIN SSH SIGNATURE-----\n" + wrap(b64, 40) + "\n-----END SSH SIGNATURE-----\n"), good: true},
		{name: "one long line", sig: []byte("-----BEGIN SSH SIGNATURE-----\n" + b64 + "\n-----END SSH SIGNATURE-----\n"), good: true},
		{name: "spaces and tabs in base64", sig: []byte("-----BEGIN SSH SIGNATURE-----\n" + strings.Replace(wrap(b64, 30), "\n", " \t\n ", -1) + "\n-----END SSH SIGNATURE-----\n"), good: true},
		{name: "CRLF body lines", sig: []byte("-----BEGIN SSH SIGNATURE-----\n" + strings.ReplaceAll(wrap(b64, 70), "\n", "\r\n") + "\r\n-----END SSH SIGNATURE-----\r\n"), good: true},
		{name: "CRLF header", sig: bytes.ReplaceAll(sig, []byte("\n"), []byte("\r\n"))},
		{name: "leading blank line", sig: append([]byte("\n"), sig...)},
		{name: "leading space", sig: append([]byte(" "), sig...)},
		{name: "missing footer", sig: bytes.TrimSuffix(sig, []byte("-----END SSH SIGNATURE-----\n"))},
		{name: "truncated base64", sig: []byte("-----BEGIN SSH SIGNATURE-----\n" + b64[:len(b64)-8] + "\n-----END SSH SIGNATURE-----\n")},
		{name: "wrong padding", sig: []byte("-----BEGIN SSH SIGNATURE-----\n" + wrongPadding(b64) + "\n-----END SSH SIGNATURE-----\n")},
		{name: "invalid base64 character", sig: []byte("-----BEGIN SSH SIGNATURE-----\n" + b64[:10] + "*" + b64[11:] + "\n-----END SSH SIGNATURE-----\n")},
		{name: "lower-case header", sig: bytes.Replace(sig, []byte("BEGIN SSH SIGNATURE"), []byte("BEGIN SSH signature"), 1)},
		{name: "text after footer", sig: append(append([]byte{}, sig...), "trailing\n"...), stricter: "bytes after the armour footer", good: true},
		{name: "second block after footer", sig: append(append([]byte{}, sig...), sig...), stricter: "bytes after the armour footer", good: true},
		{name: "empty file", sig: []byte{}},
		{name: "bad magic", sig: edit(func(b []byte) []byte { b[0] = 'X'; return b })},
		{name: "version 2", sig: edit(func(b []byte) []byte { b[9] = 2; return b })},
		{name: "version 0", sig: edit(func(b []byte) []byte { b[9] = 0; return b }), stricter: "SSHSIG version other than 1", good: true},
		{name: "flipped key byte", sig: edit(func(b []byte) []byte { b[nsOff-3] ^= 1; return b })},
		{name: "namespace changed in blob", sig: edit(func(b []byte) []byte { b[nsOff+4+len(ns)-1] ^= 1; return b })},
		{name: "reserved field set", sig: edit(func(b []byte) []byte {
			off := nsOff + 4 + len(ns)
			out := append(append([]byte{}, b[:off]...), 0, 0, 0, 1, 'x')
			return append(out, b[off+4:]...)
		}), stricter: "non-empty reserved field", good: true},
		{name: "hash name sha384", sig: edit(func(b []byte) []byte {
			return bytes.Replace(b, []byte("\x00\x00\x00\x06sha512"), []byte("\x00\x00\x00\x06sha384"), 1)
		})},
		{name: "hash name SHA512", sig: edit(func(b []byte) []byte {
			return bytes.Replace(b, []byte("\x00\x00\x00\x06sha512"), []byte("\x00\x00\x00\x06SHA512"), 1)
		})},
		{name: "downgraded hash name sha256", sig: edit(func(b []byte) []byte {
			return bytes.Replace(b, []byte("\x00\x00\x00\x06sha512"), []byte("\x00\x00\x00\x06sha256"), 1)
		})},
		{name: "flipped signature byte", sig: edit(func(b []byte) []byte { b[len(b)-3] ^= 1; return b })},
		{name: "truncated blob", sig: edit(func(b []byte) []byte { return b[:len(b)-1] })},
		{name: "trailing byte after blob", sig: edit(func(b []byte) []byte { return append(b, 0) })},
	}
	var cases []verifyCase
	for _, a := range armours {
		cases = append(cases, verifyCase{name: a.name, allowed: allowed, principal: "alice@ops", namespace: ns, sig: a.sig, msg: msg, stricter: a.stricter, wantGood: a.good})
	}
	// Signatures ssh-keygen never writes, crafted with a test signer over
	// an ssh-keygen key pair.
	rsaSigner := k.signer("rsa")
	ecSigner := k.signer("alice")
	cases = append(cases,
		verifyCase{name: "SHA-1 ssh-rsa signature", allowed: allowed, principal: "rsa@ops", namespace: ns, msg: msg,
			sig: signWith(t, rsaSigner, msg, sigOpts{namespace: ns, algo: ssh.KeyAlgoRSA})},
		verifyCase{name: "rsa-sha2-256 with sha512 hash", allowed: allowed, principal: "rsa@ops", namespace: ns, msg: msg, wantGood: true,
			sig: signWith(t, rsaSigner, msg, sigOpts{namespace: ns, algo: ssh.KeyAlgoRSASHA256})},
		verifyCase{name: "trailing bytes inside the signature", allowed: allowed, principal: "alice@ops", namespace: ns, msg: msg,
			sig: signWith(t, ecSigner, msg, sigOpts{namespace: ns, sigRest: []byte{0, 0, 0, 0}})},
		verifyCase{name: "signed for another namespace than the blob says", allowed: allowed, principal: "alice@ops", namespace: ns, msg: msg,
			sig: signWith(t, ecSigner, msg, sigOpts{namespace: ns, signedNS: "file"})},
	)
	runVerifyCases(t, k, cases)
}

// wrongPadding drops the padding of base64 that has some, or adds a
// stray pad character to base64 that needs none (signature lengths vary).
func wrongPadding(b64 string) string {
	if strings.HasSuffix(b64, "=") {
		return strings.TrimRight(b64, "=")
	}
	return b64 + "="
}

// signer loads the private key name written by ssh-keygen.
func (k *keygenKit) signer(name string) ssh.Signer {
	k.t.Helper()
	data, err := os.ReadFile(filepath.Join(k.dir, name))
	if err != nil {
		k.t.Fatal(err)
	}
	s, err := ssh.ParsePrivateKey(data)
	if err != nil {
		k.t.Fatal(err)
	}
	return s
}

// TestConformanceLocalTime: a valid-after without "Z" is local time as
// ssh-keygen reads it (mktime with tm_isdst = 0), in zones with and
// without daylight saving time, north and south, in the spring gap and
// the autumn overlap. For each, the instant we compute must be exactly
// where ssh-keygen starts accepting: good at that second, refused one
// second before.
func TestConformanceLocalTime(t *testing.T) {
	k := newKeygenKit(t)
	k.key("alice", "-t", "ed25519")
	msg := []byte("approve\n")
	sig := k.sign("alice", "file", msg)
	zones := []string{"Europe/Budapest", "America/New_York", "Australia/Sydney", "Europe/Dublin", "Asia/Tokyo", "UTC"}
	times := []string{"20260701120000", "20260115120000", "20260329023000", "20261025023000", "202607011200", "20260701"}
	for _, zone := range zones {
		loc, err := time.LoadLocation(zone)
		if err != nil {
			t.Skipf("time zone data not installed: %v", err)
		}
		for _, lt := range times {
			t.Run(zone+"/"+lt, func(t *testing.T) {
				at, err := parseOpenSSHTimeIn(lt, loc)
				if err != nil {
					t.Fatal(err)
				}
				allowed := k.write("localtime.allowed", []byte(`alice valid-after="`+lt+`" `+pubLine(k.pub("alice.pub"))+"\n"))
				verifyAt := func(u time.Time) bool {
					cmd := exec.Command("ssh-keygen", "-Y", "verify", "-f", allowed, "-I", "alice", "-n", "file",
						"-s", k.write("localtime.sig", sig), "-O", "verify-time="+u.UTC().Format("20060102150405")+"Z")
					cmd.Env = append(os.Environ(), "TZ="+zone)
					cmd.Stdin = bytes.NewReader(msg)
					return cmd.Run() == nil
				}
				if !verifyAt(at) || verifyAt(at.Add(-time.Second)) {
					t.Fatalf("we read %s in %s as %s; ssh-keygen starts accepting elsewhere (at it: %v, a second before: %v)",
						lt, zone, at.UTC().Format(time.RFC3339), verifyAt(at), verifyAt(at.Add(-time.Second)))
				}
			})
		}
	}
}
