// Package config owns the local host configuration of felhom-converge: one
// small HCL file (default /etc/felhom-converge/config.hcl) plus environment
// overrides. It says who this host is, where its state and trust root live,
// and how to reach its Proxmox API.
//
//	host            = "pve-demo"
//	state_dir       = "/var/lib/felhom-converge"
//	allowed_signers = "/etc/felhom-converge/allowed_signers"
//	proxmox {
//	  endpoint   = "https://127.0.0.1:8006"
//	  node       = "pve"
//	  token_file = "/etc/felhom-converge/proxmox-token"
//	  tls {
//	    fingerprint = "5C:1A:...:A1"
//	  }
//	}
//	privileged {
//	  mode = "sudo"
//	}
//
// Every setting can be overridden by FELHOM_CONVERGE_<SECTION>_<FIELD> in
// upper case (FELHOM_CONVERGE_HOST, FELHOM_CONVERGE_PROXMOX_TLS_FINGERPRINT,
// ...); with every required setting in the environment no file is needed.
// Each value remembers where it came from, so an error names the field and
// its origin.
//
// The API token is a [Secret]: it is never inline-required (environment,
// token_file, systemd's $CREDENTIALS_DIRECTORY/proxmox-token or
// /etc/felhom-converge/proxmox-token), and no formatting of a Config, a
// Secret or an error prints it.
package config

import (
	"cmp"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclparse"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/convert"
)

// Defaults of the local host config.
const (
	DefaultPath           = "/etc/felhom-converge/config.hcl"
	DefaultStateDir       = "/var/lib/felhom-converge"
	DefaultAllowedSigners = "/etc/felhom-converge/allowed_signers"
	DefaultTokenFile      = "/etc/felhom-converge/proxmox-token" // root, 0600; read last, see Load
	DefaultTimeout        = 30 * time.Second
	DefaultConcurrency    = 4
	DefaultPrivilegedMode = "sudo"
	DefaultBackupStorage  = "local"
	DefaultSafetyKeep     = 7 * 24 * time.Hour

	// SimHost is the host name under --sim when the command has no
	// desired-state file to name one: the demo host of the simulator's
	// default seed (examples/demo.hcl).
	SimHost = "pve-demo"

	// CredentialName is the systemd credential (LoadCredential=) holding
	// the API token, read from $CREDENTIALS_DIRECTORY.
	CredentialName = "proxmox-token"

	maxFileSize = 64 << 10
)

// Config is the resolved local host configuration.
type Config struct {
	Host           string // this host's name; a desired-state file must name the same host
	StateDir       string // journal, lock and consumed nonces
	AllowedSigners string // the trust root: an OpenSSH allowed_signers file
	Proxmox        Proxmox
	Privileged     Privileged
	Safety         Safety
	Apply          Apply
	Gate           Gate
	Create         Create

	origins   map[string]string // setting key → where its value came from
	tokenFile string            // proxmox.token_file, read when no token is given directly
	// tokenUnreadable is DefaultTokenFile when it exists but this user
	// may not read it (a service user's run by hand), for RequireProxmox.
	tokenUnreadable string
}

// defaultTokenFile is DefaultTokenFile; tests point it elsewhere.
var defaultTokenFile = DefaultTokenFile

// Proxmox says how to reach this host's Proxmox VE API.
type Proxmox struct {
	Endpoint           string // https://host:8006, without /api2/json
	Node               string
	Token              Secret // USER@REALM!TOKENID=SECRET
	CAFile             string // TLS: verify against this CA bundle
	Fingerprint        string // TLS: pin the leaf certificate's SHA-256 (AA:BB:...)
	InsecureSkipVerify bool   // TLS: no verification; loopback endpoints only
	Timeout            time.Duration
	Concurrency        int
}

// Privileged configures the fenced root CLI.
type Privileged struct {
	Mode string // "sudo" (narrow sudoers allowlist) or "direct" (already root)
	// BindMountDirs are the host directories a desired file may bind-mount
	// into guests, exactly as listed (not what is under them): through the
	// fenced root path, since Proxmox allows bind mounts only to root@pam.
	// Empty: none.
	BindMountDirs []string
}

// Gate is the host's local approval policy: benign steps that lose no
// data but disrupt customers and that this host wants signed anyway. The
// hub's file can never set it.
type Gate struct {
	// Sign lists ops (guest.stop, guest.reboot, ...) and change kinds
	// (memory.shrink, network.change) that need an operational signature.
	Sign []string
}

