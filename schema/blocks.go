package schema

import (
	"fmt"

	"github.com/hashicorp/hcl/v2"
)

// What every block decoder does alike: decode a block's body against its
// schema, check its label, and refuse a second block, label or value
// where one is allowed.

// content decodes b's body against s, keeping the diagnostics.
func (d *decoder) content(b *hcl.Block, s *hcl.BodySchema) *hcl.BodyContent {
	content, diags := b.Body.Content(s)
	d.diags = append(d.diags, diags...)
	return content
}

// checkLabel refuses b's first label unless valid: an error at the label
// with summary, and a detail made from format and the label.
func (d *decoder) checkLabel(b *hcl.Block, valid bool, summary, format string) {
	if !valid {
		d.errorf(b.LabelRanges[0], summary, format, b.Labels[0])
	}
}

// unique records name, given at rng, in seen and reports whether it is
// new; a name seen before is a "Duplicate WHAT" error.
func (d *decoder) unique(seen map[string]hcl.Range, what, name string, rng hcl.Range) bool {
	if first, dup := seen[name]; dup {
		d.duplicate(rng, what, name, first)
		return false
	}
	seen[name] = rng
	return true
}

// onlyOne reports whether b is the first block of its type, remembered in
// *first; a later one is a "Duplicate TYPE block" error naming the first.
func (d *decoder) onlyOne(b *hcl.Block, first **hcl.Range) bool {
	if *first != nil {
		d.errorf(b.DefRange, "Duplicate "+b.Type+" block", "Only one %s block is allowed. Another was defined at %s.", b.Type, at(**first))
		return false
	}
	*first = &b.DefRange
	return true
}

// onlyFirst refuses every block of blocks but the first, as onlyOne does.
func (d *decoder) onlyFirst(blocks hcl.Blocks) {
	var first *hcl.Range
	for _, b := range blocks {
		d.onlyOne(b, &first)
	}
}

// at renders where r starts as FILE:LINE:COLUMN.
func at(r hcl.Range) string {
	return fmt.Sprintf("%s:%d:%d", r.Filename, r.Start.Line, r.Start.Column)
}
