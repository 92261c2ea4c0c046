package schema

// The blocks inside a guest: rootfs, features, mount points, network
// interfaces and snapshots.

import (
	"net"
	"net/netip"
	"strings"

	"github.com/hashicorp/hcl/v2"
)

func (d *decoder) storageID(a *hcl.Attribute) string {
	s, ok := d.str(a)
	if !ok {
		return ""
	}
	if !storageIDPattern.MatchString(s) {
		d.errorf(a.Expr.Range(), "Invalid storage name",
			"%q is not a Proxmox storage name: it starts with a lower-case letter and uses lower-case letters, digits and - _ . (for example local-lvm).", s)
		return ""
	}
	return s
}

func (d *decoder) rootfs(b *hcl.Block) *Rootfs {
	content := d.content(b, rootfsSchema)
	r := &Rootfs{DeclRange: b.DefRange, AttrRanges: attrRanges(content.Attributes)}
	if a, ok := content.Attributes["storage"]; ok {
		r.Storage = d.storageID(a)
	}
	if a, ok := content.Attributes["size"]; ok {
		r.Size, _ = d.diskSize(a)
	}
	return r
}

func (d *decoder) features(b *hcl.Block) *Features {
	content := d.content(b, featuresSchema)
	f := &Features{DeclRange: b.DefRange, AttrRanges: attrRanges(content.Attributes)}
	for _, a := range sortedAttrs(content.Attributes) {
		switch a.Name {
		case "nesting":
			f.Nesting = d.optBool(a)
		case "keyctl":
			f.Keyctl = d.optBool(a)
		case "fuse":
			f.Fuse = d.optBool(a)
		case "mknod":
			f.Mknod = d.optBool(a)
		case "force_rw_sys":
			f.ForceRWSys = d.optBool(a)
		case "mount":
			list, ok := d.strList(a)
			if !ok {
				continue
			}
			for _, fs := range list {
				if !ifnamePattern.MatchString(fs) {
					d.errorf(a.Expr.Range(), "Invalid file system type", "%q is not a file system type name.", fs)
				}
			}
			f.Mount = list
		}
	}
	return f
}

// featureString decodes features written as Proxmox writes them:
// features = "nesting=1,keyctl=1,mount=nfs;cifs".
func (d *decoder) featureString(a *hcl.Attribute) *Features {
	s, ok := d.str(a)
	if !ok {
		return nil
	}
	f := &Features{DeclRange: a.Range, AttrRanges: map[string]hcl.Range{}}
	flags := map[string]**bool{"nesting": &f.Nesting, "keyctl": &f.Keyctl, "fuse": &f.Fuse, "mknod": &f.Mknod, "force_rw_sys": &f.ForceRWSys}
	for _, kv := range strings.Split(s, ",") {
		if kv == "" {
			continue
		}
		k, v, _ := strings.Cut(kv, "=")
		if _, dup := f.AttrRanges[k]; dup {
			d.errorf(a.Expr.Range(), "Invalid features", "The feature %q is given twice in %q.", k, s)
			return nil
		}
		f.AttrRanges[k] = a.Expr.Range()
		if k == "mount" {
			f.Mount = strings.Split(v, ";")
			for _, fs := range f.Mount {
				if !ifnamePattern.MatchString(fs) {
					d.errorf(a.Expr.Range(), "Invalid file system type", "%q is not a file system type name.", fs)
					return nil
				}
			}
			continue
		}
		flag, known := flags[k]
		if !known {
			d.errorf(a.Expr.Range(), "Invalid features", "%q is not an LXC feature; features are force_rw_sys, fuse, keyctl, mknod, mount and nesting.%s",
				k, didYouMean(k, []string{"force_rw_sys", "fuse", "keyctl", "mknod", "mount", "nesting"}))
			return nil
		}
		if v != "0" && v != "1" {
			d.errorf(a.Expr.Range(), "Invalid features", "The feature %q must be 0 or 1, got %q.", k, v)
			return nil
		}
		b := v == "1"
		*flag = &b
	}
	return f
}

