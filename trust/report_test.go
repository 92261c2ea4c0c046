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

// VerifyDir says a default directory not made yet holds no requests, and
// for a directory with one signed and one unsigned request prints a line
// each, fails, and says so through Error and Hint; a directory that
// cannot be read is a *DirReadError.
func TestVerifyDirReports(t *testing.T) {
	f := newGateFixture(t)
	v := f.verifier(t)
	var out bytes.Buffer
	var msgs []string
	r := Report{Out: &out,
		Warn:  func(m string) { msgs = append(msgs, "warning: "+m) },
		Error: func(m string) { msgs = append(msgs, "error: "+m) },
		Hint:  func(m string) { msgs = append(msgs, "hint: "+m) }}

	missing := filepath.Join(t.TempDir(), "signatures")
	if ok, err := v.VerifyDir("pve-demo", testHostID, missing, true, r); !ok || err != nil || out.String() != "no signature requests in "+missing+"\n" {
		t.Fatalf("default directory not made yet: ok %v, err %v, out %q", ok, err, out.String())
	}
	if _, err := v.VerifyDir("pve-demo", testHostID, missing, false, r); !errors.As(err, new(*DirReadError)) {
		t.Fatalf("a named directory that is missing: %v, want a *DirReadError", err)
	}

	dir := t.TempDir()
	signed := mustRequest(t, destroy105, testNow.Add(time.Hour))
	unsigned := mustRequest(t, destroy105, testNow.Add(time.Hour))
	for name, data := range map[string][]byte{
		"a.req": signed, "a.req.sig": signWith(t, f.op, signed, sigOpts{namespace: RoleOperational}),
		"b.req": unsigned, "c.req.sig": []byte("orphan"),
	} {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	out.Reset()
	ok, err := v.VerifyDir("pve-demo", testHostID, dir, false, r)
	if ok || err != nil {
		t.Fatalf("one request unsigned: ok %v, err %v", ok, err)
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 2 || !strings.HasPrefix(lines[0], "a  accepted") || !strings.HasPrefix(lines[1], "b  ") {
		t.Errorf("lines:\n%s", out.String())
	}
	if len(msgs) != 3 || !strings.HasPrefix(msgs[0], "warning: c.req.sig: ") || msgs[1] != "error: 1 of 2 requests do not verify" ||
		!strings.HasPrefix(msgs[2], "hint: verify checks the signatures") {
		t.Errorf("messages: %q", msgs)
	}
}

func TestBundleWaiting(t *testing.T) {
	for n, want := range map[int]string{
		0: "no request waits for a signature on pve1",
		1: "1 request waits for a signature on pve1",
		3: "3 requests wait for a signature on pve1",
	} {
		if got := (&Bundle{Entries: make([]BundleEntry, n)}).Waiting("pve1"); got != want {
			t.Errorf("%d entries: %q, want %q", n, got, want)
		}
	}
}
