package trust

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func newTestRequestDir(t *testing.T) (*RequestDir, *MemNonceStore) {
	t.Helper()
	nonces := &MemNonceStore{}
	d := NewRequestDir(t.TempDir(), nonces)
	d.Now = func() time.Time { return testNow }
	return d, nonces
}

func TestRequestDirLiveIsTheOneRule(t *testing.T) {
	d, nonces := newTestRequestDir(t)
	r := testRequest(t, destroy105) // not-after testNow + 1h
	if live, err := d.Live(r); !live || err != nil {
		t.Fatalf("fresh request: live %v, %v", live, err)
	}
	d.Now = func() time.Time { return r.NotAfter }
	if live, _ := d.Live(r); live {
		t.Error("a request at its not-after is live")
	}
	d.Now = func() time.Time { return testNow }
	if err := nonces.Consume(r.Nonce, r.NotAfter); err != nil {
		t.Fatal(err)
	}
	if live, _ := d.Live(r); live {
		t.Error("a spent request is live")
	}
	d.Nonces = brokenNonces{}
	if live, err := d.Live(testRequest(t, destroy105)); live || err == nil {
		t.Errorf("a store that cannot answer: live %v, err %v; want not live and an error", live, err)
	}
}

type brokenNonces struct{}

func (brokenNonces) Consumed(string) (bool, error)   { return false, ErrNonceStoreCorrupt }
func (brokenNonces) Consume(string, time.Time) error { return ErrNonceStoreCorrupt }

func TestRequestDirObtainReusesALiveRequestOnly(t *testing.T) {
	d, nonces := newTestRequestDir(t)
	first, path, err := d.Obtain(destroy105, time.Hour, nil)
	if err != nil {
		t.Fatal(err)
	}
	if filepath.Dir(path) != d.Requests || filepath.Base(path) != first.ID()+RequestSuffix {
		t.Fatalf("written at %s", path)
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o644 {
		t.Fatalf("request file: %v %v", fi, err)
	}
	again, _, err := d.Obtain(destroy105, time.Hour, nil)
	if err != nil || again.Nonce != first.Nonce {
		t.Fatalf("a live request for the same binding is reused: %v, nonce %s vs %s", err, again.Nonce, first.Nonce)
	}
	// Claimed by another step of the same plan: a second request.
	other, _, err := d.Obtain(destroy105, time.Hour, func(id string) bool { return id == first.ID() })
	if err != nil || other.Nonce == first.Nonce {
		t.Fatalf("skip: %v, same nonce %v", err, other.Nonce == first.Nonce)
	}
	// Spent: never offered again.
	for _, r := range []Request{first, other} {
		if err := nonces.Consume(r.Nonce, r.NotAfter); err != nil {
			t.Fatal(err)
		}
	}
	fresh, _, err := d.Obtain(destroy105, time.Hour, nil)
	if err != nil || fresh.Nonce == first.Nonce || fresh.Nonce == other.Nonce {
		t.Fatalf("after spending: %v, reused a spent nonce", err)
	}
	// Another binding never matches.
	moved := destroy105
	moved.Guest = 106
	if _, _, ok, _ := d.Find(moved, nil); ok {
		t.Error("Find matched another guest")
	}
	// A broken store: a fresh request, never a maybe-spent one.
	d.Nonces = brokenNonces{}
	if r, _, err := d.Obtain(destroy105, time.Hour, nil); err != nil || r.Nonce == fresh.Nonce {
		t.Errorf("broken store: %v, reused %v", err, r.Nonce == fresh.Nonce)
	}
}

func TestRequestDirPendingAndDropSpent(t *testing.T) {
	d, nonces := newTestRequestDir(t)
	waiting, _, _ := d.Obtain(destroy105, time.Hour, nil)
	other := destroy105
	other.Guest = 107
	signed, signedPath, _ := d.Obtain(other, time.Hour, nil)
	spent := destroy105
	spent.Guest = 108
	used, _, _ := d.Obtain(spent, time.Hour, nil)
	expiring := destroy105
	expiring.Guest = 109
	if _, _, err := d.Obtain(expiring, time.Minute, nil); err != nil {
		t.Fatal(err)
	}
	if err := nonces.Consume(used.Nonce, used.NotAfter); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Install(filepath.Base(signedPath), signed.Marshal(), []byte("signature")); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(d.Requests, "junk.req"), []byte("not a request"), 0o644); err != nil {
		t.Fatal(err)
	}
	d.Now = func() time.Time { return testNow.Add(2 * time.Minute) }
	pending, _, err := d.Pending()
	if err != nil {
		t.Fatal(err)
	}
	if len(pending) != 1 || pending[0].ID != waiting.ID() {
		t.Fatalf("pending: %+v; want only %s (not the signed, spent, expired or junk ones)", pending, waiting.ID())
	}
	dropped, err := d.DropSpent()
	if err != nil || len(dropped) != 1 || dropped[0] != used.ID() {
		t.Fatalf("DropSpent: %v %v", dropped, err)
	}
	if _, err := os.Stat(filepath.Join(d.Requests, used.ID()+RequestSuffix)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the spent request is still there: %v", err)
	}
	if _, err := os.Stat(filepath.Join(d.Requests, "junk.req")); err != nil {
		t.Errorf("a file DropSpent cannot judge was removed: %v", err)
	}
}

