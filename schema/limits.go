package schema

import (
	"fmt"
	"math/big"
	"strings"
	"unicode/utf8"

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

// Bounds on what the parser is given. hcl's lexer and parser take about
// 300 bytes of memory and a microsecond per token, so the number of tokens
// is bounded before either sees the file (by a byte scan that counts at
// least as many as the lexer makes); and the parser joins the literal
// parts of one string or heredoc (its lines, each $ and % sign, its $${
// and %%{ escapes) in time quadratic in their number, so that is bounded
// too, alone and times the string's length.
const (
	maxTokens        = 1 << 19  // tokens in one file (a byte scan's upper bound)
	maxTemplateParts = 1 << 10  // literal parts, interpolations and directives of one string or heredoc
	maxTemplateWork  = 32 << 20 // parts × bytes of one string or heredoc
)

// checkComplexity bounds the file's tokens, then walks them as the lexer
// makes them (a scanner that keeps no tokens; see scanner) and refuses
// nesting and operator counts the parser could not survive, number
// literals out of range and strings the parser would take quadratic time
// over. It returns the file's layout, with cuts at least cutEvery bytes
// apart (none when cutEvery is 0).
func checkComplexity(src []byte, filename string, cutEvery int) (layout, hcl.Diagnostics) {
	if at := tokenBoundAt(src); at >= 0 {
		pos := posAt(src, at)
		return layout{}, limitDiag(hcl.Range{Filename: filename, Start: pos, End: pos}, "Too many tokens",
			fmt.Sprintf("The file has more than %d tokens (names, numbers, punctuation, line breaks and words of comments and strings, as counted by a quick scan); a desired-state file is limited to keep parsing bounded. Split the file, or write long text in fewer, longer strings.", maxTokens))
	}
	c := &complexity{src: src, filename: filename}
	s := &scanner{src: src, out: c.token, cutEvery: cutEvery}
	if !s.run() {
		return layout{}, c.diags
	}
	return s.layout, nil
}

// complexity follows the tokens of one file and stops at the first bound
// they pass, with its diagnostic in diags.
type complexity struct {
	src       []byte
	filename  string
	depth     int
	ops       int
	prev      hclsyntax.TokenType // the type of the token before
	templates []templateFrame     // open strings and heredocs, and the interpolations in them
	diags     hcl.Diagnostics
}

// token takes the next token, src[start:end], and reports whether the
// file is still within its bounds.
func (c *complexity) token(ty hclsyntax.TokenType, start, end int) bool {
	prev := c.prev
	c.prev = ty
	if !c.templatePart(ty, start, end) {
		return false
	}
	switch ty {
	case hclsyntax.TokenNumberLit:
		if detail := checkNumberLiteral(string(c.src[start:end])); detail != "" {
			return c.refuse(start, end, "Number out of range", detail)
		}
	case hclsyntax.TokenIdent:
		// Template directives nest too: %{ if }...%{ endif }.
		if prev != hclsyntax.TokenTemplateControl {
			return true
		}
		switch string(c.src[start:end]) {
		case "for", "if":
			c.depth++
			if c.depth > maxNesting {
				return c.refuse(start, end, "Nesting too deep",
					fmt.Sprintf("Template directives nest more than %d levels deep here.", maxNesting))
			}
		case "endfor", "endif":
			c.depth = max(c.depth-1, 0)
		}
	case hclsyntax.TokenOBrace, hclsyntax.TokenOBrack, hclsyntax.TokenOParen,
		hclsyntax.TokenOQuote, hclsyntax.TokenOHeredoc,
		hclsyntax.TokenTemplateInterp, hclsyntax.TokenTemplateControl:
		c.depth++
		if c.depth > maxNesting {
			return c.refuse(start, end, "Nesting too deep",
				fmt.Sprintf("Brackets, braces, parentheses, strings and interpolations nest more than %d levels deep here.", maxNesting))
		}
	case hclsyntax.TokenCBrace, hclsyntax.TokenCBrack, hclsyntax.TokenCParen,
		hclsyntax.TokenCQuote, hclsyntax.TokenCHeredoc, hclsyntax.TokenTemplateSeqEnd:
		c.depth = max(c.depth-1, 0)
	case hclsyntax.TokenStar, hclsyntax.TokenSlash, hclsyntax.TokenPlus, hclsyntax.TokenMinus,
		hclsyntax.TokenPercent, hclsyntax.TokenEqualOp, hclsyntax.TokenNotEqual,
		hclsyntax.TokenLessThan, hclsyntax.TokenLessThanEq, hclsyntax.TokenGreaterThan,
		hclsyntax.TokenGreaterThanEq, hclsyntax.TokenAnd, hclsyntax.TokenOr, hclsyntax.TokenBang,
		hclsyntax.TokenQuestion:
		c.ops++
		if c.ops > maxOperators {
			return c.refuse(start, end, "Too many operators",
				fmt.Sprintf("The file uses more than %d operators; desired-state files are limited to keep evaluation bounded.", maxOperators))
		}
	}
	return true
}

// refuse records the diagnostic for src[start:end] and returns false.
func (c *complexity) refuse(start, end int, summary, detail string) bool {
	rng := hcl.Range{Filename: c.filename, Start: posAt(c.src, start), End: posAt(c.src, end)}
	c.diags = limitDiag(rng, summary, detail)
	return false
}

// tokenBoundAt returns the offset at which a scan of src counts more than
// maxTokens tokens, or -1. It counts one token per run of digits, of
// letters, of blanks (spaces and tabs), and one per other byte
// (punctuation, line breaks, each carriage return, which the lexer makes
// an invalid token of when no line feed follows, each byte of a non-ASCII
// character): the lexer never makes more tokens
// than that, since every token it makes (but the final one) starts a new
// run or is such a byte. A line that is a comment and holds none of
// " $ % */ counts two tokens, whatever else it holds: wherever such a line
// is (a comment, a heredoc, a string, an interpolation), the lexer makes
// one token of it (a comment, or a string's literal part), and perhaps one
// of its line break.
func tokenBoundAt(src []byte) int {
	_, at := countTokens(src, maxTokens)
	return at
}

// countTokens is tokenBoundAt's scan: it returns the count, or the offset
// at which it passes limit (-1 when it does not).
func countTokens(src []byte, limit int) (count, at int) {
	n, prev := 1, byte(0) // the end-of-file token
	lineStart := true
	for i := 0; i < len(src); i++ {
		b := src[i]
		if lineStart {
			lineStart = false
			if end, ok := plainCommentLine(src, i); ok {
				if n += 2; n > limit {
					return n, i
				}
				i, prev = end-1, 0 // the line break, if any, is counted next
				continue
			}
		}
		var c byte
		switch {
		case b >= '0' && b <= '9':
			c = 1
		case b >= 'a' && b <= 'z', b >= 'A' && b <= 'Z', b == '_':
			c = 2
		case b == ' ' || b == '\t':
			c = 3
		case b == '\n':
			lineStart = true
		}
		if c == 0 || c != prev {
			if n++; n > limit {
				return n, i
			}
		}
		prev = c
	}
	return n, -1
}

// plainCommentLine reports whether the line starting at i is blanks, then
// # or //, then anything but " $ % and */; end is the offset of its line
// break (or of the end of src).
func plainCommentLine(src []byte, i int) (end int, ok bool) {
	j := i
	for j < len(src) && (src[j] == ' ' || src[j] == '\t') {
		j++
	}
	if j >= len(src) || !(src[j] == '#' || (src[j] == '/' && j+1 < len(src) && src[j+1] == '/')) {
		return 0, false
	}
	end = j
	for end < len(src) && src[end] != '\n' {
		switch src[end] {
		case '"', '$', '%':
			return 0, false
		case '*':
			if end+1 < len(src) && src[end+1] == '/' {
				return 0, false
			}
		}
		end++
	}
	return end, true
}

// posAt returns the position of byte offset off in src.
func posAt(src []byte, off int) hcl.Pos {
	pos := hcl.InitialPos
	for i := 0; i < off && i < len(src); i++ {
		if src[i] == '\n' {
			pos.Line++
			pos.Column = 1
		} else if src[i]&0xC0 != 0x80 {
			pos.Column++
		}
	}
	pos.Byte = off
	return pos
}

// templateFrame is an open string or heredoc (template), from its opening
// token, or an interpolation or directive inside one (not a template).
type templateFrame struct {
	template     bool
	start, end   int // the opening token
	parts, bytes int64
}

// templatePart follows a token through the open strings and heredocs and
// refuses one whose literal parts would cost the parser quadratic time.
func (c *complexity) templatePart(ty hclsyntax.TokenType, start, end int) bool {
	s := c.templates
	inTemplate := len(s) > 0 && s[len(s)-1].template
	part := -1 // the index of the template this token is a part of
	switch ty {
	case hclsyntax.TokenOQuote, hclsyntax.TokenOHeredoc:
		s = append(s, templateFrame{template: true, start: start, end: end})
	case hclsyntax.TokenCQuote, hclsyntax.TokenCHeredoc:
		if inTemplate {
			s = s[:len(s)-1]
		}
	case hclsyntax.TokenTemplateInterp, hclsyntax.TokenTemplateControl:
		if inTemplate {
			part = len(s) - 1
		}
		s = append(s, templateFrame{})
	case hclsyntax.TokenTemplateSeqEnd:
		if len(s) > 0 && !s[len(s)-1].template {
			s = s[:len(s)-1]
		}
	case hclsyntax.TokenQuotedLit, hclsyntax.TokenStringLit:
		if inTemplate {
			part = len(s) - 1
		}
	}
	c.templates = s
	if part < 0 {
		return true
	}
	t := &s[part]
	t.parts++
	t.bytes += int64(end - start)
	if t.parts > maxTemplateParts || t.parts*t.bytes > maxTemplateWork {
		return c.refuse(t.start, t.end, "String too complex",
			fmt.Sprintf("This string or heredoc has more than %d parts (lines, $ and %% signs, escapes such as $${ and %%%%{, and interpolations), or too many for its length (parts times bytes over %d); the parser's work grows with their product. Split it into several strings, or join fewer, longer lines.", maxTemplateParts, maxTemplateWork))
	}
	return true
}

// Number literals: nothing a Proxmox setting takes is larger than 2^63 or
// finer than a millionth, and numbers of billions of digits would cost
// hours to print. A literal is checked on its text, before anything parses
// it as a number.
const (
	maxNumberText = 32 // characters of one number literal
	minNumberExp  = -6 // the finest digit: a millionth
	maxNumberExp  = 18 // the largest leading digit: 10^18 (2^63 is 9.2e18)
)

var maxNumber = new(big.Int).Lsh(big.NewInt(1), 63)

const numberRangeDetail = "Numbers in a desired state are at most 2^63 (9223372036854775808) and no finer than a millionth (0.000001), written in at most 32 characters; nothing a Proxmox setting takes is larger or finer."

// checkNumberLiteral returns why the number literal text (digits, an
// optional fraction and an optional exponent) is refused, or "".
func checkNumberLiteral(text string) string {
	if len(text) > maxNumberText {
		return numberRangeDetail
	}
	mant, exp10 := text, 0
	if i := strings.IndexAny(text, "eE"); i >= 0 {
		mant = text[:i]
		e := strings.TrimLeft(strings.TrimPrefix(strings.TrimPrefix(text[i+1:], "+"), "-"), "0")
		if len(e) > 4 {
			return numberRangeDetail
		}
		for _, c := range e {
			if c < '0' || c > '9' {
				return "" // not a number the lexer made; the parser reports it
			}
			exp10 = exp10*10 + int(c-'0')
		}
		if strings.HasPrefix(text[i+1:], "-") {
			exp10 = -exp10
		}
	}
	intPart, frac, _ := strings.Cut(mant, ".")
	digits := strings.TrimLeft(intPart+frac, "0")
	scale := exp10 - len(frac) // value = digits × 10^scale
	trimmed := strings.TrimRight(digits, "0")
	scale += len(digits) - len(trimmed)
	if trimmed == "" {
		return "" // zero
	}
	msd := scale + len(trimmed) - 1 // the leading digit's power of ten
	if scale < minNumberExp || msd > maxNumberExp {
		return numberRangeDetail
	}
	if msd == maxNumberExp { // compare digits × 10^scale with 2^63, in integers
		n, _ := new(big.Int).SetString(trimmed, 10)
		limit := new(big.Int).Set(maxNumber)
		ten := big.NewInt(10)
		for ; scale > 0; scale-- {
			n.Mul(n, ten)
		}
		for ; scale < 0; scale++ {
			limit.Mul(limit, ten)
		}
		if n.Cmp(limit) > 0 {
			return numberRangeDetail
		}
	}
	return ""
}

func limitDiag(rng hcl.Range, summary, detail string) hcl.Diagnostics {
	return hcl.Diagnostics{{Severity: hcl.DiagError, Summary: summary, Detail: detail, Subject: &rng}}
}

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
