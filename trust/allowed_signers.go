package trust

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"golang.org/x/crypto/ssh"
)

// MaxAllowedSignersSize bounds the trust root file.
const MaxAllowedSignersSize = 1 << 20

// AllowedSigners is a parsed OpenSSH allowed_signers file (ssh-keygen(1),
// ALLOWED SIGNERS): the host's trust root.
type AllowedSigners struct {
	Name  string // file name, for messages
	Lines []SignerLine
}

// SignerLine is one entry of an allowed_signers file.
type SignerLine struct {
	Line          int    // 1-based line number
	Principals    string // comma-separated pattern-list, unquoted
	CertAuthority bool   // Key is a CA that vouches for user certificates
	// Namespaces is the namespaces="..." pattern-list; HasNamespaces says
	// whether the option was present. For felhom a line without it grants
	// no role.
	Namespaces    string
	HasNamespaces bool
	ValidAfter    time.Time // zero: no lower bound
	ValidBefore   time.Time // zero: no upper bound
	Key           ssh.PublicKey
}

// Roles returns the felhom roles (RoleOperational, RoleRecovery) the
// line's namespaces= pattern-list grants, in that order. A line without
// namespaces= grants none. A wildcard such as namespaces="*" or
// "felhom-*" grants both, which is rarely meant: a recovery key should
// not approve ordinary destructive steps.
func (l *SignerLine) Roles() []string {
	var roles []string
	if !l.HasNamespaces {
		return nil
	}
	for _, r := range []string{RoleOperational, RoleRecovery} {
		if matchPatternList(r, l.Namespaces) {
			roles = append(roles, r)
		}
	}
	return roles
}

// LineError is a malformed line of an allowed_signers or revocation file.
type LineError struct {
	Name string
	Line int
	Msg  string
}

func (e *LineError) Error() string { return fmt.Sprintf("%s:%d: %s", e.Name, e.Line, e.Msg) }

// ErrUnsafePermissions is wrapped when the trust root file may be changed
// by someone other than root or the service user.
var ErrUnsafePermissions = errors.New("unsafe permissions")

// LoadAllowedSigners reads and strictly parses the host's allowed_signers
// file. Whoever can write it, or replace it, can approve any destructive
// step, so it refuses:
//
//   - a file that is group- or world-writable, or owned by anyone but root
//     or the current user (ErrUnsafePermissions);
//   - a file whose directory is group- or world-writable, or owned by
//     anyone but root or the current user: its entries could be replaced
//     (ErrUnsafePermissions; only the directory itself is checked, not its
//     ancestors);
//   - a symbolic link, a FIFO, a device or a directory (ErrNotRegular),
//     before anything is read: it is opened with O_NOFOLLOW|O_NONBLOCK and
//     checked with fstat, so a FIFO cannot block the caller;
//   - a file over MaxAllowedSignersSize.
//
// A missing file is an error wrapping fs.ErrNotExist.
func LoadAllowedSigners(path string) (*AllowedSigners, error) {
	f, fi, err := openRegular(path, os.O_RDONLY)
	if err != nil {
		return nil, fmt.Errorf("open allowed signers: %w", err)
	}
	defer f.Close()
	if err := safeOwnerAndMode(fi, "allowed signers "+path); err != nil {
		return nil, err
	}
	dir := filepath.Dir(path)
	di, err := os.Stat(dir)
	if err != nil {
		return nil, fmt.Errorf("allowed signers %s: %w", path, err)
	}
	if err := safeOwnerAndMode(di, fmt.Sprintf("allowed signers %s: its directory %s", path, dir)); err != nil {
		return nil, err
	}
	data, err := readBounded(f, fi, path, MaxAllowedSignersSize)
	if err != nil {
		return nil, fmt.Errorf("read allowed signers: %w", err)
	}
	return ParseAllowedSigners(bytes.NewReader(data), path)
}

// safeOwnerAndMode refuses a file or directory that someone other than
// root or the current user may write.
func safeOwnerAndMode(fi os.FileInfo, what string) error {
	if perm := fi.Mode().Perm(); perm&0o022 != 0 {
		return fmt.Errorf("%s: %w: mode %04o is group- or world-writable", what, ErrUnsafePermissions, perm)
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		if uid := int(st.Uid); uid != 0 && uid != os.Getuid() {
			return fmt.Errorf("%s: %w: owned by uid %d, not root or the service user", what, ErrUnsafePermissions, uid)
		}
	}
	return nil
}

