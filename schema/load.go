package schema

import (
	"fmt"
	"slices"
	"sort"
	"unicode/utf8"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/function"
	"github.com/zclconf/go-cty/cty/function/stdlib"
)

// MaxFileSize bounds a desired-state file. Hub input is untrusted: a larger
// file is refused before it is parsed.
const MaxFileSize = 4 << 20

var rootSchema = &hcl.BodySchema{
	Blocks: []hcl.BlockHeaderSchema{
		{Type: "host", LabelNames: []string{"name"}},
		{Type: "guest", LabelNames: []string{"name"}},
		{Type: "job", LabelNames: []string{"id"}},
		{Type: "storage", LabelNames: []string{"name"}},
		{Type: "signers"},
		{Type: "locals"},
		{Type: "golden", LabelNames: []string{"name"}},
	},
}

var hostSchema = &hcl.BodySchema{
	Attributes: []hcl.AttributeSchema{{Name: "node", Required: true}},
}

// Load reads one desired-state file from src; filename is used only in
// diagnostics. It returns the typed, canonical host and every problem found.
// When the diagnostics contain an error the host is nil; warnings (such as a
// memory value rounded up to whole MiB) come with a usable host.
//
// Load never touches the file system or the network. To render the
// diagnostics with source snippets, pass Files(src, filename) to
// hcl.NewDiagnosticTextWriter.
func Load(src []byte, filename string) (*Host, hcl.Diagnostics) {
	h, diags, _ := load(src, filename)
	return h, diags
}

// load is Load, also returning the sum of the bounds the expressions it
// evaluated were admitted under (decoder.spent), for FuzzLoad's check that
// loading costs what the bounds say.
func load(src []byte, filename string) (*Host, hcl.Diagnostics, int64) {
	return loadInParts(src, filename, partSize)
}

// loadInParts is load, parsing and decoding about cutEvery bytes of whole
// top-level items at a time (the whole file at once when cutEvery is 0).
func loadInParts(src []byte, filename string, cutEvery int) (*Host, hcl.Diagnostics, int64) {
	layout, diags := checkInput(src, filename, cutEvery)
	if diags.HasErrors() {
		return nil, tidyDiags(diags), 0
	}
	l := newLoader(layout.lastLocals)
	if !parseParts(src, filename, layout.cuts, l.part) {
		// A part has diagnostics: parse the file whole, for exactly the
		// parser's, and decode it whole if it has no errors after all.
		file, diags := hclsyntax.ParseConfig(src, filename, hcl.InitialPos)
		if diags.HasErrors() {
			return nil, tidyDiags(diags), 0
		}
		l = newLoader(len(src))
		l.diags = diags
		l.part(file.Body.(*hclsyntax.Body), len(src))
	}
	return l.finish()
}

// maxDiags bounds the diagnostics of one file: a broken file can produce
// one per token, and nobody reads past the first screenful.
const maxDiags = 50

// tidyDiags orders diagnostics by their place in the file, so output is
// stable (hcl reports unknown attributes in map order), and cuts them at
// maxDiags with a note saying so.
func tidyDiags(diags hcl.Diagnostics) hcl.Diagnostics {
	addPctHints(diags)
	capDiagText(diags)
	sort.SliceStable(diags, func(i, j int) bool {
		a, b := diags[i].Subject, diags[j].Subject
		if a == nil || b == nil {
			return a == nil && b != nil
		}
		return a.Start.Byte < b.Start.Byte
	})
	if len(diags) <= maxDiags {
		return diags
	}
	rest := diags[maxDiags:]
	severity := hcl.DiagWarning
	if rest.HasErrors() {
		severity = hcl.DiagError
	}
	return append(diags[:maxDiags:maxDiags], &hcl.Diagnostic{
		Severity: severity,
		Summary:  "Too many problems",
		Detail:   fmt.Sprintf("%d more problems are not shown; fix the ones above first.", len(rest)),
		Subject:  rest[0].Subject,
	})
}