// Create configures how new guests are made on this host: what only the
// host may decide, never the hub's file.
type Create struct {
	// RootPasswordFile holds the root password of guests created from a
	// template ("": none is set; they get only their SSH keys). Read when
	// such a guest is created; never printed.
	RootPasswordFile string
}

// RootPassword reads the root password for a guest created from a
// template: the first line of create.root_password_file, at least 5
// characters. The file must be a regular file of at most 4 KiB that
// neither group nor others may read. ok is false when no file is
// configured. Errors name the file, never its content.
func (c *Config) RootPassword() (pw Secret, ok bool, err error) {
	path := c.Create.RootPasswordFile
	if path == "" {
		return Secret{}, false, nil
	}
	fail := func(msg string) error {
		return &Error{Key: "create.root_password_file", Origin: c.origins["create.root_password_file"], Msg: msg}
	}
	st, err := os.Stat(path)
	if err != nil {
		return Secret{}, true, fail(fmt.Sprintf("cannot read the root password: %v", err))
	}
	if st.Mode().Perm()&0o077 != 0 {
		return Secret{}, true, fail(fmt.Sprintf("%s may be read by group or others (mode %04o): chmod 0600 it", path, st.Mode().Perm()))
	}
	b, err := readBounded(path, 4096)
	if err != nil {
		return Secret{}, true, fail(fmt.Sprintf("cannot read the root password: %v", err))
	}
	line, _, _ := strings.Cut(string(b), "\n")
	line = strings.TrimSuffix(line, "\r")
	if len(line) < 5 {
		return Secret{}, true, fail(fmt.Sprintf("the first line of %s is shorter than 5 characters, which Proxmox refuses as a password", path))
	}
	return NewSecret(line), true, nil
}

// Apply configures how apply runs.
type Apply struct {
	// Parallel bounds the steps of different guests run at once
	// (default DefaultParallel, like pveproxy's workers).
	Parallel int
	// RecoverWait bounds how long recovery waits for a task a crashed run
	// left running, before it leaves the call for the next run (default
	// DefaultRecoverWait).
	RecoverWait time.Duration
}

// DefaultRecoverWait is how long recovery waits for a task still running.
const DefaultRecoverWait = 5 * time.Minute

// DefaultParallel is how many guests' steps apply runs at once, and
// MaxParallel the most apply.parallel (or apply --parallelism) may say.
const DefaultParallel, MaxParallel = 3, 64

// CheckParallel checks a number of guests apply runs at once.
func CheckParallel(n int) error {
	if n < 1 || n > MaxParallel {
		return fmt.Errorf("must be a whole number from 1 to %d, got %d", MaxParallel, n)
	}
	return nil
}

// Safety configures the safety steps apply takes before a signed
// destructive step (a snapshot before a rollback, a backup before a
// destroy or volume free).
type Safety struct {
	Enabled       bool          // default true
	BackupStorage string        // vzdump target of safety backups (default "local")
	Keep          time.Duration // how long safety snapshots and backups are kept (default 7 days)
	// GoldenVMIDs are the guests whose backups are this host's golden
	// images. When set, a new guest may be restored unsigned only from
	// their archives; when empty, from any archive except another live
	// guest's.
	GoldenVMIDs []int
}

// Secret holds a value that must never be printed. Every fmt verb, JSON and
// text marshalling show a fixed placeholder; only Reveal returns the value.
type Secret struct{ value string }

const redacted = "[redacted]"

// NewSecret wraps s.
func NewSecret(s string) Secret { return Secret{value: s} }

// Reveal returns the secret value, for the one place that sends it.
func (s Secret) Reveal() string { return s.value }

// IsSet reports whether the secret holds a value.
func (s Secret) IsSet() bool { return s.value != "" }

func (s Secret) String() string   { return redacted }
func (s Secret) GoString() string { return "config.Secret{" + redacted + "}" }

// Format prints the placeholder for every verb (%v, %+v, %#v, %s, %q, %x, ...).
func (s Secret) Format(f fmt.State, verb rune) {
	if verb == 'v' && f.Flag('#') {
		fmt.Fprint(f, s.GoString())
		return
	}
	fmt.Fprint(f, redacted)
}

func (s Secret) MarshalText() ([]byte, error) { return []byte(redacted), nil }