// ParseAllowedSigners parses an allowed_signers file strictly: every form
// ssh-keygen accepts (quoted principals and options, comments, pattern
// principals, cert-authority, namespaces, valid-after, valid-before)
// parses; any line ssh-keygen would reject makes the whole file an error,
// naming every bad line. (ssh-keygen skips bad lines; a trust root with a
// typo is refused instead.)
func ParseAllowedSigners(r io.Reader, name string) (*AllowedSigners, error) {
	data, err := io.ReadAll(io.LimitReader(r, MaxAllowedSignersSize+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", name, err)
	}
	if len(data) > MaxAllowedSignersSize {
		return nil, fmt.Errorf("%s: larger than %d bytes", name, MaxAllowedSignersSize)
	}
	as, bad := parseAllowedSigners(data, name)
	if len(bad) > 0 {
		errs := make([]error, len(bad))
		for i, e := range bad {
			errs[i] = e
		}
		return nil, errors.Join(errs...)
	}
	return as, nil
}

// parseAllowedSigners returns the good lines and the bad ones, so the
// OpenSSH-compatible check can skip bad lines as ssh-keygen does.
func parseAllowedSigners(data []byte, name string) (*AllowedSigners, []*LineError) {
	as := &AllowedSigners{Name: name}
	var bad []*LineError
	for i, line := range splitLines(data) {
		l, err := parseSignerLine(line)
		if err != "" {
			bad = append(bad, &LineError{Name: name, Line: i + 1, Msg: err})
			continue
		}
		if l != nil {
			l.Line = i + 1
			as.Lines = append(as.Lines, *l)
		}
	}
	return as, bad
}

// splitLines splits like getline(3): each line keeps its "\n".
func splitLines(data []byte) []string {
	var lines []string
	for len(data) > 0 {
		i := bytes.IndexByte(data, '\n')
		if i < 0 {
			lines = append(lines, string(data))
			break
		}
		lines = append(lines, string(data[:i+1]))
		data = data[i+1:]
	}
	return lines
}

const (
	whitespace = " \t\r\n"
	spaceTab   = " \t"
)

// parseSignerLine follows OpenSSH's parse_principals_key_and_options. It
// returns nil and "" for a blank or comment line.
func parseSignerLine(line string) (*SignerLine, string) {
	if strings.IndexByte(line, 0) >= 0 {
		return nil, "NUL byte in line"
	}
	cp := strings.TrimLeft(line, whitespace)
	if cp == "" || cp[0] == '#' {
		return nil, ""
	}
	principals, rest, ok := strdelimw(cp)
	if !ok {
		return nil, "invalid line"
	}
	l := &SignerLine{Principals: principals}
	var opts string
	if k, err := readKey(rest); err == nil {
		l.Key = k
	} else {
		end, ok := advancePastOptions(rest)
		if !ok {
			return nil, "invalid options"
		}
		if end == len(rest) {
			return nil, "missing key"
		}
		opts = rest[:end]
		k, err := readKey(strings.TrimLeft(rest[end+1:], spaceTab))
		if err != nil {
			return nil, "invalid key: " + err.Error()
		}
		l.Key = k
	}
	if err := parseSignerOptions(l, opts); err != "" {
		return nil, "bad options: " + err
	}
	return l, ""
}

// strdelimw is OpenSSH's strdelimw: the next white-space delimited token,
// where a double quote starts a quoted part (the quotes are removed).
func strdelimw(s string) (tok, rest string, ok bool) {
	i := strings.IndexAny(s, whitespace+`"`)
	if i < 0 {
		return "", "", false // no delimiter: the line has nothing after the principals
	}
	if s[i] == '"' {
		s = s[:i] + s[i+1:]
		j := strings.IndexByte(s[i:], '"')
		if j < 0 {
			return "", "", false
		}
		return s[:i+j], strings.TrimLeft(s[i+j+1:], whitespace), true
	}
	return s[:i], strings.TrimLeft(s[i+1:], whitespace), true
}

// advancePastOptions is OpenSSH's sshkey_advance_past_options: the end of
// the options token (the first space or tab outside quotes).
func advancePastOptions(s string) (int, bool) {
	quoted := false
	i := 0
	for ; i < len(s) && (quoted || (s[i] != ' ' && s[i] != '\t')); i++ {
		if s[i] == '\\' && i+1 < len(s) && s[i+1] == '"' {
			i++
		} else if s[i] == '"' {
			quoted = !quoted
		}
	}
	return i, !(i == len(s) && quoted)
}

// keyTypeNames maps the type names OpenSSH's sshkey_read accepts to the
// key type the blob must have (the RSA signature algorithm names name RSA
// keys too).
var keyTypeNames = map[string]string{
	ssh.KeyAlgoED25519:        ssh.KeyAlgoED25519,
	ssh.KeyAlgoRSA:            ssh.KeyAlgoRSA,
	ssh.KeyAlgoRSASHA256:      ssh.KeyAlgoRSA,
	ssh.KeyAlgoRSASHA512:      ssh.KeyAlgoRSA,
	keyAlgoDSA:                keyAlgoDSA,
	ssh.KeyAlgoECDSA256:       ssh.KeyAlgoECDSA256,
	ssh.KeyAlgoECDSA384:       ssh.KeyAlgoECDSA384,
	ssh.KeyAlgoECDSA521:       ssh.KeyAlgoECDSA521,
	ssh.KeyAlgoSKED25519:      ssh.KeyAlgoSKED25519,
	ssh.KeyAlgoSKECDSA256:     ssh.KeyAlgoSKECDSA256,
	ssh.CertAlgoED25519v01:    ssh.CertAlgoED25519v01,
	ssh.CertAlgoRSAv01:        ssh.CertAlgoRSAv01,
	ssh.CertAlgoRSASHA256v01:  ssh.CertAlgoRSAv01,
	ssh.CertAlgoRSASHA512v01:  ssh.CertAlgoRSAv01,
	certAlgoDSAv01:            certAlgoDSAv01,
	ssh.CertAlgoECDSA256v01:   ssh.CertAlgoECDSA256v01,
	ssh.CertAlgoECDSA384v01:   ssh.CertAlgoECDSA384v01,
	ssh.CertAlgoECDSA521v01:   ssh.CertAlgoECDSA521v01,
	ssh.CertAlgoSKED25519v01:  ssh.CertAlgoSKED25519v01,
	ssh.CertAlgoSKECDSA256v01: ssh.CertAlgoSKECDSA256v01,
}

func keyTypeFor(name string) (string, bool) {
	t, ok := keyTypeNames[name]
	return t, ok
}

// readKey is OpenSSH's sshkey_read: "type base64" at the start of s,
// anything after it (a comment) ignored.
func readKey(s string) (ssh.PublicKey, error) {
	sp := strings.IndexAny(s, spaceTab)
	if sp < 0 {
		return nil, errors.New("no key blob")
	}
	want, ok := keyTypeFor(s[:sp])
	if !ok {
		return nil, fmt.Errorf("unknown key type %q", s[:sp])
	}
	s = strings.TrimLeft(s[sp:], spaceTab)
	if s == "" {
		return nil, errors.New("no key blob")
	}
	if e := strings.IndexAny(s, spaceTab); e >= 0 {
		s = s[:e]
	}
	blob, err := decodeBase64Loose(s)
	if err != nil {
		return nil, err
	}
	if want == keyAlgoDSA || want == certAlgoDSAv01 {
		if t, _, ok := sshString(blob); !ok || string(t) != want {
			return nil, fmt.Errorf("key blob is not %s", want)
		}
		return opaqueKey{typ: want, blob: blob}, nil
	}
	k, err := ssh.ParsePublicKey(blob)
	if err != nil {
		return nil, err
	}
	if k.Type() != want {
		return nil, fmt.Errorf("key blob is %s, line says %s", k.Type(), want)
	}
	return k, nil
}

// decodeBase64Loose decodes base64 as OpenSSH's b64_pton does: white
// space anywhere is ignored, padding and zero trailing bits are required.
func decodeBase64Loose(s string) ([]byte, error) {
	var clean []byte
	for i := 0; i < len(s); i++ {
		if strings.IndexByte(cSpace, s[i]) < 0 {
			clean = append(clean, s[i])
		}
	}
	out := make([]byte, base64.StdEncoding.DecodedLen(len(clean)))
	n, err := base64.StdEncoding.Strict().Decode(out, clean)
	if err != nil {
		return nil, errors.New("invalid base64")
	}
	return out[:n], nil
}

// parseSignerOptions follows OpenSSH's sshsigopt_parse, including its
// tolerance of empty options between commas.
func parseSignerOptions(l *SignerLine, opts string) string {
	for opts != "" && opts[0] != ' ' && opts[0] != '\t' {
		tok := optionToken(opts)
		switch {
		case hasPrefixFold(opts, "cert-authority"):
			l.CertAuthority = true
			opts = opts[len("cert-authority"):]
		case hasPrefixFold(opts, "namespaces="):
			if l.HasNamespaces {
				return `multiple "namespaces" clauses`
			}
			v, rest, err := dequote(opts[len("namespaces="):])
			if err != "" {
				return "namespaces: " + err
			}
			l.Namespaces, l.HasNamespaces, opts = v, true, rest
		case hasPrefixFold(opts, "valid-after="), hasPrefixFold(opts, "valid-before="):
			after := hasPrefixFold(opts, "valid-after=")
			name, dst := "valid-before", &l.ValidBefore
			if after {
				name, dst = "valid-after", &l.ValidAfter
			}
			if !dst.IsZero() {
				return fmt.Sprintf("multiple %q clauses", name)
			}
			v, rest, err := dequote(opts[len(name)+1:])
			if err != "" {
				return name + ": " + err
			}
			t, perr := ParseOpenSSHTime(v)
			if perr != nil {
				return fmt.Sprintf("invalid %q time", name)
			}
			*dst, opts = t, rest
		}
		if opts == "" || opts[0] == ' ' || opts[0] == '\t' {
			break
		}
		if opts[0] != ',' {
			return fmt.Sprintf("unknown option %q (allowed_signers takes cert-authority, namespaces=, valid-after= and valid-before=)", tok)
		}
		opts = opts[1:]
		if opts == "" {
			return "unexpected end-of-options"
		}
	}
	return ""
}

// optionToken is the option at the start of opts: up to the first comma,
// space or tab outside double quotes.
func optionToken(opts string) string {
	quoted := false
	for i := 0; i < len(opts); i++ {
		switch c := opts[i]; {
		case c == '\\' && i+1 < len(opts) && opts[i+1] == '"':
			i++
		case c == '"':
			quoted = !quoted
		case !quoted && (c == ',' || c == ' ' || c == '\t'):
			return opts[:i]
		}
	}
	return opts
}

func hasPrefixFold(s, prefix string) bool {
	return len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix)
}

