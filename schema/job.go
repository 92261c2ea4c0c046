package schema

import (
	"slices"
	"strconv"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"
)

var jobSchema = &hcl.BodySchema{
	Attributes: []hcl.AttributeSchema{
		{Name: "op", Required: true}, {Name: "guest"}, {Name: "golden"},
		{Name: "snapshot"}, {Name: "backup"}, {Name: "storage"}, {Name: "mode"}, {Name: "prune"}, {Name: "not_after"},
	},
}

// jobFields lists, per op, the attributes it takes besides op and guest,
// and which of them it requires.
var jobFields = map[string]struct{ allowed, required []string }{
	OpSnapshotRollback: {allowed: []string{"snapshot"}, required: []string{"snapshot"}},
	OpSnapshotDelete:   {allowed: []string{"snapshot"}, required: []string{"snapshot"}},
	OpGuestRestoreOver: {allowed: []string{"backup"}, required: []string{"backup"}},
	OpBackupCreate:     {allowed: []string{"storage", "mode", "prune"}},
	OpGuestReboot:      {},
	OpGoldenRebuild:    {allowed: []string{"golden"}, required: []string{"golden"}},
}

func (d *decoder) jobs(h *Host, blocks hcl.Blocks) {
	ids := map[string]hcl.Range{}
	for _, b := range blocks {
		if j := d.job(h, b); d.unique(ids, "job", j.ID, b.LabelRanges[0]) {
			h.Jobs = append(h.Jobs, j)
		}
	}
}

func (d *decoder) job(h *Host, b *hcl.Block) Job {
	j := Job{ID: b.Labels[0], DeclRange: b.DefRange}
	d.checkLabel(b, labelPattern.MatchString(j.ID), "Invalid job ID",
		"The job ID %q must start with a letter or digit and use at most 64 letters, digits and _ . @ + -.")
	content := d.content(b, jobSchema)
	attrs := content.Attributes
	j.AttrRanges = attrRanges(attrs)

	if a, ok := attrs["op"]; ok {
		if op, ok := d.str(a); ok {
			if _, known := jobFields[op]; known {
				j.Op = op
			} else {
				d.errorf(a.Expr.Range(), "Unknown job operation", "%q is not a job operation; a job's op is one of %s.%s",
					op, quoteList(Ops), didYouMean(op, Ops))
			}
		}
	}
	a, hasGuest := attrs["guest"]
	switch {
	case j.Op == OpGoldenRebuild && hasGuest:
		d.errorf(a.NameRange, "Argument not valid for this operation", "A %s job names its golden image (golden = \"NAME\"), not a guest.", j.Op)
	case j.Op == OpGoldenRebuild:
		if a, ok := attrs["golden"]; ok {
			d.jobGolden(h, &j, a)
		}
	case hasGuest:
		d.jobGuest(h, &j, a)
	case j.Op != "":
		d.errorf(b.DefRange, "Missing required argument", "A %s job needs \"guest\".", j.Op)
	}
	if j.Op != "" {
		fields := jobFields[j.Op]
		for _, a := range sortedAttrs(attrs) {
			if a.Name != "op" && a.Name != "guest" && a.Name != "not_after" && !slices.Contains(fields.allowed, a.Name) {
				d.errorf(a.NameRange, "Argument not valid for this operation", "A %s job does not take %q.", j.Op, a.Name)
			}
		}
		for _, name := range fields.required {
			if _, ok := attrs[name]; !ok {
				d.errorf(b.DefRange, "Missing required argument", "A %s job needs %q.", j.Op, name)
			}
		}
	}
	for _, a := range sortedAttrs(attrs) {
		switch a.Name {
		case "snapshot":
			if s, ok := d.str(a); ok {
				if !snapshotPattern.MatchString(s) {
					d.errorf(a.Expr.Range(), "Invalid snapshot name", "%q is not a snapshot name: 2 to 40 letters, digits, _ and -, starting with a letter.", s)
				}
				j.Snapshot = s
			}
		case "backup":
			if s, ok := d.str(a); ok {
				if err := checkBackupVolid(s); err != nil {
					d.errorf(a.Expr.Range(), "Invalid volume ID", "backup: %s.", err)
				}
				j.Backup = s
			}
		case "storage":
			j.Storage = d.storageID(a)
		case "mode":
			if s, ok := d.str(a); ok {
				modes := []string{"snapshot", "suspend", "stop"}
				if !slices.Contains(modes, s) {
					d.errorf(a.Expr.Range(), "Invalid backup mode", "mode must be one of %s, got %q.%s", quoteList(modes), s, didYouMean(s, modes))
				}
				j.Mode = s
			}
		case "prune":
			if v, ok := d.boolean(a); ok {
				j.Prune = v
			}
		case "not_after":
			if s, ok := d.str(a); ok {
				t, err := time.Parse(time.RFC3339, s)
				if err != nil {
					d.errorf(a.Expr.Range(), "Invalid time", "not_after must be an RFC 3339 time such as \"2026-12-31T23:00:00Z\", got %q.", s)
				}
				j.NotAfter = t
			}
		}
	}
	if j.Op == OpSnapshotDelete && j.Snapshot != "" {
		if g := h.Guest(j.Guest); g != nil {
			for _, snap := range g.Snapshots {
				if snap.Name == j.Snapshot {
					d.errorf(j.AttrRanges["snapshot"], "Contradictory snapshot",
						"Job %q deletes snapshot %q, which guest %q declares it should have (%s:%d). Remove one of the two.",
						j.ID, j.Snapshot, j.Guest, snap.DeclRange.Filename, snap.DeclRange.Start.Line)
				}
			}
		}
	}
	return j
}

