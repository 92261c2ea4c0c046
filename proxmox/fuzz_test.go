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
		for _, out := range []string{tok.String(), fmt.Sprintf("%#v", tok), fmt.Sprintf("%+v", tok), fmt.Sprintf("%q", tok)} {
			if strings.Contains(out, "="+secret) && secret != "REDACTED" {
				t.Fatalf("%q shows the secret %q", out, secret)
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
