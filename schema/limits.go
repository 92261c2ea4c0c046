package schema

import (
	"fmt"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
)

// Bounds on expression complexity. hcl's parser and evaluator recurse once
// per nesting level and per chained operator, so a hostile file of a few
// megabytes of "[" or "!" would exhaust the stack, which Go cannot recover
// from. Real desired states stay far below these bounds.
const (
	maxNesting   = 64   // brackets, braces, parentheses, quotes and interpolations
	maxOperators = 4096 // operator tokens in the whole file
)

// checkComplexity lexes src (a flat scan) and refuses nesting and
// operator counts the parser could not survive.
func checkComplexity(src []byte, filename string) hcl.Diagnostics {
	tokens, _ := hclsyntax.LexConfig(src, filename, hcl.InitialPos)
	depth, ops := 0, 0
	for i, tok := range tokens {
		switch tok.Type {
		case hclsyntax.TokenIdent:
			// Template directives nest too: %{ if }...%{ endif }.
			if i == 0 || tokens[i-1].Type != hclsyntax.TokenTemplateControl {
				continue
			}
			switch string(tok.Bytes) {
			case "for", "if":
				depth++
				if depth > maxNesting {
					return limitDiag(tok.Range, "Nesting too deep",
						fmt.Sprintf("Template directives nest more than %d levels deep here.", maxNesting))
				}
			case "endfor", "endif":
				depth = max(depth-1, 0)
			}
		case hclsyntax.TokenOBrace, hclsyntax.TokenOBrack, hclsyntax.TokenOParen,
			hclsyntax.TokenOQuote, hclsyntax.TokenOHeredoc,
			hclsyntax.TokenTemplateInterp, hclsyntax.TokenTemplateControl:
			depth++
			if depth > maxNesting {
				return limitDiag(tok.Range, "Nesting too deep",
					fmt.Sprintf("Brackets, braces, parentheses, strings and interpolations nest more than %d levels deep here.", maxNesting))
			}
		case hclsyntax.TokenCBrace, hclsyntax.TokenCBrack, hclsyntax.TokenCParen,
			hclsyntax.TokenCQuote, hclsyntax.TokenCHeredoc, hclsyntax.TokenTemplateSeqEnd:
			depth = max(depth-1, 0)
		case hclsyntax.TokenStar, hclsyntax.TokenSlash, hclsyntax.TokenPlus, hclsyntax.TokenMinus,
			hclsyntax.TokenPercent, hclsyntax.TokenEqualOp, hclsyntax.TokenNotEqual,
			hclsyntax.TokenLessThan, hclsyntax.TokenLessThanEq, hclsyntax.TokenGreaterThan,
			hclsyntax.TokenGreaterThanEq, hclsyntax.TokenAnd, hclsyntax.TokenOr, hclsyntax.TokenBang,
			hclsyntax.TokenQuestion:
			ops++
			if ops > maxOperators {
				return limitDiag(tok.Range, "Too many operators",
					fmt.Sprintf("The file uses more than %d operators; desired-state files are limited to keep evaluation bounded.", maxOperators))
			}
		}
	}
	return nil
}

func limitDiag(rng hcl.Range, summary, detail string) hcl.Diagnostics {
	return hcl.Diagnostics{{Severity: hcl.DiagError, Summary: summary, Detail: detail, Subject: &rng}}
}

// Bounds on what expressions may build. Locals and templates can double a
// value at every step ("${local.a}${local.a}", concat(local.a, local.a),
// nested for loops), so a file of a few hundred bytes could otherwise ask
// for terabytes. Before an expression is evaluated, exprCost bounds the
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

// exprCost returns an upper bound on the size of expr's value, which also
// bounds the work of evaluating it. locals holds the sizes of the local
// values evaluated so far; scope the bounds of names a for expression or
// splat binds ("*" is the splat's anonymous symbol). An expression type it
// does not know costs costCap: unknown means refused.
func exprCost(expr hclsyntax.Expression, locals, scope map[string]int64) int64 {
	cost := func(e hclsyntax.Expression) int64 {
		if e == nil {
			return 0
		}
		return exprCost(e, locals, scope)
	}
	switch e := expr.(type) {
	case *hclsyntax.LiteralValueExpr:
		return valueCost(e.Val)
	case *hclsyntax.ScopeTraversalExpr:
		return traversalCost(e.Traversal, locals, scope)
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
		return addCost(unit, cost(e.Val))
	case *hclsyntax.BinaryOpExpr:
		return addCost(unit, addCost(cost(e.LHS), cost(e.RHS)))
	case *hclsyntax.ConditionalExpr:
		return addCost(cost(e.Condition), addCost(cost(e.TrueResult), cost(e.FalseResult)))
	case *hclsyntax.IndexExpr:
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
		return callCost(e, cost)
	case *hclsyntax.ForExpr:
		// The body runs once per element and may use the element.
		coll := cost(e.CollExpr)
		body := func(elem int64) int64 {
			inner := bind(scope, elem, e.KeyVar, e.ValVar)
			n := unit
			for _, x := range []hclsyntax.Expression{e.KeyExpr, e.ValExpr, e.CondExpr} {
				if x != nil {
					n = addCost(n, exprCost(x, locals, inner))
				}
			}
			return n
		}
		return addCost(coll, repeatCost(coll, scope, body))
	case *hclsyntax.SplatExpr:
		src := cost(e.Source)
		each := func(elem int64) int64 {
			return addCost(unit, exprCost(e.Each, locals, bind(scope, elem, "*")))
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

// allLocals keys the sum of all local values' sizes in exprCost's locals;
// no HCL name has a '#'.
const allLocals = "#all"

// callCost bounds a call to one of the functions the file may use.
// Most return at most what they are given; join repeats its separator
// once per element, and a format verb's width or precision pads.
func callCost(e *hclsyntax.FunctionCallExpr, cost func(hclsyntax.Expression) int64) int64 {
	sum, first := unit, int64(0)
	for i, a := range e.Args {
		c := cost(a) // once per argument: nested calls must not multiply the work
		if i == 0 {
			first = c
		}
		sum = addCost(sum, c)
	}
	switch e.Name {
	case "join":
		return addCost(sum, mulCost(first, sum))
	case "lower", "upper":
		return mulCost(sum, 3) // case mapping can grow UTF-8 text
	case "format":
		if len(e.Args) == 0 {
			return sum
		}
		lit, ok := e.Args[0].(*hclsyntax.TemplateExpr)
		if !ok || !lit.IsStringLiteral() {
			return costCap // a computed format could pad without bound
		}
		v, _ := lit.Value(nil)
		return addCost(sum, mulCost(formatPadding(v.AsString()), int64(len(e.Args))))
	}
	return sum
}

// formatPadding sums every number in a format string: an upper bound on
// the padding any one of its verbs can add.
func formatPadding(f string) int64 {
	total, n := int64(0), int64(0)
	for i := 0; i <= len(f); i++ {
		if i < len(f) && f[i] >= '0' && f[i] <= '9' {
			n = min(n*10+int64(f[i]-'0'), costCap)
			continue
		}
		total, n = addCost(total, n), 0
	}
	return total
}

// valueCost is the size of a value as exprCost counts it: string bytes
// plus unit per value, map keys included.
func valueCost(v cty.Value) int64 {
	if v.IsNull() || !v.IsKnown() {
		return unit
	}
	ty := v.Type()
	switch {
	case ty == cty.String:
		return addCost(unit, int64(len(v.AsString())))
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
