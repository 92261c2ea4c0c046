package schema

import (
	"bytes"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
)

// plainParser parses the plain parts of a desired state, which are nearly
// all of a large one, into the syntax tree hclsyntax.ParseConfig builds,
// from the scanner's tokens: it saves the lexer's materialised tokens and
// the parser's work on them (they were half of loading a file). A part is
// plain when it is ASCII and holds only attributes whose values are
// literals (numbers; true, false and null; strings without escapes,
// interpolations, directives, $ or % signs; tuples of these, on any
// number of lines) and blocks of such attributes, labelled with such
// strings or with names, each item on its own lines; and comments.
// Anything else makes parse return nil, and the part is parsed by
// hclsyntax. The trees are the parser's node for node, ranges included
// (TestPlainIsTheParser and FuzzLoad compare them).
type plainParser struct {
	filename string
	src      []byte
	toks     []plainToken // the part's tokens, comments and line breaks included
	next     int          // the index of the next token to read
	prev     hcl.Range    // the range of the last token read
}

type plainToken struct {
	ty         hclsyntax.TokenType
	start, end int
	rng        hcl.Range
}

// parse parses src[start:end], which starts at pos at the top level (a
// line's start), or returns nil when the part is not plain.
func (p *plainParser) parse(src []byte, start, end int, pos hcl.Pos) *hclsyntax.Body {
	if pos.Column != 1 || (start == 0 && bytes.HasPrefix(src, utf8BOM)) {
		return nil
	}
	for _, c := range src[start:end] {
		if c >= 0x80 {
			return nil
		}
	}
	p.src, p.toks, p.next = src, p.toks[:0], 0
	line, lineStart := pos.Line, start
	at := func(off int) hcl.Pos { return hcl.Pos{Line: line, Column: off - lineStart + 1, Byte: off} }
	s := &scanner{src: src[start:end], out: func(ty hclsyntax.TokenType, from, to int) bool {
		if !isPlain(ty) {
			return false
		}
		from, to = from+start, to+start
		rng := hcl.Range{Filename: p.filename, Start: at(from)}
		if n := bytes.Count(src[from:to], []byte("\n")); n > 0 { // a line break, or a comment
			line, lineStart = line+n, from+bytes.LastIndexByte(src[from:to], '\n')+1
		}
		rng.End = at(to)
		p.toks = append(p.toks, plainToken{ty, from, to, rng})
		return true
	}}
	defer func() {
		if cap(p.toks) > keptTokens {
			p.toks = nil // a large part's: not to be held while the file decodes
		}
	}()
	if !s.run() {
		return nil
	}
	return p.body(hclsyntax.TokenEOF)
}

// keptTokens is how many tokens' room the parser keeps from one part to
// the next: a few parts' worth.
const keptTokens = 4096

// isPlain reports whether a token of type ty may be in a plain part; the
// scan of a part stops at any other.
func isPlain(ty hclsyntax.TokenType) bool {
	switch ty {
	case hclsyntax.TokenIdent, hclsyntax.TokenEqual, hclsyntax.TokenNumberLit,
		hclsyntax.TokenOQuote, hclsyntax.TokenQuotedLit, hclsyntax.TokenCQuote,
		hclsyntax.TokenOBrace, hclsyntax.TokenCBrace, hclsyntax.TokenOBrack, hclsyntax.TokenCBrack,
		hclsyntax.TokenComma, hclsyntax.TokenNewline, hclsyntax.TokenComment, hclsyntax.TokenEOF:
		return true
	}
	return false
}

// peek returns the next token as hclsyntax's parser sees it: comments
// skipped, but a line comment is a line break where line breaks count,
// which they do not inside brackets (newlines false).
func (p *plainParser) peek(newlines bool) (plainToken, int) {
	for i := p.next; i < len(p.toks); i++ {
		t := p.toks[i]
		switch t.ty {
		case hclsyntax.TokenComment:
			if newlines && p.src[t.end-1] == '\n' {
				t.ty = hclsyntax.TokenNewline
				return t, i
			}
			continue
		case hclsyntax.TokenNewline:
			if !newlines {
				continue
			}
		}
		return t, i
	}
	return plainToken{ty: hclsyntax.TokenNil}, len(p.toks)
}

