package pvesim

// Parameter schemas and their validation, with pve-common JSONSchema.pm's
// messages. Every method refuses unknown parameters (additionalProperties
// => 0); form booleans must be 0 or 1.

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"github.com/felhom/felhom-converge/timezone"
)

type ptype int

const (
	tString ptype = iota
	tInt
	tBool
	tNumber
)

type pdef struct {
	typ      ptype
	min, max *float64
	enum     []string
	optional bool
	maxLen   int
	check    func(string) error // format check; its message is the error text
	pve9     bool               // a parameter PVE 9 added: unknown to 8.4
}

type schema struct {
	props map[string]pdef
	dyn   func(name string) (pdef, bool) // pattern-named keys (mpN, netN, ...)
}

func (p pdef) opt() pdef { p.optional = true; return p }

func str() pdef                         { return pdef{typ: tString} }
func boolean() pdef                     { return pdef{typ: tBool, optional: true} }
func enum(v ...string) pdef             { return pdef{typ: tString, enum: v} }
func strMax(n int) pdef                 { return pdef{typ: tString, maxLen: n} }
func checked(f func(string) error) pdef { return pdef{typ: tString, check: f} }

func integer(min, max float64) pdef {
	return pdef{typ: tInt, min: &min, max: &max}
}

func number(min, max float64) pdef {
	return pdef{typ: tNumber, min: &min, max: &max}
}

func (s schema) lookup(name string, pve9 bool) (pdef, bool) {
	if p, ok := s.props[name]; ok && (pve9 || !p.pve9) {
		return p, true
	}
	if s.dyn != nil {
		return s.dyn(name)
	}
	return pdef{}, false
}

var (
	intPattern    = regexp.MustCompile(`^[+-]?\d+$`)
	numberPattern = regexp.MustCompile(`^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$`)
)

// validate checks params against the schema of the node's release and
// returns a 400 with every offending parameter.
func (s schema) validate(params map[string]string, pve9 bool) error {
	errs := map[string]string{}
	for name, v := range params {
		p, ok := s.lookup(name, pve9)
		if !ok {
			errs[name] = "property is not defined in schema and the schema does not allow additional properties"
			continue
		}
		if msg := p.checkValue(v); msg != "" {
			errs[name] = msg
		}
	}
	for name, p := range s.props {
		if _, ok := params[name]; !ok && !p.optional {
			errs[name] = "property is missing and it is not optional"
		}
	}
	if len(errs) > 0 {
		return paramError(errs)
	}
	return nil
}

func (p pdef) checkValue(v string) string {
	switch p.typ {
	case tInt:
		if !intPattern.MatchString(v) {
			return fmt.Sprintf("type check ('integer') failed - got '%s'", v)
		}
	case tNumber:
		if !numberPattern.MatchString(v) {
			return fmt.Sprintf("type check ('number') failed - got '%s'", v)
		}
	case tBool:
		if v != "0" && v != "1" {
			return fmt.Sprintf("type check ('boolean') failed - got '%s'", v)
		}
	}
	if p.typ == tInt || p.typ == tNumber {
		f, _ := strconv.ParseFloat(v, 64)
		if p.min != nil && f < *p.min {
			return fmt.Sprintf("value must have a minimum value of %s", strconv.FormatFloat(*p.min, 'f', -1, 64))
		}
		if p.max != nil && f > *p.max {
			return fmt.Sprintf("value must have a maximum value of %s", strconv.FormatFloat(*p.max, 'f', -1, 64))
		}
	}
	if p.enum != nil {
		found := false
		for _, e := range p.enum {
			if e == v {
				found = true
			}
		}
		if !found {
			return fmt.Sprintf("value '%s' does not have a value in the enumeration '%s'", v, strings.Join(p.enum, ", "))
		}
	}
	if p.maxLen > 0 && len(v) > p.maxLen {
		return fmt.Sprintf("value may only be %d characters long", p.maxLen)
	}
	if p.check != nil {
		if err := p.check(v); err != nil {
			return err.Error()
		}
	}
	return ""
}

var (
	nodePattern     = regexp.MustCompile(`^[a-zA-Z0-9]([a-zA-Z0-9\-]*[a-zA-Z0-9])?$`)
	storageIDRegexp = regexp.MustCompile(`^[a-z][a-z0-9\-_.]*[a-z0-9]$`)
	dnsNamePattern  = regexp.MustCompile(`^([a-zA-Z0-9]([a-zA-Z0-9\-]*[a-zA-Z0-9])?)(\.([a-zA-Z0-9]([a-zA-Z0-9\-]*[a-zA-Z0-9])?))*$`)
)

