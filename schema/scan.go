package schema

import (
	"bytes"
	"unicode/utf8"

	"github.com/hashicorp/hcl/v2/hclsyntax"
)

// scanner walks a file as hclsyntax's lexer does, token by token, without
// making the tokens: for each one it calls out with its type and byte
// offsets, and keeps only the lexer's state (its modes, its brace count,
// its open heredocs). checkComplexity bounds the file on this walk before
// hclsyntax.ParseConfig lexes it, so the file is lexed, and its tokens
// held in memory, once. The token stream is the lexer's, type for type and
// offset for offset (TestScannerIsTheLexer and FuzzLoad compare them),
// including where the lexer's generated state machine is surprising: its
// splitting of heredoc lines at $ and % signs, and a carriage return
// alone in a heredoc, after which it makes one invalid token of the rest.
//
// The scanner also notes the file's layout: where top-level items end, so
// the file can be parsed one run of whole items at a time, and where the
// last locals block starts (see parseParts and loader).
type scanner struct {
	src []byte
	out func(ty hclsyntax.TokenType, start, end int) bool // false stops the scan

	mode      lexMode
	callers   []lexMode // the modes to return to (the lexer's call stack)
	braces    int       // the lexer's brace count, interpolations included
	retBraces []int     // brace counts at which a } ends an interpolation
	heredocs  []heredocFrame
	brackets  int // ( and [ open while no string, heredoc or interpolation is

	noCommentEnd int           // an offset from which no */ follows, or -1
	identRunes   map[rune]byte // non-ASCII runes: identStart|identContinue, once known

	cutEvery int // note a cut after a top-level item once this many bytes have passed
	layout   layout
	atItem   bool // the next top-level name starts an item
}

// layout is where a file's top-level items are.
type layout struct {
	cuts       []int // offsets where a top-level item has just ended, cutEvery bytes apart
	lastLocals int   // the offset of the last item named locals, or -1
}

type lexMode uint8

const (
	modeMain    lexMode = iota // expressions and structure
	modeString                 // a quoted string template
	modeHeredoc                // a heredoc template
)

type heredocFrame struct {
	marker      []byte
	startOfLine bool
}

const (
	identKnown byte = 1 << iota
	identStart
	identContinue
)

var utf8BOM = []byte{0xEF, 0xBB, 0xBF}

// run scans the whole file. It returns false when emit stopped it.
func (s *scanner) run() bool {
	s.noCommentEnd = -1
	s.layout.lastLocals = -1
	s.atItem = true
	p := 0
	if bytes.HasPrefix(s.src, utf8BOM) {
		p = len(utf8BOM)
	}
	for p < len(s.src) {
		var ok bool
		switch s.mode {
		case modeMain:
			p, ok = s.main(p)
		case modeString:
			p, ok = s.quoted(p)
		default:
			p, ok = s.heredoc(p)
		}
		if !ok {
			return false
		}
	}
	return s.emit(hclsyntax.TokenEOF, len(s.src), len(s.src))
}

// emit passes a token on, following the top-level items on the way: at
// the top level (no string, heredoc, interpolation, brace, bracket or
// parenthesis open), a name after a line break (or a comment that ends
// one) is an item's.
func (s *scanner) emit(ty hclsyntax.TokenType, start, end int) bool {
	switch top := len(s.callers) == 0 && s.braces == 0 && s.brackets == 0; {
	case !top:
		s.atItem = false
	case ty == hclsyntax.TokenNewline, ty == hclsyntax.TokenComment && s.src[end-1] == '\n':
		s.atItem = true
	case ty == hclsyntax.TokenComment:
	case ty == hclsyntax.TokenIdent && s.atItem:
		if string(s.src[start:end]) == "locals" {
			s.layout.lastLocals = start
		}
		s.atItem = false
	default:
		s.atItem = false
	}
	return s.out(ty, start, end)
}