// read reads the next token (see peek).
func (p *plainParser) read(newlines bool) plainToken {
	t, i := p.peek(newlines)
	if i < len(p.toks) {
		p.next = i + 1
		p.prev = t.rng
	}
	return t
}

// body parses items up to the end token: the part's end, or the } of a
// block whose { was the last token read.
func (p *plainParser) body(end hclsyntax.TokenType) *hclsyntax.Body {
	first, _ := p.peek(true)
	startRange := first.rng
	if end == hclsyntax.TokenCBrace {
		startRange = p.prev
	}
	body := &hclsyntax.Body{Attributes: hclsyntax.Attributes{}, Blocks: hclsyntax.Blocks{}}
	for {
		switch next, _ := p.peek(true); next.ty {
		case end:
			p.read(true)
			body.SrcRange = hcl.RangeBetween(startRange, next.rng)
			body.EndRange = hcl.Range{Filename: next.rng.Filename, Start: next.rng.End, End: next.rng.End}
			return body
		case hclsyntax.TokenNewline:
			p.read(true)
		case hclsyntax.TokenIdent:
			name := p.read(true)
			switch after, _ := p.peek(true); after.ty {
			case hclsyntax.TokenEqual:
				attr := p.attribute(name, end)
				if attr == nil || body.Attributes[attr.Name] != nil {
					return nil
				}
				body.Attributes[attr.Name] = attr
			case hclsyntax.TokenOQuote, hclsyntax.TokenOBrace, hclsyntax.TokenIdent:
				block := p.block(name, end)
				if block == nil {
					return nil
				}
				body.Blocks = append(body.Blocks, block)
			default:
				return nil
			}
		default:
			return nil
		}
	}
}

// itemEnd reads the line break that must end an item in a body that ends
// with end; the end of the part may end one at the top level.
func (p *plainParser) itemEnd(end hclsyntax.TokenType) bool {
	switch next, _ := p.peek(true); {
	case next.ty == hclsyntax.TokenNewline:
		p.read(true)
		return true
	case next.ty == hclsyntax.TokenEOF && end == hclsyntax.TokenEOF:
		return true
	}
	return false
}

func (p *plainParser) attribute(name plainToken, end hclsyntax.TokenType) *hclsyntax.Attribute {
	equals := p.read(true)
	expr := p.expr(true)
	if expr == nil {
		return nil
	}
	attr := &hclsyntax.Attribute{
		Name:        string(p.src[name.start:name.end]),
		Expr:        expr,
		SrcRange:    hcl.RangeBetween(name.rng, p.prev),
		NameRange:   name.rng,
		EqualsRange: equals.rng,
	}
	if !p.itemEnd(end) {
		return nil
	}
	return attr
}

func (p *plainParser) block(name plainToken, end hclsyntax.TokenType) *hclsyntax.Block {
	block := &hclsyntax.Block{Type: string(p.src[name.start:name.end]), TypeRange: name.rng}
	for {
		next, _ := p.peek(true)
		var label string
		switch next.ty {
		case hclsyntax.TokenIdent:
			p.read(true)
			label = string(p.src[next.start:next.end])
		case hclsyntax.TokenOQuote:
			lit := p.quoted()
			if lit == nil {
				return nil
			}
			label = lit.Val.AsString()
			next.rng = hcl.RangeBetween(next.rng, p.prev)
		case hclsyntax.TokenOBrace:
			block.OpenBraceRange = p.read(true).rng
			if after, _ := p.peek(true); after.ty != hclsyntax.TokenNewline && after.ty != hclsyntax.TokenCBrace {
				return nil // a block on one line, or unclosed
			}
			if block.Body = p.body(hclsyntax.TokenCBrace); block.Body == nil {
				return nil
			}
			block.CloseBraceRange = p.prev
			if !p.itemEnd(end) {
				return nil
			}
			return block
		default:
			return nil
		}
		block.Labels = append(block.Labels, label)
		block.LabelRanges = append(block.LabelRanges, next.rng)
	}
}