func regexCheck(re *regexp.Regexp) func(string) error {
	return func(v string) error {
		if !re.MatchString(v) {
			return fmt.Errorf("value does not match the regex pattern")
		}
		return nil
	}
}

func vmidDef() pdef    { return integer(100, 999999999) }
func nodeDef() pdef    { return checked(regexCheck(nodePattern)) }
func storDef() pdef    { return checked(regexCheck(storageIDRegexp)) }
func configID() pdef   { p := checked(checkConfigID); p.maxLen = 40; return p }
func upidDef() pdef    { return str() }
func volidDef() pdef   { return str() }
func vmidList() pdef   { return checked(checkVMIDList) }
func pruneDef() pdef   { return checked(checkPrune) }
func sizeArgDef() pdef { return checked(regexCheck(regexp.MustCompile(`^\+?\d+(\.\d+)?[KMGT]?$`))) }

// checkConfigID is the pve-configid format (pve_verify_configid): a
// letter, then at least one more letter, digit, '_' or '-'.
func checkConfigID(v string) error {
	if !configIDPattern.MatchString(v) {
		return fmt.Errorf("invalid format - invalid configuration ID '%s'", v)
	}
	return nil
}

func checkVMIDList(v string) error {
	for _, f := range strings.FieldsFunc(v, func(r rune) bool { return r == ',' || r == ';' || r == ' ' }) {
		n, err := strconv.Atoi(f)
		if err != nil || n < 100 || n > 999999999 {
			return fmt.Errorf("invalid format - value '%s' does not look like a valid VM ID", f)
		}
	}
	return nil
}

var pruneKeys = map[string]bool{"keep-all": true, "keep-last": true, "keep-hourly": true,
	"keep-daily": true, "keep-weekly": true, "keep-monthly": true, "keep-yearly": true}

// checkPrune is the prune-backups format with validate_prune_backups:
// keep-all is a boolean, the others integers of at least 0, and keep-all
// set conflicts with any other option above 0.
func checkPrune(v string) error {
	ps, err := parsePropString(v, "", pruneKeys)
	if err != nil {
		return err
	}
	positive := false
	for _, k := range sortedKeys(ps) {
		x := ps[k]
		if k == "keep-all" {
			if err := normalizeBooleans(ps, k); err != nil {
				return err
			}
			continue
		}
		n, err := strconv.Atoi(x)
		if err != nil || !intPattern.MatchString(x) {
			return fmt.Errorf("invalid format - %s: type check ('integer') failed - got '%s'", k, x)
		}
		if n < 0 {
			return fmt.Errorf("invalid format - %s: value must have a minimum value of 0", k)
		}
		positive = positive || n > 0
	}
	if ps["keep-all"] == "1" && positive {
		//lint:ignore ST1005 Proxmox's own message, full stop included
		return fmt.Errorf("invalid format - keep-all cannot be set together with other options.")
	}
	return nil
}

// lxcKeys are the container config keys (pve-container LXC/Config.pm).
func lxcKeys() map[string]pdef {
	return map[string]pdef{
		"memory":       integer(16, 1<<50).opt(),
		"swap":         integer(0, 1<<50).opt(),
		"cores":        integer(1, 8192).opt(),
		"cpulimit":     number(0, 8192).opt(),
		"cpuunits":     integer(0, 500000).opt(),
		"hostname":     pdef{typ: tString, maxLen: 255, check: regexCheck(dnsNamePattern), optional: true},
		"description":  strMax(8192).opt(),
		"tags":         checked(func(v string) error { _, err := normalizeTags(v); return err }).opt(),
		"onboot":       boolean(),
		"protection":   boolean(),
		"template":     boolean(),
		"console":      boolean(),
		"debug":        boolean(),
		"unprivileged": boolean(),
		"ostype":       enum("debian", "devuan", "ubuntu", "centos", "fedora", "opensuse", "archlinux", "alpine", "gentoo", "nixos", "unmanaged").opt(),
		"arch":         enum("amd64", "i386", "arm64", "armhf", "riscv32", "riscv64").opt(),
		"features":     checked(checkFeatures).opt(),
		"startup":      checked(checkStartup).opt(),
		"nameserver":   checked(func(v string) error { _, err := nameserverList(v); return err }).opt(),
		"searchdomain": checked(func(v string) error { _, err := searchdomainList(v); return err }).opt(),
		"timezone":     checked(checkTimezone).opt(),
		"tty":          integer(0, 6).opt(),
		"cmode":        enum("shell", "console", "tty").opt(),
		"hookscript":   str().opt(),
		"lock":         enum("backup", "create", "destroyed", "disk", "fstrim", "migrate", "mounted", "rollback", "snapshot", "snapshot-delete").opt(),
		"rootfs":       checked(func(v string) error { _, err := parseMount("rootfs", v); return err }).opt(),
		// PVE 9 (pve-container 6.0.15): the init command and the
		// environment (NUL-separated NAME=value) of OCI-style CTs.
		"entrypoint": pdef{typ: tString, check: checkEntrypoint, optional: true, pve9: true},
		"env":        pdef{typ: tString, check: checkEnv, optional: true, pve9: true},
	}
}