// dequote is OpenSSH's opt_dequote: a double-quoted value where \" is a
// literal quote.
func dequote(s string) (val, rest, err string) {
	if s == "" || s[0] != '"' {
		return "", "", "missing start quote"
	}
	var b strings.Builder
	for i := 1; i < len(s); i++ {
		switch {
		case s[i] == '\\' && i+1 < len(s) && s[i+1] == '"':
			b.WriteByte('"')
			i++
		case s[i] == '"':
			return b.String(), s[i+1:], ""
		default:
			b.WriteByte(s[i])
		}
	}
	return "", "", "missing end quote"
}

// ParseOpenSSHTime parses a time as ssh-keygen writes it in valid-after,
// valid-before and -O verify-time: YYYYMMDD, YYYYMMDDHHMM or
// YYYYMMDDHHMMSS, followed by "Z" or "UTC" for UTC. Without a suffix the
// host's local time zone applies as ssh-keygen applies it: mktime(3) with
// tm_isdst = 0, so the wall-clock time is read as the zone's standard
// time even in summer (20260701120000 in Europe/Budapest is 11:00 UTC,
// not 10:00). Out-of-range days roll over as in timegm(3). The Unix epoch
// itself is refused, as ssh-keygen refuses it.
func ParseOpenSSHTime(s string) (time.Time, error) {
	return parseOpenSSHTimeIn(s, time.Local)
}

