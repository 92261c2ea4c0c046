package trust

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestParseAllowedSignersForms(t *testing.T) {
	k := newSigner(t, "ed25519")
	key := pubLine(k.PublicKey())
	as := mustSigners(t, "# comment\n\n"+
		`alice@ops,bob@ops namespaces="felhom-operational" `+key+" laptop\n"+
		`"carol@recovery" namespaces="felhom-recovery",valid-after="20260101Z",valid-before="202712312359Z" `+key+"\n"+
		`*@ops CERT-AUTHORITY,Namespaces="felhom-\"x\"" `+key+"\n"+
		"plain@ops "+key+"\n")
	if len(as.Lines) != 4 {
		t.Fatalf("got %d lines", len(as.Lines))
	}
	l := as.Lines
	if l[0].Line != 3 || l[0].Principals != "alice@ops,bob@ops" || l[0].Namespaces != "felhom-operational" || !l[0].HasNamespaces {
		t.Errorf("line 1: %+v", l[0])
	}
	if l[1].Principals != "carol@recovery" || !l[1].ValidAfter.Equal(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)) ||
		!l[1].ValidBefore.Equal(time.Date(2027, 12, 31, 23, 59, 0, 0, time.UTC)) {
		t.Errorf("line 2: %+v", l[1])
	}
	if !l[2].CertAuthority || l[2].Namespaces != `felhom-"x"` {
		t.Errorf("line 3: %+v", l[2])
	}
	if l[3].HasNamespaces || l[3].CertAuthority {
		t.Errorf("line 4: %+v", l[3])
	}
}

// dsaKey is a DSA public key made by ssh-keygen 9.2 (x/crypto no longer
// parses DSA keys).
const dsaKey = "ssh-dss AAAAB3NzaC1kc3MAAACBAMsi+G43Lf4UYipdGuo60ABpUtLXSNLxhAc4DUakjP+LBrIvuQCSBWSUH+mNpIGT5Qes/up1FIuRVOEpo8FExiWfCyh1e/igOyMTAJI4OCjXsx5Ft3eIABtXmNtory0aMUrHrfF/fVGD1+BxHpTrzY4RxAIekteFFC78BiFOrPMfAAAAFQCqTVr1ZuD0ymKgU1FPlxi7AKtV8wAAAIBpdnDzI1/xrj0lqQyiHfsXOThFSA+D9QehMAxSUM8PJN19QudPSN8xHb931q2K0mTvBct+XdXSrMvWoVeL6OSEQG4gINfnznOdmatqLQNp3mu6WUpCpyHjPyyhZjfuqcmoP4oWz5uWczHwOtvdOfN6AgR/QhHq8cdoWR02RAa6bAAAAIAxMCvMEb6ypE9cavT2a2boQEeYgv7zGwmAS6oZuEiGXrpGBcTOkAdGkAqyIKakicKdNv3Xhxk4Wi/ZI19p5vKJ78j8smI3mFcZMH6JXExEOE/bc4ki7SLCCB3HBfymBdSvYpCOwMgMejfIcfg2y3hSjtDM5drravRG06GGPgfl7Q== dsa"

// TestParseAllowedSignersDSA: a DSA line is valid for ssh-keygen 9.2, so it
// does not make the trust root malformed; it just never matches a signer.
func TestParseAllowedSignersDSA(t *testing.T) {
	op := newSigner(t, "ed25519")
	as := mustSigners(t, `old@ops namespaces="felhom-operational" `+dsaKey+"\n"+authorizedLine("alice@ops", `namespaces="felhom-operational"`, op.PublicKey()))
	if len(as.Lines) != 2 || as.Lines[0].Key.Type() != "ssh-dss" {
		t.Fatalf("lines: %+v", as.Lines)
	}
	req := mustRequest(t, destroy105, testNow.Add(time.Hour))
	v := NewVerifier(as, &MemNonceStore{})
	v.Now = func() time.Time { return testNow }
	if d, _ := v.Decide(destroy105, req, signWith(t, op, req, sigOpts{namespace: RoleOperational})); d.Outcome != Accepted {
		t.Fatalf("got %s (%s)", d.Outcome, d.Reason)
	}
	if _, err := ParseAllowedSigners(strings.NewReader("x ssh-dss "+strings.Fields(pubLine(op.PublicKey()))[1]+"\n"), "f"); err == nil {
		t.Fatal("an ed25519 blob under the ssh-dss type parsed")
	}
}

