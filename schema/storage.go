package schema

import (
	"sort"
	"strings"

	"github.com/hashicorp/hcl/v2"
)

var storageSchema = &hcl.BodySchema{
	Attributes: []hcl.AttributeSchema{{Name: "usb_uuid", Required: true}, {Name: "mountpoint", Required: true}},
}

func (d *decoder) storages(h *Host, blocks hcl.Blocks) {
	names := map[string]hcl.Range{}
	uuids := map[string]hcl.Range{}
	mountpoints := map[string]hcl.Range{}
	for _, b := range blocks {
		s := d.storage(b)
		if !d.unique(names, "storage", s.Name, b.LabelRanges[0]) {
			continue
		}
		if s.USBUUID != "" {
			key := strings.ToUpper(s.USBUUID)
			if first, dup := uuids[key]; dup {
				d.duplicate(s.AttrRanges["usb_uuid"], "usb_uuid", s.USBUUID, first)
			} else {
				uuids[key] = s.AttrRanges["usb_uuid"]
			}
		}
		if s.Mountpoint != "" {
			d.unique(mountpoints, "mountpoint", s.Mountpoint, s.AttrRanges["mountpoint"])
		}
		h.Storages = append(h.Storages, s)
	}
	sort.Slice(h.Storages, func(i, j int) bool { return h.Storages[i].Name < h.Storages[j].Name })
}

func (d *decoder) storage(b *hcl.Block) Storage {
	s := Storage{Name: b.Labels[0], DeclRange: b.DefRange}
	d.checkLabel(b, storageIDPattern.MatchString(s.Name), "Invalid storage name",
		"%q is not a Proxmox storage name: it starts with a lower-case letter and uses lower-case letters, digits and - _ . (for example usb-backup).")
	content := d.content(b, storageSchema)
	s.AttrRanges = attrRanges(content.Attributes)
	if a, ok := content.Attributes["usb_uuid"]; ok {
		if v, ok := d.str(a); ok {
			if !uuidPattern.MatchString(v) {
				d.errorf(a.Expr.Range(), "Invalid file system UUID",
					"%q is not a file system UUID: use the form blkid reports, such as 1234-ABCD (FAT), 0123456789ABCDEF (NTFS) or 3f2504e0-4f89-11d3-9a0c-0305e82c3301.", v)
			} else {
				s.USBUUID = v
			}
		}
	}
	if a, ok := content.Attributes["mountpoint"]; ok {
		s.Mountpoint = d.absPath(a, "Invalid mountpoint", "The mountpoint must be an absolute, clean path")
	}
	return s
}
