package schema

import (
	"fmt"
	"math/big"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
)

// Bounds on what expressions may build. Locals and templates can double a
// value at every step ("${local.a}${local.a}", concat(local.a, local.a),
// nested for loops), so a file of a few hundred bytes could otherwise ask
// for terabytes. Before an expression is evaluated, cost bounds the
// size of its value from its syntax and the sizes of the local values it
// uses; an expression over maxValueCost, or a file over maxFileCost in
// total, is refused unevaluated. Sizes count string bytes plus unit per
// value (about what a small value takes in memory), so a real desired
// state costs a few times its own length.
const (
	unit         int64 = 16
	maxValueCost       = 1 << 20
	maxFileCost        = 32 << 20
	costCap            = 1 << 40 // saturation point of cost arithmetic
)

func addCost(a, b int64) int64 { return min(a+b, costCap) }

func mulCost(a, b int64) int64 {
	if a != 0 && b > costCap/a {
		return costCap
	}
	return min(a*b, costCap)
}

// coster bounds expressions (cost) and records the first expression that
// is refused outright: arithmetic that could build a number too long to
// print, or a string used as a number that is not a plain short number
// (hcl would parse it, and a string like "1e600000000" makes a number whose
// digits take hours to print).
type coster struct {
	locals  map[string]int64
	risky   map[string]bool // locals whose value holds a string risky as a number
	problem *hcl.Diagnostic
}

// maxNumberCost bounds the decimal length of a number arithmetic may
// build: printing one costs time quadratic in its digits.
const maxNumberCost = 4096

// divisionDigits is how many digits a quotient can add: hcl's numbers have
// 512 bits of precision, about 155 decimal digits.
const divisionDigits = 160

func (c *coster) refuse(rng hcl.Range, summary, detail string) {
	if c.problem == nil {
		c.problem = &hcl.Diagnostic{Severity: hcl.DiagError, Summary: summary, Detail: detail, Subject: &rng}
	}
}

// asNumber refuses e as an operand that hcl converts to a number when it
// may be a string risky as a number.
func (c *coster) asNumber(e hclsyntax.Expression, scope map[string]int64) {
	if e != nil && c.riskyString(e, scope) {
		c.refuse(e.Range(), "String used as a number",
			"This value may be a string, and a string is used as a number here only when it is a plain number literal of at most 32 characters within range (a string such as \"1e600000000\" would make a number of a billion digits). Use a number.")
	}
}

// cost returns an upper bound on the size of expr's value, which also
// bounds the work of evaluating it. c.locals holds the sizes of the local
// values evaluated so far; scope the bounds of names a for expression or
// splat binds ("*" is the splat's anonymous symbol). An expression type it
// does not know costs costCap: unknown means refused.
func (c *coster) cost(expr hclsyntax.Expression, scope map[string]int64) int64 {
	cost := func(e hclsyntax.Expression) int64 {
		if e == nil {
			return 0
		}
		return c.cost(e, scope)
	}
	switch e := expr.(type) {
	case *hclsyntax.LiteralValueExpr:
		return valueCost(e.Val)
	case *hclsyntax.ScopeTraversalExpr:
		for _, step := range e.Traversal {
			if ix, ok := step.(hcl.TraverseIndex); ok && riskyValue(ix.Key) {
				c.refuse(e.Range(), "String used as a number", "An index into a list must be a number, or a string that is a plain number literal of at most 32 characters within range.")
			}
		}
		return traversalCost(e.Traversal, c.locals, scope)
	case *hclsyntax.AnonSymbolExpr:
		return max(scope["*"], unit)
	case *hclsyntax.RelativeTraversalExpr:
		return cost(e.Source)
	case *hclsyntax.TemplateWrapExpr:
		return cost(e.Wrapped)
	case *hclsyntax.ParenthesesExpr:
		return cost(e.Expression)
	case *hclsyntax.ObjectConsKeyExpr:
		return cost(e.Wrapped)
	case *hclsyntax.TemplateJoinExpr:
		return cost(e.Tuple)
	case *hclsyntax.UnaryOpExpr:
		if e.Op == hclsyntax.OpNegate {
			c.asNumber(e.Val, scope)
		}
		return addCost(unit, cost(e.Val))
	case *hclsyntax.BinaryOpExpr:
		n := addCost(unit, addCost(cost(e.LHS), cost(e.RHS)))
		switch e.Op {
		case hclsyntax.OpAdd, hclsyntax.OpSubtract, hclsyntax.OpMultiply, hclsyntax.OpDivide, hclsyntax.OpModulo,
			hclsyntax.OpGreaterThan, hclsyntax.OpGreaterThanOrEqual, hclsyntax.OpLessThan, hclsyntax.OpLessThanOrEqual:
			c.asNumber(e.LHS, scope)
			c.asNumber(e.RHS, scope)
		}
		switch e.Op {
		case hclsyntax.OpDivide, hclsyntax.OpModulo:
			n = addCost(n, divisionDigits)
			fallthrough
		case hclsyntax.OpAdd, hclsyntax.OpSubtract, hclsyntax.OpMultiply:
			if n > maxNumberCost {
				c.refuse(e.Range(), "Number too large",
					fmt.Sprintf("This arithmetic could build a number of more than %d digits, the bound for a number in a desired state. Nothing a Proxmox setting takes needs more than 19.", maxNumberCost))
			}
		}
		return n
	case *hclsyntax.ConditionalExpr:
		return addCost(cost(e.Condition), addCost(cost(e.TrueResult), cost(e.FalseResult)))
	case *hclsyntax.IndexExpr:
		c.asNumber(e.Key, scope)
		return addCost(cost(e.Collection), cost(e.Key))
	case *hclsyntax.TemplateExpr:
		n := unit
		for _, p := range e.Parts {
			n = addCost(n, cost(p))
		}
		return n
	case *hclsyntax.TupleConsExpr:
		n := unit
		for _, x := range e.Exprs {
			n = addCost(n, cost(x))
		}
		return n
	case *hclsyntax.ObjectConsExpr:
		n := unit
		for _, it := range e.Items {
			n = addCost(n, addCost(cost(it.KeyExpr), cost(it.ValueExpr)))
		}
		return n
	case *hclsyntax.FunctionCallExpr:
		return c.callCost(e, scope, cost)
	case *hclsyntax.ForExpr:
		// The body runs once per element and may use the element.
		coll := cost(e.CollExpr)
		risky := c.riskyString(e.CollExpr, scope)
		body := func(elem int64) int64 {
			inner := bind(scope, elem, e.KeyVar, e.ValVar)
			if risky {
				inner[riskyKey+e.KeyVar], inner[riskyKey+e.ValVar] = 1, 1
			}
			n := unit
			for _, x := range []hclsyntax.Expression{e.KeyExpr, e.ValExpr, e.CondExpr} {
				if x != nil {
					n = addCost(n, c.cost(x, inner))
				}
			}
			return n
		}
		return addCost(coll, repeatCost(coll, scope, body))
	case *hclsyntax.SplatExpr:
		src := cost(e.Source)
		risky := c.riskyString(e.Source, scope)
		each := func(elem int64) int64 {
			inner := bind(scope, elem, "*")
			if risky {
				inner[riskyKey+"*"] = 1
			}
			return addCost(unit, c.cost(e.Each, inner))
		}
		return addCost(src, repeatCost(src, scope, each))
	}
	return costCap
}

