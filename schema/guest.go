package schema

import (
	"net"
	"net/netip"
	"sort"
	"strconv"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"
)

var guestSchema = &hcl.BodySchema{
	Attributes: []hcl.AttributeSchema{
		{Name: "vmid", Required: true},
		{Name: "state"},
		{Name: "hostname"},
		{Name: "from_backup"},
		{Name: "from_template"},
		{Name: "ssh_public_keys"},
		{Name: "cores"},
		{Name: "memory"},
		{Name: "swap"},
		{Name: "tags"},
		{Name: "description"},
		{Name: "onboot"},
		{Name: "protection"},
		{Name: "unprivileged"},
		{Name: "nameserver"},
		{Name: "searchdomain"},
		{Name: "cpulimit"},
		{Name: "cpuunits"},
		{Name: "timezone"},
		{Name: "remove_volumes"},
		{Name: "reboot_after_update"},
		{Name: "features"}, // Proxmox's "nesting=1,keyctl=1", or the features block
	},
	Blocks: []hcl.BlockHeaderSchema{
		{Type: "rootfs"},
		{Type: "features"},
		{Type: "startup"},
		{Type: "mount", LabelNames: []string{"name"}},
		{Type: "network", LabelNames: []string{"name"}},
		{Type: "snapshot", LabelNames: []string{"name"}},
	},
}

var rootfsSchema = &hcl.BodySchema{
	Attributes: []hcl.AttributeSchema{{Name: "storage", Required: true}, {Name: "size", Required: true}},
}

var featuresSchema = &hcl.BodySchema{
	Attributes: []hcl.AttributeSchema{
		{Name: "nesting"}, {Name: "keyctl"}, {Name: "fuse"}, {Name: "mknod"}, {Name: "force_rw_sys"}, {Name: "mount"},
	},
}

var mountSchema = &hcl.BodySchema{
	Attributes: []hcl.AttributeSchema{
		{Name: "path", Required: true}, {Name: "storage"}, {Name: "size"}, {Name: "host_path"}, {Name: "backup"}, {Name: "read_only"},
		{Name: "mount_options"},
	},
}

var networkSchema = &hcl.BodySchema{
	Attributes: []hcl.AttributeSchema{
		{Name: "bridge", Required: true}, {Name: "ip"}, {Name: "gw"}, {Name: "ip6"}, {Name: "gw6"},
		{Name: "hwaddr"}, {Name: "vlan"}, {Name: "firewall"}, {Name: "mtu"}, {Name: "rate"},
	},
}

var snapshotSchema = &hcl.BodySchema{
	Attributes: []hcl.AttributeSchema{{Name: "description"}},
}

const (
	minVMID = 100
	maxVMID = 999999999
	// maxDescription is Proxmox's limit on a guest description (8 KiB).
	maxDescription = 8 << 10
)

// guest decodes one guest block into h, refusing a name or a vmid an
// earlier guest has.
func (d *decoder) guest(h *Host, b *hcl.Block) {
	if d.guestDecls == nil {
		d.guestDecls, d.vmidDecls = map[string]hcl.Range{}, map[int]hcl.Range{}
	}
	g := d.guestBlock(b)
	if first, dup := d.guestDecls[g.Name]; dup {
		d.duplicate(b.LabelRanges[0], "guest", g.Name, first)
		return
	}
	d.guestDecls[g.Name] = b.LabelRanges[0]
	if g.VMID != 0 {
		if first, dup := d.vmidDecls[g.VMID]; dup {
			d.errorf(g.AttrRanges["vmid"], "Duplicate vmid",
				"Guest %q uses vmid %d, which is already used at %s:%d:%d; each guest needs its own vmid.",
				g.Name, g.VMID, first.Filename, first.Start.Line, first.Start.Column)
		} else {
			d.vmidDecls[g.VMID] = g.AttrRanges["vmid"]
		}
	}
	h.Guests = append(h.Guests, g)
}