// Files maps filename to src in the form hcl's diagnostic writers need to
// show source snippets and the enclosing block ("in guest "web"").
func Files(src []byte, filename string) map[string]*hcl.File {
	var file *hcl.File
	if _, diags := checkInput(src, filename, 0); !diags.HasErrors() {
		file, _ = hclsyntax.ParseConfig(src, filename, hcl.InitialPos)
	}
	if file == nil {
		file = &hcl.File{Bytes: src}
	}
	return map[string]*hcl.File{filename: file}
}

// parse checks the input bounds and parses the HCL syntax.
func parse(src []byte, filename string) (*hcl.File, hcl.Diagnostics) {
	if _, diags := checkInput(src, filename, 0); diags.HasErrors() {
		return nil, diags
	}
	return hclsyntax.ParseConfig(src, filename, hcl.InitialPos)
}

// checkInput checks the bounds on the file before anything parses it: its
// size, its encoding and its complexity (checkComplexity, which also
// returns the file's layout, with cuts cutEvery bytes apart).
func checkInput(src []byte, filename string, cutEvery int) (layout, hcl.Diagnostics) {
	start := hcl.Range{Filename: filename, Start: hcl.InitialPos, End: hcl.InitialPos}
	if len(src) > MaxFileSize {
		return layout{}, hcl.Diagnostics{{
			Severity: hcl.DiagError,
			Summary:  "File too large",
			Detail:   fmt.Sprintf("The file is larger than %d bytes (4 MiB), the bound for a desired-state file.", MaxFileSize),
			Subject:  &start,
		}}
	}
	if !utf8.Valid(src) {
		pos := invalidUTF8(src)
		rng := hcl.Range{Filename: filename, Start: pos, End: hcl.Pos{Line: pos.Line, Column: pos.Column + 1, Byte: pos.Byte + 1}}
		return layout{}, hcl.Diagnostics{{
			Severity: hcl.DiagError,
			Summary:  "Invalid UTF-8",
			Detail:   fmt.Sprintf("The file must be UTF-8 text; byte offset %d (line %d, column %d) is not valid UTF-8.", pos.Byte, pos.Line, pos.Column),
			Subject:  &rng,
		}}
	}
	return checkComplexity(src, filename, cutEvery)
}

// invalidUTF8 returns the position of the first byte that is not valid UTF-8.
func invalidUTF8(src []byte) hcl.Pos {
	pos := hcl.InitialPos
	for pos.Byte < len(src) {
		r, size := utf8.DecodeRune(src[pos.Byte:])
		if r == utf8.RuneError && size <= 1 {
			return pos
		}
		pos.Byte += size
		if r == '\n' {
			pos.Line++
			pos.Column = 1
		} else {
			pos.Column++
		}
	}
	return pos
}

// functions are the few pure functions expressions may call.
var functions = map[string]function.Function{
	"concat": stdlib.ConcatFunc,
	"format": stdlib.FormatFunc,
	"join":   stdlib.JoinFunc,
	"lower":  stdlib.LowerFunc,
	"max":    stdlib.MaxFunc,
	"min":    stdlib.MinFunc,
	"upper":  stdlib.UpperFunc,
}

