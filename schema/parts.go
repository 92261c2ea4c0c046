package schema

import (
	"bytes"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
)

// partSize is how many bytes of whole top-level items parseParts gives
// the parser at a time: the lexer holds about 100 bytes per token of what
// it is given, and the parser's tree takes a few dozen bytes per byte of
// the file, so parsing (and decoding) a few items at a time keeps both
// small, instead of proportional to the file.
const partSize = 1 << 10

// parseParts parses src as hclsyntax.ParseConfig does, one part at a
// time: cuts are the offsets where top-level items end (from
// checkComplexity), and each part is parsed at its place in the file, so
// every range is the file's; a plain part (see plainParser) without
// hclsyntax's lexer and parser. It calls each with each part's body and the
// offset it ends at, in order, and stops when each returns false. It
// returns false when it stopped, or when a part has any diagnostic or
// sets an attribute an earlier part set: a file with problems is to be
// parsed whole, so its diagnostics are exactly the parser's.
func parseParts(src []byte, filename string, cuts []int, each func(body *hclsyntax.Body, end int) bool) bool {
	attrs := map[string]bool{}
	plain := &plainParser{filename: filename}
	pos := hcl.InitialPos
	for i := 0; i <= len(cuts); i++ {
		end := len(src)
		if i < len(cuts) {
			end = cuts[i]
		}
		body := plain.parse(src, pos.Byte, end, pos)
		if body == nil {
			file, diags := hclsyntax.ParseConfig(src[pos.Byte:end], filename, pos)
			if len(diags) > 0 {
				return false
			}
			body = file.Body.(*hclsyntax.Body)
		}
		for name := range body.Attributes {
			if attrs[name] {
				return false
			}
			attrs[name] = true
		}
		if !each(body, end) {
			return false
		}
		pos = hcl.Pos{Line: pos.Line + bytes.Count(src[pos.Byte:end], []byte("\n")), Column: 1, Byte: end}
	}
	return true
}