// Sources says where to read the configuration from.
type Sources struct {
	// File is the config file named by --config or FELHOM_CONVERGE_CONFIG;
	// it must exist. Empty means DefaultPath, read only when present (and
	// not at all with SimDir).
	File string
	// Getenv reads the environment (os.Getenv when nil).
	Getenv func(string) string
	// SimDir is --sim DIR: the host is the simulator. The default config
	// file is not read; state_dir and allowed_signers default to DIR/state
	// and DIR/allowed_signers, and host to DesiredHost (else SimHost).
	SimDir string
	// DesiredHost is the host named by the desired-state file, if the
	// command has one.
	DesiredHost string
}

// Error is a bad or missing setting, naming the field and where it came from.
type Error struct {
	Key    string // e.g. "proxmox.endpoint"
	Origin string // e.g. "env FELHOM_CONVERGE_PROXMOX_ENDPOINT", "/etc/felhom-converge/config.hcl:4"
	Msg    string
}

func (e *Error) Error() string {
	if e.Origin == "" {
		return fmt.Sprintf("config: %s %s", e.Key, e.Msg)
	}
	return fmt.Sprintf("config: %s (from %s): %s", e.Key, e.Origin, e.Msg)
}

// Load reads the file (when there is one) and the environment, applies
// defaults and checks every value that is set. Whether the settings a
// command needs are present is checked by RequireHost and RequireProxmox.
func Load(src Sources) (*Config, error) {
	getenv := src.Getenv
	if getenv == nil {
		getenv = os.Getenv
	}
	c := &Config{origins: map[string]string{}}
	fields := c.fields()

	// Lowest first: defaults, --sim defaults, the file, the environment.
	for _, f := range fields {
		if f.def != "" {
			if err := c.set(f, f.def, "default"); err != nil {
				return nil, err
			}
		}
	}
	if src.SimDir != "" {
		dir, err := filepath.Abs(src.SimDir)
		if err != nil {
			return nil, fmt.Errorf("config: --sim %s: %w", src.SimDir, err)
		}
		origin := "--sim " + src.SimDir
		sim := map[string]string{
			"state_dir":       filepath.Join(dir, "state"),
			"allowed_signers": filepath.Join(dir, "allowed_signers"),
			"host":            cmp.Or(src.DesiredHost, SimHost),
		}
		for _, f := range fields {
			if v := sim[f.key]; v != "" {
				if err := c.set(f, v, origin); err != nil {
					return nil, err
				}
			}
		}
	}

	path := src.File
	if path == "" && src.SimDir == "" {
		if _, err := os.Stat(DefaultPath); err == nil {
			path = DefaultPath
		}
	}
	if path != "" {
		if err := c.loadFile(path, fields); err != nil {
			return nil, err
		}
	}

	for _, f := range fields {
		for _, name := range f.envNames() {
			if v := getenv(name); v != "" {
				if err := c.set(f, v, "env "+name); err != nil {
					return nil, err
				}
				break
			}
		}
	}

	if err := c.loadTokenFile(getenv, src.SimDir != ""); err != nil {
		return nil, err
	}
	return c, nil
}

// Origin tells where the setting key (e.g. "proxmox.endpoint") came from:
// "default", "--sim DIR", "FILE:LINE" or "env NAME"; "" when unset.
func (c *Config) Origin(key string) string { return c.origins[key] }

// RequireHost checks that this host's name is known.
func (c *Config) RequireHost() error {
	if c.Host == "" {
		return c.missing("host")
	}
	return nil
}

// RequireProxmox checks that everything needed to reach the API is set and
// consistent: endpoint, node, token and exactly one way to trust TLS.
func (c *Config) RequireProxmox() error {
	for _, key := range []string{"proxmox.endpoint", "proxmox.node"} {
		if c.origins[key] == "" {
			return c.missing(key)
		}
	}
	if !c.Proxmox.Token.IsSet() && c.tokenUnreadable != "" {
		return &Error{Key: "proxmox.token", Origin: c.tokenUnreadable, Msg: fmt.Sprintf(
			"this user (uid %d) may not read the token file: run felhom-converge as root, which reads it and then runs as the state directory's owner", os.Geteuid())}
	}
	if !c.Proxmox.Token.IsSet() {
		return &Error{Key: "proxmox.token", Msg: fmt.Sprintf(
			"is not set: put USER@REALM!TOKENID=SECRET in %s, in a file named by proxmox { token_file = ... }, "+
				"in $CREDENTIALS_DIRECTORY/%s (systemd LoadCredential=), or in FELHOM_CONVERGE_PROXMOX_TOKEN", DefaultTokenFile, CredentialName)}
	}
	p := c.Proxmox
	if strings.HasPrefix(p.Endpoint, "http://") {
		// Plain HTTP is only ever loopback (checked when set): no TLS to configure.
		return nil
	}
	n := 0
	for _, set := range []bool{p.CAFile != "", p.Fingerprint != "", p.InsecureSkipVerify} {
		if set {
			n++
		}
	}
	switch {
	case n == 0:
		return &Error{Key: "proxmox.tls", Msg: "is not set: choose how to trust the API's certificate with exactly one of " +
			"tls { ca_file = ... }, tls { fingerprint = ... } (the SHA-256 fingerprint 'pvenode cert info' shows) " +
			"or, for a loopback endpoint only, tls { insecure_skip_verify = true }"}
	case n > 1:
		return &Error{Key: "proxmox.tls", Origin: c.tlsOrigins(), Msg: "sets more than one of ca_file, fingerprint and insecure_skip_verify; keep exactly one"}
	}
	if p.InsecureSkipVerify && !isLoopbackURL(p.Endpoint) {
		return &Error{Key: "proxmox.tls.insecure_skip_verify", Origin: c.origins["proxmox.tls.insecure_skip_verify"],
			Msg: fmt.Sprintf("is allowed only for a loopback endpoint, and %s is not; use tls { fingerprint = ... } or tls { ca_file = ... }", p.Endpoint)}
	}
	return nil
}