// finishGuests orders the guests by VMID once all are decoded, and
// refuses a MAC address two of them use.
func (d *decoder) finishGuests(h *Host) {
	sortGuests(h.Guests)
	d.uniqueMACs(h.Guests)
}

// uniqueMACs refuses the same MAC address on two interfaces: guests on one
// bridge would fight over it.
func (d *decoder) uniqueMACs(guests []Guest) {
	seen := map[string]hcl.Range{}
	for _, g := range guests {
		for _, n := range g.Networks {
			if n.Hwaddr == "" {
				continue
			}
			rng := n.AttrRanges["hwaddr"]
			if first, dup := seen[n.Hwaddr]; dup {
				d.errorf(rng, "Duplicate MAC address", "%s is already used at %s:%d:%d; each interface needs its own MAC address.",
					n.Hwaddr, first.Filename, first.Start.Line, first.Start.Column)
				continue
			}
			seen[n.Hwaddr] = rng
		}
	}
}

// guestBlock decodes one guest block.
func (d *decoder) guestBlock(b *hcl.Block) Guest {
	g := Guest{Name: b.Labels[0], State: StateRunning, DeclRange: b.DefRange}
	if !labelPattern.MatchString(g.Name) {
		d.errorf(b.LabelRanges[0], "Invalid guest name",
			"The guest name %q must start with a letter or digit and use only letters, digits and _ . @ + -.", g.Name)
	}
	content, diags := b.Body.Content(guestSchema)
	d.diags = append(d.diags, diags...)
	attrs := content.Attributes
	g.AttrRanges = attrRanges(attrs)

	if a, ok := attrs["vmid"]; ok {
		if n, ok := d.integer(a, minVMID, maxVMID); ok {
			g.VMID = int(n)
		}
	}
	if a, ok := attrs["state"]; ok {
		if s, ok := d.str(a); ok {
			switch State(s) {
			case StateRunning, StateStopped, StateAbsent:
				g.State = State(s)
			default:
				d.errorf(a.Expr.Range(), "Invalid guest state",
					"state must be \"running\", \"stopped\" or \"absent\", got %q.%s", s, didYouMean(s, []string{"running", "stopped", "absent"}))
			}
		}
	}
	if g.State == StateAbsent {
		d.absentGuest(g.Name, attrs, content.Blocks)
		return g
	}

	for _, a := range sortedAttrs(attrs) {
		d.guestAttr(&g, a)
	}
	d.guestBlocks(&g, content.Blocks)
	d.guestSource(&g)
	return g
}

// guestSource checks where a missing guest would come from: at most one
// of from_backup and from_template, a root file system for it (the
// archive's sizes are the archive's, a template has none), and root's
// SSH keys only for a template.
func (d *decoder) guestSource(g *Guest) {
	bk, hasBackup := g.AttrRanges["from_backup"]
	tp, hasTemplate := g.AttrRanges["from_template"]
	if hasBackup && hasTemplate {
		first, second := bk, tp
		if tp.Start.Byte < bk.Start.Byte {
			first, second = tp, bk
		}
		d.errorf(second, "Conflicting guest sources",
			"A guest is created either by restoring from_backup or from the template from_template, not both; the other is set at %s:%d:%d.",
			first.Filename, first.Start.Line, first.Start.Column)
		return
	}
	if k, ok := g.AttrRanges["ssh_public_keys"]; ok && !hasTemplate {
		d.errorf(k, "SSH keys without a template",
			"ssh_public_keys are installed for root when the guest is created from a template (from_template); a restored guest keeps the archive's accounts.")
	}
	if (hasBackup || hasTemplate) && g.Rootfs == nil {
		src, rng := "from_backup", bk
		if hasTemplate {
			src, rng = "from_template", tp
		}
		d.errorf(rng, "Missing rootfs block",
			"Guest %q can be created (%s), so it needs a rootfs block saying where its root file system goes and how large it is, such as:\n  rootfs { storage = \"local-lvm\", size = \"8G\" }", g.Name, src)
	}
}

