package pvesim

// Proxmox's named formats for the values a config write carries
// (pve-common JSONSchema.pm, pve-container LXC/Config.pm): booleans in
// property strings, addresses, MACs, mount paths and options, volume ids,
// DNS names and the lists of nameservers and search domains.

import (
	"fmt"
	"net"
	"regexp"
	"strconv"
	"strings"
)

var (
	ifaceNamePattern   = regexp.MustCompile(`^[-_.\w]+$`)
	unicastMACPattern  = regexp.MustCompile(`(?i)^[a-f0-9][02468ace](:[a-f0-9]{2}){5}$`)
	trunksPattern      = regexp.MustCompile(`^\d+(;\d+)*$`)
	mountOptionPattern = regexp.MustCompile(`^(discard|lazytime|noatime|nodev|noexec|nosuid)(;(discard|lazytime|noatime|nodev|noexec|nosuid))*$`)
	volumeIDPattern    = regexp.MustCompile(`(?i)^[a-z][a-z0-9\-_.]*[a-z0-9]:.+$`)
	dnsLabel           = `[a-zA-Z0-9]([a-zA-Z0-9\-]*[a-zA-Z0-9])?`
	dnsNameFormat      = regexp.MustCompile(`^(` + dnsLabel + `\.)*` + dnsLabel + `$`)
	numberFormat       = regexp.MustCompile(`^[+-]?(\d+\.\d+|\d+\.|\.\d+|\d+)([eE][+-]?\d+)?$`)
)

// parseBoolean is JSONSchema parse_boolean: a boolean inside a property
// string may be written 1/on/yes/true or 0/off/no/false (any case); it is
// stored as 1 or 0.
func parseBoolean(v string) (string, bool) {
	switch strings.ToLower(v) {
	case "1", "on", "yes", "true":
		return "1", true
	case "0", "off", "no", "false":
		return "0", true
	}
	return "", false
}

// normalizeBooleans rewrites the boolean keys of ps as 1 or 0 and refuses
// any other value.
func normalizeBooleans(ps propString, keys ...string) error {
	for _, k := range keys {
		v, ok := ps[k]
		if !ok {
			continue
		}
		b, ok := parseBoolean(v)
		if !ok {
			return fmt.Errorf("invalid format - %s: type check ('boolean') failed - got '%s'", k, v)
		}
		ps[k] = b
	}
	return nil
}

func isIPv4(v string) bool {
	ip := net.ParseIP(v)
	return ip != nil && ip.To4() != nil && !strings.Contains(v, ":")
}

func isIPv6(v string) bool {
	ip := net.ParseIP(v)
	return ip != nil && strings.Contains(v, ":")
}

// isCIDR checks ADDRESS/PREFIX with a prefix of 8 up to bits
// (pve_verify_cidrv4, pve_verify_cidrv6).
func isCIDR(v string, six bool) bool {
	addr, prefix, ok := strings.Cut(v, "/")
	n, err := strconv.Atoi(prefix)
	if !ok || err != nil || strconv.Itoa(n) != prefix || n <= 7 {
		return false
	}
	if six {
		return isIPv6(addr) && n <= 128
	}
	return isIPv4(addr) && n <= 32
}

