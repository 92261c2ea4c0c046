package schema

import (
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
	if !d.unique(d.guestDecls, "guest", g.Name, b.LabelRanges[0]) {
		return
	}
	if g.VMID != 0 {
		if first, dup := d.vmidDecls[g.VMID]; dup {
			d.errorf(g.AttrRanges["vmid"], "Duplicate vmid",
				"Guest %q uses vmid %d, which is already used at %s; each guest needs its own vmid.", g.Name, g.VMID, at(first))
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
				d.errorf(rng, "Duplicate MAC address", "%s is already used at %s; each interface needs its own MAC address.", n.Hwaddr, at(first))
				continue
			}
			seen[n.Hwaddr] = rng
		}
	}
}

// guestBlock decodes one guest block.
func (d *decoder) guestBlock(b *hcl.Block) Guest {
	g := Guest{Name: b.Labels[0], State: StateRunning, DeclRange: b.DefRange}
	d.checkLabel(b, labelPattern.MatchString(g.Name), "Invalid guest name",
		"The guest name %q must start with a letter or digit and use only letters, digits and _ . @ + -.")
	content := d.content(b, guestSchema)
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
			"A guest is created either by restoring from_backup or from the template from_template, not both; the other is set at %s.", at(first))
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
		if name, ok := goldenRef(a.Expr); ok {
			g.FromGolden = name // checked once the golden blocks are read
			return
		}
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
	var rootfsAt, startupAt, featuresAt *hcl.Range
	for _, b := range blocks {
		switch b.Type {
		case "rootfs":
			if d.onlyOne(b, &rootfsAt) {
				g.Rootfs = d.rootfs(b)
			}
		case "startup":
			if d.onlyOne(b, &startupAt) {
				g.Startup = d.startup(b)
			}
		case "features":
			if a, ok := g.AttrRanges["features"]; ok {
				d.errorf(b.DefRange, "Conflicting features", "The features are already set at %s; use either the features attribute or the features block.", at(a))
				continue
			}
			if d.onlyOne(b, &featuresAt) {
				g.Features = d.features(b)
			}
		case "mount":
			m := d.mount(b)
			if !d.unique(mountNames, "mount", m.Name, b.LabelRanges[0]) {
				continue
			}
			if m.Path != "" {
				if first, dup := mountPaths[m.Path]; dup {
					d.errorf(m.AttrRanges["path"], "Duplicate mount path", "Mount path %q is already used at %s; each mount point needs its own path.", m.Path, at(first))
					continue
				}
				mountPaths[m.Path] = m.AttrRanges["path"]
			}
			g.Mounts = append(g.Mounts, m)
		case "network":
			if n := d.network(b); d.unique(netNames, "network", n.Name, b.LabelRanges[0]) {
				g.Networks = append(g.Networks, n)
			}
		case "snapshot":
			if s := d.snapshot(b); d.unique(snapNames, "snapshot", s.Name, b.LabelRanges[0]) {
				g.Snapshots = append(g.Snapshots, s)
			}
		}
	}
	if len(g.Networks) > 32 {
		d.errorf(g.DeclRange, "Too many networks", "A guest has at most 32 network interfaces (net0 to net31); this one has %d.", len(g.Networks))
	}
	if len(g.Mounts) > 256 {
		d.errorf(g.DeclRange, "Too many mounts", "A guest has at most 256 mount points (mp0 to mp255); this one has %d.", len(g.Mounts))
	}
}
