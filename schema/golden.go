package schema

import (
	"sort"

	"github.com/hashicorp/hcl/v2"
)

// Golden is a golden image: a container the tool builds from a template
// through the fenced root path (pct create, for the features no API token
// may set), backs up, and destroys again, so that its archive is what
// guests are restored from (from_backup = golden.NAME). It is built only
// when no archive of it that the journal records exists; building it again
// is a golden.rebuild job.
type Golden struct {
	Name          string // the block label, how guests refer to it
	VMID          int    // the vmid the container is built in (free while it is not being built)
	Template      string // STORAGE:vztmpl/NAME.tar.zst
	Storage       string // the root file system's storage
	Size          Size   // the root file system's size, whole GiB; 0: Proxmox's default (4 GiB)
	Hostname      string
	Memory        int64  // MiB; 0: Proxmox's default
	Cores         int    // 0: Proxmox's default
	Bridge        string // eth0 on this bridge with DHCP; "": no interface
	BackupStorage string // where the archive goes (default "local")
	Features      *Features

	DeclRange  hcl.Range
	AttrRanges map[string]hcl.Range
}

var goldenSchema = &hcl.BodySchema{
	Attributes: []hcl.AttributeSchema{
		{Name: "template", Required: true}, {Name: "vmid", Required: true}, {Name: "storage", Required: true},
		{Name: "size"}, {Name: "hostname"}, {Name: "memory"}, {Name: "cores"}, {Name: "bridge"},
		{Name: "backup_storage"}, {Name: "features"},
	},
	Blocks: []hcl.BlockHeaderSchema{{Type: "features"}},
}

// DefaultGoldenBackupStorage is where a golden image's archive goes when
// its block does not say.
const DefaultGoldenBackupStorage = "local"

// Golden returns the golden image with the given name, or nil.
func (h *Host) Golden(name string) *Golden {
	for i := range h.Goldens {
		if h.Goldens[i].Name == name {
			return &h.Goldens[i]
		}
	}
	return nil
}

func (d *decoder) goldens(h *Host, blocks hcl.Blocks) {
	names := map[string]hcl.Range{}
	for _, b := range blocks {
		g := d.golden(b)
		if first, dup := names[g.Name]; dup {
			d.duplicate(b.LabelRanges[0], "golden", g.Name, first)
			continue
		}
		names[g.Name] = b.LabelRanges[0]
		if g.VMID != 0 {
			if first, dup := d.vmidDecls[g.VMID]; dup {
				d.errorf(g.AttrRanges["vmid"], "Duplicate vmid",
					"Golden image %q is built in vmid %d, which is already used at %s:%d:%d; it needs a vmid of its own.",
					g.Name, g.VMID, first.Filename, first.Start.Line, first.Start.Column)
			} else {
				d.vmidDecls[g.VMID] = g.AttrRanges["vmid"]
			}
		}
		h.Goldens = append(h.Goldens, g)
	}
	sort.Slice(h.Goldens, func(i, j int) bool { return h.Goldens[i].Name < h.Goldens[j].Name })
	for i := range h.Guests {
		g := &h.Guests[i]
		if g.FromGolden != "" && h.Golden(g.FromGolden) == nil {
			var known []string
			for _, gi := range h.Goldens {
				known = append(known, gi.Name)
			}
			d.errorf(g.AttrRanges["from_backup"], "Reference to undeclared golden image",
				"No golden block named %q is declared in this file.%s", g.FromGolden, didYouMean(g.FromGolden, known))
		}
	}
}

func (d *decoder) golden(b *hcl.Block) Golden {
	if d.vmidDecls == nil {
		d.guestDecls, d.vmidDecls = map[string]hcl.Range{}, map[int]hcl.Range{}
	}
	g := Golden{Name: b.Labels[0], BackupStorage: DefaultGoldenBackupStorage, DeclRange: b.DefRange}
	if !labelPattern.MatchString(g.Name) {
		d.errorf(b.LabelRanges[0], "Invalid golden image name",
			"The golden image name %q must start with a letter or digit and use only letters, digits and _ . @ + -.", g.Name)
	}
	content, diags := b.Body.Content(goldenSchema)
	d.diags = append(d.diags, diags...)
	g.AttrRanges = attrRanges(content.Attributes)
	if hostnamePattern.MatchString(g.Name) {
		g.Hostname = g.Name
	}
	for _, a := range sortedAttrs(content.Attributes) {
		switch a.Name {
		case "template":
			if s, ok := d.str(a); ok {
				if !templatePattern.MatchString(s) {
					d.errorf(a.Expr.Range(), "Invalid template", "template must be a container template's volume ID, STORAGE:vztmpl/NAME.tar.zst, got %q.", s)
				}
				g.Template = s
			}
		case "vmid":
			if n, ok := d.integer(a, minVMID, maxVMID); ok {
				g.VMID = int(n)
			}
		case "storage":
			g.Storage = d.storageID(a)
		case "backup_storage":
			g.BackupStorage = d.storageID(a)
		case "size":
			if n, ok := d.diskSize(a); ok {
				if int64(n)%GiB != 0 {
					d.errorf(a.Expr.Range(), "Size not in whole GiB", "A golden image's root file system is allocated in whole GiB (pct create --rootfs STORAGE:GiB); %s is not.", n)
				}
				g.Size = n
			}
		case "hostname":
			if s, ok := d.str(a); ok {
				if len(s) > 255 || !hostnamePattern.MatchString(s) {
					d.errorf(a.Expr.Range(), "Invalid hostname", "The hostname %q must be a DNS name of at most 255 characters.", s)
				}
				g.Hostname = s
			}
		case "memory":
			if n, ok := d.mib(a, 16); ok {
				g.Memory = n
			}
		case "cores":
			if n, ok := d.integer(a, 1, 8192); ok {
				g.Cores = int(n)
			}
		case "bridge":
			if s, ok := d.str(a); ok {
				if !ifnamePattern.MatchString(s) {
					d.errorf(a.Expr.Range(), "Invalid bridge name", "%q is not a bridge name, such as vmbr0.", s)
				}
				g.Bridge = s
			}
		case "features":
			g.Features = d.featureString(a)
		}
	}
	for _, blk := range content.Blocks {
		if g.Features != nil {
			d.errorf(blk.DefRange, "Conflicting features", "The features are already set at %s:%d:%d; use either the features attribute or one features block.",
				g.Features.DeclRange.Filename, g.Features.DeclRange.Start.Line, g.Features.DeclRange.Start.Column)
			continue
		}
		g.Features = d.features(blk)
	}
	return g
}

// goldenRef reads from_backup = golden.NAME: the name, and whether the
// expression is such a reference at all.
func goldenRef(expr hcl.Expression) (string, bool) {
	tr, diags := hcl.AbsTraversalForExpr(expr)
	if diags.HasErrors() || len(tr) != 2 || tr.RootName() != "golden" {
		return "", false
	}
	attr, ok := tr[1].(hcl.TraverseAttr)
	if !ok {
		return "", false
	}
	return attr.Name, true
}
