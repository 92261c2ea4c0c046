package schema

// Strings that would be costly as numbers: hcl converts a string to a
// number with big-float arithmetic, whose cost grows with its length.

import (
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
)

// riskyKey prefixes, in a coster's scope, the names bound to elements of
// a collection that may hold a string risky as a number; no HCL name has a '#'.
const riskyKey = "#risky:"

// riskyString reports whether e's value may be or hold a string that hcl
// would convert to a number expensively (see riskyValue). Anything it
// cannot tell is risky.
func (c *coster) riskyString(expr hclsyntax.Expression, scope map[string]int64) bool {
	switch e := expr.(type) {
	case *hclsyntax.LiteralValueExpr:
		return riskyValue(e.Val)
	case *hclsyntax.TemplateExpr:
		if !e.IsStringLiteral() {
			return true
		}
		v, diags := e.Value(nil)
		return diags.HasErrors() || riskyValue(v)
	case *hclsyntax.TemplateWrapExpr:
		return c.riskyString(e.Wrapped, scope)
	case *hclsyntax.ParenthesesExpr:
		return c.riskyString(e.Expression, scope)
	case *hclsyntax.ScopeTraversalExpr:
		root := e.Traversal.RootName()
		if _, bound := scope[root]; bound {
			return scope[riskyKey+root] != 0
		}
		if root != "local" {
			return false // no other names exist: evaluation refuses them
		}
		if len(e.Traversal) > 1 {
			if step, ok := e.Traversal[1].(hcl.TraverseAttr); ok {
				return c.risky[step.Name]
			}
		}
		return c.risky[allLocals]
	case *hclsyntax.AnonSymbolExpr:
		return scope[riskyKey+"*"] != 0
	case *hclsyntax.RelativeTraversalExpr:
		return c.riskyString(e.Source, scope)
	case *hclsyntax.IndexExpr:
		return c.riskyString(e.Collection, scope)
	case *hclsyntax.SplatExpr:
		return c.riskyString(e.Source, scope)
	case *hclsyntax.ConditionalExpr:
		return c.riskyString(e.TrueResult, scope) || c.riskyString(e.FalseResult, scope)
	case *hclsyntax.BinaryOpExpr, *hclsyntax.UnaryOpExpr:
		return false // numbers and bools
	case *hclsyntax.TupleConsExpr:
		for _, x := range e.Exprs {
			if c.riskyString(x, scope) {
				return true
			}
		}
		return false
	case *hclsyntax.ObjectConsExpr:
		for _, it := range e.Items {
			if c.riskyString(it.ValueExpr, scope) {
				return true
			}
		}
		return false
	case *hclsyntax.FunctionCallExpr:
		switch e.Name {
		case "min", "max":
			return false
		case "concat":
			for _, x := range e.Args {
				if c.riskyString(x, scope) {
					return true
				}
			}
			return false
		}
	}
	return true
}

// riskyValue reports whether v is or holds a string that hcl's conversion
// to a number would parse expensively, or into a number out of range: one
// over maxNumberText characters that starts like a number, or a short one
// that checkNumberLiteral refuses.
func riskyValue(v cty.Value) bool {
	if v.IsNull() || !v.IsKnown() {
		return false
	}
	ty := v.Type()
	switch {
	case ty == cty.String:
		return riskyNumberString(v.AsString())
	case ty.IsPrimitiveType():
		return false
	}
	for it := v.ElementIterator(); it.Next(); {
		_, e := it.Element()
		if riskyValue(e) {
			return true
		}
	}
	return false
}

func riskyNumberString(s string) bool {
	t := strings.TrimSpace(s)
	if t == "" || !strings.ContainsRune("+-.0123456789iI", rune(t[0])) {
		return false // not a number: the conversion fails at once
	}
	if len(t) > maxNumberText {
		return true
	}
	t = strings.TrimPrefix(strings.TrimPrefix(t, "-"), "+")
	for i := 0; i < len(t); i++ {
		if !strings.ContainsRune("0123456789.eE+-", rune(t[i])) {
			return true // hexadecimal, binary exponents, infinity: not ours
		}
	}
	return t != "" && checkNumberLiteral(t) != ""
}
