package trust

import (
	"os"
	"testing"
	"time"
)

func TestInstallBundleDecidesAsCheckAndInstallsTheAccepted(t *testing.T) {
	f := newGateFixture(t)
	v := f.verifier(t)
	d := NewRequestDir(f.stateDir, v.Nonces)
	d.Now = v.Now
	sign := func(a Action, signed bool) BundleEntry {
		req := mustRequest(t, a, testNow.Add(time.Hour))
		r, _ := ParseRequest(req)
		e := BundleEntry{Name: r.ID() + RequestSuffix, Req: req}
		if signed {
			e.Sig = signWith(t, f.op, req, sigOpts{namespace: RoleOperational})
		}
		return e
	}
	good := sign(destroy105, true)
	unsigned := sign(destroy105, false)
	elsewhere := destroy105
	elsewhere.Host = "pve-two"
	other := sign(elsewhere, true)
	tampered := sign(destroy105, true)
	tampered.Req = mustRequest(t, destroy105, testNow.Add(2*time.Hour)) // the signature is over other bytes
	used := sign(destroy105, true)
	if dec, err := v.Decide(destroy105, used.Req, used.Sig); err != nil || !dec.Accepted() {
		t.Fatalf("spend: %v %v", dec, err)
	}
	renamed := sign(destroy105, true)
	renamed.Name = good.Name // another signed request under good's name
	b := &Bundle{Entries: []BundleEntry{good, unsigned, other, tampered, used, renamed}}
	got, err := d.InstallBundle(v, "pve-demo", testHostID, b)
	if err != nil {
		t.Fatal(err)
	}
	want := []struct {
		skipped string
		outcome Outcome
		refused bool
	}{
		{"", Accepted, false},
		{"not signed", "", false},
		{"for host pve-two", "", false},
		{"", BadSignature, true},
		{"", Replayed, true},
		{"", BindingMismatch, true},
	}
	for i, w := range want {
		g := got[i]
		if g.Skipped != w.skipped || g.Decision.Outcome != w.outcome || g.Refused() != w.refused {
			t.Errorf("%s: skipped %q outcome %s refused %v; want %q %s %v", g.Name, g.Skipped, g.Decision.Outcome, g.Refused(), w.skipped, w.outcome, w.refused)
		}
		if (g.Path != "") != (i == 0) {
			t.Errorf("%s: installed at %q", g.Name, g.Path)
		}
	}
	entries, _ := os.ReadDir(d.Signatures)
	if len(entries) != 2 {
		t.Errorf("signatures directory holds %d files, want the one pair", len(entries))
	}
	// Installing decides with Check: nothing was spent.
	if dec, err := v.Decide(destroy105, good.Req, good.Sig); err != nil || !dec.Accepted() {
		t.Errorf("after install the gate still accepts it: %s %v", dec.Outcome, err)
	}
	// A store that cannot answer installs nothing at all.
	d2 := NewRequestDir(t.TempDir(), brokenNonces{})
	v.Nonces = brokenNonces{}
	if _, err := d2.InstallBundle(v, "pve-demo", testHostID, &Bundle{Entries: []BundleEntry{sign(destroy105, true)}}); err == nil {
		t.Error("a broken nonce store: no error")
	}
	if _, err := os.Stat(d2.Signatures); !os.IsNotExist(err) {
		t.Errorf("a broken nonce store: the signatures directory was made: %v", err)
	}
}

func TestTally(t *testing.T) {
	ds := []InstallDecision{
		{Name: "a.req", Decision: Decision{Outcome: Accepted}, Path: "/s/a.req"},
		{Name: "b.req", Decision: Decision{Outcome: Replayed}},
		{Name: "c.req", Skipped: "not signed"},
		{Name: "d.req", Decision: Decision{Outcome: Accepted}}, // accepted, not installed: skipped
	}
	if i, r, s := Tally(ds); i != 1 || r != 1 || s != 2 {
		t.Errorf("Tally = %d installed, %d refused, %d skipped", i, r, s)
	}
}
