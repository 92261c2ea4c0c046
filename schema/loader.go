package schema

import (
	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
)

// loader decodes a desired state part by part as parseParts parses it,
// so that the syntax tree of the guests (nearly all of a large file) is
// dropped as soon as each guest is decoded, instead of held for the whole
// file. Guests need the local values, which any part may define: they
// wait until the part holding the last locals block (the scan found where
// it starts) has been read. The other blocks are few and are decoded at
// the end, in the order Load always had: host, guests' cross-checks,
// golden images (which guests name), jobs (which name guests and golden
// images), storages, signers.
type loader struct {
	d     *decoder
	h     *Host
	diags hcl.Diagnostics // the parser's warnings and the top-level schema's diagnostics

	localsFrom int  // the offset of the last locals block; guests wait until a part ends past it
	ready      bool // the local values are evaluated: guests are decoded as they come
	first      *hclsyntax.Body

	locals, hosts, waiting, jobs, storages, signers, goldens hcl.Blocks
}

// newLoader returns a loader for a file whose last locals block starts at
// localsFrom (-1 when it has none).
func newLoader(localsFrom int) *loader {
	l := &loader{d: &decoder{}, h: &Host{}, localsFrom: localsFrom}
	if localsFrom < 0 {
		l.evalLocals()
	}
	return l
}

// part takes the body of the next part, which ends at offset end. It
// returns false when the part holds a locals block after the local
// values were evaluated (the scan and the parser disagree on the file's
// layout): the file is then to be loaded whole.
func (l *loader) part(body *hclsyntax.Body, end int) bool {
	if l.first == nil {
		l.first = body
	}
	content, diags := body.Content(rootSchema)
	l.diags = append(l.diags, diags...)
	for _, b := range content.Blocks {
		switch b.Type {
		case "locals":
			if l.ready {
				return false
			}
			l.locals = append(l.locals, b)
		case "guest":
			if l.ready {
				l.d.guest(l.h, b)
			} else {
				l.waiting = append(l.waiting, b)
			}
		case "host":
			l.hosts = append(l.hosts, b)
		case "job":
			l.jobs = append(l.jobs, b)
		case "storage":
			l.storages = append(l.storages, b)
		case "signers":
			l.signers = append(l.signers, b)
		case "golden":
			l.goldens = append(l.goldens, b)
		}
	}
	if !l.ready && end > l.localsFrom {
		l.evalLocals()
	}
	return true
}

// evalLocals evaluates the local values and decodes the guests that
// waited for them.
func (l *loader) evalLocals() {
	l.d.ctx = evalContext(l.d, l.locals)
	l.ready = true
	for _, b := range l.waiting {
		l.d.guest(l.h, b)
	}
	l.waiting = nil
}

// finish decodes what waited for the whole file and returns the host,
// or nil when there are errors, with every diagnostic in file order.
func (l *loader) finish() (*Host, hcl.Diagnostics, int64) {
	d, h := l.d, l.h
	if !l.ready {
		l.evalLocals()
	}
	d.host(h, l.hosts, l.first)
	d.finishGuests(h)
	d.goldens(h, l.goldens)
	d.jobs(h, l.jobs)
	d.storages(h, l.storages)
	d.signers(h, l.signers)
	diags := tidyDiags(append(l.diags, d.diags...))
	if diags.HasErrors() {
		return nil, diags, d.spent
	}
	return h, diags, d.spent
}