func parseOpenSSHTimeIn(s string, loc *time.Location) (time.Time, error) {
	switch {
	case len(s) > 1 && strings.EqualFold(s[len(s)-1:], "Z"):
		s, loc = s[:len(s)-1], time.UTC
	case len(s) > 3 && strings.EqualFold(s[len(s)-3:], "UTC"):
		s, loc = s[:len(s)-3], time.UTC
	}
	if len(s) != 8 && len(s) != 12 && len(s) != 14 {
		return time.Time{}, fmt.Errorf("invalid time %q", s)
	}
	num := func(from, to, lo, hi int) (int, bool) {
		if to > len(s) {
			return 0, true
		}
		n := 0
		for _, c := range s[from:to] {
			if c < '0' || c > '9' {
				return 0, false
			}
			n = n*10 + int(c-'0')
		}
		return n, n >= lo && n <= hi
	}
	y, ok1 := num(0, 4, 0, 9999)
	mo, ok2 := num(4, 6, 1, 12)
	d, ok3 := num(6, 8, 1, 31)
	h, ok4 := num(8, 10, 0, 23)
	mi, ok5 := num(10, 12, 0, 59)
	sec, ok6 := num(12, 14, 0, 61)
	if !(ok1 && ok2 && ok3 && ok4 && ok5 && ok6) {
		return time.Time{}, fmt.Errorf("invalid time %q", s)
	}
	t := standardTime(y, time.Month(mo), d, h, mi, sec, loc)
	if t.Unix() <= 0 {
		return time.Time{}, fmt.Errorf("invalid time %q", s)
	}
	return t, nil
}

