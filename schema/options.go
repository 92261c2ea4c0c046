package schema

import (
	"math/big"
	"net/netip"
	"regexp"
	"slices"
	"strings"

	"github.com/felhom/felhom-converge/timezone"
	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"
)

// The guest options administrators set besides size and power: where a
// new guest comes from, DNS, CPU weights, the time zone, the boot order,
// and the mount and interface options. Each is checked against the format
// Proxmox checks it with, so a value Proxmox would refuse is an error at
// its line here, never a failed apply.

// templatePattern is a container template's volume ID,
// STORAGE:vztmpl/NAME.tar.{gz,xz,zst} (as pct and the API accept it).
var templatePattern = regexp.MustCompile(`^[a-z][a-z0-9\-_.]*[a-z0-9]:vztmpl/[a-zA-Z0-9][a-zA-Z0-9._+-]*\.tar\.(gz|xz|zst)$`)

// mountOptionNames are the mount options Proxmox allows on a mount point
// (mountoptions in pve-container's mp_desc).
var mountOptionNames = []string{"discard", "lazytime", "noatime", "nodev", "noexec", "nosuid"}

// maxRate bounds an interface's rate limit (MB/s): Proxmox takes any
// number; this is far above any link.
const maxRate = 1 << 20

var startupSchema = &hcl.BodySchema{
	Attributes: []hcl.AttributeSchema{{Name: "order"}, {Name: "up"}, {Name: "down"}},
}

// number decodes a number within [lo, hi], whole or not.
func (d *decoder) number(attr *hcl.Attribute, lo, hi float64) (float64, bool) {
	bf, ok := d.bigNumber(attr)
	if !ok {
		return 0, false
	}
	if bf.IsInf() || bf.Cmp(big.NewFloat(lo)) < 0 || bf.Cmp(big.NewFloat(hi)) > 0 {
		d.errorf(attr.Expr.Range(), "Value out of range", "%q must be between %g and %g, got %s.", attr.Name, lo, hi, numberText(bf))
		return 0, false
	}
	f, _ := bf.Float64()
	return f, true
}

// stringOrList decodes a list of strings, or one string that Proxmox
// would split on commas, semicolons and spaces ("1.1.1.1 9.9.9.9").
func (d *decoder) stringOrList(a *hcl.Attribute) ([]string, bool) {
	v, ok := d.eval(a)
	if !ok {
		return nil, false
	}
	if v.Type() == cty.String {
		return strings.FieldsFunc(v.AsString(), func(r rune) bool { return r == ',' || r == ';' || r == ' ' }), true
	}
	return d.strListValue(a, v)
}

// nameservers decodes the guest's DNS servers: IPv4 or IPv6 addresses
// (a link-local IPv6 one may name its interface, fe80::1%eth0), as
// Proxmox's lxc-ip-with-ll-iface format has them. Empty removes them.
func (d *decoder) nameservers(a *hcl.Attribute) []string {
	list, ok := d.stringOrList(a)
	if !ok {
		return nil
	}
	out := []string{}
	for _, s := range list {
		addr, err := netip.ParseAddr(s)
		switch {
		case err != nil || addr.Is4In6():
			d.errorf(a.Expr.Range(), "Invalid name server", "%q is not an IP address; nameserver takes IPv4 or IPv6 addresses, such as [\"192.168.1.1\", \"2001:db8::53\"].", s)
			return nil
		case addr.Zone() != "" && (!addr.Is6() || !addr.IsLinkLocalUnicast() || !ifnamePattern.MatchString(addr.Zone())):
			d.errorf(a.Expr.Range(), "Invalid name server", "%q names an interface, which only a link-local IPv6 address (fe80::...%%eth0) may.", s)
			return nil
		}
		out = append(out, s)
	}
	return out
}