// main scans one token (or a run of blanks) of an expression at p and
// returns the offset after it.
func (s *scanner) main(p int) (int, bool) {
	src := s.src
	c := src[p]
	at := func(i int, b byte) bool { return i < len(src) && src[i] == b }
	tok := func(ty hclsyntax.TokenType, n int) (int, bool) { return p + n, s.emit(ty, p, p+n) }
	switch {
	case c == ' ' || c == '\t':
		for p < len(src) && (src[p] == ' ' || src[p] == '\t') {
			p++
		}
		return p, true
	case c >= '0' && c <= '9':
		return tok(hclsyntax.TokenNumberLit, numberEnd(src, p)-p)
	case c == '_' || isASCIILetter(c):
		return tok(hclsyntax.TokenIdent, s.identEnd(p+1)-p)
	case c >= utf8.RuneSelf:
		r, size := utf8.DecodeRune(src[p:])
		if s.identRune(r)&identStart != 0 {
			return tok(hclsyntax.TokenIdent, s.identEnd(p+size)-p)
		}
		return tok(hclsyntax.TokenInvalid, size)
	case c == '#' || (c == '/' && at(p+1, '/')):
		end := len(src)
		if i := bytes.IndexByte(src[p:], '\n'); i >= 0 {
			end = p + i + 1
		}
		return tok(hclsyntax.TokenComment, end-p)
	case c == '/' && at(p+1, '*'):
		if end := s.commentEnd(p + 2); end >= 0 {
			return tok(hclsyntax.TokenComment, end-p)
		}
		return tok(hclsyntax.TokenSlash, 1)
	case c == '\n':
		return s.newline(p, 1)
	case c == '\r' && at(p+1, '\n'):
		return s.newline(p, 2)
	case c == '<':
		if n := heredocIntro(s, p); n > 0 {
			return s.openHeredoc(p, n)
		}
	case c == '{':
		s.braces++
		return tok(hclsyntax.TokenOBrace, 1)
	case c == '}':
		if s.endsInterp() {
			return tok(hclsyntax.TokenTemplateSeqEnd, 1)
		}
		s.braces--
		return tok(hclsyntax.TokenCBrace, 1)
	case c == '~' && at(p+1, '}'):
		if !s.endsInterp() {
			s.braces--
		}
		return tok(hclsyntax.TokenTemplateSeqEnd, 2)
	case c == '"':
		s.call(modeString)
		return tok(hclsyntax.TokenOQuote, 1)
	case c == '(' || c == '[':
		if len(s.callers) == 0 {
			s.brackets++
		}
	case c == ')' || c == ']':
		if len(s.callers) == 0 {
			s.brackets--
		}
	}
	// Operators of two or three characters, then single characters.
	for _, op := range mainOperators {
		if bytes.HasPrefix(src[p:], op.text) {
			return tok(op.ty, len(op.text))
		}
	}
	if selfTokens[c] {
		return tok(hclsyntax.TokenType(c), 1)
	}
	return tok(hclsyntax.TokenInvalid, 1) // an ASCII character HCL has no use for
}

var mainOperators = []struct {
	text []byte
	ty   hclsyntax.TokenType
}{
	{[]byte("..."), hclsyntax.TokenEllipsis},
	{[]byte("=="), hclsyntax.TokenEqualOp},
	{[]byte("!="), hclsyntax.TokenNotEqual},
	{[]byte(">="), hclsyntax.TokenGreaterThanEq},
	{[]byte("<="), hclsyntax.TokenLessThanEq},
	{[]byte("&&"), hclsyntax.TokenAnd},
	{[]byte("||"), hclsyntax.TokenOr},
	{[]byte("::"), hclsyntax.TokenDoubleColon},
	{[]byte("=>"), hclsyntax.TokenFatArrow},
}

// selfTokens are the characters that are tokens of their own type.
var selfTokens = func() (t [utf8.RuneSelf]bool) {
	for _, c := range []byte("[]().,*/%+-=<>!?:&|~^;`'") {
		t[c] = true
	}
	return t
}()

func isASCIILetter(c byte) bool { return (c|0x20) >= 'a' && (c|0x20) <= 'z' }

// newline emits a line break of n bytes and, at the top level, notes a
// cut after it once cutEvery bytes have passed since the last.
func (s *scanner) newline(p, n int) (int, bool) {
	end := p + n
	if s.cutEvery > 0 && len(s.callers) == 0 && s.braces == 0 && s.brackets == 0 {
		last := 0
		if n := len(s.layout.cuts); n > 0 {
			last = s.layout.cuts[n-1]
		}
		if end-last >= s.cutEvery && end < len(s.src) {
			s.layout.cuts = append(s.layout.cuts, end)
		}
	}
	return end, s.emit(hclsyntax.TokenNewline, p, end)
}

// numberEnd returns the end of the number literal starting at p (a
// digit): digits, dots and exponents (e5, e+5), not ending in a dot.
func numberEnd(src []byte, p int) int {
	isDigit := func(i int) bool { return i < len(src) && src[i] >= '0' && src[i] <= '9' }
	end := p + 1
	for i := p + 1; i < len(src); {
		switch c := src[i]; {
		case isDigit(i):
			i++
			end = i
		case c == '.':
			i++
		case (c == 'e' || c == 'E') && isDigit(i+1):
			i += 2
			end = i
		case (c == 'e' || c == 'E') && i+1 < len(src) && (src[i+1] == '+' || src[i+1] == '-') && isDigit(i+2):
			i += 3
			end = i
		default:
			return end
		}
	}
	return end
}

