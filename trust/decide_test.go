package trust

import (
	"bytes"
	"crypto/rand"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
)

var testNow = time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)

// gateFixture is a host "pve-demo" with an operational key, a recovery
// key, a key whose line has expired and a key with no namespaces= line.
type gateFixture struct {
	op, rec, expiredKey, noRole, stranger ssh.Signer
	signers                               *AllowedSigners
	stateDir                              string
}

func newGateFixture(t *testing.T) *gateFixture {
	t.Helper()
	f := &gateFixture{
		op:         newSigner(t, "ed25519"),
		rec:        newSigner(t, "ecdsa256"),
		expiredKey: newSigner(t, "ed25519"),
		noRole:     newSigner(t, "ed25519"),
		stranger:   newSigner(t, "ed25519"),
		stateDir:   t.TempDir(),
	}
	f.signers = mustSigners(t, "# trust root of pve-demo\n"+
		authorizedLine("alice@ops", `namespaces="felhom-operational"`, f.op.PublicKey())+
		authorizedLine("carol@recovery", `namespaces="felhom-recovery"`, f.rec.PublicKey())+
		authorizedLine("old@ops", `namespaces="felhom-operational",valid-before="20260101Z"`, f.expiredKey.PublicKey())+
		authorizedLine("norole@ops", "", f.noRole.PublicKey()))
	return f
}

// verifier returns a gate over the fixture's state dir: a fresh one per
// call stands for a new process.
func (f *gateFixture) verifier(t *testing.T) *Verifier {
	t.Helper()
	store, err := OpenFileNonceStore(f.stateDir, func() time.Time { return testNow })
	if err != nil {
		t.Fatal(err)
	}
	v := NewVerifier(f.signers, store)
	v.Now = func() time.Time { return testNow }
	return v
}

var destroy105 = Action{Host: "pve-demo", HostID: testHostID, Op: "guest.destroy", Guest: 105, Params: json.RawMessage(`{"purge":true,"volumes":["local-lvm:vm-105-disk-0"]}`)}

func mustRequest(t *testing.T, a Action, notAfter time.Time) []byte {
	t.Helper()
	nonce, err := NewNonce()
	if err != nil {
		t.Fatal(err)
	}
	r, err := NewRequest(a, nonce, notAfter)
	if err != nil {
		t.Fatal(err)
	}
	return r.Marshal()
}

