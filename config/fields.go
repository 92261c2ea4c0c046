package config

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/felhom/felhom-converge/ops"
	"github.com/felhom/felhom-converge/proxmox"
	"github.com/felhom/felhom-converge/schema"
)

// field is one setting: its key ("proxmox.endpoint"), default, the file
// spellings that are accepted (the key itself plus aliases), and how a
// string value is checked and stored.
type field struct {
	key      string
	def      string
	aliases  []string // other file spellings, e.g. "proxmox.fingerprint"
	envAlias []string // other environment names
	secret   bool     // never echo the value
	store    func(v string) error
}

// blocksUnder lists the block types allowed at one level of the file.
func blocksUnder(prefix string) []string {
	switch prefix {
	case "":
		return []string{"proxmox", "privileged", "safety", "apply", "gate", "create"}
	case "proxmox.":
		return []string{"tls"}
	}
	return nil
}

func (f field) fileNames() []string { return append([]string{f.key}, f.aliases...) }

func (f field) envNames() []string {
	name := "FELHOM_CONVERGE_" + strings.ToUpper(strings.ReplaceAll(f.key, ".", "_"))
	return append([]string{name}, f.envAlias...)
}

// hclHint shows how the key is written in the file.
func (f field) hclHint() string {
	parts := strings.Split(f.key, ".")
	s := parts[len(parts)-1] + " = ..."
	for i := len(parts) - 2; i >= 0; i-- {
		s = parts[i] + " { " + s + " }"
	}
	return s
}

func (c *Config) field(key string) field {
	for _, f := range c.fields() {
		if f.key == key {
			return f
		}
	}
	panic("config: unknown setting " + key)
}

// set stores v for f and records its origin; a bad value is an *Error that
// names the field and the origin (and, for the token, never the value).
func (c *Config) set(f field, v string, origin string) error {
	if err := f.store(v); err != nil {
		msg := err.Error()
		if !f.secret {
			msg = fmt.Sprintf("%s (got %q)", msg, withoutUserinfo(v))
		}
		return &Error{Key: f.key, Origin: origin, Msg: msg}
	}
	c.origins[f.key] = origin
	return nil
}

var (
	hostNamePattern = regexp.MustCompile(`^[A-Za-z0-9]([A-Za-z0-9.-]{0,251}[A-Za-z0-9])?$`)
	nodeNamePattern = regexp.MustCompile(`^[a-zA-Z0-9]([a-zA-Z0-9-]*[a-zA-Z0-9])?$`)
	// tokenPattern is USER@REALM!TOKENID=SECRET as Proxmox splits it: the
	// token id is a pve-configid, the secret follows the last '='.
	tokenPattern = regexp.MustCompile(`^[^\s@!=:]+@[A-Za-z0-9.\-_]+![A-Za-z][A-Za-z0-9.\-_]*=[^\s=]+$`)
)

