package schema

import (
	"fmt"
	"math/big"
	"sort"
	"strconv"
	"strings"

	"github.com/agext/levenshtein"
	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
)

// decoder evaluates attributes into typed Go values and collects every
// problem as a diagnostic, so one run reports all of them.
type decoder struct {
	ctx   *hcl.EvalContext
	diags hcl.Diagnostics

	localCosts map[string]int64     // valueCost of each local value evaluated, and their sum (allLocals)
	localRisky map[string]bool      // riskyValue of each local value evaluated, and of any (allLocals)
	spent      int64                // sum of the cost bounds of the expressions evaluated so far
	suggested  int64                // work spent on "did you mean" over the file's own names (didYouMeanGuest)
	guestDecls map[string]hcl.Range // where each guest name was declared first
	vmidDecls  map[int]hcl.Range    // where each vmid was used first
	guestNames []string             // the guests' names, once a job needs them (didYouMeanGuest)
	nameBytes  int64                // their total length
}

// value evaluates expr in the context ctx returns unless what it could
// build is over the bounds in limits.go, in which case it is refused
// unevaluated (and ctx is not called).
func (d *decoder) value(expr hcl.Expression, ctx func() *hcl.EvalContext) (cty.Value, hcl.Diagnostics) {
	cost := int64(costCap)
	if se, ok := expr.(hclsyntax.Expression); ok {
		c := &coster{locals: d.localCosts, risky: d.localRisky}
		cost = c.cost(se, nil)
		if c.problem != nil {
			return cty.DynamicVal, hcl.Diagnostics{c.problem}
		}
	}
	rng := expr.Range()
	switch {
	case cost > maxValueCost:
		return cty.DynamicVal, hcl.Diagnostics{{
			Severity: hcl.DiagError,
			Summary:  "Value too large",
			Detail: fmt.Sprintf("This expression could build a value of %s bytes; one expression may build at most %d (1 MiB), so that a file cannot exhaust the host's memory. Write the value out, or build it with fewer repetitions.",
				costText(cost), maxValueCost),
			Subject: &rng,
		}}
	case addCost(d.spent, cost) > maxFileCost:
		return cty.DynamicVal, hcl.Diagnostics{{
			Severity: hcl.DiagError,
			Summary:  "Values too large",
			Detail:   fmt.Sprintf("Together, the expressions up to here could build more than %d bytes (32 MiB), the bound for one file. Refer to large local values fewer times.", maxFileCost),
			Subject:  &rng,
		}}
	}
	d.spent += cost
	if v, ok := literal(expr); ok {
		return v, nil
	}
	return expr.Value(ctx())
}

// literal returns the value of a literal or of a string without
// interpolations or directives (nearly every value in a desired state),
// which is what evaluating it returns, without the work of a template.
func literal(expr hcl.Expression) (cty.Value, bool) {
	switch e := expr.(type) {
	case *hclsyntax.LiteralValueExpr:
		return e.Val, true
	case *hclsyntax.TemplateExpr:
		if !e.IsStringLiteral() {
			return cty.NilVal, false
		}
		v := e.Parts[0].(*hclsyntax.LiteralValueExpr).Val
		return v, v.Type() == cty.String && v.IsKnown() && !v.IsNull() && !v.IsMarked()
	}
	return cty.NilVal, false
}

func (d *decoder) errorf(rng hcl.Range, summary, format string, args ...any) {
	r := rng
	d.diags = append(d.diags, &hcl.Diagnostic{
		Severity: hcl.DiagError,
		Summary:  summary,
		Detail:   fmt.Sprintf(format, args...),
		Subject:  &r,
	})
}

func (d *decoder) warnf(rng hcl.Range, summary, format string, args ...any) {
	r := rng
	d.diags = append(d.diags, &hcl.Diagnostic{
		Severity: hcl.DiagWarning,
		Summary:  summary,
		Detail:   fmt.Sprintf(format, args...),
		Subject:  &r,
	})
}

// eval evaluates an attribute, recording any problem. Null is refused:
// leaving an attribute out is the one way to leave a value unset.
func (d *decoder) eval(attr *hcl.Attribute) (cty.Value, bool) {
	v, diags := d.value(attr.Expr, func() *hcl.EvalContext { return d.ctx })
	d.diags = append(d.diags, diags...)
	if diags.HasErrors() {
		return cty.NilVal, false
	}
	if v.IsNull() {
		d.errorf(attr.Expr.Range(), "Invalid null value", "%q cannot be null; remove the line to leave the value unset.", attr.Name)
		return cty.NilVal, false
	}
	if !v.IsWhollyKnown() {
		// Only a local value that failed to evaluate is unknown, and
		// its error is already reported.
		return cty.NilVal, false
	}
	return v, true
}