func TestParseAllowedSignersErrors(t *testing.T) {
	key := pubLine(newSigner(t, "ed25519").PublicKey())
	tests := []struct {
		name, content, want string
	}{
		{"principal only", "# ok\nalice\n", "allowed_signers:2: missing key"},
		{"last line principal only", "alice", "allowed_signers:1: invalid line"},
		{"unterminated quote", `"alice ` + key + "\n", "allowed_signers:1: invalid line"},
		{"unknown option", "alice no-touch-required " + key + "\n", "allowed_signers:1: bad options: unknown option \"no-touch-required\""},
		{"unquoted value", "alice namespaces=x " + key + "\n", "allowed_signers:1: bad options: namespaces: missing start quote"},
		{"unknown option after a good one", "alice namespaces=\"felhom-operational\",bogus=\"1 2\" " + key + "\n", `allowed_signers:1: bad options: unknown option "bogus=\"1 2\""`},
		{"option run on", "alice cert-authorityX " + key + "\n", `unknown option "cert-authorityX"`},
		{"bad time", "alice valid-after=\"2026\" " + key + "\n", `invalid "valid-after" time`},
		{"duplicate namespaces", `alice namespaces="a",namespaces="b" ` + key + "\n", `multiple "namespaces" clauses`},
		{"bad time", `alice valid-after="2026" ` + key + "\n", `invalid "valid-after" time`},
		{"trailing comma", `alice namespaces="a", ` + key + "\n", "unexpected end-of-options"},
		{"bad key", "alice ssh-ed25519 AAAA\n", "allowed_signers:1: invalid key"},
		{"key type mismatch", "alice ecdsa-sha2-nistp256 " + strings.Fields(key)[1] + "\n", "invalid key"},
		{"options quote unterminated", `alice namespaces="a ` + key + "\n", "invalid options"},
		{"NUL byte", "alice \x00" + key + "\n", "NUL byte"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseAllowedSigners(strings.NewReader(tt.content), "allowed_signers")
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got %v, want an error containing %q", err, tt.want)
			}
			var le *LineError
			if !errors.As(err, &le) || le.Line == 0 {
				t.Fatalf("error %v carries no line", err)
			}
		})
	}
	t.Run("every bad line is named", func(t *testing.T) {
		_, err := ParseAllowedSigners(strings.NewReader("a\nalice "+key+"\nb\n"), "f")
		if err == nil || !strings.Contains(err.Error(), "f:1:") || !strings.Contains(err.Error(), "f:3:") {
			t.Fatalf("got %v", err)
		}
	})
}