// expr parses a literal, followed by what may follow an expression where
// line breaks count or not (in brackets).
func (p *plainParser) expr(newlines bool) hclsyntax.Expression {
	var expr hclsyntax.Expression
	switch next, _ := p.peek(newlines); next.ty {
	case hclsyntax.TokenNumberLit:
		p.read(newlines)
		v, err := cty.ParseNumberVal(string(p.src[next.start:next.end]))
		if err != nil {
			return nil
		}
		expr = &hclsyntax.LiteralValueExpr{Val: v, SrcRange: next.rng}
	case hclsyntax.TokenIdent:
		p.read(newlines)
		var v cty.Value
		switch string(p.src[next.start:next.end]) {
		case "true":
			v = cty.True
		case "false":
			v = cty.False
		case "null":
			v = cty.NullVal(cty.DynamicPseudoType)
		default:
			return nil
		}
		expr = &hclsyntax.LiteralValueExpr{Val: v, SrcRange: next.rng}
	case hclsyntax.TokenOQuote:
		lit := p.quoted()
		if lit == nil {
			return nil
		}
		expr = &hclsyntax.TemplateExpr{Parts: []hclsyntax.Expression{lit}, SrcRange: hcl.RangeBetween(next.rng, p.prev)}
	case hclsyntax.TokenOBrack:
		if expr = p.tuple(); expr == nil {
			return nil
		}
	default:
		return nil
	}
	// What follows must end the expression: anything else (an operator,
	// an index, a traversal) makes a larger one.
	switch after, _ := p.peek(newlines); after.ty {
	case hclsyntax.TokenNewline, hclsyntax.TokenEOF, hclsyntax.TokenComma, hclsyntax.TokenCBrack:
		return expr
	}
	return nil
}

// quoted parses a string without escapes, interpolations or directives
// from its opening quote to its closing one, as the literal part of its
// template.
func (p *plainParser) quoted() *hclsyntax.LiteralValueExpr {
	p.read(false)
	next := p.read(false)
	text := ""
	rng := hcl.Range{Filename: next.rng.Filename, Start: next.rng.End, End: next.rng.End} // empty: where the string closes
	if next.ty == hclsyntax.TokenQuotedLit {
		b := p.src[next.start:next.end]
		if bytes.ContainsAny(b, `\$%`) {
			return nil
		}
		text, rng = string(b), next.rng
		next = p.read(false)
	}
	if next.ty != hclsyntax.TokenCQuote {
		return nil
	}
	return &hclsyntax.LiteralValueExpr{Val: cty.StringVal(text), SrcRange: rng}
}

// tuple parses [ literals, separated by commas ], on any number of lines.
func (p *plainParser) tuple() hclsyntax.Expression {
	open := p.read(false)
	tuple := &hclsyntax.TupleConsExpr{OpenRange: open.rng}
	for {
		if next, _ := p.peek(false); next.ty == hclsyntax.TokenCBrack {
			break
		}
		expr := p.expr(false)
		if expr == nil {
			return nil
		}
		tuple.Exprs = append(tuple.Exprs, expr)
		if next, _ := p.peek(false); next.ty != hclsyntax.TokenComma {
			break
		}
		p.read(false)
	}
	if close := p.read(false); close.ty != hclsyntax.TokenCBrack {
		return nil
	}
	tuple.SrcRange = hcl.RangeBetween(open.rng, p.prev)
	return tuple
}
