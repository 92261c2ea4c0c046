package hub

import (
	"context"
	"errors"
	"net/http"
	"path/filepath"
	"sync"
	"testing"

	"github.com/felhom/felhom-converge/trust"
)

func TestPullSignaturesHandlesEachBundleOnce(t *testing.T) {
	var mu sync.Mutex
	body := trust.BundleHeader + "\n\n--- a.req\nfelhom-converge request v1\n"
	var seen []string
	url := serve(t, func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		etag := `"` + sha256Hex([]byte(body))[:8] + `"`
		seen = append(seen, r.Header.Get("If-None-Match"))
		if r.Header.Get("If-None-Match") == etag {
			w.WriteHeader(http.StatusNotModified)
			return
		}
		w.Header().Set("ETag", etag)
		w.Write([]byte(body))
	})
	dest := filepath.Join(t.TempDir(), "host.hcl")
	installs := 0
	install := func(b *trust.Bundle) error {
		installs++
		if installs == 1 && (len(b.Entries) != 1 || b.Entries[0].Name != "a.req") {
			t.Errorf("bundle: %+v", b.Entries)
		}
		return nil
	}
	o := Options{URL: url + "/all.signed", Host: "pve-demo"}
	res, err := PullSignatures(context.Background(), o, dest, install)
	if err != nil || res.Outcome != Updated || res.Entries != 1 || installs != 1 {
		t.Fatalf("first: %+v %v, %d installs", res, err, installs)
	}
	res, err = PullSignatures(context.Background(), o, dest, install)
	if err != nil || res.Outcome != NotModified || installs != 1 {
		t.Fatalf("unchanged: %+v %v, %d installs", res, err, installs)
	}
	if seen[1] == "" {
		t.Error("no If-None-Match on the second pull")
	}
	st, _ := ReadState(dest)
	if s := st.Signatures; s == nil || s.LastSuccess.IsZero() || s.ETag == "" || s.URL != url+"/all.signed" {
		t.Errorf("state: %+v", s)
	}

	// An invalid bundle: install is not called, the failure is recorded,
	// and the last handled bundle's ETag stays (no 304 for the bad one).
	mu.Lock()
	body = "not a bundle\n"
	mu.Unlock()
	_, err = PullSignatures(context.Background(), o, dest, install)
	wantFetchError(t, err, Invalid)
	if installs != 1 {
		t.Error("install was called with an invalid bundle")
	}
	st, _ = ReadState(dest)
	if st.Signatures.LastReason != Invalid {
		t.Errorf("state: %+v", st.Signatures)
	}

	// An install that fails leaves the bundle to be fetched whole again.
	mu.Lock()
	body = trust.BundleHeader + "\n"
	mu.Unlock()
	failing := errors.New("nonce store damaged")
	if _, err := PullSignatures(context.Background(), o, dest, func(*trust.Bundle) error { return failing }); !errors.Is(err, failing) {
		t.Fatalf("err = %v", err)
	}
	res, err = PullSignatures(context.Background(), o, dest, install)
	if err != nil || res.Outcome != Updated || installs != 2 {
		t.Errorf("after a failed install: %+v %v, %d installs", res, err, installs)
	}
}