// checkEntrypoint is the entrypoint's pattern: no control characters but TAB.
func checkEntrypoint(v string) error {
	for _, c := range v {
		if c < 0x20 && c != '\t' || c == 0x7f {
			return fmt.Errorf("value does not match the regex pattern")
		}
	}
	return nil
}

// checkEnv is env's format: NAME=value entries separated by NUL, without
// other control characters.
func checkEnv(v string) error {
	for _, e := range strings.Split(v, "\x00") {
		name, val, ok := strings.Cut(e, "=")
		if !ok || name == "" || checkEntrypoint(name+val) != nil {
			return fmt.Errorf("value does not match the regex pattern")
		}
	}
	return nil
}

// lxcDynKey validates the numbered keys mpN, netN, unusedN, devN.
func lxcDynKey(name string) (pdef, bool) {
	num := func(re *regexp.Regexp, max int) bool {
		m := re.FindStringSubmatch(name)
		if m == nil {
			return false
		}
		n, err := strconv.Atoi(m[1])
		return err == nil && n <= max && strconv.Itoa(n) == m[1]
	}
	switch {
	case num(mpKeyPattern, 255):
		return checked(func(v string) error { _, err := parseMount(name, v); return err }).opt(), true
	case num(netKeyPattern, 31):
		return checked(func(v string) error { _, err := parseNet(v); return err }).opt(), true
	case num(unusedPattern, 255):
		return checked(checkUnused).opt(), true
	case num(regexp.MustCompile(`^dev(\d+)$`), 255):
		return str().opt(), true
	}
	return pdef{}, false
}

var featureKeys = map[string]bool{"nesting": true, "keyctl": true, "fuse": true, "mknod": true, "force_rw_sys": true, "mount": true}

func checkFeatures(v string) error {
	_, err := parseFeatures(v)
	return err
}

// parseFeatures parses a features value, its booleans as 1 or 0.
func parseFeatures(v string) (propString, error) {
	ps, err := parsePropString(v, "", featureKeys)
	if err != nil {
		return nil, err
	}
	if err := normalizeBooleans(ps, "nesting", "keyctl", "fuse", "mknod", "force_rw_sys"); err != nil {
		return nil, err
	}
	return ps, nil
}

func checkStartup(v string) error {
	ps, err := parsePropString(v, "order", map[string]bool{"order": true, "up": true, "down": true})
	if err != nil {
		return err
	}
	for _, k := range sortedKeys(ps) {
		x := ps[k]
		n, err := strconv.Atoi(x)
		if err != nil || !intPattern.MatchString(x) {
			return fmt.Errorf("invalid format - %s: type check ('integer') failed - got '%s'", k, x)
		}
		if n < 0 {
			return fmt.Errorf("invalid format - %s: value must have a minimum value of 0", k)
		}
	}
	return nil
}

// checkTimezone is pve-ct-timezone: "host", or a zone pve_verify_timezone
// finds in zone.tab (or UTC).
func checkTimezone(v string) error {
	if !timezone.Valid(v) {
		return fmt.Errorf("invalid format - invalid time zone '%s'", v)
	}
	return nil
}

// isLXCKey reports whether key is a container config option at all.
func isLXCKey(key string) bool {
	if _, ok := lxcKeys()[key]; ok {
		return true
	}
	_, ok := lxcDynKey(key)
	return ok
}

// merge returns a schema with the given extra properties.
func withProps(base map[string]pdef, extra map[string]pdef) map[string]pdef {
	out := make(map[string]pdef, len(base)+len(extra))
	for k, v := range base {
		out[k] = v
	}
	for k, v := range extra {
		out[k] = v
	}
	return out
}

// checkPassword is create's password: at least 5 characters. The message,
// like Proxmox's, never shows the value.
func checkPassword(v string) error {
	if len(v) < 5 {
		return fmt.Errorf("value must be at least 5 characters long")
	}
	return nil
}
