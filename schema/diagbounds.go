package schema

import (
	"unicode/utf8"

	"github.com/hashicorp/hcl/v2"
)

// Bounds on a diagnostic's text: values from the file (a name, a string)
// appear in it, and a value may be a megabyte.
const (
	maxSummaryText = 200
	maxDetailText  = 2000
)

// capDiagText cuts each diagnostic's summary and detail to their bounds.
func capDiagText(diags hcl.Diagnostics) {
	for _, d := range diags {
		d.Summary = capText(d.Summary, maxSummaryText)
		d.Detail = capText(d.Detail, maxDetailText)
	}
}

// capText cuts s to at most n bytes on a character boundary, saying so.
func capText(s string, n int) string {
	if len(s) <= n {
		return s
	}
	const more = " [...]"
	cut := n - len(more)
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + more
}

// maxSuggestWork bounds, per file, the character comparisons "did you
// mean" may spend on the file's own names: each job naming an undeclared
// guest is compared with every guest, which for thousands of each would
// take minutes. Past it, references are still refused, without a
// suggestion.
const maxSuggestWork = 1 << 26

// didYouMeanGuest suggests the guest ref may have meant, within the
// file's budget for suggestions.
func (d *decoder) didYouMeanGuest(ref string, guests []Guest) string {
	if d.guestNames == nil || len(d.guestNames) != len(guests) {
		d.guestNames, d.nameBytes = make([]string, len(guests)), 0
		for i, g := range guests {
			d.guestNames[i] = g.Name
			d.nameBytes += int64(len(g.Name))
		}
	}
	if d.suggested += int64(len(guests)) + int64(len(ref))*d.nameBytes; d.suggested > maxSuggestWork {
		return ""
	}
	return didYouMean(ref, d.guestNames)
}