func (c *Config) fields() []field {
	p := &c.Proxmox
	return []field{
		{key: "host", store: storeMatch(&c.Host, hostNamePattern, "must be a host name (letters, digits, '-' and '.')")},
		{key: "state_dir", def: DefaultStateDir, store: storePath(&c.StateDir)},
		{key: "allowed_signers", def: DefaultAllowedSigners, store: storePath(&c.AllowedSigners)},
		{key: "proxmox.endpoint", store: func(v string) error {
			ep, err := normaliseEndpoint(v)
			if err != nil {
				return err
			}
			p.Endpoint = ep
			return nil
		}},
		{key: "proxmox.node", store: storeMatch(&p.Node, nodeNamePattern, "must be a Proxmox node name (letters, digits and '-')")},
		{key: "proxmox.token", secret: true, store: func(v string) error {
			v = strings.TrimPrefix(strings.TrimSpace(v), "PVEAPIToken=")
			if !tokenPattern.MatchString(v) {
				return errors.New("must have the form USER@REALM!TOKENID=SECRET (the value is not shown)")
			}
			p.Token = NewSecret(v)
			return nil
		}},
		{key: "proxmox.token_file", store: storePath(&c.tokenFile)},
		{key: "proxmox.tls.ca_file", aliases: []string{"proxmox.ca_file"}, envAlias: []string{"FELHOM_CONVERGE_PROXMOX_CA_FILE"},
			store: storePath(&p.CAFile)},
		{key: "proxmox.tls.fingerprint", aliases: []string{"proxmox.fingerprint"}, envAlias: []string{"FELHOM_CONVERGE_PROXMOX_FINGERPRINT"},
			store: func(v string) error {
				fp, err := proxmox.NormalizeFingerprint(v)
				if err != nil {
					return errors.New("must be a SHA-256 fingerprint: 32 hex pairs such as 5C:1A:...:A1")
				}
				p.Fingerprint = fp
				return nil
			}},
		{key: "proxmox.tls.insecure_skip_verify", aliases: []string{"proxmox.insecure_skip_verify"}, envAlias: []string{"FELHOM_CONVERGE_PROXMOX_INSECURE_SKIP_VERIFY"},
			store: storeBool(&p.InsecureSkipVerify)},
		{key: "proxmox.timeout", def: DefaultTimeout.String(), store: storeDuration(&p.Timeout, parseDuration, 1, time.Hour, "must be between 1s and 1h")},
		{key: "proxmox.concurrency", def: strconv.Itoa(DefaultConcurrency), store: storeInt(&p.Concurrency, 1, 64)},
		{key: "privileged.mode", def: DefaultPrivilegedMode, store: func(v string) error {
			if v != "sudo" && v != "direct" {
				return errors.New(`must be "sudo" or "direct"`)
			}
			c.Privileged.Mode = v
			return nil
		}},
		{key: "privileged.bind_mount_dirs", store: func(v string) error {
			var dirs []string
			for _, d := range strings.FieldsFunc(v, func(r rune) bool { return r == ',' || r == ' ' }) {
				if !filepath.IsAbs(d) || filepath.Clean(d) != d || !bindDirPattern.MatchString(d) {
					return fmt.Errorf("%q is not a clean absolute path of letters, digits and _ . - (write a list such as [\"/srv/shared\"])", d)
				}
				if why := schema.RefusedHostDir(d); why != "" {
					return fmt.Errorf("%q can never be bind-mounted into a guest: %s", d, why)
				}
				dirs = append(dirs, d)
			}
			c.Privileged.BindMountDirs = dirs
			return nil
		}},
		{key: "safety.enabled", def: "true", store: storeBool(&c.Safety.Enabled)},
		{key: "safety.backup_storage", def: DefaultBackupStorage, store: storeMatch(&c.Safety.BackupStorage, storageIDPattern, "must be a Proxmox storage id such as local")},
		{key: "safety.golden_vmids", store: func(v string) error {
			var ids []int
			for _, f := range listItems(v) {
				n, err := strconv.Atoi(f)
				if err != nil || n < 100 || n > 999999999 {
					return fmt.Errorf("%q is not a guest id (100 to 999999999); write a list such as [9000, 9001]", f)
				}
				ids = append(ids, n)
			}
			c.Safety.GoldenVMIDs = ids
			return nil
		}},
		{key: "gate.sign", store: func(v string) error {
			var list []string
			for _, f := range listItems(v) {
				if err := ops.CheckPolicyEntry(f); err != nil {
					return err
				}
				list = append(list, f)
			}
			c.Gate.Sign = list
			return nil
		}},
		{key: "apply.parallel", def: strconv.Itoa(DefaultParallel), store: storeInt(&c.Apply.Parallel, 1, MaxParallel)},
		{key: "apply.recover_wait", def: DefaultRecoverWait.String(), store: storeDuration(&c.Apply.RecoverWait, parseDuration, 10*time.Second, 6*time.Hour, "must be between 10s and 6h")},
		{key: "create.root_password_file", store: storePath(&c.Create.RootPasswordFile)},
		{key: "safety.keep", def: "7d", store: storeDuration(&c.Safety.Keep, parseDays, time.Hour, 3650*24*time.Hour, "must be between 1h and 3650d")},
	}
}

// bindDirPattern is the alphabet of a bind-mountable host directory: what
// the fenced root path passes to pct (and a sudoers rule can match).
var bindDirPattern = regexp.MustCompile(`^(/[A-Za-z0-9_][A-Za-z0-9._-]*)+$`)

// storageIDPattern is Proxmox's storage id format (pve-storage-id).
var storageIDPattern = regexp.MustCompile(`^[a-zA-Z][a-zA-Z0-9._-]*[a-zA-Z0-9]$`)

// parseDays takes "7d" (days) as well as what parseDuration takes.
func parseDays(v string) (time.Duration, error) {
	if n, ok := strings.CutSuffix(v, "d"); ok {
		days, err := strconv.Atoi(n)
		if err != nil {
			return 0, errors.New(`must be a duration such as "7d" or "36h"`)
		}
		return time.Duration(days) * 24 * time.Hour, nil
	}
	return parseDuration(v)
}

