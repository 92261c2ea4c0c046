package proxmox

import (
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// Token is a Proxmox VE API token: USER@REALM!TOKENID=SECRET.
//
// Only the identity is exported. The secret is reachable solely through the
// request header the Client builds, and every way of printing a Token
// (String, GoString, Format with any verb, JSON, text) shows
// "felhom@pve!converge=REDACTED". The secret sits behind a pointer so that
// even reflection-based printing of a struct holding a Token shows an
// address, not the secret.
type Token struct {
	User    string // "felhom"
	Realm   string // "pve"
	TokenID string // "converge"
	secret  *string
}

var (
	// tokenIDPattern is Proxmox's pve-tokenid format.
	tokenIDPattern = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9._-]*$`)
	// userPattern and realmPattern are the two halves of pve-userid.
	userPattern  = regexp.MustCompile(`^[^\s:/]+$`)
	realmPattern = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9._-]*$`)
)

// ParseToken parses "USER@REALM!TOKENID=SECRET", as Proxmox prints a new
// token. A leading "PVEAPIToken=" or "PVEAPIToken " (the header forms
// Proxmox accepts) and surrounding whitespace are tolerated. The last '=' separates the id from the secret.
// Errors never quote the secret.
func ParseToken(s string) (Token, error) {
	s = strings.TrimSpace(s)
	if rest, ok := strings.CutPrefix(s, "PVEAPIToken"); ok && rest != "" && (rest[0] == '=' || rest[0] == ' ') {
		s = strings.TrimSpace(rest[1:])
	}
	i := strings.LastIndexByte(s, '=')
	if i < 0 {
		return Token{}, errors.New("parse API token: want USER@REALM!TOKENID=SECRET, found no '='")
	}
	id, secret := s[:i], s[i+1:]
	// Errors quote the id only when it has an id's shape: text in the wrong
	// order could be the secret itself.
	what := "API token"
	if strings.Contains(id, "@") && strings.Contains(id, "!") {
		what = fmt.Sprintf("API token %q", id)
	}
	if secret == "" {
		return Token{}, fmt.Errorf("parse %s: empty secret", what)
	}
	if strings.ContainsAny(secret, " \t\r\n;") {
		return Token{}, fmt.Errorf("parse %s: the secret contains whitespace or ';'", what)
	}
	userRealm, tokenID, ok := strings.Cut(id, "!")
	if !ok {
		return Token{}, fmt.Errorf("parse %s: want USER@REALM!TOKENID before '='", what)
	}
	at := strings.LastIndexByte(userRealm, '@')
	if at <= 0 || !userPattern.MatchString(userRealm[:at]) || !realmPattern.MatchString(userRealm[at+1:]) {
		return Token{}, fmt.Errorf("parse %s: want USER@REALM before '!' (no whitespace, ':' or '/' in USER; REALM a name like pve or pam)", what)
	}
	if !tokenIDPattern.MatchString(tokenID) {
		return Token{}, fmt.Errorf("parse %s: the token id after '!' must start with a letter and hold only letters, digits, '.', '_' or '-'", what)
	}
	return Token{User: userRealm[:at], Realm: userRealm[at+1:], TokenID: tokenID, secret: &secret}, nil
}

// IsZero reports whether t holds no token.
func (t Token) IsZero() bool { return t.secret == nil }

// ID is the token's full id, USER@REALM!TOKENID, as it appears in task
// owners and ACLs.
func (t Token) ID() string { return t.User + "@" + t.Realm + "!" + t.TokenID }

// String returns the id with the secret redacted.
func (t Token) String() string {
	if t.IsZero() {
		return "(no token)"
	}
	return t.ID() + "=REDACTED"
}

// GoString is like String, for %#v.
func (t Token) GoString() string { return "proxmox.Token(" + strconv.Quote(t.String()) + ")" }

// Format prints the redacted form for every verb and flag.
func (t Token) Format(f fmt.State, verb rune) {
	switch {
	case verb == 'v' && f.Flag('#'):
		fmt.Fprint(f, t.GoString())
	case verb == 'q':
		fmt.Fprint(f, strconv.Quote(t.String()))
	default:
		fmt.Fprint(f, t.String())
	}
}

// MarshalText returns the redacted form; a Token never serialises its secret.
func (t Token) MarshalText() ([]byte, error) { return []byte(t.String()), nil }

// MarshalJSON returns the redacted form as a JSON string.
func (t Token) MarshalJSON() ([]byte, error) { return []byte(strconv.Quote(t.String())), nil }

// authorization is the Authorization header value. It is the only place the
// secret leaves the Token.
func (t Token) authorization() string {
	return "PVEAPIToken=" + t.ID() + "=" + *t.secret
}