func TestDecideMatrix(t *testing.T) {
	f := newGateFixture(t)
	fresh := testNow.Add(time.Hour)
	rotate := Action{Host: "pve-demo", HostID: testHostID, Op: "signers.rotate", Params: json.RawMessage(`{"sha256":"9a41c2e0","signers":[{"principal":"dave@ops","role":"felhom-operational"}]}`)}
	opSig := func(req []byte) []byte { return signWith(t, f.op, req, sigOpts{namespace: RoleOperational}) }

	tests := []struct {
		name string
		why  string
		step Action
		req  func() []byte
		sig  func(req []byte) []byte
		want Outcome
	}{
		{
			name: "no signature", why: "an unsigned destructive step waits",
			step: destroy105, req: func() []byte { return mustRequest(t, destroy105, fresh) },
			sig:  func([]byte) []byte { return nil },
			want: PendingSignature,
		},
		{
			name: "valid operational", why: "the one path to accepted",
			step: destroy105, req: func() []byte { return mustRequest(t, destroy105, fresh) },
			sig: opSig, want: Accepted,
		},
		{
			name: "unknown signer", why: "a key not in allowed_signers",
			step: destroy105, req: func() []byte { return mustRequest(t, destroy105, fresh) },
			sig:  func(r []byte) []byte { return signWith(t, f.stranger, r, sigOpts{namespace: RoleOperational}) },
			want: UnknownSigner,
		},
		{
			name: "expired request", why: "not-after passed beyond the skew allowance",
			step: destroy105, req: func() []byte { return mustRequest(t, destroy105, testNow.Add(-DefaultSkew-time.Second)) },
			sig: opSig, want: Expired,
		},
		{
			name: "request within skew", why: "a request that expired a moment ago is still honoured",
			step: destroy105, req: func() []byte { return mustRequest(t, destroy105, testNow.Add(-DefaultSkew+time.Second)) },
			sig: opSig, want: Accepted,
		},
		{
			name: "key outside valid-before", why: "the allowed_signers line expired",
			step: destroy105, req: func() []byte { return mustRequest(t, destroy105, fresh) },
			sig:  func(r []byte) []byte { return signWith(t, f.expiredKey, r, sigOpts{namespace: RoleOperational}) },
			want: Expired,
		},
		{
			name: "wrong host", why: "a request for another host",
			step: destroy105, req: func() []byte { a := destroy105; a.Host = "pve-other"; return mustRequest(t, a, fresh) },
			sig: opSig, want: WrongHost,
		},
		{
			name: "wrong guest", why: "signed for guest 106, step is 105",
			step: destroy105, req: func() []byte { a := destroy105; a.Guest = 106; return mustRequest(t, a, fresh) },
			sig: opSig, want: BindingMismatch,
		},
		{
			name: "wrong op", why: "signed a stop, step is a destroy",
			step: destroy105, req: func() []byte { a := destroy105; a.Op, a.Params = "guest.stop", nil; return mustRequest(t, a, fresh) },
			sig: opSig, want: BindingMismatch,
		},
		{
			name: "wrong params", why: "signed without purge, step purges",
			step: destroy105, req: func() []byte {
				a := destroy105
				a.Params = json.RawMessage(`{"purge":false,"volumes":["local-lvm:vm-105-disk-0"]}`)
				return mustRequest(t, a, fresh)
			},
			sig: opSig, want: BindingMismatch,
		},
		{
			name: "params in another key order", why: "binding compares canonical params",
			step: Action{Host: "pve-demo", HostID: testHostID, Op: "guest.set", Guest: 105, Params: json.RawMessage(`{"set":{"memory":2048, "cores":2}}`)},
			req: func() []byte {
				return mustRequest(t, Action{Host: "pve-demo", HostID: testHostID, Op: "guest.set", Guest: 105, Params: json.RawMessage(`{"set":{"cores":2,"memory":2048}}`)}, fresh)
			},
			sig: opSig, want: Accepted,
		},
		{
			name: "recovery key on destroy", why: "recovery may only rotate signers",
			step: destroy105, req: func() []byte { return mustRequest(t, destroy105, fresh) },
			sig:  func(r []byte) []byte { return signWith(t, f.rec, r, sigOpts{namespace: RoleRecovery}) },
			want: RoleDenied,
		},
		{
			name: "recovery key on signers.rotate", why: "the recovery role's one op",
			step: rotate, req: func() []byte { return mustRequest(t, rotate, fresh) },
			sig:  func(r []byte) []byte { return signWith(t, f.rec, r, sigOpts{namespace: RoleRecovery}) },
			want: Accepted,
		},
		{
			name: "operational key on signers.rotate", why: "planned rotation by an operator",
			step: rotate, req: func() []byte { return mustRequest(t, rotate, fresh) },
			sig: opSig, want: Accepted,
		},
		{
			name: "recovery key signing as operational", why: "the key may not sign for that namespace",
			step: destroy105, req: func() []byte { return mustRequest(t, destroy105, fresh) },
			sig:  func(r []byte) []byte { return signWith(t, f.rec, r, sigOpts{namespace: RoleOperational}) },
			want: WrongNamespace,
		},
		{
			name: "foreign namespace", why: "a git or file signature must not approve anything",
			step: destroy105, req: func() []byte { return mustRequest(t, destroy105, fresh) },
			sig:  func(r []byte) []byte { return signWith(t, f.op, r, sigOpts{namespace: "file"}) },
			want: WrongNamespace,
		},
		{
			name: "line without namespaces", why: "a key line without namespaces= grants nothing",
			step: destroy105, req: func() []byte { return mustRequest(t, destroy105, fresh) },
			sig:  func(r []byte) []byte { return signWith(t, f.noRole, r, sigOpts{namespace: RoleOperational}) },
			want: WrongNamespace,
		},
		{
			name: "namespace swapped in the blob", why: "the blob says operational, the key signed recovery data",
			step: destroy105, req: func() []byte { return mustRequest(t, destroy105, fresh) },
			sig: func(r []byte) []byte {
				return signWith(t, f.op, r, sigOpts{namespace: RoleOperational, signedNS: RoleRecovery})
			},
			want: BadSignature,
		},
		{
			name: "tampered message", why: "one byte of the signed request changed",
			step: destroy105,
			req: func() []byte {
				return mustRequest(t, destroy105, fresh)
			},
			sig: func(r []byte) []byte {
				s := opSig(r)
				r[len(r)-2] ^= 1 // the request the gate reads differs from the one signed
				return s
			},
			want: BadSignature,
		},
		{
			name: "tampered signature", why: "a bit flipped in the signature bytes",
			step: destroy105, req: func() []byte { return mustRequest(t, destroy105, fresh) },
			sig: func(r []byte) []byte {
				blob := dearmorTest(t, opSig(r))
				blob[len(blob)-5] ^= 0x40
				return armor(blob)
			},
			want: BadSignature,
		},
		{
			name: "truncated armour", why: "the footer is missing",
			step: destroy105, req: func() []byte { return mustRequest(t, destroy105, fresh) },
			sig: func(r []byte) []byte {
				s := opSig(r)
				return s[:len(s)-20]
			},
			want: BadSignature,
		},
		{
			name: "SHA-1 RSA signature", why: "ssh-rsa signatures are refused even from a listed key",
			step: destroy105, req: func() []byte { return mustRequest(t, destroy105, fresh) },
			sig:  nil, // set below: needs an RSA key in the trust root
			want: BadSignature,
		},
		{
			name: "signed statement malformed", why: "a valid signature over something that is not a request",
			step: destroy105, req: func() []byte { return append(mustRequest(t, destroy105, fresh), '\n') },
			sig: opSig, want: BindingMismatch,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := f.verifier(t)
			req := tt.req()
			var sig []byte
			if tt.sig != nil {
				sig = tt.sig(req)
			} else {
				rsaKey := newSigner(t, "rsa2048")
				v.Signers = mustSigners(t, authorizedLine("rsa@ops", `namespaces="felhom-operational"`, rsaKey.PublicKey()))
				sig = signWith(t, rsaKey, req, sigOpts{namespace: RoleOperational, algo: ssh.KeyAlgoRSA})
			}
			d, err := v.Decide(tt.step, req, sig)
			if err != nil {
				t.Fatal(err)
			}
			if d.Outcome != tt.want {
				t.Fatalf("%s: got %s (%s), want %s", tt.why, d.Outcome, d.Reason, tt.want)
			}
			if d.Reason == "" {
				t.Errorf("decision %s has no reason", d.Outcome)
			}
			if tt.name == "tampered message" && !strings.Contains(d.Reason, "the request was changed after it was signed") {
				t.Errorf("tampered message: reason %q does not say the request was changed", d.Reason)
			}
		})
	}
}