func (d *decoder) typeError(attr *hcl.Attribute, want string, v cty.Value) {
	d.errorf(attr.Expr.Range(), "Incorrect attribute value type",
		"Inappropriate value for attribute %q: %s required, got %s.", attr.Name, want, v.Type().FriendlyName())
}

// str decodes a string attribute. Numbers and bools are not silently
// turned into strings: the file must say what it means.
func (d *decoder) str(attr *hcl.Attribute) (string, bool) {
	v, ok := d.eval(attr)
	if !ok {
		return "", false
	}
	if v.Type() != cty.String {
		d.typeError(attr, "a string", v)
		return "", false
	}
	return v.AsString(), true
}

func (d *decoder) boolean(attr *hcl.Attribute) (bool, bool) {
	v, ok := d.eval(attr)
	if !ok {
		return false, false
	}
	if v.Type() != cty.Bool {
		d.typeError(attr, "a bool (true or false)", v)
		return false, false
	}
	return v.True(), true
}

// bigNumber decodes a number attribute.
func (d *decoder) bigNumber(attr *hcl.Attribute) (*big.Float, bool) {
	v, ok := d.eval(attr)
	if !ok {
		return nil, false
	}
	if v.Type() != cty.Number {
		d.typeError(attr, "a number", v)
		return nil, false
	}
	return v.AsBigFloat(), true
}

// integer decodes a whole number within [lo, hi].
func (d *decoder) integer(attr *hcl.Attribute, lo, hi int64) (int64, bool) {
	bf, ok := d.bigNumber(attr)
	if !ok {
		return 0, false
	}
	if !bf.IsInt() {
		d.errorf(attr.Expr.Range(), "Invalid value", "%q must be a whole number, got %s.", attr.Name, numberText(bf))
		return 0, false
	}
	n, acc := bf.Int64()
	if acc != big.Exact || n < lo || n > hi {
		d.errorf(attr.Expr.Range(), "Value out of range", "%q must be between %d and %d, got %s.", attr.Name, lo, hi, numberText(bf))
		return 0, false
	}
	return n, true
}

// strList decodes a list of strings.
func (d *decoder) strList(attr *hcl.Attribute) ([]string, bool) {
	v, ok := d.eval(attr)
	if !ok {
		return nil, false
	}
	return d.strListValue(attr, v)
}

// strListValue checks that v, the value of attr, is a list of strings.
func (d *decoder) strListValue(attr *hcl.Attribute, v cty.Value) ([]string, bool) {
	ty := v.Type()
	if !ty.IsListType() && !ty.IsTupleType() && !ty.IsSetType() {
		d.typeError(attr, "a list of strings", v)
		return nil, false
	}
	out := []string{}
	for it := v.ElementIterator(); it.Next(); {
		_, e := it.Element()
		if e.IsNull() || e.Type() != cty.String {
			d.errorf(attr.Expr.Range(), "Incorrect attribute value type",
				"Inappropriate value for attribute %q: every element must be a string.", attr.Name)
			return nil, false
		}
		out = append(out, e.AsString())
	}
	return out, true
}

// quantity evaluates a size attribute to exact bytes. A number is taken in
// numberUnit (MiB for memory); a string needs a unit (see ParseSize). It
// refuses zero and negative values unless allowZero.
func (d *decoder) quantity(attr *hcl.Attribute, numberUnit int64, allowZero bool) (bytes *big.Rat, text string, ok bool) {
	v, ok := d.eval(attr)
	if !ok {
		return nil, "", false
	}
	switch v.Type() {
	case cty.Number:
		if numberUnit == 0 {
			d.errorf(attr.Expr.Range(), "Size needs a unit",
				"Write %q as a string with a unit, such as \"8G\" or \"512M\", so it cannot be misread as bytes or GiB.", attr.Name)
			return nil, "", false
		}
		bf := v.AsBigFloat()
		if bf.IsInf() || bf.MantExp(nil) > 64 {
			d.errorf(attr.Expr.Range(), "Invalid size", "%q is larger than the largest size accepted (1 PiB).", attr.Name)
			return nil, "", false
		}
		text = numberText(bf) + " MiB"
		r, _ := bf.Rat(nil)
		if r == nil {
			d.errorf(attr.Expr.Range(), "Invalid size", "%q must be a finite number.", attr.Name)
			return nil, "", false
		}
		bytes = r.Mul(r, new(big.Rat).SetInt64(numberUnit))
	case cty.String:
		s := strings.TrimSpace(v.AsString())
		text = strconv.Quote(s)
		if strings.HasPrefix(s, "-") {
			d.errorf(attr.Expr.Range(), "Invalid size", "%q must be positive, got %q.", attr.Name, s)
			return nil, "", false
		}
		r, err := ParseSize(s)
		if err != nil && numberUnit == MiB && isDigits(s) {
			d.errorf(attr.Expr.Range(), "Invalid size", "Bad value for %q: a quoted number has no unit. Write %s = %s (a number is MiB) or %q.", attr.Name, attr.Name, s, s+"M")
			return nil, "", false
		}
		if err != nil {
			d.errorf(attr.Expr.Range(), "Invalid size", "Bad value for %q: %s.", attr.Name, err)
			return nil, "", false
		}
		bytes = r
	default:
		d.typeError(attr, "a size (a number of MiB or a string such as \"2G\")", v)
		return nil, "", false
	}
	switch {
	case bytes.Sign() < 0 && allowZero:
		d.errorf(attr.Expr.Range(), "Invalid size", "%q must not be negative.", attr.Name)
		return nil, "", false
	case bytes.Sign() < 0 || (bytes.Sign() == 0 && !allowZero):
		d.errorf(attr.Expr.Range(), "Invalid size", "%q must be greater than zero.", attr.Name)
		return nil, "", false
	case tooBig(bytes):
		d.errorf(attr.Expr.Range(), "Invalid size", "%q is larger than the largest size accepted (1 PiB).", attr.Name)
		return nil, "", false
	}
	return bytes, text, true
}