// checkNetFormat checks the parts of a netN value against netconf_desc.
func checkNetFormat(ps propString) error {
	bad := func(k, msg string) error { return fmt.Errorf("invalid format - %s: %s", k, msg) }
	if n, ok := ps["name"]; ok && !ifaceNamePattern.MatchString(n) {
		return bad("name", "value does not match the regex pattern")
	}
	if b, ok := ps["bridge"]; ok && !ifaceNamePattern.MatchString(b) {
		return bad("bridge", "value does not match the regex pattern")
	}
	if h, ok := ps["hwaddr"]; ok && !unicastMACPattern.MatchString(h) {
		return bad("hwaddr", "value does not look like a valid unicast MAC address")
	}
	if v, ok := ps["ip"]; ok && v != "dhcp" && v != "manual" && !isCIDR(v, false) {
		return bad("ip", "value does not look like a valid ipv4 network configuration")
	}
	if v, ok := ps["ip6"]; ok && v != "auto" && v != "dhcp" && v != "manual" && !isCIDR(v, true) {
		return bad("ip6", "value does not look like a valid ipv6 network configuration")
	}
	if v, ok := ps["gw"]; ok && !isIPv4(v) {
		return bad("gw", "value does not look like a valid IPv4 address")
	}
	if v, ok := ps["gw6"]; ok && !isIPv6(v) {
		return bad("gw6", "value does not look like a valid IPv6 address")
	}
	if v, ok := ps["rate"]; ok && !numberFormat.MatchString(v) {
		return bad("rate", fmt.Sprintf("type check ('number') failed - got '%s'", v))
	}
	if v, ok := ps["mtu"]; ok {
		n, err := strconv.Atoi(v)
		switch {
		case err != nil || !intPattern.MatchString(v):
			return bad("mtu", fmt.Sprintf("type check ('integer') failed - got '%s'", v))
		case n < 64:
			return bad("mtu", "value must have a minimum value of 64")
		case n > 65535:
			return bad("mtu", "value must have a maximum value of 65535")
		}
	}
	if v, ok := ps["trunks"]; ok && !trunksPattern.MatchString(v) {
		return bad("trunks", "value does not match the regex pattern")
	}
	return normalizeBooleans(ps, "firewall", "link_down")
}

// checkMountPath is verify_lxc_mp_string: no "/./" or "/../", no "/." or
// "/.." at the end, no "../" at the start.
func checkMountPath(p string) error {
	if strings.Contains(p, "/./") || strings.Contains(p, "/../") || strings.HasSuffix(p, "/.") ||
		strings.HasSuffix(p, "/..") || strings.HasPrefix(p, "../") {
		return fmt.Errorf("%s contains illegal character sequences", p)
	}
	return nil
}

// checkMountFormat checks the parts of a rootfs/mpN value against
// rootfs_desc and mp_desc.
func checkMountFormat(ps propString) error {
	for _, k := range []string{"volume", "mp"} {
		if v, ok := ps[k]; ok {
			if err := checkMountPath(v); err != nil {
				return fmt.Errorf("invalid format - %s: %v", k, err)
			}
		}
	}
	if v, ok := ps["mountoptions"]; ok && !mountOptionPattern.MatchString(v) {
		return fmt.Errorf("invalid format - mountoptions: value does not match the regex pattern")
	}
	return normalizeBooleans(ps, "acl", "backup", "quota", "replicate", "ro", "shared")
}

// checkUnused is the format of unusedN: a volume id.
func checkUnused(v string) error {
	vol := strings.TrimPrefix(v, "volume=")
	if !volumeIDPattern.MatchString(vol) || strings.Contains(vol, ",") {
		return fmt.Errorf("invalid format - volume: unable to parse volume ID '%s'", vol)
	}
	return nil
}

// nameserverList is verify_nameserver_list: each address of the list
// (split on commas, semicolons and spaces) must be an IP address, or a
// link-local IPv6 address with an interface; the list is stored joined
// by spaces.
func nameserverList(v string) (string, error) {
	list := splitList(v)
	for _, a := range list {
		ip, iface, scoped := strings.Cut(a, "%")
		if scoped && strings.HasPrefix(ip, "fe80:") && isIPv6(ip) && ifaceNamePattern.MatchString(iface) {
			continue
		}
		if !isIPv4(a) && !isIPv6(a) {
			return "", fmt.Errorf("invalid format - value does not look like a valid IP address")
		}
	}
	return strings.Join(list, " "), nil
}

// searchdomainList is verify_searchdomain_list with the format
// dns-name-list: each name a DNS name, stored joined by spaces.
func searchdomainList(v string) (string, error) {
	list := splitList(v)
	for _, d := range list {
		if !dnsNameFormat.MatchString(d) {
			return "", fmt.Errorf("invalid format - value does not look like a valid DNS name")
		}
	}
	return strings.Join(list, " "), nil
}