func TestDecideReplayed(t *testing.T) {
	f := newGateFixture(t)
	req := mustRequest(t, destroy105, testNow.Add(time.Hour))
	sig := signWith(t, f.op, req, sigOpts{namespace: RoleOperational})

	v := f.verifier(t)
	d, err := v.Decide(destroy105, req, sig)
	if err != nil || d.Outcome != Accepted {
		t.Fatalf("first use: %v %s (%s)", err, d.Outcome, d.Reason)
	}
	if d.Principal != "alice@ops" || d.Role != RoleOperational || d.Fingerprint != ssh.FingerprintSHA256(f.op.PublicKey()) {
		t.Errorf("decision names %q %q %q", d.Principal, d.Role, d.Fingerprint)
	}

	t.Run("same process", func(t *testing.T) {
		d, err := v.Decide(destroy105, req, sig)
		if err != nil || d.Outcome != Replayed {
			t.Fatalf("got %v %s, want replayed", err, d.Outcome)
		}
	})
	t.Run("after restart", func(t *testing.T) {
		d, err := f.verifier(t).Decide(destroy105, req, sig) // new store, same state dir
		if err != nil || d.Outcome != Replayed {
			t.Fatalf("got %v %s, want replayed", err, d.Outcome)
		}
	})
	t.Run("re-signed same request", func(t *testing.T) {
		// ECDSA/Ed25519 signatures are not the replay key: a new signature
		// over the same statement carries the same nonce.
		d, err := f.verifier(t).Decide(destroy105, req, signWith(t, f.op, req, sigOpts{namespace: RoleOperational, hashAlg: "sha256"}))
		if err != nil || d.Outcome != Replayed {
			t.Fatalf("got %v %s, want replayed", err, d.Outcome)
		}
	})
	t.Run("check sees it consumed", func(t *testing.T) {
		d, err := f.verifier(t).Check("pve-demo", testHostID, req, sig)
		if err != nil || d.Outcome != Replayed {
			t.Fatalf("got %v %s, want replayed", err, d.Outcome)
		}
	})
}