// repeatCost bounds running body once per element of a collection of
// size coll: at most coll/unit elements whose sizes add up to at most coll.
// Costs grow with an element's size no slower than linearly (they are sums
// and products of sizes), so the total is at most one run on the whole
// collection plus one run on an empty element per element. That takes two
// runs of body, so loops nested deeper than preciseLoops take the coarser
// bound of one run on the whole collection per element, keeping the
// analysis linear in the file.
func repeatCost(coll int64, scope map[string]int64, body func(elem int64) int64) int64 {
	if scope[loopsKey] < preciseLoops {
		return addCost(body(coll), mulCost(coll/unit, body(0)))
	}
	return mulCost(coll/unit, body(coll))
}

const (
	preciseLoops = 4
	loopsKey     = "#loops" // in scope: how many loops enclose; no HCL name has a '#'
)

// bind returns scope with each name bound to n, one loop deeper.
func bind(scope map[string]int64, n int64, names ...string) map[string]int64 {
	inner := make(map[string]int64, len(scope)+len(names)+1)
	for k, v := range scope {
		inner[k] = v
	}
	for _, name := range names {
		if name != "" {
			inner[name] = n
		}
	}
	inner[loopsKey]++
	return inner
}

// traversalCost bounds a reference: local.NAME costs that local's size,
// a name bound by a for expression its bound, anything else one value (unit).
func traversalCost(tr hcl.Traversal, locals, scope map[string]int64) int64 {
	root := tr.RootName()
	if n, ok := scope[root]; ok {
		return max(n, unit)
	}
	if root != "local" {
		return unit
	}
	if len(tr) > 1 {
		if step, ok := tr[1].(hcl.TraverseAttr); ok {
			return max(locals[step.Name], unit)
		}
	}
	return max(locals[allLocals], unit)
}

// allLocals keys the sum of all local values' sizes in cost's locals;
// no HCL name has a '#'.
const allLocals = "#all"