// standardTime is the instant glibc's mktime(3) returns for a wall-clock
// time with tm_isdst = 0, as OpenSSH's parse_absolute_time calls it: when
// the zone observes daylight saving time then, the offset of the nearest
// standard-time instant is used instead, found by probing outwards in the
// steps glibc uses (mktime.c).
func standardTime(y int, mo time.Month, d, h, mi, sec int, loc *time.Location) time.Time {
	t := time.Date(y, mo, d, h, mi, sec, 0, loc)
	if !t.IsDST() {
		return t
	}
	const stride = 601200              // glibc: shortest DST or standard period in tzdata
	const bound = 457243200/2 + stride // glibc: half the longest period, plus a stride
	wall := time.Date(y, mo, d, h, mi, sec, 0, time.UTC).Unix()
	for delta := int64(stride); delta < bound; delta += stride {
		for _, dir := range []int64{-1, 1} {
			probe := time.Unix(t.Unix()+dir*delta, 0).In(loc)
			if !probe.IsDST() {
				_, offset := probe.Zone()
				return time.Unix(wall-int64(offset), 0).In(loc)
			}
		}
	}
	return t
}

// matchPatternList is OpenSSH's match_pattern_list (case-sensitive): true
// when s matches a positive pattern and no negated ("!") one.
func matchPatternList(s, list string) bool {
	positive := false
	for list != "" {
		neg := false
		if list[0] == '!' {
			neg, list = true, list[1:]
		}
		sub, rest, _ := strings.Cut(list, ",")
		list = rest
		if len(sub) >= 1023 { // OpenSSH: an over-long subpattern matches nothing
			return false
		}
		if matchPattern(s, sub) {
			if neg {
				return false
			}
			positive = true
		}
	}
	return positive
}

// matchPattern is OpenSSH's match_pattern: '*' any run, '?' one byte.
func matchPattern(s, p string) bool {
	si, pi := 0, 0
	star, mark := -1, 0
	for si < len(s) {
		switch {
		case pi < len(p) && (p[pi] == '?' || p[pi] == s[si]) && p[pi] != '*':
			si++
			pi++
		case pi < len(p) && p[pi] == '*':
			star, mark = pi, si
			pi++
		case star >= 0:
			mark++
			si, pi = mark, star+1
		default:
			return false
		}
	}
	for pi < len(p) && p[pi] == '*' {
		pi++
	}
	return pi == len(p)
}

// DSA key names: still valid in an allowed_signers file for ssh-keygen
// 9.2, though felhom never accepts a DSA signature (and x/crypto no longer
// parses DSA keys).
const (
	keyAlgoDSA     = "ssh-dss"
	certAlgoDSAv01 = "ssh-dss-cert-v01@openssh.com"
)

// opaqueKey is a listed key of a type felhom never accepts as a signer
// (DSA): its line parses as ssh-keygen parses it, and it never verifies
// anything. It compares by its wire encoding like any other key.
type opaqueKey struct {
	typ  string
	blob []byte
}

func (k opaqueKey) Type() string    { return k.typ }
func (k opaqueKey) Marshal() []byte { return k.blob }
func (k opaqueKey) Verify([]byte, *ssh.Signature) error {
	return fmt.Errorf("%s keys are not accepted", k.typ)
}