func (d *decoder) mount(b *hcl.Block) Mount {
	m := Mount{Name: b.Labels[0], DeclRange: b.DefRange}
	d.checkLabel(b, labelPattern.MatchString(m.Name), "Invalid mount name",
		"The mount name %q must start with a letter or digit and use only letters, digits and _ . @ + -.")
	content := d.content(b, mountSchema)
	attrs := content.Attributes
	m.AttrRanges = attrRanges(attrs)
	for _, a := range sortedAttrs(attrs) {
		switch a.Name {
		case "path":
			m.Path = d.absPath(a, "Invalid mount path", "The path inside the guest must be absolute and clean")
		case "storage":
			m.Storage = d.storageID(a)
		case "size":
			m.Size, _ = d.diskSize(a)
		case "host_path":
			m.HostPath = d.absPath(a, "Invalid host path", "A bind mount's host_path must be absolute and clean")
			if why := RefusedHostDir(m.HostPath); m.HostPath != "" && why != "" {
				d.errorf(a.Expr.Range(), "Host directory refused", "%q can never be bind-mounted into a guest: %s.", m.HostPath, why)
				m.HostPath = ""
			}
		case "backup":
			m.Backup = d.optBool(a)
		case "read_only":
			m.ReadOnly = d.optBool(a)
		case "mount_options":
			m.MountOptions = d.mountOptions(a)
		}
	}
	_, hasHost := attrs["host_path"]
	_, hasStorage := attrs["storage"]
	_, hasSize := attrs["size"]
	switch {
	case hasHost && (hasStorage || hasSize):
		d.errorf(b.DefRange, "Conflicting mount source",
			"Mount %q sets host_path and storage/size: a mount point is either a bind mount of a host directory (host_path) or a storage volume (storage and size), not both.", m.Name)
	case hasHost:
		if a, ok := attrs["backup"]; ok {
			d.errorf(a.NameRange, "Bind mounts are not backed up",
				"Mount %q is a bind mount; vzdump never includes bind mounts, so backup cannot be set on it.", m.Name)
		}
	case !hasStorage || !hasSize:
		d.errorf(b.DefRange, "Incomplete mount",
			"Mount %q needs both storage and size (a storage volume) or host_path (a bind mount).", m.Name)
	}
	return m
}

func (d *decoder) network(b *hcl.Block) Network {
	n := Network{Name: b.Labels[0], DeclRange: b.DefRange}
	d.checkLabel(b, ifnamePattern.MatchString(n.Name), "Invalid interface name",
		"%q is not a network interface name: at most 15 letters, digits and _ . -, such as eth0.")
	content, diags := b.Body.Content(networkSchema)
	addBlockHints(diags, networkHints)
	d.diags = append(d.diags, diags...)
	attrs := content.Attributes
	n.AttrRanges = attrRanges(attrs)
	for _, a := range sortedAttrs(attrs) {
		switch a.Name {
		case "bridge":
			if s, ok := d.str(a); ok {
				if !ifnamePattern.MatchString(s) {
					d.errorf(a.Expr.Range(), "Invalid bridge name",
						"%q is not a bridge name: at most 15 letters, digits and _ . -, such as vmbr0.", s)
				} else {
					n.Bridge = s
				}
			}
		case "ip":
			n.IP = d.ipConfig(a, false)
		case "ip6":
			n.IP6 = d.ipConfig(a, true)
		case "gw":
			n.Gateway = d.gateway(a, false)
		case "gw6":
			n.Gateway6 = d.gateway(a, true)
		case "hwaddr":
			if s, ok := d.str(a); ok {
				n.Hwaddr = d.mac(a, s)
			}
		case "vlan":
			if v, ok := d.integer(a, 1, 4094); ok {
				n.VLAN = int(v)
			}
		case "firewall":
			n.Firewall = d.optBool(a)
		case "mtu":
			if v, ok := d.integer(a, 64, 65535); ok {
				n.MTU = int(v)
			}
		case "rate":
			if f, ok := d.number(a, 0, maxRate); ok {
				n.Rate = &f
			}
		}
	}
	if a, ok := attrs["gw"]; ok && n.Gateway != "" && !strings.Contains(n.IP, "/") {
		d.errorf(a.NameRange, "Gateway without a static address", "gw needs a static ip in CIDR form (such as 192.168.1.20/24) on the same interface.")
	}
	if a, ok := attrs["gw6"]; ok && n.Gateway6 != "" && !strings.Contains(n.IP6, "/") {
		d.errorf(a.NameRange, "Gateway without a static address", "gw6 needs a static ip6 in CIDR form (such as 2001:db8::20/64) on the same interface.")
	}
	return n
}