// callCost bounds a call to one of the functions the file may use.
// Most return at most what they are given; join repeats its separator
// once per element, and format repeats what its verbs refer to.
func (c *coster) callCost(e *hclsyntax.FunctionCallExpr, scope map[string]int64, cost func(hclsyntax.Expression) int64) int64 {
	sum, first := unit, int64(0)
	args := make([]int64, len(e.Args))
	for i, a := range e.Args {
		args[i] = cost(a) // once per argument: nested calls must not multiply the work
		if i == 0 {
			first = args[i]
		}
		sum = addCost(sum, args[i])
	}
	switch e.Name {
	case "join":
		return addCost(sum, mulCost(first, sum))
	case "lower", "upper":
		return mulCost(sum, 3) // case mapping can grow UTF-8 text
	case "min", "max":
		for _, a := range e.Args {
			c.asNumber(a, scope)
		}
	case "format":
		if len(e.Args) == 0 {
			return sum
		}
		lit, ok := e.Args[0].(*hclsyntax.TemplateExpr)
		if !ok || !lit.IsStringLiteral() {
			return costCap // a computed format could pad without bound
		}
		v, _ := lit.Value(nil)
		n, numeric := formatCost(v.AsString(), args[1:])
		for _, i := range numeric {
			c.asNumber(e.Args[1+i], scope)
		}
		return addCost(sum, n)
	}
	return sum
}

// formatCost bounds what format(f, args...) builds, given the bounds of
// its arguments, following cty's format grammar
// (%[flags][width][.precision][[index]]verb): each verb adds its padding
// and its argument's text again (an indexed verb, %[1]s, refers to an
// argument any number of times), counted by how much the verb can expand
// it. It also returns which arguments a numeric verb converts to a number.
func formatCost(f string, args []int64) (cost int64, numeric []int) {
	cost = int64(len(f))
	next := 0
	num := func(i int) (int64, int) {
		n := int64(0)
		for i < len(f) && f[i] >= '0' && f[i] <= '9' {
			n = min(n*10+int64(f[i]-'0'), costCap)
			i++
		}
		return n, i
	}
	for i := 0; i < len(f); i++ {
		if f[i] != '%' {
			continue
		}
		if i++; i < len(f) && f[i] == '%' {
			continue
		}
		for i < len(f) && strings.IndexByte("0#-+ ", f[i]) >= 0 {
			i++
		}
		width, prec := int64(0), int64(0)
		width, i = num(i)
		if i < len(f) && f[i] == '.' {
			prec, i = num(i + 1)
		}
		arg := next
		if i < len(f) && f[i] == '[' {
			var idx int64
			idx, i = num(i + 1)
			if i >= len(f) || f[i] != ']' {
				return cost, numeric // cty refuses the format string here
			}
			i++
			arg = int(min(idx, 1<<20)) - 1
		}
		if i >= len(f) {
			return cost, numeric
		}
		a := int64(unit)
		if arg >= 0 && arg < len(args) {
			a = args[arg]
		}
		expand := int64(2) // a number's text in another base or notation
		switch f[i] {
		case 's':
			expand = 1
		case 'q', 'v':
			expand = 6 // quoting or JSON escapes: \u003c for <
		case 'b':
			expand = 4 // binary digits: 3.33 per decimal digit
		case 't':
			expand = 1
		}
		if strings.IndexByte("bdoxXeEfgG", f[i]) >= 0 && arg >= 0 && arg < len(args) {
			numeric = append(numeric, arg)
		}
		cost = addCost(cost, addCost(addCost(unit, mulCost(a, expand)), addCost(width, prec)))
		next = arg + 1
	}
	return cost, numeric
}

// valueCost is the size of a value as cost counts it: string bytes
// and a number's decimal length (what it takes as text), plus unit per
// value, map keys included.
func valueCost(v cty.Value) int64 {
	if v.IsNull() || !v.IsKnown() {
		return unit
	}
	ty := v.Type()
	switch {
	case ty == cty.String:
		return addCost(unit, int64(len(v.AsString())))
	case ty == cty.Number:
		return addCost(unit, decimalLength(v.AsBigFloat()))
	case ty.IsPrimitiveType():
		return unit
	}
	n := unit
	for it := v.ElementIterator(); it.Next() && n < costCap; {
		k, e := it.Element()
		if k.Type() == cty.String {
			n = addCost(n, int64(len(k.AsString())))
		}
		n = addCost(n, valueCost(e))
	}
	return n
}

// decimalLength bounds the length of f's decimal text (cty prints numbers
// in full, 'f' -1), from its binary exponent and precision, without
// printing it.
func decimalLength(f *big.Float) int64 {
	if f.IsInf() {
		return 4
	}
	exp := int64(f.MantExp(nil))
	if exp < 0 {
		exp = -exp
	}
	return (exp+int64(f.MinPrec()))*30103/100000 + 3 // log10(2) ≈ 0.30103; sign, point, rounding
}

// numberText prints a number for a diagnostic in bounded length and time:
// exactly when it is a whole number of at most 20 digits, otherwise with
// six significant digits (%.6g), and not at all when even that would take
// long to compute (printing a number costs time in its digits).
func numberText(f *big.Float) string {
	switch exp := f.MantExp(nil); {
	case f.IsInf():
		return "infinity"
	case exp > 64 && exp < 16000, exp < -64 && exp > -16000:
		return f.Text('g', 6)
	case exp > 64:
		return "a number too large to use"
	case exp < -64:
		return "a number too small to use"
	case f.IsInt():
		return f.Text('f', 0)
	}
	return f.Text('g', 6)
}