// absentGuest refuses the settings of a guest that is to be destroyed:
// they could never take effect, and a reader would misread them. It is
// one error, at the first of them, naming them all: the common case is a
// guest whose state was just set to absent with its old settings left.
func (d *decoder) absentGuest(name string, attrs hcl.Attributes, blocks hcl.Blocks) {
	var names []string
	var first *hcl.Range
	for _, a := range sortedAttrs(attrs) {
		if a.Name == "vmid" || a.Name == "state" {
			continue
		}
		names = append(names, a.Name)
		if first == nil || a.NameRange.Start.Byte < first.Start.Byte {
			r := a.NameRange
			first = &r
		}
	}
	for _, b := range blocks {
		names = append(names, b.Type+" block")
		if first == nil || b.DefRange.Start.Byte < first.Start.Byte {
			r := b.DefRange
			first = &r
		}
	}
	if first == nil {
		return
	}
	d.errorf(*first, "Settings have no meaning for an absent guest",
		"Guest %q has state = \"absent\": it is to be destroyed, so its other settings have no meaning (%s). Remove them, keeping vmid and state, or change the state.", name, strings.Join(names, ", "))
}

func (d *decoder) guestAttr(g *Guest, a *hcl.Attribute) {
	switch a.Name {
	case "hostname":
		if s, ok := d.str(a); ok {
			if len(s) > 255 || !hostnamePattern.MatchString(s) {
				d.errorf(a.Expr.Range(), "Invalid hostname", "The hostname %q must be a DNS name of at most 255 characters (letters, digits, hyphens and dots).", s)
				return
			}
			g.Hostname = s
		}
	case "from_backup":
		if s, ok := d.str(a); ok {
			if err := checkBackupVolid(s); err != nil {
				d.errorf(a.Expr.Range(), "Invalid volume ID", "from_backup: %s.", err)
				return
			}
			g.FromBackup = s
		}
	case "from_template":
		if s, ok := d.str(a); ok {
			if !templatePattern.MatchString(s) {
				d.errorf(a.Expr.Range(), "Invalid template", "from_template must be a container template's volume ID, STORAGE:vztmpl/NAME.tar.zst (or .tar.gz, .tar.xz), such as local:vztmpl/debian-12-standard_12.7-1_amd64.tar.zst; got %q.", s)
				return
			}
			g.FromTemplate = s
		}
	case "ssh_public_keys":
		g.SSHPublicKeys = d.sshKeys(a)
	case "nameserver":
		g.Nameservers = d.nameservers(a)
	case "searchdomain":
		g.SearchDomains = d.searchDomains(a)
	case "cpulimit":
		if f, ok := d.number(a, 0, 8192); ok {
			g.CPULimit = &f
		}
	case "cpuunits":
		if n, ok := d.integer(a, 0, 500000); ok {
			u := int(n)
			g.CPUUnits = &u
		}
	case "timezone":
		g.Timezone = d.timezone(a)
	case "cores":
		if n, ok := d.integer(a, 1, 8192); ok {
			g.Cores = int(n)
		}
	case "memory":
		if n, ok := d.mib(a, 16); ok {
			g.Memory = n
		}
	case "swap":
		if n, ok := d.mib(a, 0); ok {
			g.Swap = &n
		}
	case "tags":
		v, ok := d.eval(a)
		if !ok {
			return
		}
		if v.Type() == cty.String {
			// Proxmox's own form, "prod;web", split as Proxmox splits it.
			g.Tags = d.tags(a, strings.FieldsFunc(v.AsString(), func(r rune) bool { return r == ';' || r == ',' || r == ' ' }))
		} else if list, ok := d.strListValue(a, v); ok {
			g.Tags = d.tags(a, list)
		}
	case "features":
		g.Features = d.featureString(a)
	case "description":
		if s, ok := d.str(a); ok {
			if len(s) > maxDescription {
				d.errorf(a.Expr.Range(), "Description too long", "Proxmox keeps at most %d bytes of description; this one has %d.", maxDescription, len(s))
				return
			}
			s = pveText(s)
			g.Description = &s
		}
	case "onboot":
		g.OnBoot = d.optBool(a)
	case "protection":
		g.Protection = d.optBool(a)
	case "unprivileged":
		g.Unprivileged = d.optBool(a)
	case "reboot_after_update":
		if b := d.optBool(a); b != nil {
			g.RebootAfterUpdate = *b
		}
	case "remove_volumes":
		if list, ok := d.strList(a); ok {
			g.RemoveVolumes = d.removeVolumes(a, list, g.VMID)
		}
	}
}

