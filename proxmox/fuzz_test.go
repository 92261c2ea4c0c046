package proxmox

import (
	"fmt"
	"strconv"
	"strings"
	"testing"
)

// Whatever ParseToken is given, its error never quotes the secret (the
// text after the last '='), and a parsed token never prints it.
func FuzzParseToken(f *testing.F) {
	f.Add("felhom@pve!converge=" + testSecret)
	f.Add("PVEAPIToken=root@pam!tok=" + testSecret)
	f.Add(testSecret)
	f.Add("felhom@pve=" + testSecret)
	f.Add("a@b!c=d=e")
	f.Fuzz(func(t *testing.T, s string) {
		trimmed := strings.TrimPrefix(strings.TrimSpace(s), "PVEAPIToken=")
		i := strings.LastIndexByte(trimmed, '=')
		secret := trimmed[i+1:] // the whole input when there is no '='
		tok, err := ParseToken(s)
		if err != nil {
			// Only the id part (before the last '=') may be quoted; the
			// secret's text may show only where the quoted id holds it.
			quotedID := strconv.Quote(trimmed[:max(i, 0)])
			if len(secret) >= 4 && strings.Contains(err.Error(), secret) && !strings.Contains(quotedID, secret) {
				t.Fatalf("error %q quotes the secret %q", err, secret)
			}
			return
		}
		// Every form is built from the id and the placeholder alone. (The
		// id may itself hold the secret's text, as user "=0" with secret
		// "0" does, so searching the output for the secret proves nothing.)
		redacted := tok.ID() + "=REDACTED"
		for _, c := range []struct{ got, want string }{
			{tok.String(), redacted},
			{fmt.Sprintf("%v", tok), redacted},
			{fmt.Sprintf("%+v", tok), redacted},
			{fmt.Sprintf("%s", tok), redacted},
			{fmt.Sprintf("%q", tok), strconv.Quote(redacted)},
			{fmt.Sprintf("%#v", tok), "proxmox.Token(" + strconv.Quote(redacted) + ")"},
		} {
			if c.got != c.want {
				t.Fatalf("token printed as %q, want %q", c.got, c.want)
			}
		}
		if want := "PVEAPIToken=" + tok.ID() + "=" + secret; tok.authorization() != want {
			t.Fatalf("header %q, want %q", tok.authorization(), want)
		}
	})
}

// What ParseUPID accepts prints back byte for byte.
func FuzzParseUPID(f *testing.F) {
	f.Add(testUPID)
	f.Add("UPID:pve:00001234:00ABCDEF:6650A1B3:vzdump::root@pam:")
	f.Add("UPID:node-1:0000FFFF:1000000AB:6650A1B3:vzdump:101:root@pam:")
	f.Fuzz(func(t *testing.T, s string) {
		u, err := ParseUPID(s)
		if err != nil {
			return
		}
		if got := u.String(); got != s {
			t.Fatalf("ParseUPID(%q).String() = %q", s, got)
		}
	})
}