// TestDecidePrecedence pins which outcome wins when several apply.
func TestDecidePrecedence(t *testing.T) {
	f := newGateFixture(t)
	old := testNow.Add(-time.Hour)
	tests := []struct {
		name string
		why  string
		step Action
		req  Action
		at   time.Time
		key  ssh.Signer
		ns   string
		want Outcome
	}{
		{"unknown key beats everything", "nothing about an unlisted key's request is believed",
			destroy105, Action{Host: "other", HostID: testHostID, Op: "guest.stop", Guest: 1000}, old, f.stranger, RoleOperational, UnknownSigner},
		{"wrong host beats binding", "a request for another host is that, first",
			destroy105, Action{Host: "other", HostID: testHostID, Op: "guest.stop", Guest: 105}, old, f.op, RoleOperational, WrongHost},
		{"binding beats role", "a recovery key's request for another step is a mismatch",
			destroy105, Action{Host: "pve-demo", HostID: testHostID, Op: "guest.stop", Guest: 105}, testNow.Add(time.Hour), f.rec, RoleRecovery, BindingMismatch},
		{"role beats expiry", "an old recovery signature on a destroy is still the wrong role",
			destroy105, destroy105, old, f.rec, RoleRecovery, RoleDenied},
		{"namespace beats expiry", "a key signing outside its namespace",
			destroy105, destroy105, old, f.rec, RoleOperational, WrongNamespace},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := mustRequest(t, tt.req, tt.at)
			d, err := f.verifier(t).Decide(tt.step, req, signWith(t, tt.key, req, sigOpts{namespace: tt.ns}))
			if err != nil {
				t.Fatal(err)
			}
			if d.Outcome != tt.want {
				t.Fatalf("%s: got %s (%s), want %s", tt.why, d.Outcome, d.Reason, tt.want)
			}
		})
	}
}

// TestDecideOnlyAcceptedConsumes checks that a refused request does not
// burn its nonce.
func TestDecideOnlyAcceptedConsumes(t *testing.T) {
	f := newGateFixture(t)
	req := mustRequest(t, destroy105, testNow.Add(time.Hour))
	sig := signWith(t, f.op, req, sigOpts{namespace: RoleOperational})
	wrongStep := destroy105
	wrongStep.Guest = 106
	v := f.verifier(t)
	if d, _ := v.Decide(wrongStep, req, sig); d.Outcome != BindingMismatch {
		t.Fatalf("got %s, want binding_mismatch", d.Outcome)
	}
	if d, _ := v.Decide(destroy105, req, sig); d.Outcome != Accepted {
		t.Fatalf("got %s (%s), want accepted after a refusal", d.Outcome, d.Reason)
	}
}