func TestLoadAllowedSignersPermissions(t *testing.T) {
	key := pubLine(newSigner(t, "ed25519").PublicKey())
	dir := t.TempDir()
	path := filepath.Join(dir, "allowed_signers")
	if err := os.WriteFile(path, []byte(`alice namespaces="felhom-operational" `+key+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		mode os.FileMode
		ok   bool
		why  string
	}{
		{0o644, true, "readable by all, writable by the owner"},
		{0o600, true, "private"},
		{0o664, false, "group-writable: the group could add a signer"},
		{0o646, false, "world-writable"},
	} {
		if err := os.Chmod(path, tt.mode); err != nil {
			t.Fatal(err)
		}
		_, err := LoadAllowedSigners(path)
		if (err == nil) != tt.ok || (!tt.ok && !errors.Is(err, ErrUnsafePermissions)) {
			t.Errorf("mode %04o (%s): got %v", tt.mode, tt.why, err)
		}
	}
	if _, err := LoadAllowedSigners(filepath.Join(dir, "missing")); err == nil {
		t.Error("a missing trust root loaded")
	}
	if _, err := LoadAllowedSigners(dir); err == nil {
		t.Error("a directory loaded as trust root")
	}
}

func TestParseOpenSSHTime(t *testing.T) {
	utc := func(y, mo, d, h, mi, s int) time.Time { return time.Date(y, time.Month(mo), d, h, mi, s, 0, time.UTC) }
	tests := []struct {
		in   string
		want time.Time // zero: error
	}{
		{"20261215Z", utc(2026, 12, 15, 0, 0, 0)},
		{"202612151230Z", utc(2026, 12, 15, 12, 30, 0)},
		{"20261215123059Z", utc(2026, 12, 15, 12, 30, 59)},
		{"20261215123059z", utc(2026, 12, 15, 12, 30, 59)},
		{"20261215UTC", utc(2026, 12, 15, 0, 0, 0)},
		{"20260231Z", utc(2026, 3, 3, 0, 0, 0)}, // rolls over, as timegm does
		{"2026121Z", time.Time{}},
		{"2026121512Z", time.Time{}},
		{"20261315Z", time.Time{}},
		{"20261200Z", time.Time{}},
		{"202612152460Z", time.Time{}},
		{"2026-1215Z", time.Time{}},
		{"19700101Z", time.Time{}}, // the epoch itself means "unset" to ssh-keygen
		{"Z", time.Time{}},
	}
	for _, tt := range tests {
		got, err := ParseOpenSSHTime(tt.in)
		if tt.want.IsZero() {
			if err == nil {
				t.Errorf("%s: got %v, want an error", tt.in, got)
			}
			continue
		}
		if err != nil || !got.Equal(tt.want) {
			t.Errorf("%s: got %v %v, want %v", tt.in, got, err, tt.want)
		}
	}
	local, err := ParseOpenSSHTime("20261215")
	if err != nil || !local.Equal(time.Date(2026, 12, 15, 0, 0, 0, 0, time.Local)) {
		t.Errorf("without Z: got %v %v, want local midnight", local, err)
	}
	// Without Z in summer, ssh-keygen reads the zone's standard time
	// (mktime with tm_isdst = 0); TestConformanceLocalTime checks it
	// against ssh-keygen itself.
	budapest, err := time.LoadLocation("Europe/Budapest")
	if err != nil {
		t.Skipf("time zone data not installed: %v", err)
	}
	for in, want := range map[string]time.Time{
		"20260701120000": utc(2026, 7, 1, 11, 0, 0),  // CEST in force, read as CET
		"20260115120000": utc(2026, 1, 15, 11, 0, 0), // CET
		"20260701":       utc(2026, 6, 30, 23, 0, 0), // midnight CET
	} {
		if got, err := parseOpenSSHTimeIn(in, budapest); err != nil || !got.Equal(want) {
			t.Errorf("%s in Europe/Budapest: got %v %v, want %v", in, got.UTC(), err, want)
		}
	}
}

func TestMatchPatternList(t *testing.T) {
	tests := []struct {
		s, list string
		want    bool
	}{
		{"alice@ops", "alice@ops", true},
		{"alice@ops", "bob@ops,alice@ops", true},
		{"alice@ops", "*@ops", true},
		{"alice@ops", "a?ice@ops", true},
		{"alice@ops", "*", true},
		{"alice@ops", "*@ops,!alice@ops", false},
		{"alice@ops", "!alice@ops,*@ops", false},
		{"alice@ops", "!bob@ops", false},
		{"alice@ops", "Alice@ops", false},
		{"alice@ops", "", false},
		{"", "", false},
		{"felhom-operational", "felhom-*", true},
		{"abc", "a*b*c", true},
		{"abc", "a*b*c*d", false},
		{"aaaaaaaaaaaaaaaaaaaaaaaaaaaaab", "a*a*a*a*a*a*a*a*a*c", false},
		{"*", "alice", false},
		{"x", strings.Repeat("x", 1023), false},
	}
	for _, tt := range tests {
		if got := matchPatternList(tt.s, tt.list); got != tt.want {
			t.Errorf("matchPatternList(%q, %q) = %v, want %v", tt.s, tt.list, got, tt.want)
		}
	}
}

func TestSignerLineRoles(t *testing.T) {
	k := newSigner(t, "ed25519").PublicKey()
	for opts, want := range map[string]string{
		`namespaces="felhom-operational"`:        RoleOperational,
		`namespaces="felhom-recovery"`:           RoleRecovery,
		`namespaces="*"`:                         RoleOperational + "," + RoleRecovery,
		`namespaces="felhom-*"`:                  RoleOperational + "," + RoleRecovery,
		`namespaces="felhom-*,!felhom-recovery"`: RoleOperational,
		`namespaces="file,git"`:                  "",
		"":                                       "",
		`namespaces="felhom-recovery,felhom-operational"`: RoleOperational + "," + RoleRecovery,
	} {
		as := mustSigners(t, authorizedLine("alice@ops", opts, k))
		if got := strings.Join(as.Lines[0].Roles(), ","); got != want {
			t.Errorf("%s: roles %q, want %q", opts, got, want)
		}
	}
}

func TestLoadAllowedSignersDirectoryAndFileKind(t *testing.T) {
	key := pubLine(newSigner(t, "ed25519").PublicKey())
	content := []byte(`alice namespaces="felhom-operational" ` + key + "\n")
	base := t.TempDir()
	dir := filepath.Join(base, "etc")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "allowed_signers")
	if err := os.WriteFile(path, content, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadAllowedSigners(path); err != nil {
		t.Fatal(err)
	}
	// A directory others may write: they could replace the file.
	for _, mode := range []os.FileMode{0o775, 0o757, 0o1777} {
		if err := os.Chmod(dir, mode); err != nil {
			t.Fatal(err)
		}
		_, err := LoadAllowedSigners(path)
		if !errors.Is(err, ErrUnsafePermissions) || !strings.Contains(err.Error(), "its directory") {
			t.Errorf("directory mode %04o: %v", mode, err)
		}
	}
	os.Chmod(dir, 0o755)
	// A symbolic link is refused, even to a good file.
	link := filepath.Join(dir, "link")
	os.Symlink(path, link)
	if _, err := LoadAllowedSigners(link); !errors.Is(err, ErrNotRegular) {
		t.Errorf("symbolic link: %v", err)
	}
	// A FIFO is refused at once instead of blocking until a writer comes.
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Skip(err)
	}
	done := make(chan error, 1)
	go func() { _, err := LoadAllowedSigners(fifo); done <- err }()
	select {
	case err := <-done:
		if !errors.Is(err, ErrNotRegular) {
			t.Errorf("FIFO: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("LoadAllowedSigners blocked on a FIFO")
	}
	// Too large: refused before parsing.
	big := filepath.Join(dir, "big")
	os.WriteFile(big, bytes.Repeat([]byte("#\n"), MaxAllowedSignersSize), 0o644)
	if _, err := LoadAllowedSigners(big); !errors.Is(err, ErrTooLarge) {
		t.Errorf("oversized: %v", err)
	}
}

// TestLoadAllowedSignersForeignOwner needs root: a file or directory owned
// by another user is refused.
func TestLoadAllowedSignersForeignOwner(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("needs root to give files to another user")
	}
	key := pubLine(newSigner(t, "ed25519").PublicKey())
	dir := filepath.Join(t.TempDir(), "etc")
	os.Mkdir(dir, 0o755)
	path := filepath.Join(dir, "allowed_signers")
	os.WriteFile(path, []byte(`alice namespaces="felhom-operational" `+key+"\n"), 0o644)
	const nobody = 65534
	if err := os.Chown(path, nobody, nobody); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadAllowedSigners(path); !errors.Is(err, ErrUnsafePermissions) || !strings.Contains(err.Error(), "owned by uid 65534") {
		t.Errorf("file of another user: %v", err)
	}
	os.Chown(path, 0, 0)
	os.Chown(dir, nobody, nobody)
	if _, err := LoadAllowedSigners(path); !errors.Is(err, ErrUnsafePermissions) || !strings.Contains(err.Error(), "its directory") {
		t.Errorf("directory of another user: %v", err)
	}
}