// ipConfig validates ip/ip6: a CIDR address or one of the keywords.
func (d *decoder) ipConfig(a *hcl.Attribute, v6 bool) string {
	s, ok := d.str(a)
	if !ok {
		return ""
	}
	keywords := []string{"dhcp", "manual"}
	family := "IPv4"
	if v6 {
		keywords = []string{"auto", "dhcp", "manual"}
		family = "IPv6"
	}
	for _, k := range keywords {
		if s == k {
			return s
		}
	}
	p, err := netip.ParsePrefix(s)
	if err != nil || p.Addr().Is6() != v6 || p.Addr().Is4In6() || p.Addr().Zone() != "" {
		d.errorf(a.Expr.Range(), "Invalid IP address",
			"%s must be an %s address with prefix length (CIDR, such as %s) or one of %s, got %q.",
			a.Name, family, map[bool]string{false: "192.168.1.20/24", true: "2001:db8::20/64"}[v6], strings.Join(keywords, ", "), s)
		return ""
	}
	// pve-ipv4-config and pve-ipv6-config: a prefix of 8 up to the
	// address's length.
	if p.Bits() < 8 {
		d.errorf(a.Expr.Range(), "Invalid prefix length",
			"%s %q has a /%d prefix; Proxmox accepts prefixes from /8 to /%d.", a.Name, s, p.Bits(), p.Addr().BitLen())
		return ""
	}
	return p.String()
}

func (d *decoder) gateway(a *hcl.Attribute, v6 bool) string {
	s, ok := d.str(a)
	if !ok {
		return ""
	}
	addr, err := netip.ParseAddr(s)
	if err != nil || addr.Is6() != v6 || addr.Zone() != "" {
		family := map[bool]string{false: "IPv4", true: "IPv6"}[v6]
		d.errorf(a.Expr.Range(), "Invalid gateway", "%s must be an %s address, got %q.", a.Name, family, s)
		return ""
	}
	return addr.String()
}

// mac validates a MAC address and returns it in Proxmox's canonical upper
// case. Multicast addresses are refused, as Proxmox refuses them.
func (d *decoder) mac(a *hcl.Attribute, s string) string {
	hw, err := net.ParseMAC(s)
	if err != nil || len(hw) != 6 || len(s) != 17 || s[2] != ':' {
		d.errorf(a.Expr.Range(), "Invalid MAC address", "hwaddr must be six colon-separated hex pairs, such as BC:24:11:5E:7A:01, got %q.", s)
		return ""
	}
	if hw[0]&1 != 0 {
		d.errorf(a.Expr.Range(), "Invalid MAC address", "%q is a multicast address; a guest interface needs a unicast MAC address.", s)
		return ""
	}
	return strings.ToUpper(hw.String())
}

func (d *decoder) snapshot(b *hcl.Block) Snapshot {
	s := Snapshot{Name: b.Labels[0], DeclRange: b.DefRange}
	d.checkLabel(b, snapshotPattern.MatchString(s.Name) && s.Name != "current" && s.Name != "vzdump", "Invalid snapshot name",
		"%q is not a snapshot name: 2 to 40 letters, digits, _ and -, starting with a letter; \"current\" and \"vzdump\" are reserved.")
	content := d.content(b, snapshotSchema)
	s.AttrRanges = attrRanges(content.Attributes)
	if a, ok := content.Attributes["description"]; ok {
		if v, ok := d.str(a); ok {
			s.Description = pveText(v)
		}
	}
	return s
}

// pveText returns a description as Proxmox reads it back once stored: the
// config keeps it as '#' comment lines, so every line comes back ending in
// a newline and trailing empty lines are lost. Empty text stays empty (no
// description). Comparing this form with the live value shows no false
// drift.
func pveText(s string) string {
	s = strings.TrimRight(s, "\n")
	if s == "" {
		return ""
	}
	return s + "\n"
}
