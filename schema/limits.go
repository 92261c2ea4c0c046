package schema

import (
	"fmt"
	"math/big"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
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