// UseSimulator points the Proxmox settings at an in-process simulator. It
// overrides the file and the environment on purpose: --sim must never
// reach a real host.
func (c *Config) UseSimulator(endpoint, node, token, fingerprint string) error {
	origin := "--sim"
	c.Proxmox.CAFile, c.Proxmox.InsecureSkipVerify = "", false
	delete(c.origins, "proxmox.tls.ca_file")
	delete(c.origins, "proxmox.tls.insecure_skip_verify")
	for key, v := range map[string]string{
		"proxmox.endpoint":        endpoint,
		"proxmox.node":            node,
		"proxmox.token":           token,
		"proxmox.tls.fingerprint": fingerprint,
	} {
		if err := c.set(c.field(key), v, origin); err != nil {
			return err
		}
	}
	return nil
}

func (c *Config) tlsOrigins() string {
	var parts []string
	for _, key := range []string{"proxmox.tls.ca_file", "proxmox.tls.fingerprint", "proxmox.tls.insecure_skip_verify"} {
		if o := c.origins[key]; o != "" {
			parts = append(parts, strings.TrimPrefix(key, "proxmox.tls.")+" from "+o)
		}
	}
	return strings.Join(parts, ", ")
}

func (c *Config) missing(key string) error {
	f := c.field(key)
	return &Error{Key: key, Msg: fmt.Sprintf("is not set: set %s in the config file (--config, default %s) or %s",
		f.hclHint(), DefaultPath, f.envNames()[0])}
}

