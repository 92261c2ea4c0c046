package schema

import (
	"bytes"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
)

// partSize is how many bytes of whole top-level items parseInParts gives
// the parser at a time: the lexer holds about 100 bytes per token of what
// it is given, and parsing the file in parts of a few items keeps that
// small, instead of proportional to the file.
const partSize = 1 << 10

// parseInParts parses src as hclsyntax.ParseConfig does, one part at a
// time: cuts are the offsets where top-level items end (from
// checkComplexity), and each part is parsed at its place in the file, so
// every range is the file's. It returns the file with one body holding
// every part's items, or nil when a part has any diagnostic or the parts
// set one attribute twice: a file with problems is parsed whole again, so
// its diagnostics are exactly the parser's. The result has no navigation
// for diagnostics (Files parses whole).
func parseInParts(src []byte, filename string, cuts []int) *hcl.File {
	if len(cuts) == 0 {
		return nil
	}
	body := &hclsyntax.Body{Attributes: hclsyntax.Attributes{}, Blocks: hclsyntax.Blocks{}}
	pos := hcl.InitialPos
	for i := 0; i <= len(cuts); i++ {
		end := len(src)
		if i < len(cuts) {
			end = cuts[i]
		}
		file, diags := hclsyntax.ParseConfig(src[pos.Byte:end], filename, pos)
		if len(diags) > 0 {
			return nil
		}
		part := file.Body.(*hclsyntax.Body)
		for name, attr := range part.Attributes {
			if _, twice := body.Attributes[name]; twice {
				return nil
			}
			body.Attributes[name] = attr
		}
		body.Blocks = append(body.Blocks, part.Blocks...)
		if i == 0 {
			body.SrcRange = part.SrcRange
		}
		body.SrcRange = hcl.RangeBetween(body.SrcRange, part.SrcRange)
		body.EndRange = part.EndRange
		pos = hcl.Pos{Line: pos.Line + bytes.Count(src[pos.Byte:end], []byte("\n")), Column: 1, Byte: end}
	}
	return &hcl.File{Body: body, Bytes: src}
}
