package trust

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestInteropDecide: requests signed by the real ssh-keygen, with every
// supported key type and a certificate, are accepted by the gate, and
// ssh-keygen -Y verify agrees on the same files; changing either file is
// refused by both.
func TestInteropDecide(t *testing.T) {
	k := newKeygenKit(t)
	now := time.Now()
	ca := k.key("ca", "-t", "ed25519")
	var allowed strings.Builder
	allowed.WriteString(`*@certs cert-authority,namespaces="felhom-operational" ` + pubLine(ca) + "\n")
	signers := []struct{ name, keyFile, principal string }{
		{"ed25519", "ed25519", "ed25519@ops"},
		{"ecdsa256", "ecdsa256", "ecdsa256@ops"},
		{"ecdsa384", "ecdsa384", "ecdsa384@ops"},
		{"ecdsa521", "ecdsa521", "ecdsa521@ops"},
		{"rsa3072", "rsa3072", "rsa3072@ops"},
		{"certificate", "certuser-cert.pub", "certuser@certs"},
	}
	args := map[string][]string{
		"ed25519": {"-t", "ed25519"}, "ecdsa256": {"-t", "ecdsa", "-b", "256"}, "ecdsa384": {"-t", "ecdsa", "-b", "384"},
		"ecdsa521": {"-t", "ecdsa", "-b", "521"}, "rsa3072": {"-t", "rsa", "-b", "3072"},
	}
	for _, s := range signers[:5] {
		pk := k.key(s.name, args[s.name]...)
		allowed.WriteString(s.principal + ` namespaces="felhom-operational" ` + pubLine(pk) + "\n")
	}
	k.key("certuser", "-t", "ecdsa", "-b", "256")
	k.cert("ca", "certuser", "-n", "certuser@certs", "-V", "-1h:+1h")
	allowedPath := k.write("allowed_signers", []byte(allowed.String()))
	as, err := LoadAllowedSigners(allowedPath)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range signers {
		for _, hash := range []string{"sha512", "sha256"} {
			t.Run(s.name+"/"+hash, func(t *testing.T) {
				req := mustRequest(t, destroy105, now.Add(time.Hour))
				sig := k.sign(s.keyFile, RoleOperational, req, "-O", "hashalg="+hash)
				c := verifyCase{allowed: allowed.String(), principal: s.principal, namespace: RoleOperational, sig: sig, msg: req}
				if good, out := k.sshKeygenVerify(c); !good {
					t.Fatalf("ssh-keygen refuses: %s", out)
				}
				v := NewVerifier(as, &MemNonceStore{})
				tampered := strings.Replace(string(req), "guest: 105", "guest: 106", 1)
				if d, _ := v.Decide(Action{Host: "pve-demo", HostID: testHostID, Op: "guest.destroy", Guest: 106, Params: destroy105.Params}, []byte(tampered), sig); d.Outcome != BadSignature {
					t.Fatalf("tampered request: got %s (%s)", d.Outcome, d.Reason)
				}
				if good, _ := k.sshKeygenVerify(verifyCase{allowed: c.allowed, principal: c.principal, namespace: c.namespace, sig: sig, msg: []byte(tampered)}); good {
					t.Fatal("ssh-keygen accepts the tampered request")
				}
				d, err := v.Decide(destroy105, req, sig)
				if err != nil || d.Outcome != Accepted {
					t.Fatalf("got %v %s (%s)", err, d.Outcome, d.Reason)
				}
				if d.Principal != s.principal {
					t.Errorf("principal %q, want %q", d.Principal, s.principal)
				}
			})
		}
	}
	t.Run("recovery namespace refused by ssh-keygen too", func(t *testing.T) {
		req := mustRequest(t, destroy105, now.Add(time.Hour))
		sig := k.sign("ed25519", RoleRecovery, req)
		v := NewVerifier(as, &MemNonceStore{})
		if d, _ := v.Decide(destroy105, req, sig); d.Outcome != WrongNamespace {
			t.Fatalf("got %s (%s)", d.Outcome, d.Reason)
		}
		if good, _ := k.sshKeygenVerify(verifyCase{allowed: allowed.String(), principal: "ed25519@ops", namespace: RoleRecovery, sig: sig, msg: req}); good {
			t.Fatal("ssh-keygen accepts a recovery signature from an operational-only line")
		}
	})
	if _, err := os.Stat(filepath.Join(k.dir, "allowed_signers")); err != nil {
		t.Fatal(err)
	}
}