// evalContext evaluates the locals blocks in dependency order and returns
// the context every other expression is evaluated in (local.NAME).
func evalContext(d *decoder, blocks hcl.Blocks) *hcl.EvalContext {
	defs := map[string]*hcl.Attribute{}
	var order []*hcl.Attribute
	for _, b := range blocks {
		attrs, diags := b.Body.JustAttributes()
		d.diags = append(d.diags, diags...)
		for _, a := range sortedAttrs(attrs) {
			if first, ok := defs[a.Name]; ok {
				d.duplicate(a.NameRange, "local value", a.Name, first.NameRange)
				continue
			}
			defs[a.Name] = a
			order = append(order, a)
		}
	}
	// Evaluate in dependency order (Kahn's algorithm), in time linear in
	// the number of locals: a hostile file may hold a hundred thousand.
	deps := make(map[string][]string, len(order)) // local -> defined locals it uses
	users := map[string][]string{}
	waiting := map[string]int{}
	var queue []string
	for _, a := range order {
		deps[a.Name] = localRefs(a.Expr, defs)
		for _, dep := range deps[a.Name] {
			users[dep] = append(users[dep], a.Name)
		}
		if waiting[a.Name] = len(deps[a.Name]); waiting[a.Name] == 0 {
			queue = append(queue, a.Name)
		}
	}
	values := make(map[string]cty.Value, len(order))
	d.localCosts = make(map[string]int64, len(order))
	d.localRisky = make(map[string]bool, len(order))
	for len(queue) > 0 {
		name := queue[0]
		queue = queue[1:]
		a := defs[name]
		v, diags := d.value(a.Expr, func() *hcl.EvalContext { return localsContext(a.Expr, deps[name], values) })
		d.diags = append(d.diags, diags...)
		if diags.HasErrors() {
			v = cty.DynamicVal
		}
		values[name] = v
		d.localCosts[name] = valueCost(v)
		d.localCosts[allLocals] = addCost(d.localCosts[allLocals], d.localCosts[name])
		if riskyValue(v) {
			d.localRisky[name], d.localRisky[allLocals] = true, true
		}
		for _, u := range users[name] {
			if waiting[u]--; waiting[u] == 0 {
				queue = append(queue, u)
			}
		}
	}
	for _, a := range order {
		if _, done := values[a.Name]; !done {
			d.errorf(a.Expr.Range(), "Circular reference", "Local value %q depends on itself, directly or through other local values.", a.Name)
			values[a.Name] = cty.DynamicVal
		}
	}
	return &hcl.EvalContext{Functions: functions, Variables: map[string]cty.Value{"local": cty.ObjectVal(values)}}
}

// localRefs returns, once each, the defined local values expr refers to
// as local.NAME.
func localRefs(expr hcl.Expression, defs map[string]*hcl.Attribute) []string {
	var out []string
	for _, tr := range expr.Variables() {
		if tr.RootName() != "local" || len(tr) < 2 {
			continue
		}
		step, ok := tr[1].(hcl.TraverseAttr)
		if !ok || defs[step.Name] == nil || slices.Contains(out, step.Name) {
			continue
		}
		out = append(out, step.Name)
	}
	return out
}

// localsContext is the context a local value's expression is evaluated
// in: the local values it refers to by name, or every value evaluated so
// far when it refers to the whole local object (coster.cost has bounded that
// already). A name that is not defined stays out, and evaluation reports it.
func localsContext(expr hcl.Expression, deps []string, values map[string]cty.Value) *hcl.EvalContext {
	visible := make(map[string]cty.Value, len(deps))
	for _, dep := range deps {
		visible[dep] = values[dep]
	}
	for _, tr := range expr.Variables() {
		if tr.RootName() == "local" && len(tr) == 1 {
			visible = values
			break
		}
	}
	return &hcl.EvalContext{Functions: functions, Variables: map[string]cty.Value{"local": cty.ObjectVal(visible)}}
}

func (d *decoder) host(h *Host, blocks hcl.Blocks, body *hclsyntax.Body) {
	if len(blocks) == 0 {
		rng := body.SrcRange
		rng.End = rng.Start
		d.errorf(rng, "Missing host block",
			"A desired-state file needs exactly one host block naming the host it is for, such as:\n  host \"pve-demo\" { node = \"pve\" }")
		return
	}
	d.onlyFirst(blocks)
	b := blocks[0]
	h.Name = b.Labels[0]
	h.DeclRange = b.DefRange
	d.checkLabel(b, hostnamePattern.MatchString(h.Name), "Invalid host name",
		"The host name %q must be a DNS name (letters, digits, hyphens and dots).")
	content := d.content(b, hostSchema)
	if a, ok := content.Attributes["node"]; ok {
		if node, ok := d.str(a); ok {
			if !nodePattern.MatchString(node) {
				d.errorf(a.Expr.Range(), "Invalid node name", "The Proxmox node name %q must be a DNS label (letters, digits and hyphens).", node)
			}
			h.Node, h.NodeRange = node, a.Range
		}
	}
}

// sortGuests orders guests by VMID, the order the planner works in.
func sortGuests(gs []Guest) {
	sort.SliceStable(gs, func(i, j int) bool { return gs[i].VMID < gs[j].VMID })
}
