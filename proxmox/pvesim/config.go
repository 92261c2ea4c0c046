package pvesim

// LXC config values as Proxmox parses, normalises and prints them
// (pve-container src/PVE/LXC/Config.pm, pve-common JSONSchema.pm).

import (
	"crypto/sha1"
	"encoding/hex"
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

// intConfigKeys are the config keys Proxmox parses as integers or booleans
// and therefore returns as JSON numbers.
var intConfigKeys = map[string]bool{
	"memory": true, "swap": true, "cores": true, "cpuunits": true, "tty": true,
	"onboot": true, "unprivileged": true, "protection": true, "template": true,
	"console": true, "debug": true,
}

var (
	sizePattern   = regexp.MustCompile(`^(\d+(?:\.\d+)?)(K|KiB|M|MiB|G|GiB|T|TiB)?$`)
	newVolPattern = regexp.MustCompile(`^([^:\s]+):(\d+(\.\d+)?)$`)
	// mountVolPattern: a volume id (storage:name), a new volume
	// (storage:GiB), a bare size (create only) or an absolute path.
	mountVolPattern = regexp.MustCompile(`^([a-zA-Z][a-zA-Z0-9\-_.]*:[^\s,=:]+|/[^\s,=]*|\d+(\.\d+)?)$`)
	mpKeyPattern    = regexp.MustCompile(`^mp(\d+)$`)
	netKeyPattern   = regexp.MustCompile(`^net(\d+)$`)
	unusedPattern   = regexp.MustCompile(`^unused(\d+)$`)
	tagPattern      = regexp.MustCompile(`^[a-z0-9_][a-z0-9_\-+.]*$`)
	configIDPattern = regexp.MustCompile(`^[a-zA-Z][a-zA-Z0-9_\-]+$`) // pve-configid: at least 2 characters
	warningsPattern = regexp.MustCompile(`^WARNINGS: \d+$`)
)

// parseSize reads Proxmox's disk-size syntax into bytes.
func parseSize(s string) (int64, error) {
	m := sizePattern.FindStringSubmatch(s)
	if m == nil {
		return 0, fmt.Errorf("unable to parse size '%s'", s)
	}
	f, err := strconv.ParseFloat(m[1], 64)
	if err != nil {
		return 0, fmt.Errorf("unable to parse size '%s'", s)
	}
	mult := map[string]float64{"": 1, "K": 1 << 10, "KiB": 1 << 10, "M": 1 << 20, "MiB": 1 << 20,
		"G": 1 << 30, "GiB": 1 << 30, "T": 1 << 40, "TiB": 1 << 40}[m[2]]
	return int64(f * mult), nil
}

// formatSize prints bytes in the largest unit that divides them exactly,
// as pve-common format_size does ("8G", "8704M", "1T").
func formatSize(n int64) string {
	for _, u := range []struct {
		suffix string
		size   int64
	}{{"T", 1 << 40}, {"G", 1 << 30}, {"M", 1 << 20}, {"K", 1 << 10}} {
		if n >= u.size && n%u.size == 0 {
			return strconv.FormatInt(n/u.size, 10) + u.suffix
		}
	}
	return strconv.FormatInt(n, 10)
}

// propString is a parsed property string: key=value pairs in order.
type propString map[string]string

// parsePropString splits "a=1,b=2" (a value without "=" belongs to
// defaultKey) and refuses keys outside allowed.
func parsePropString(s, defaultKey string, allowed map[string]bool) (propString, error) {
	ps := propString{}
	for _, part := range strings.Split(s, ",") {
		if part == "" {
			continue
		}
		k, v, ok := strings.Cut(part, "=")
		if !ok {
			if defaultKey == "" {
				return nil, fmt.Errorf("invalid format - value without key, but schema does not define a default key")
			}
			k, v = defaultKey, part
		}
		if !allowed[k] {
			return nil, fmt.Errorf("invalid format - property '%s' not allowed", k)
		}
		if _, dup := ps[k]; dup {
			return nil, fmt.Errorf("invalid format - duplicate key in comma-separated list property: %s", k)
		}
		ps[k] = v
	}
	return ps, nil
}

// print renders a property string the way pve-common print_property_string
// does: the default key first (bare), then required keys, then the rest,
// each group sorted.
func (ps propString) print(defaultKey string, required ...string) string {
	var parts []string
	done := map[string]bool{}
	if v, ok := ps[defaultKey]; ok && defaultKey != "" {
		parts = append(parts, v)
		done[defaultKey] = true
	}
	req := append([]string(nil), required...)
	sort.Strings(req)
	for _, k := range req {
		if v, ok := ps[k]; ok && !done[k] {
			parts = append(parts, k+"="+v)
			done[k] = true
		}
	}
	keys := make([]string, 0, len(ps))
	for k := range ps {
		if !done[k] {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	for _, k := range keys {
		parts = append(parts, k+"="+ps[k])
	}
	return strings.Join(parts, ",")
}

var mountKeys = map[string]bool{"volume": true, "mp": true, "acl": true, "backup": true,
	"mountoptions": true, "quota": true, "replicate": true, "ro": true, "shared": true, "size": true}

var netKeys = map[string]bool{"name": true, "bridge": true, "firewall": true, "gw": true,
	"gw6": true, "hwaddr": true, "ip": true, "ip6": true, "link_down": true, "mtu": true,
	"rate": true, "tag": true, "trunks": true, "type": true}

// parseMount parses a rootfs or mpN value.
func parseMount(key, value string) (propString, error) {
	ps, err := parsePropString(value, "volume", mountKeys)
	if err != nil {
		return nil, err
	}
	if ps["volume"] == "" {
		return nil, fmt.Errorf("invalid format - property 'volume' is missing")
	}
	if !mountVolPattern.MatchString(ps["volume"]) {
		return nil, fmt.Errorf("invalid format - volume: unable to parse volume ID '%s'", ps["volume"])
	}
	if key == "rootfs" {
		if _, ok := ps["mp"]; ok {
			return nil, fmt.Errorf("invalid format - property 'mp' not allowed")
		}
		if _, ok := ps["backup"]; ok {
			return nil, fmt.Errorf("invalid format - property 'backup' not allowed")
		}
	} else if ps["mp"] == "" {
		return nil, fmt.Errorf("invalid format - property 'mp' is missing")
	}
	if err := checkMountFormat(ps); err != nil {
		return nil, err
	}
	if s, ok := ps["size"]; ok {
		n, err := parseSize(s)
		if err != nil {
			return nil, fmt.Errorf("invalid format - size: %v", err)
		}
		ps["size"] = formatSize(n)
	}
	return ps, nil
}

func printMount(ps propString) string { return ps.print("volume", "mp") }

// parseNet parses a netN value and checks its parts.
func parseNet(value string) (propString, error) {
	ps, err := parsePropString(value, "", netKeys)
	if err != nil {
		return nil, err
	}
	if ps["name"] == "" {
		return nil, fmt.Errorf("invalid format - property 'name' is missing")
	}
	if t, ok := ps["type"]; ok && t != "veth" {
		return nil, fmt.Errorf("invalid format - type: value '%s' does not have a value in the enumeration 'veth'", t)
	}
	if t, ok := ps["tag"]; ok {
		n, err := strconv.Atoi(t)
		if err != nil || n < 1 || n > 4094 {
			return nil, fmt.Errorf("invalid format - tag: value must be an integer between 1 and 4094")
		}
	}
	if err := checkNetFormat(ps); err != nil {
		return nil, err
	}
	return ps, nil
}

func printNet(ps propString) string { return ps.print("", "name") }

// normalizeTags splits on ',', ';' and spaces, lower-cases, de-duplicates
// and sorts, as Proxmox does with the default tag style.
func normalizeTags(s string) (string, error) {
	seen := map[string]bool{}
	var out []string
	for _, t := range strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ';' || r == ' ' }) {
		t = strings.ToLower(t)
		if !tagPattern.MatchString(t) {
			return "", fmt.Errorf("invalid format - invalid characters in tag '%s'", t)
		}
		if !seen[t] {
			seen[t] = true
			out = append(out, t)
		}
	}
	sort.Strings(out)
	return strings.Join(out, ";"), nil
}

// normalizeDescription mirrors the round trip through '#' comment lines:
// every line comes back with a trailing newline.
func normalizeDescription(s string) string {
	lines := strings.Split(s, "\n")
	for len(lines) > 0 && lines[len(lines)-1] == "" {
		lines = lines[:len(lines)-1]
	}
	if len(lines) == 0 {
		return ""
	}
	return strings.Join(lines, "\n") + "\n"
}

// cutVolID splits "storage:name".
func cutVolID(volid string) (sid, name string, ok bool) {
	sid, name, ok = strings.Cut(volid, ":")
	if !ok || sid == "" || name == "" || strings.HasPrefix(volid, "/") {
		return "", "", false
	}
	return sid, name, true
}

// isVolumeKey reports whether key holds a volume (rootfs, mpN, unusedN).
func isVolumeKey(key string) bool {
	return key == "rootfs" || mpKeyPattern.MatchString(key) || unusedPattern.MatchString(key)
}

// volumeOf returns the volume id of a rootfs/mpN/unusedN value.
func volumeOf(value string) string {
	v, _, _ := strings.Cut(value, ",")
	return strings.TrimPrefix(v, "volume=")
}

// configJSON renders a config map as GET .../config returns it: integer
// keys as numbers, everything else as strings.
func configJSON(conf map[string]string) map[string]any {
	out := make(map[string]any, len(conf))
	for k, v := range conf {
		if intConfigKeys[k] {
			if n, err := strconv.ParseInt(v, 10, 64); err == nil {
				out[k] = n
				continue
			}
		}
		out[k] = v
	}
	return out
}

// renderConf writes a guest's config file as write_pct_config does: a
// section's description as '#' comment lines, then its keys sorted (the
// pending section's delete and a snapshot's snaptime among them); the
// pending section, then one section per snapshot. The digest is the SHA-1
// of this text.
func renderConf(g *guest) string {
	var b strings.Builder
	writeSection(&b, g.Conf)
	if len(g.Pending) > 0 || len(g.PendingDelete) > 0 {
		b.WriteString("\n[pve:pending]\n")
		pending := copyConf(g.Pending)
		if len(g.PendingDelete) > 0 {
			pending["delete"] = strings.Join(g.PendingDelete, ",")
		}
		writeSection(&b, pending)
	}
	names := make([]string, 0, len(g.Snapshots))
	for n := range g.Snapshots {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		s := g.Snapshots[n]
		b.WriteString("\n[" + n + "]\n")
		conf := copyConf(s.Conf)
		conf["snaptime"] = strconv.FormatInt(s.Snaptime, 10)
		writeSection(&b, conf)
	}
	return b.String()
}

func writeSection(b *strings.Builder, conf map[string]string) {
	for _, line := range descriptionLines(conf["description"]) {
		b.WriteString("#" + encodeText(line) + "\n")
	}
	keys := make([]string, 0, len(conf))
	for k := range conf {
		if k != "description" {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	for _, k := range keys {
		b.WriteString(k + ": " + conf[k] + "\n")
	}
}

// descriptionLines splits a description as Perl's split(/\n/) does:
// trailing empty lines go.
func descriptionLines(d string) []string {
	lines := strings.Split(d, "\n")
	for len(lines) > 0 && lines[len(lines)-1] == "" {
		lines = lines[:len(lines)-1]
	}
	return lines
}

// encodeText is pve-common's encode_text for a description line: control
// and non-ASCII bytes, '%' and ':' become %XX.
func encodeText(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 || c >= 0x7f || c == '%' || c == ':' {
			fmt.Fprintf(&b, "%%%02X", c)
		} else {
			b.WriteByte(c)
		}
	}
	return b.String()
}

func digestOf(g *guest) string { return sha1Hex(renderConf(g)) }

func sha1Hex(s string) string {
	sum := sha1.Sum([]byte(s))
	return hex.EncodeToString(sum[:])
}

func copyConf(c map[string]string) map[string]string {
	out := make(map[string]string, len(c))
	for k, v := range c {
		out[k] = v
	}
	return out
}

// withPending overlays pending changes and deletions on the current config,
// which is what GET config shows by default.
func withPending(g *guest) map[string]string {
	c := copyConf(g.Conf)
	for k, v := range g.Pending {
		c[k] = v
	}
	for _, k := range g.PendingDelete {
		delete(c, k)
	}
	return c
}

// nextFreeKey returns prefix+N for the smallest N not used in conf.
func nextFreeKey(conf map[string]string, prefix string, max int) (string, bool) {
	for i := 0; i <= max; i++ {
		k := prefix + strconv.Itoa(i)
		if _, used := conf[k]; !used {
			return k, true
		}
	}
	return "", false
}