// mib canonicalises a memory-like attribute to whole MiB, rounding up a
// value that is not MiB-aligned once, with a warning naming the result.
func (d *decoder) mib(attr *hcl.Attribute, min int64) (int64, bool) {
	bytes, text, ok := d.quantity(attr, MiB, min == 0)
	if !ok {
		return 0, false
	}
	n, rounded := roundUp(bytes, MiB)
	if n < min {
		d.errorf(attr.Expr.Range(), "Value out of range", "%q must be at least %d MiB, got %s.", attr.Name, min, text)
		return 0, false
	}
	if rounded {
		d.warnf(attr.Expr.Range(), "Value rounded up to whole MiB",
			"Proxmox sets %s in whole MiB; %s is used as %d MiB. Write %d to silence this warning.", attr.Name, text, n, n)
	}
	return n, true
}

// diskSize canonicalises a disk size to bytes, rounding up to whole MiB
// once, with a warning, for the same reason as memory.
func (d *decoder) diskSize(attr *hcl.Attribute) (Size, bool) {
	bytes, text, ok := d.quantity(attr, 0, false)
	if !ok {
		return 0, false
	}
	n, rounded := roundUp(bytes, MiB)
	if rounded {
		d.warnf(attr.Expr.Range(), "Size rounded up to whole MiB",
			"Disk sizes are allocated in whole MiB; %s %s is used as %s. Write %q to silence this warning.", attr.Name, text, Size(n*MiB), Size(n*MiB).String())
	}
	return Size(n * MiB), true
}

// suggest returns the candidate closest to given, if it is close enough to
// be a likely typo, or "".
func suggest(given string, candidates []string) string {
	best, bestDist := "", 3
	for _, c := range candidates {
		if len(c) >= len(given)+bestDist || len(given) >= len(c)+bestDist {
			continue // the lengths alone are too far apart
		}
		if dist := levenshtein.Distance(given, c, nil); dist < bestDist {
			best, bestDist = c, dist
		}
	}
	return best
}

func didYouMean(given string, candidates []string) string {
	if s := suggest(given, candidates); s != "" {
		return fmt.Sprintf(" Did you mean %q?", s)
	}
	return ""
}

// attrRanges records the expression range of every attribute present.
func attrRanges(attrs hcl.Attributes) map[string]hcl.Range {
	m := make(map[string]hcl.Range, len(attrs))
	for name, a := range attrs {
		m[name] = a.Expr.Range()
	}
	return m
}

// sortedAttrs returns the attributes in source order, so diagnostics come
// out in a stable order.
func sortedAttrs(attrs hcl.Attributes) []*hcl.Attribute {
	out := make([]*hcl.Attribute, 0, len(attrs))
	for _, a := range attrs {
		out = append(out, a)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Range.Start.Byte < out[j].Range.Start.Byte })
	return out
}

// duplicate reports a second definition of something that must be unique.
func (d *decoder) duplicate(rng hcl.Range, what string, name string, first hcl.Range) {
	d.errorf(rng, "Duplicate "+what, "%s %q was already defined at %s; each must be unique.", upperFirst(what), name, at(first))
}

func upperFirst(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

// costText says how large a bound is; at costCap it is only "more than".
func costText(cost int64) string {
	if cost >= costCap {
		return fmt.Sprintf("more than %d", int64(costCap))
	}
	return fmt.Sprintf("up to %d", cost)
}