// loadTokenFile resolves the token when it was not given directly: from
// token_file, else from the systemd credential, else (not under --sim)
// from DefaultTokenFile when it exists, which is where the install guide
// puts it: root by hand reads it there, the service gets the same file as
// its credential. A token_file from the environment beats a token from the
// file, as every environment value does.
func (c *Config) loadTokenFile(getenv func(string) string, sim bool) error {
	fromEnv := func(key string) bool { return strings.HasPrefix(c.origins[key], "env ") }
	path, origin := "", ""
	switch {
	case c.tokenFile != "" && (!c.Proxmox.Token.IsSet() || fromEnv("proxmox.token_file") && !fromEnv("proxmox.token")):
		path, origin = c.tokenFile, c.origins["proxmox.token_file"]
	case c.Proxmox.Token.IsSet():
		return nil
	case getenv("CREDENTIALS_DIRECTORY") != "" && exists(filepath.Join(getenv("CREDENTIALS_DIRECTORY"), CredentialName)):
		path, origin = filepath.Join(getenv("CREDENTIALS_DIRECTORY"), CredentialName), "$CREDENTIALS_DIRECTORY/"+CredentialName
	case !sim && exists(defaultTokenFile):
		path, origin = defaultTokenFile, "the default token file"
	default:
		return nil // the token is simply not set
	}
	b, err := readBounded(path, 4096)
	if errors.Is(err, fs.ErrPermission) && path == defaultTokenFile {
		c.tokenUnreadable = path // fine for commands that need no API
		return nil
	}
	if err != nil {
		return &Error{Key: "proxmox.token_file", Origin: origin, Msg: fmt.Sprintf("cannot read the token: %v", err)}
	}
	return c.set(c.field("proxmox.token"), strings.TrimSpace(string(b)), "token file "+path)
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

func (c *Config) loadFile(path string, fields []field) error {
	src, err := readBounded(path, maxFileSize)
	if err != nil {
		return &Error{Key: "--config", Origin: path, Msg: fmt.Sprintf("cannot read the config file: %v", err)}
	}
	file, diags := hclparse.NewParser().ParseHCL(src, path)
	if diags.HasErrors() {
		return fmt.Errorf("config: %w", diags)
	}
	return c.decodeBody(file.Body, "", fields)
}

// decodeBody reads the attributes and blocks of one level of the file
// (prefix "" for the top, "proxmox." inside proxmox, ...).
func (c *Config) decodeBody(body hcl.Body, prefix string, fields []field) error {
	schema := &hcl.BodySchema{}
	byName := map[string]field{}
	for _, f := range fields {
		for _, name := range f.fileNames() {
			rest, ok := strings.CutPrefix(name, prefix)
			if !ok || strings.Contains(rest, ".") {
				continue
			}
			schema.Attributes = append(schema.Attributes, hcl.AttributeSchema{Name: rest})
			byName[rest] = f
		}
	}
	for _, b := range blocksUnder(prefix) {
		schema.Blocks = append(schema.Blocks, hcl.BlockHeaderSchema{Type: b})
	}
	content, diags := body.Content(schema)
	if diags.HasErrors() {
		return fmt.Errorf("config: %w", diags)
	}
	seenBlocks := map[string]hcl.Range{}
	for _, blk := range content.Blocks {
		if first, dup := seenBlocks[blk.Type]; dup {
			return &Error{Key: prefix + blk.Type, Origin: rangeOrigin(blk.DefRange),
				Msg: fmt.Sprintf("only one %s block is allowed; another is at %s", blk.Type, rangeOrigin(first))}
		}
		seenBlocks[blk.Type] = blk.DefRange
		if err := c.decodeBody(blk.Body, prefix+blk.Type+".", fields); err != nil {
			return err
		}
	}
	// Deterministic order, so the first error is stable.
	names := make([]string, 0, len(content.Attributes))
	for name := range content.Attributes {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		attr := content.Attributes[name]
		f := byName[name]
		origin := rangeOrigin(attr.NameRange)
		if prev := c.origins[f.key]; strings.HasPrefix(prev, attr.NameRange.Filename+":") {
			return &Error{Key: f.key, Origin: origin, Msg: "is set twice in the file (also at " + prev + ")"}
		}
		v, diags := attr.Expr.Value(nil)
		if diags.HasErrors() {
			return fmt.Errorf("config: %w", diags)
		}
		s, err := ctyString(v)
		if err != nil {
			return &Error{Key: f.key, Origin: origin, Msg: err.Error()}
		}
		if err := c.set(f, s, origin); err != nil {
			return err
		}
	}
	return nil
}

func ctyString(v cty.Value) (string, error) {
	if v.IsNull() || !v.IsKnown() {
		return "", errors.New("must have a value")
	}
	if t := v.Type(); t.IsListType() || t.IsTupleType() {
		// A list of plain values is read as its comma-separated form
		// (as the environment spells it).
		var parts []string
		for it := v.ElementIterator(); it.Next(); {
			_, e := it.Element()
			s, err := ctyString(e)
			if err != nil || e.Type().IsListType() || e.Type().IsTupleType() {
				return "", errors.New("must be a list of strings or numbers")
			}
			parts = append(parts, s)
		}
		return strings.Join(parts, ","), nil
	}
	s, err := convert.Convert(v, cty.String)
	if err != nil {
		return "", fmt.Errorf("must be a string, number or bool, not %s", v.Type().FriendlyName())
	}
	return s.AsString(), nil
}

func rangeOrigin(r hcl.Range) string { return fmt.Sprintf("%s:%d", r.Filename, r.Start.Line) }

// readBounded reads a regular file of at most limit bytes. It opens it
// without blocking (a FIFO would otherwise wait for a writer) and reads to
// the end (one Read may return less than the file holds).
func readBounded(path string, limit int64) ([]byte, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !st.Mode().IsRegular() {
		return nil, &fs.PathError{Op: "read", Path: path, Err: errors.New("not a regular file")}
	}
	if st.Size() > limit {
		return nil, &fs.PathError{Op: "read", Path: path, Err: fmt.Errorf("larger than %d bytes", limit)}
	}
	b, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > limit { // it grew since Stat
		return nil, &fs.PathError{Op: "read", Path: path, Err: fmt.Errorf("larger than %d bytes", limit)}
	}
	return b, nil
}