func storePath(dst *string) func(string) error {
	return func(v string) error {
		if strings.TrimSpace(v) == "" || strings.ContainsRune(v, 0) {
			return errors.New("must be a file system path")
		}
		abs, err := filepath.Abs(v)
		if err != nil {
			return err
		}
		*dst = abs
		return nil
	}
}

// storeMatch stores a value pattern matches; msg says what it must be.
func storeMatch(dst *string, pattern *regexp.Regexp, msg string) func(string) error {
	return func(v string) error {
		if !pattern.MatchString(v) {
			return errors.New(msg)
		}
		*dst = v
		return nil
	}
}

// storeInt stores a whole number from lo to hi.
func storeInt(dst *int, lo, hi int) func(string) error {
	return func(v string) error {
		n, err := strconv.Atoi(v)
		if err != nil || n < lo || n > hi {
			return fmt.Errorf("must be a whole number from %d to %d", lo, hi)
		}
		*dst = n
		return nil
	}
}

// storeDuration stores a duration parse reads that lies from lo to hi;
// msg says the range.
func storeDuration(dst *time.Duration, parse func(string) (time.Duration, error), lo, hi time.Duration, msg string) func(string) error {
	return func(v string) error {
		d, err := parse(v)
		if err != nil {
			return err
		}
		if d < lo || d > hi {
			return errors.New(msg)
		}
		*dst = d
		return nil
	}
}

// listItems splits a list setting's value at commas and spaces.
func listItems(v string) []string {
	return strings.FieldsFunc(v, func(r rune) bool { return r == ',' || r == ' ' })
}

func storeBool(dst *bool) func(string) error {
	return func(v string) error {
		switch strings.ToLower(v) {
		case "true", "1", "yes":
			*dst = true
		case "false", "0", "no":
			*dst = false
		default:
			return errors.New("must be true or false")
		}
		return nil
	}
}

// parseDuration takes Go durations ("30s", "2m") or whole seconds ("30").
func parseDuration(v string) (time.Duration, error) {
	if n, err := strconv.Atoi(v); err == nil {
		return time.Duration(n) * time.Second, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		return 0, errors.New(`must be a duration such as "30s" or "2m"`)
	}
	return d, nil
}

// normaliseEndpoint accepts https://host[:port][/api2/json] and returns
// https://host:port. Plain http is accepted only for loopback hosts (the
// simulator), because the token would cross the network in clear text.
func normaliseEndpoint(v string) (string, error) {
	u, err := url.Parse(strings.TrimSpace(v))
	if err != nil || u.Host == "" || u.Hostname() == "" {
		return "", errors.New("must be a URL such as https://pve.example:8006")
	}
	switch u.Scheme {
	case "https":
	case "http":
		if !isLoopbackHost(u.Hostname()) {
			return "", errors.New("must use https: plain http is allowed only for loopback endpoints")
		}
	default:
		return "", errors.New("must be an https:// URL")
	}
	if u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return "", errors.New("must not carry user info (user:password@), a query or a fragment; the API token goes in token_file")
	}
	path := strings.TrimSuffix(strings.TrimSuffix(u.Path, "/"), "/api2/json")
	if path != "" {
		return "", errors.New("must be the server's base URL (optionally ending in /api2/json)")
	}
	port := u.Port()
	if port == "" {
		port = "8006"
	}
	return u.Scheme + "://" + net.JoinHostPort(u.Hostname(), port), nil
}

// withoutUserinfo returns v, to be printed in an error, without what could
// be a user name and password in it: everything after the scheme up to
// the last '@' (a password may hold '/' or '@' itself, so this does not
// trust a URL parser to find it).
func withoutUserinfo(v string) string {
	at := strings.LastIndexByte(v, '@')
	if at < 0 {
		return v
	}
	start := 0
	if i := strings.Index(v, "://"); i >= 0 && i < at {
		start = i + 3
	}
	return v[:start] + "REDACTED@" + v[at+1:]
}

func isLoopbackURL(endpoint string) bool {
	u, err := url.Parse(endpoint)
	return err == nil && isLoopbackHost(u.Hostname())
}

func isLoopbackHost(h string) bool {
	if h == "localhost" {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}

// KeepToken returns getenv, except that it answers the API token's
// environment name with c's token, so that the config loaded again
// through it still has the token after the process switched to a user
// who cannot read root's token file. The token stays in this process; a
// command it starts does not inherit it.
func (c *Config) KeepToken(getenv func(string) string) func(string) string {
	if !c.Proxmox.Token.IsSet() {
		return getenv
	}
	token, name := c.Proxmox.Token, c.field("proxmox.token").envNames()[0]
	return func(k string) string {
		if k == name {
			return token.Reveal()
		}
		return getenv(k)
	}
}
