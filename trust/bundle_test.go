package trust

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

const testSig = "-----BEGIN SSH SIGNATURE-----\nU1NIU0lHAAAAAQ==\n-----END SSH SIGNATURE-----\n"

func TestBundleRoundTripAndConcatenation(t *testing.T) {
	r1 := testRequest(t, destroy105)
	other := destroy105
	other.Host = "pve-two"
	r2 := testRequest(t, other)
	b := &Bundle{Entries: []BundleEntry{
		{Name: r1.ID() + RequestSuffix, Header: []string{"host:  pve-demo", "plan:  \x1b[31m- guest.destroy\u202e"}, Req: r1.Marshal()},
		{Name: r2.ID() + RequestSuffix, Req: r2.Marshal(), Sig: []byte(testSig)},
	}}
	text := b.Marshal()
	if bytes.ContainsAny(text, "\x1b\r") || strings.Contains(string(text), "\u202e") {
		t.Fatalf("a header's control character reached the text:\n%s", text)
	}
	got, err := ParseBundle(text, "b")
	if err != nil {
		t.Fatalf("%v\n%s", err, text)
	}
	if len(got.Entries) != 2 || !bytes.Equal(got.Entries[0].Req, r1.Marshal()) || got.Entries[0].Signed() ||
		!bytes.Equal(got.Entries[1].Sig, []byte(testSig)) || got.Entries[0].Header[0] != "host:  pve-demo" {
		t.Fatalf("parsed: %+v", got.Entries)
	}
	if !bytes.Equal(got.Marshal(), text) {
		t.Errorf("Marshal(Parse(x)) != x:\n%s\n---\n%s", got.Marshal(), text)
	}
	// Two hosts' bundles, concatenated; the same entry twice, signed once.
	signedFirst := &Bundle{Entries: []BundleEntry{{Name: r1.ID() + RequestSuffix, Req: r1.Marshal(), Sig: []byte(testSig)}}}
	cat := append(append(append([]byte{}, text...), signedFirst.Marshal()...), text...)
	got, err = ParseBundle(cat, "all")
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Entries) != 2 || !got.Entries[0].Signed() {
		t.Errorf("concatenated: %+v", got.Entries)
	}
}

func TestParseBundleRefusesAnythingElse(t *testing.T) {
	r := testRequest(t, destroy105)
	name := r.ID() + RequestSuffix
	entry := "--- " + name + "\n" + string(r.Marshal())
	for why, text := range map[string]string{
		"no header":              entry,
		"wrong version":          "felhom-converge signatures v2\n\n" + entry,
		"CRLF":                   strings.ReplaceAll(BundleHeader+"\n\n"+entry, "\n", "\r\n"),
		"not UTF-8":              BundleHeader + "\n# \xff\n",
		"stray text":             BundleHeader + "\nhello\n",
		"bad name":               BundleHeader + "\n--- ../etc/passwd.req\n" + string(r.Marshal()),
		"hidden name":            BundleHeader + "\n--- .x.req\n" + string(r.Marshal()),
		"no request":             BundleHeader + "\n--- " + name + "\n# header only\n\n",
		"unterminated signature": BundleHeader + "\n\n" + entry + "-----BEGIN SSH SIGNATURE-----\nAAAA\n",
		"blank inside signature": BundleHeader + "\n\n" + entry + "-----BEGIN SSH SIGNATURE-----\n\nAAAA\n-----END SSH SIGNATURE-----\n",
		"text after signature":   BundleHeader + "\n\n" + entry + testSig + "trailing\n",
		"conflicting duplicates": BundleHeader + "\n\n" + entry + "\n--- " + name + "\n" + string(testRequest(t, destroy105).Marshal()),
		"conflicting signatures": BundleHeader + "\n\n" + entry + testSig + "\n" + entry + strings.Replace(testSig, "AAAQ", "AAAg", 1),
		"oversized request":      BundleHeader + "\n--- " + name + "\n" + strings.Repeat("x", MaxRequestSize+1) + "\n",
		"oversized bundle":       BundleHeader + "\n" + strings.Repeat("#\n", MaxBundleSize/2),
	} {
		b, err := ParseBundle([]byte(text), "in")
		var be *BundleError
		if err == nil || !errors.As(err, &be) || b != nil {
			t.Errorf("%s: got %v, %v; want a *BundleError and no bundle", why, b, err)
		}
	}
}

func TestParseBundleBoundsEntries(t *testing.T) {
	var b strings.Builder
	b.WriteString(BundleHeader + "\n")
	for i := 0; i <= MaxBundleEntries; i++ {
		r := testRequest(t, destroy105)
		b.WriteString("\n--- " + r.ID() + RequestSuffix + "\n" + string(r.Marshal()))
	}
	if _, err := ParseBundle([]byte(b.String()), "many"); err == nil || !strings.Contains(err.Error(), "more than 1000 entries") {
		t.Errorf("err = %v", err)
	}
}

func FuzzParseBundle(f *testing.F) {
	f.Add([]byte(BundleHeader + "\n\n--- a.req\n# h\nx\n" + testSig))
	f.Fuzz(func(t *testing.T, data []byte) {
		b, err := ParseBundle(data, "fuzz")
		if err != nil {
			return
		}
		again, err := ParseBundle(b.Marshal(), "again")
		if err != nil {
			t.Fatalf("Marshal of a parsed bundle does not parse: %v\n%s", err, b.Marshal())
		}
		if len(again.Entries) != len(b.Entries) {
			t.Fatalf("%d entries, then %d", len(b.Entries), len(again.Entries))
		}
		for i := range b.Entries {
			x, y := b.Entries[i], again.Entries[i]
			if x.Name != y.Name || !bytes.Equal(x.Req, y.Req) || !bytes.Equal(x.Sig, y.Sig) {
				t.Fatalf("entry %d changed: %+v -> %+v", i, x, y)
			}
		}
	})
}