// searchDomains decodes the guest's DNS search domains (dns-name-list).
func (d *decoder) searchDomains(a *hcl.Attribute) []string {
	list, ok := d.stringOrList(a)
	if !ok {
		return nil
	}
	for _, s := range list {
		if len(s) > 255 || !hostnamePattern.MatchString(s) {
			d.errorf(a.Expr.Range(), "Invalid search domain", "%q is not a DNS name; searchdomain takes names such as [\"office.example\"].", s)
			return nil
		}
	}
	return append([]string{}, list...)
}

// sshKeys decodes root's authorized keys for a guest created from a
// template: OpenSSH public key lines, as a list or as one string of lines.
func (d *decoder) sshKeys(a *hcl.Attribute) []string {
	v, ok := d.eval(a)
	if !ok {
		return nil
	}
	var lines []string
	if v.Type() == cty.String {
		for _, l := range strings.Split(v.AsString(), "\n") {
			if l = strings.TrimSpace(l); l != "" {
				lines = append(lines, l)
			}
		}
	} else if list, ok := d.strListValue(a, v); ok {
		lines = list
	} else {
		return nil
	}
	out := []string{}
	for _, l := range lines {
		l = strings.TrimSpace(l)
		if strings.ContainsAny(l, "\r\n") {
			d.errorf(a.Expr.Range(), "Invalid SSH public key", "Each list element is one key on one line.")
			return nil
		}
		if err := parsePublicKey(l, &Signer{}); err != nil {
			d.errorf(a.Expr.Range(), "Invalid SSH public key", "ssh_public_keys takes OpenSSH public key lines (TYPE BASE64 [COMMENT]), such as the content of ~/.ssh/id_ed25519.pub: %s.", err)
			return nil
		}
		out = append(out, strings.Join(strings.Fields(l), " "))
	}
	return out
}

// mountOptions decodes a mount point's mount options: names from
// Proxmox's list, each once; sorted, so their order never shows as a
// change. Empty removes them.
func (d *decoder) mountOptions(a *hcl.Attribute) []string {
	list, ok := d.strList(a)
	if !ok {
		return nil
	}
	out := []string{}
	for _, o := range list {
		if !slices.Contains(mountOptionNames, o) {
			d.errorf(a.Expr.Range(), "Invalid mount option", "%q is not a mount option Proxmox allows; they are %s.%s", o, quoteList(mountOptionNames), didYouMean(o, mountOptionNames))
			return nil
		}
		if !slices.Contains(out, o) {
			out = append(out, o)
		}
	}
	slices.Sort(out)
	return out
}

// startup decodes the boot order block: order, up and down are whole
// numbers of at least 0 (pve-startup-order).
func (d *decoder) startup(b *hcl.Block) *Startup {
	content := d.content(b, startupSchema)
	s := &Startup{DeclRange: b.DefRange, AttrRanges: attrRanges(content.Attributes)}
	for _, a := range sortedAttrs(content.Attributes) {
		n, ok := d.integer(a, 0, maxStartup)
		if !ok {
			continue
		}
		v := int(n)
		switch a.Name {
		case "order":
			s.Order = &v
		case "up":
			s.Up = &v
		case "down":
			s.Down = &v
		}
	}
	if len(content.Attributes) == 0 {
		d.errorf(b.DefRange, "Empty startup block", "A startup block sets at least one of order, up and down.")
	}
	return s
}

// timezone decodes the guest's time zone, as Proxmox checks it.
func (d *decoder) timezone(a *hcl.Attribute) string {
	s, ok := d.str(a)
	if !ok {
		return ""
	}
	if !timezone.Valid(s) {
		d.errorf(a.Expr.Range(), "Invalid time zone", "timezone must be \"host\" (the host's own), \"UTC\" or a time zone of tzdata's zone.tab such as \"Europe/Budapest\", as Proxmox checks it; got %q.%s",
			s, didYouMean(s, []string{"host", "UTC"}))
		return ""
	}
	return s
}

// maxStartup bounds the startup order and delays (seconds): a day.
const maxStartup = 86400