// identEnd returns the end of the identifier whose rest starts at p.
func (s *scanner) identEnd(p int) int {
	src := s.src
	for p < len(src) {
		c := src[p]
		switch {
		case c == '_' || c == '-' || isASCIILetter(c) || (c >= '0' && c <= '9'):
			p++
		case c >= utf8.RuneSelf:
			r, size := utf8.DecodeRune(src[p:])
			if s.identRune(r)&identContinue == 0 {
				return p
			}
			p += size
		default:
			return p
		}
	}
	return p
}

// identRune classifies a non-ASCII rune as HCL's identifiers do (Unicode's
// ID_Start and ID_Continue, in the Unicode version hclsyntax was built
// with), by asking hclsyntax once per rune.
func (s *scanner) identRune(r rune) byte {
	if k := s.identRunes[r]; k != 0 {
		return k
	}
	if s.identRunes == nil {
		s.identRunes = map[rune]byte{}
	}
	k := identKnown
	if hclsyntax.ValidIdentifier(string(r)) {
		k |= identStart
	}
	if hclsyntax.ValidIdentifier("a" + string(r)) {
		k |= identContinue
	}
	s.identRunes[r] = k
	return k
}

// commentEnd returns the end of the /* comment whose body starts at p, or
// -1 when no */ follows (the lexer then makes a / and a * of it).
func (s *scanner) commentEnd(p int) int {
	if s.noCommentEnd >= 0 && p >= s.noCommentEnd {
		return -1
	}
	i := bytes.Index(s.src[p:], []byte("*/"))
	if i < 0 {
		s.noCommentEnd = p
		return -1
	}
	return p + i + 2
}

// heredocIntro returns the length of the heredoc introducer (<<EOT or
// <<-EOT, then a line break) at p, or 0.
func heredocIntro(s *scanner, p int) int {
	src := s.src
	i := p + 2
	if i > len(src) || src[p+1] != '<' {
		return 0
	}
	if i < len(src) && src[i] == '-' {
		i++
	}
	if i >= len(src) {
		return 0
	}
	switch c := src[i]; {
	case c == '_' || isASCIILetter(c):
		i = s.identEnd(i + 1)
	case c >= utf8.RuneSelf:
		r, size := utf8.DecodeRune(src[i:])
		if s.identRune(r)&identStart == 0 {
			return 0
		}
		i = s.identEnd(i + size)
	default:
		return 0
	}
	if n := eolAt(src, i); n > 0 {
		return i + n - p
	}
	return 0
}

// eolAt returns the length of the line break (\n or \r\n) at i, or 0.
func eolAt(src []byte, i int) int {
	switch {
	case i < len(src) && src[i] == '\n':
		return 1
	case i+1 < len(src) && src[i] == '\r' && src[i+1] == '\n':
		return 2
	}
	return 0
}

func (s *scanner) openHeredoc(p, n int) (int, bool) {
	marker := bytes.TrimPrefix(s.src[p+2:p+n], []byte("-"))
	marker = bytes.TrimSuffix(bytes.TrimSuffix(marker, []byte("\n")), []byte("\r"))
	s.heredocs = append(s.heredocs, heredocFrame{marker: marker, startOfLine: true})
	s.call(modeHeredoc)
	return p + n, s.emit(hclsyntax.TokenOHeredoc, p, p+n)
}

// call enters mode, to return to the current one.
func (s *scanner) call(mode lexMode) {
	s.callers = append(s.callers, s.mode)
	s.mode = mode
}

// ret returns to the mode that called the current one.
func (s *scanner) ret() {
	s.mode = s.callers[len(s.callers)-1]
	s.callers = s.callers[:len(s.callers)-1]
}

// endsInterp reports whether a } (or ~}) at the current brace count ends
// an interpolation or directive, and if so returns to its template.
func (s *scanner) endsInterp() bool {
	if n := len(s.retBraces); n == 0 || s.retBraces[n-1] != s.braces {
		return false
	}
	s.braces--
	s.retBraces = s.retBraces[:len(s.retBraces)-1]
	s.ret()
	return true
}

// openSequence handles ${ or %{ (and ${~, %{~) at p in a template: the
// interpolation or directive's expression is scanned in modeMain.
func (s *scanner) openSequence(p int) (int, bool) {
	n := 2
	if p+2 < len(s.src) && s.src[p+2] == '~' {
		n = 3
	}
	ty := hclsyntax.TokenTemplateInterp
	if s.src[p] == '%' {
		ty = hclsyntax.TokenTemplateControl
	}
	s.braces++
	s.retBraces = append(s.retBraces, s.braces)
	if len(s.heredocs) > 0 {
		s.heredocs[len(s.heredocs)-1].startOfLine = false
	}
	s.call(modeMain)
	return p + n, s.emit(ty, p, p+n)
}