func TestCheckWithoutStep(t *testing.T) {
	f := newGateFixture(t)
	req := mustRequest(t, destroy105, testNow.Add(time.Hour))
	sig := signWith(t, f.op, req, sigOpts{namespace: RoleOperational})
	v := f.verifier(t)
	for i := 0; i < 2; i++ { // Check never consumes
		d, err := v.Check("pve-demo", testHostID, req, sig)
		if err != nil || d.Outcome != Accepted {
			t.Fatalf("check %d: %v %s (%s)", i, err, d.Outcome, d.Reason)
		}
		if d.Request == nil || d.Request.Guest != 105 || !bytes.Equal(d.Request.Marshal(), req) {
			t.Fatalf("check %d: request not reported", i)
		}
	}
	if d, _ := v.Check("pve-other", testHostID, req, sig); d.Outcome != WrongHost {
		t.Fatalf("got %s, want wrong_host", d.Outcome)
	}
	// A host of the same name elsewhere: another certificate.
	elsewhere := strings.Replace(testHostID, "5E", "5F", 1)
	if d, _ := v.Check("pve-demo", elsewhere, req, sig); d.Outcome != WrongHost {
		t.Fatalf("check on another host of the same name: got %s, want wrong_host", d.Outcome)
	}
	other := destroy105
	other.HostID = elsewhere
	if d, _ := v.Decide(other, req, sig); d.Outcome != WrongHost {
		t.Fatalf("decide on another host of the same name: got %s, want wrong_host", d.Outcome)
	}
	if d, _ := v.Evaluate(destroy105, req, sig); d.Outcome != Accepted {
		t.Fatalf("evaluate: %s (%s)", d.Outcome, d.Reason)
	}
	if d, _ := v.Decide(destroy105, req, sig); d.Outcome != Accepted {
		t.Fatalf("decide after check: %s", d.Outcome)
	}
	if !strings.Contains(string(req), "guest: 105\n") {
		t.Fatal("fixture request lacks its guest line")
	}
}

// TestDecideCertificatesAndRevocation: a user certificate under a
// cert-authority line is a signer; outside its validity it is expired; a
// revoked key or CA is unknown.
func TestDecideCertificatesAndRevocation(t *testing.T) {
	ca := newSigner(t, "ed25519")
	user := newSigner(t, "ecdsa256")
	certSigner := func(principals []string, after, before time.Time, typ uint32) ssh.Signer {
		c := &ssh.Certificate{Key: user.PublicKey(), CertType: typ, KeyId: "op", ValidPrincipals: principals,
			ValidAfter: uint64(after.Unix()), ValidBefore: uint64(before.Unix())}
		if err := c.SignCert(rand.Reader, ca); err != nil {
			t.Fatal(err)
		}
		s, err := ssh.NewCertSigner(c, user)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	weakCA := newSigner(t, "rsa1024")
	weakCert := &ssh.Certificate{Key: user.PublicKey(), CertType: ssh.UserCert, KeyId: "op", ValidPrincipals: []string{"alice@ops"},
		ValidAfter: uint64(testNow.Add(-time.Hour).Unix()), ValidBefore: uint64(testNow.Add(time.Hour).Unix())}
	if err := weakCert.SignCert(rand.Reader, weakCA); err != nil {
		t.Fatal(err)
	}
	weakCACert, err := ssh.NewCertSigner(weakCert, user)
	if err != nil {
		t.Fatal(err)
	}
	signers := mustSigners(t, authorizedLine("*@ops", `cert-authority,namespaces="felhom-operational"`, ca.PublicKey())+
		authorizedLine("*@ops", `cert-authority,namespaces="felhom-operational"`, weakCA.PublicKey()))
	valid := certSigner([]string{"alice@ops"}, testNow.Add(-time.Hour), testNow.Add(time.Hour), ssh.UserCert)
	tests := []struct {
		name    string
		signer  ssh.Signer
		revoked ssh.Signer
		want    Outcome
		why     string
	}{
		{"certificate in scope", valid, nil, Accepted, "a user certificate by the listed CA"},
		{"certificate expired", certSigner([]string{"alice@ops"}, testNow.Add(-2*time.Hour), testNow.Add(-time.Hour), ssh.UserCert), nil, Expired, "past its valid-before"},
		{"certificate principal out of scope", certSigner([]string{"alice@dev"}, testNow.Add(-time.Hour), testNow.Add(time.Hour), ssh.UserCert), nil, UnknownSigner, "the line vouches for *@ops only"},
		{"host certificate", certSigner([]string{"alice@ops"}, testNow.Add(-time.Hour), testNow.Add(time.Hour), ssh.HostCert), nil, UnknownSigner, "only user certificates sign"},
		{"CA signing itself", ca, nil, UnknownSigner, "a CA line does not list the CA's own key"},
		{"revoked certified key", valid, user, UnknownSigner, "the key inside the certificate is revoked"},
		{"revoked CA", valid, ca, UnknownSigner, "the CA is revoked"},
		{"RSA-1024 CA", weakCACert, nil, BadSignature, "a CA key is held to the signer key policy"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := NewVerifier(signers, &MemNonceStore{})
			v.Now = func() time.Time { return testNow }
			if tt.revoked != nil {
				r, err := ParseRevokedKeys(ssh.MarshalAuthorizedKey(tt.revoked.PublicKey()), "revoked")
				if err != nil {
					t.Fatal(err)
				}
				v.Revoked = r
			}
			req := mustRequest(t, destroy105, testNow.Add(time.Hour))
			d, err := v.Decide(destroy105, req, signWith(t, tt.signer, req, sigOpts{namespace: RoleOperational}))
			if err != nil {
				t.Fatal(err)
			}
			if d.Outcome != tt.want {
				t.Fatalf("%s: got %s (%s), want %s", tt.why, d.Outcome, d.Reason, tt.want)
			}
		})
	}
}