// jobGuest resolves the job's guest reference: the name of a guest block
// in the file, or a vmid (a number, or a string of digits) which may also
// name a guest the file does not manage. Either way the job names exactly
// one guest, visibly in review.
func (d *decoder) jobGuest(h *Host, j *Job, a *hcl.Attribute) {
	v, ok := d.eval(a)
	if !ok {
		return
	}
	var ref string
	switch v.Type() {
	case cty.String:
		ref = v.AsString()
	case cty.Number:
		ref = numberText(v.AsBigFloat())
	default:
		d.typeError(a, "a guest name or vmid", v)
		return
	}
	g := h.Guest(ref)
	if g == nil && v.Type() == cty.String && !vmidPattern.MatchString(ref) {
		d.errorf(a.Expr.Range(), "Reference to undeclared guest",
			"No guest block named %q is declared in this file.%s", ref, d.didYouMeanGuest(ref, h.Guests))
		return
	}
	if g == nil {
		vmid, err := strconv.ParseInt(ref, 10, 64)
		if err != nil || vmid < minVMID || vmid > maxVMID {
			d.errorf(a.Expr.Range(), "Value out of range", "A guest's vmid is between %d and %d, got %s.", minVMID, maxVMID, ref)
			return
		}
		j.VMID = int(vmid)
		if g = h.GuestByVMID(j.VMID); g == nil {
			return // a guest the file does not manage, named by vmid
		}
	}
	if g.State == StateAbsent {
		d.errorf(a.Expr.Range(), "Job on an absent guest", "Guest %q has state = \"absent\"; a job cannot run on a guest that is to be destroyed.", g.Name)
		return
	}
	j.Guest, j.VMID = g.Name, g.VMID
}

// jobGolden resolves a golden.rebuild job's golden image: a golden block
// of the file. The job runs in that image's vmid.
func (d *decoder) jobGolden(h *Host, j *Job, a *hcl.Attribute) {
	name, ok := d.str(a)
	if !ok {
		return
	}
	g := h.Golden(name)
	if g == nil {
		var known []string
		for _, gi := range h.Goldens {
			known = append(known, gi.Name)
		}
		d.errorf(a.Expr.Range(), "Reference to undeclared golden image", "No golden block named %q is declared in this file.%s", name, didYouMean(name, known))
		return
	}
	j.Golden, j.VMID = g.Name, g.VMID
}

func quoteList(items []string) string {
	s := ""
	for i, it := range items {
		if i > 0 {
			s += ", "
		}
		s += `"` + it + `"`
	}
	return s
}