func TestRequestDirInstallIsAtomicAndPlain(t *testing.T) {
	d, _ := newTestRequestDir(t)
	r := testRequest(t, destroy105)
	name := r.ID() + RequestSuffix
	path, err := d.Install(name, r.Marshal(), []byte("sig one\n"))
	if err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(d.Signatures); err != nil || fi.Mode().Perm() != 0o700 {
		t.Errorf("signatures directory: %v %v", fi, err)
	}
	// Re-signed: the .sig is replaced.
	if _, err := d.Install(name, r.Marshal(), []byte("sig two\n")); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(path + ".sig"); string(b) != "sig two\n" {
		t.Errorf("sig: %q", b)
	}
	// Another request under the name is refused, and the pair there stays.
	other := testRequest(t, destroy105)
	if _, err := d.Install(name, other.Marshal(), []byte("sig three\n")); err == nil {
		t.Fatal("another request was installed under the name")
	}
	got, _, _ := d.Signed()
	if len(got) != 1 || !bytes.Equal(got[0].Req, r.Marshal()) || string(got[0].Sig) != "sig two\n" {
		t.Fatalf("after a refused install: %+v", got)
	}
	for _, bad := range []string{"../x.req", ".hidden.req", "x.sig", ".req", "a b.req", "a/b.req", "x\n.req"} {
		if _, err := d.Install(bad, r.Marshal(), []byte("s")); err == nil {
			t.Errorf("Install(%q) accepted", bad)
		}
	}
	if _, err := d.Install("big.req", r.Marshal(), bytes.Repeat([]byte("s"), MaxSignatureSize+1)); err == nil {
		t.Error("an oversized signature was installed")
	}
	entries, _ := os.ReadDir(d.Signatures)
	for _, e := range entries {
		if e.Name() != name && e.Name() != name+".sig" {
			t.Errorf("left behind: %s", e.Name())
		}
	}
}

func TestRequestDirSweepSpentMovesSignaturesAside(t *testing.T) {
	d, nonces := newTestRequestDir(t)
	used := testRequest(t, destroy105)
	keep := testRequest(t, destroy105)
	for _, r := range []Request{used, keep} {
		if _, err := d.Install(r.ID()+RequestSuffix, r.Marshal(), []byte("sig\n")); err != nil {
			t.Fatal(err)
		}
	}
	if err := nonces.Consume(used.Nonce, used.NotAfter); err != nil {
		t.Fatal(err)
	}
	moved, err := d.SweepSpent()
	if err != nil || len(moved) != 1 {
		t.Fatalf("SweepSpent: %+v %v", moved, err)
	}
	m := moved[0]
	if m.ID != used.ID() || m.Nonce != used.Nonce || m.Op != used.Op || m.Guest != 105 || m.Host != "pve-demo" || !m.Moved.Equal(testNow) {
		t.Errorf("audit facts: %+v", m)
	}
	if m.Path != filepath.Join(d.Signatures, SpentDirName, used.ID()+RequestSuffix) {
		t.Errorf("moved to %s", m.Path)
	}
	for _, p := range []string{m.Path, m.Path + ".sig"} {
		if _, err := os.Stat(p); err != nil {
			t.Error(err)
		}
	}
	left, problems, _ := d.Signed()
	if len(left) != 1 || left[0].ID != keep.ID() || len(problems) != 0 {
		t.Errorf("left: %+v, problems %v", left, problems)
	}
	if again, err := d.SweepSpent(); err != nil || len(again) != 0 {
		t.Errorf("a second sweep: %+v %v", again, err)
	}
}