func (d *decoder) optBool(a *hcl.Attribute) *bool {
	if v, ok := d.boolean(a); ok {
		return &v
	}
	return nil
}

// tags canonicalises tags as Proxmox stores them: lower case, sorted, each
// once. The result is never nil, so an explicit empty list clears tags.
func (d *decoder) tags(a *hcl.Attribute, list []string) []string {
	seen := map[string]bool{}
	out := []string{}
	for _, t := range list {
		lt := strings.ToLower(t)
		if !tagPattern.MatchString(lt) {
			d.errorf(a.Expr.Range(), "Invalid tag",
				"The tag %q is not a Proxmox tag: it must start with a letter, digit or _ and contain only letters, digits and _ - + .", t)
			continue
		}
		if !seen[lt] {
			seen[lt] = true
			out = append(out, lt)
		}
	}
	sort.Strings(out)
	return out
}

// removeVolumes checks the volumes a guest should free: unusedN keys or
// volume IDs, and never a volume whose name says it belongs to another
// guest (vm-101-disk-0 in guest 100's list).
func (d *decoder) removeVolumes(a *hcl.Attribute, list []string, vmid int) []string {
	seen := map[string]bool{}
	out := []string{}
	for _, v := range list {
		if !unusedPattern.MatchString(v) {
			if err := checkVolid(v); err != nil {
				d.errorf(a.Expr.Range(), "Invalid volume ID", "remove_volumes entries are unusedN keys (unused0 to unused255) or volume IDs: %s.", err)
				continue
			}
			if owner, ok := volumeOwner(v); ok && vmid != 0 && owner != strconv.Itoa(vmid) {
				d.errorf(a.Expr.Range(), "Volume of another guest",
					"%q is named for guest %s, but this is guest %d; a guest can only free its own detached volumes.", v, owner, vmid)
				continue
			}
		}
		if seen[v] {
			d.errorf(a.Expr.Range(), "Duplicate volume", "%q is listed more than once in remove_volumes.", v)
			continue
		}
		seen[v] = true
		out = append(out, v)
	}
	return out
}

