package main

import (
	"bytes"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"regexp"
	"testing"
)

// The module's shape, as the design sets it: files small enough to read in
// one sitting and functions that fit on a screen or two. Tests, testdata
// and generated files do not count.
const (
	maxFileLines = 600  // lines of one non-test .go file
	maxFuncLines = 120  // lines of one function, from func to its closing brace
	maxCmdLines  = 2000 // non-test lines of this command: wiring, not library logic
)

// generated matches the line Go's convention puts in a generated file.
var generated = regexp.MustCompile(`(?m)^// Code generated .* DO NOT EDIT\.$`)

// TestModuleShape fails when a file or a function outgrows its bound, or
// the command its own, naming the offender.
func TestModuleShape(t *testing.T) {
	cmdLines := 0
	walkModuleSources(t, func(root, path string) error {
		src, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if generated.Match(src) {
			return nil
		}
		rel, _ := filepath.Rel(root, path)
		rel = filepath.ToSlash(rel)
		lines := bytes.Count(src, []byte("\n"))
		if len(src) > 0 && src[len(src)-1] != '\n' {
			lines++
		}
		if filepath.Dir(rel) == "cmd/felhom-converge" {
			cmdLines += lines
		}
		if lines > maxFileLines {
			t.Errorf("%s has %d lines, more than %d: split it by concern", rel, lines, maxFileLines)
		}
		for _, f := range longFuncs(t, path, src) {
			t.Errorf("%s: %s", rel, f)
		}
		return nil
	})
	if cmdLines > maxCmdLines {
		t.Errorf("cmd/felhom-converge has %d non-test lines, more than %d: move library logic into the package that owns it", cmdLines, maxCmdLines)
	}
}

// longFuncs names each function of the file src (at path) longer than
// maxFuncLines, with its line and length.
func longFuncs(t *testing.T, path string, src []byte) []string {
	t.Helper()
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, path, src, parser.SkipObjectResolution)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	ast.Inspect(f, func(n ast.Node) bool {
		var name string
		switch n := n.(type) {
		case *ast.FuncDecl:
			name = n.Name.Name
			if n.Recv != nil && len(n.Recv.List) == 1 {
				name = recvName(n.Recv.List[0].Type) + "." + name
			}
		case *ast.FuncLit:
			name = "a function literal"
		default:
			return true
		}
		start, end := fset.Position(n.Pos()).Line, fset.Position(n.End()).Line
		if lines := end - start + 1; lines > maxFuncLines {
			out = append(out, fmt.Sprintf("%s (line %d) has %d lines, more than %d: split it", name, start, lines, maxFuncLines))
		}
		return true
	})
	return out
}

// recvName is the type name of a method's receiver.
func recvName(e ast.Expr) string {
	for {
		switch x := e.(type) {
		case *ast.StarExpr:
			e = x.X
		case *ast.IndexExpr:
			e = x.X
		case *ast.IndexListExpr:
			e = x.X
		case *ast.Ident:
			return x.Name
		default:
			return "?"
		}
	}
}
