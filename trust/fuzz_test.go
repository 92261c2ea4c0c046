package trust

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Fuzz targets for every parser of untrusted input. Seed corpora are in
// testdata/fuzz/<target>/ and below; CI runs each target briefly.

func FuzzParseSignature(f *testing.F) {
	for _, name := range []string{"rsa", "ecdsa", "ed25519", "ecdsa_sk", "ed25519_sk", "ecdsa_sk_webauthn", "mldsa44-ed25519"} {
		if b, err := os.ReadFile(filepath.Join("testdata", "openssh", name+".sig")); err == nil {
			f.Add(b)
		}
	}
	f.Add([]byte("-----BEGIN SSH SIGNATURE-----\n-----END SSH SIGNATURE-----\n"))
	msg := []byte("This is a test, this is only a test")
	f.Fuzz(func(t *testing.T, data []byte) {
		sig, err := ParseSignature(data)
		if err != nil {
			return
		}
		// What parses has a key that re-encodes, a hash the verifier
		// knows, and survives re-armouring unchanged.
		if sig.PublicKey == nil || sig.Sig == nil || (sig.HashAlgorithm != "sha256" && sig.HashAlgorithm != "sha512") {
			t.Fatalf("parsed an incomplete signature: %+v", sig)
		}
		blob, err := dearmor(data)
		if err != nil {
			t.Fatal(err)
		}
		again, err := ParseSignature(armor(blob))
		if err != nil || !bytes.Equal(again.PublicKey.Marshal(), sig.PublicKey.Marshal()) || again.Namespace != sig.Namespace {
			t.Fatalf("re-armoured signature differs: %v", err)
		}
		_ = sig.Verify(sig.Namespace, bytes.NewReader(msg)) // must not panic
	})
}

func FuzzParseRequest(f *testing.F) {
	f.Add([]byte(goodRequest))
	f.Add([]byte(strings.Replace(goodRequest, "guest: 105", "guest: -", 1)))
	f.Add([]byte(strings.Replace(goodRequest, `{"purge":true,"volumes":["local-lvm:vm-105-disk-0"]}`, `{"purge":true,"volumes":["a\u2028",""]}`, 1)))
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := ParseRequest(data)
		if err != nil {
			return
		}
		// Strict parsing: what is accepted is exactly the canonical form,
		// and making the same request anew gives the same bytes.
		if !bytes.Equal(r.Marshal(), data) {
			t.Fatalf("accepted non-canonical input %q", data)
		}
		again, err := NewRequest(r.Action, r.Nonce, r.NotAfter)
		if err != nil || !bytes.Equal(again.Marshal(), data) {
			t.Fatalf("NewRequest disagrees with ParseRequest: %v", err)
		}
	})
}

func FuzzParseAllowedSigners(f *testing.F) {
	for _, name := range []string{"ed25519", "ecdsa", "rsa", "ed25519_sk"} {
		if b, err := os.ReadFile(filepath.Join("testdata", "openssh", name+".pub")); err == nil {
			f.Add([]byte(`alice@ops,*@felhom namespaces="felhom-operational",valid-after="20260101Z" ` + string(b)))
			f.Add([]byte(`"bob" cert-authority ` + string(b)))
		}
	}
	f.Add([]byte("# comment\n\n"))
	sig, _ := os.ReadFile(filepath.Join("testdata", "openssh", "ed25519.sig"))
	parsed, _ := ParseSignature(sig)
	at := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, data []byte) {
		as, strictErr := ParseAllowedSigners(bytes.NewReader(data), "fuzz")
		lenient, bad := parseAllowedSigners(data, "fuzz")
		if (strictErr == nil) != (len(bad) == 0) {
			t.Fatalf("strict error %v but %d bad lines", strictErr, len(bad))
		}
		for _, l := range lenient.Lines {
			if l.Key == nil || l.Line < 1 {
				t.Fatalf("line without key or number: %+v", l)
			}
			if parsed != nil {
				l.match(parsed.PublicKey, "", "felhom-operational", at, true)
				l.match(parsed.PublicKey, "alice@ops", "felhom-operational", at, false)
			}
		}
		if as != nil && len(as.Lines) != len(lenient.Lines) {
			t.Fatalf("strict and lenient parses differ")
		}
	})
}

// FuzzNonceStore: any file content is either refused as damage or read
// as a store; a store read clean is exactly what the writer would write
// for what was read (so a change the parser accepts cannot hide a
// record), and one read with a torn tail loses no complete record when
// the next Consume repairs it.
func FuzzNonceStore(f *testing.F) {
	s, _ := OpenFileNonceStore(f.TempDir(), func() time.Time { return testNow })
	entry := func(i int) nonceEntry {
		return nonceEntry{nonce: nonceN(i), keepUntil: testNow.Add(time.Hour).Unix(), highWater: testNow.Unix()}
	}
	clean := append(append(header(minStoreTime), entry(1).record()...), endRecord(1)...)
	f.Add(clean)
	f.Add(append(append(bytes.Clone(clean[:len(clean)-endLen]), entry(2).record()[:40]...), make([]byte, 50)...))
	f.Add(append(header(testNow.Unix()), endRecord(0)...))
	f.Add([]byte(nonceN(1) + " 1795784400\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		st, err := s.parse(data)
		if err != nil {
			if !errors.Is(err, ErrNonceStoreCorrupt) {
				t.Fatalf("error %v is not ErrNonceStoreCorrupt", err)
			}
			return
		}
		var want []byte
		want = append(want, header(st.pruned)...)
		for _, e := range st.entries {
			want = append(want, e.record()...)
		}
		if st.end >= 0 {
			want = append(want, endRecord(len(st.entries))...)
			if !bytes.Equal(want, data) {
				t.Fatalf("read clean, but not in the writer's form:\n%q\nwant\n%q", data, want)
			}
			return
		}
		if !bytes.HasPrefix(data, want) || len(data)-len(want) < endLen || len(data)-len(want) > tornMax {
			t.Fatalf("torn tail of %d bytes after %d records", len(data)-len(want), len(st.entries))
		}
	})
}
