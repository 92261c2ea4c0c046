package schema

import (
	"fmt"

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