// TestDecideNonceStoreFailure: when the consumed nonces cannot be
// recorded, nothing is accepted and the caller gets the error.
func TestDecideNonceStoreFailure(t *testing.T) {
	f := newGateFixture(t)
	notADir := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(notADir, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	store, err := OpenFileNonceStore(filepath.Join(notADir, "state"), nil)
	if err != nil {
		t.Fatal(err)
	}
	v := NewVerifier(f.signers, store)
	v.Now = func() time.Time { return testNow }
	req := mustRequest(t, destroy105, testNow.Add(time.Hour))
	d, err := v.Decide(destroy105, req, signWith(t, f.op, req, sigOpts{namespace: RoleOperational}))
	if err == nil || d.Accepted() || d.Outcome != "" {
		t.Fatalf("got %v %q, want an error and no outcome", err, d.Outcome)
	}
}

// TestDecideIncompleteVerifier: a Verifier put together without a nonce
// store refuses with an error instead of panicking or accepting; one
// without a clock uses the host clock.
func TestDecideIncompleteVerifier(t *testing.T) {
	f := newGateFixture(t)
	req := mustRequest(t, destroy105, time.Now().Add(time.Hour))
	sig := signWith(t, f.op, req, sigOpts{namespace: RoleOperational})

	v := &Verifier{Signers: f.signers}
	for name, decide := range map[string]func() (Decision, error){
		"decide": func() (Decision, error) { return v.Decide(destroy105, req, sig) },
		"check":  func() (Decision, error) { return v.Check("pve-demo", testHostID, req, sig) },
	} {
		d, err := decide()
		if err == nil || d.Accepted() || d.Outcome != "" {
			t.Errorf("%s without a nonce store: got %v %q, want an error and no outcome", name, err, d.Outcome)
		}
	}

	v = &Verifier{Signers: f.signers, Nonces: &MemNonceStore{}}
	if d, err := v.Decide(destroy105, req, sig); err != nil || d.Outcome != Accepted {
		t.Fatalf("without a clock: got %v %s (%s), want accepted by the host clock", err, d.Outcome, d.Reason)
	}
}