// escapeLen returns the length of a $${ or %%{ escape (with an optional
// ~) at p, or 0.
func escapeLen(src []byte, p int) int {
	if p+2 >= len(src) || src[p+1] != src[p] || src[p+2] != '{' {
		return 0
	}
	if p+3 < len(src) && src[p+3] == '~' {
		return 4
	}
	return 3
}

// quoted scans one token of a quoted string at p.
func (s *scanner) quoted(p int) (int, bool) {
	src := s.src
	tok := func(ty hclsyntax.TokenType, end int) (int, bool) { return end, s.emit(ty, p, end) }
	switch c := src[p]; {
	case (c == '$' || c == '%') && p+1 < len(src) && src[p+1] == '{':
		return s.openSequence(p)
	case c == '$' || c == '%':
		if p+1 == len(src) {
			return tok(hclsyntax.TokenInvalid, len(src))
		}
		if n := escapeLen(src, p); n > 0 {
			return tok(hclsyntax.TokenQuotedLit, p+n)
		}
		return tok(hclsyntax.TokenQuotedLit, p+1)
	case c == '"':
		s.ret()
		return tok(hclsyntax.TokenCQuote, p+1)
	case c == '\r' || c == '\n':
		end := p + 1
		for end < len(src) && (src[end] == '\r' || src[end] == '\n') {
			end++
		}
		return tok(hclsyntax.TokenQuotedNewline, end)
	case c == '\\' && (p+1 == len(src) || src[p+1] == '\r' || src[p+1] == '\n'):
		return tok(hclsyntax.TokenInvalid, p+1)
	}
	end := p
	for end < len(src) {
		c := src[end]
		if c == '\\' && end+1 < len(src) && src[end+1] != '\r' && src[end+1] != '\n' {
			end += 2
			continue
		}
		if c == '$' || c == '%' || c == '"' || c == '\\' || c == '\r' || c == '\n' {
			break
		}
		end++
	}
	return tok(hclsyntax.TokenQuotedLit, end)
}

// heredoc scans one token of a heredoc at p. The lexer splits a line at
// each $ and % sign, and a sign followed by one character and then a line
// break makes a token of both; a line that is the marker (blanks aside)
// closes the heredoc.
func (s *scanner) heredoc(p int) (int, bool) {
	src := s.src
	top := &s.heredocs[len(s.heredocs)-1]
	c := src[p]
	var end int
	switch {
	case (c == '$' || c == '%') && p+1 < len(src) && src[p+1] == '{':
		return s.openSequence(p)
	case c == '$' || c == '%':
		if p+1 == len(src) {
			return len(src), s.emit(hclsyntax.TokenInvalid, p, len(src))
		}
		if n := escapeLen(src, p); n > 0 {
			if eol := eolAt(src, p+n); eol > 0 {
				return s.heredocLine(top, p, p+n+eol)
			}
			end = p + n
		} else if p+2 < len(src) && (src[p+2] == '\r' || src[p+2] == '\n') {
			end = p + 2
		} else {
			end = p + 1
		}
	case c == '\r' && eolAt(src, p) == 0:
		// No rule of the lexer matches a carriage return alone here: it
		// makes one invalid token of the rest of the file and stops.
		return len(src), s.emit(hclsyntax.TokenInvalid, p, len(src))
	default:
		end = p
		for end < len(src) && src[end] != '$' && src[end] != '%' && src[end] != '\r' && src[end] != '\n' {
			end++
		}
		if eol := eolAt(src, end); eol > 0 {
			return s.heredocLine(top, p, end+eol)
		}
	}
	top.startOfLine = false
	return end, s.emit(hclsyntax.TokenStringLit, p, end)
}

// heredocLine handles the last token of a heredoc line, src[p:end] (its
// line break included): the closing marker, or text.
func (s *scanner) heredocLine(top *heredocFrame, p, end int) (int, bool) {
	if !top.startOfLine || !bytes.Equal(bytes.TrimSpace(s.src[p:end]), top.marker) {
		top.startOfLine = true
		return end, s.emit(hclsyntax.TokenStringLit, p, end)
	}
	nl := end - 1
	if s.src[nl-1] == '\r' {
		nl--
	}
	s.heredocs = s.heredocs[:len(s.heredocs)-1]
	s.ret()
	if !s.emit(hclsyntax.TokenCHeredoc, p, nl) {
		return end, false
	}
	return s.newline(nl, end-nl)
}
