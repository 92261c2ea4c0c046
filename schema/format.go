package schema

import (
	"bytes"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclwrite"
	"github.com/rogpeppe/go-internal/diff"
)

// Format returns src in canonical form (hclwrite's layout: indentation,
// aligned equals signs, spacing). It refuses input that does not parse, so
// a broken file is reported rather than reshuffled. Formatting canonical
// input returns it unchanged.
func Format(src []byte, filename string) ([]byte, hcl.Diagnostics) {
	if _, diags := parse(src, filename); diags.HasErrors() {
		return nil, tidyDiags(diags)
	}
	return hclwrite.Format(src), nil
}

// Diff returns a unified diff from a to b, labelled with name, or "" when
// they are equal. It is meant for showing what Format changes.
func Diff(name string, a, b []byte) string {
	d := diff.Diff(name, a, name+" (formatted)", b)
	_, unified, _ := bytes.Cut(d, []byte("\n")) // drop the "diff a b" line
	return string(unified)
}