func (d *decoder) guestBlocks(g *Guest, blocks hcl.Blocks) {
	mountNames := map[string]hcl.Range{}
	mountPaths := map[string]hcl.Range{}
	netNames := map[string]hcl.Range{}
	snapNames := map[string]hcl.Range{}
	var rootfsAt, featuresAt *hcl.Range
	for _, b := range blocks {
		switch b.Type {
		case "rootfs":
			if rootfsAt != nil {
				d.errorf(b.DefRange, "Duplicate rootfs block", "Only one rootfs block is allowed. Another was defined at %s:%d:%d.", rootfsAt.Filename, rootfsAt.Start.Line, rootfsAt.Start.Column)
				continue
			}
			rootfsAt = &b.DefRange
			g.Rootfs = d.rootfs(b)
		case "startup":
			if g.Startup != nil {
				d.errorf(b.DefRange, "Duplicate startup block", "Only one startup block is allowed. Another was defined at %s:%d:%d.", g.Startup.DeclRange.Filename, g.Startup.DeclRange.Start.Line, g.Startup.DeclRange.Start.Column)
				continue
			}
			g.Startup = d.startup(b)
		case "features":
			if a, ok := g.AttrRanges["features"]; ok {
				d.errorf(b.DefRange, "Conflicting features", "The features are already set at %s:%d:%d; use either the features attribute or the features block.", a.Filename, a.Start.Line, a.Start.Column)
				continue
			}
			if featuresAt != nil {
				d.errorf(b.DefRange, "Duplicate features block", "Only one features block is allowed. Another was defined at %s:%d:%d.", featuresAt.Filename, featuresAt.Start.Line, featuresAt.Start.Column)
				continue
			}
			featuresAt = &b.DefRange
			g.Features = d.features(b)
		case "mount":
			m := d.mount(b)
			if first, dup := mountNames[m.Name]; dup {
				d.duplicate(b.LabelRanges[0], "mount", m.Name, first)
				continue
			}
			mountNames[m.Name] = b.LabelRanges[0]
			if m.Path != "" {
				if first, dup := mountPaths[m.Path]; dup {
					d.errorf(m.AttrRanges["path"], "Duplicate mount path", "Mount path %q is already used at %s:%d:%d; each mount point needs its own path.",
						m.Path, first.Filename, first.Start.Line, first.Start.Column)
					continue
				}
				mountPaths[m.Path] = m.AttrRanges["path"]
			}
			g.Mounts = append(g.Mounts, m)
		case "network":
			n := d.network(b)
			if first, dup := netNames[n.Name]; dup {
				d.duplicate(b.LabelRanges[0], "network", n.Name, first)
				continue
			}
			netNames[n.Name] = b.LabelRanges[0]
			g.Networks = append(g.Networks, n)
		case "snapshot":
			s := d.snapshot(b)
			if first, dup := snapNames[s.Name]; dup {
				d.duplicate(b.LabelRanges[0], "snapshot", s.Name, first)
				continue
			}
			snapNames[s.Name] = b.LabelRanges[0]
			g.Snapshots = append(g.Snapshots, s)
		}
	}
	if len(g.Networks) > 32 {
		d.errorf(g.DeclRange, "Too many networks", "A guest has at most 32 network interfaces (net0 to net31); this one has %d.", len(g.Networks))
	}
	if len(g.Mounts) > 256 {
		d.errorf(g.DeclRange, "Too many mounts", "A guest has at most 256 mount points (mp0 to mp255); this one has %d.", len(g.Mounts))
	}
}

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
	content, diags := b.Body.Content(rootfsSchema)
	d.diags = append(d.diags, diags...)
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
	content, diags := b.Body.Content(featuresSchema)
	d.diags = append(d.diags, diags...)
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
	if !labelPattern.MatchString(m.Name) {
		d.errorf(b.LabelRanges[0], "Invalid mount name", "The mount name %q must start with a letter or digit and use only letters, digits and _ . @ + -.", m.Name)
	}
	content, diags := b.Body.Content(mountSchema)
	d.diags = append(d.diags, diags...)
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
	if !ifnamePattern.MatchString(n.Name) {
		d.errorf(b.LabelRanges[0], "Invalid interface name",
			"%q is not a network interface name: at most 15 letters, digits and _ . -, such as eth0.", n.Name)
	}
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
	if !snapshotPattern.MatchString(s.Name) || s.Name == "current" || s.Name == "vzdump" {
		d.errorf(b.LabelRanges[0], "Invalid snapshot name",
			"%q is not a snapshot name: 2 to 40 letters, digits, _ and -, starting with a letter; \"current\" and \"vzdump\" are reserved.", s.Name)
	}
	content, diags := b.Body.Content(snapshotSchema)
	d.diags = append(d.diags, diags...)
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
