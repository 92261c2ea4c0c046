package main

import (
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// layers is the import order of the module's packages, lowest first: a
// package may import only packages of a lower layer. The command is wiring
// on top; status reads what apply records.
var layers = [][]string{
	{"timezone", "humanize", "atomicfile", "printable"},
	{"ops", "schema", "proxmox", "proxmox/hostexec", "runas", "interrupt", "runlog", "buildinfo"},
	{"proxmox/pvesim", "trust", "journal", "config", "progress"},
	{"plan", "hub", "conformance"},
	{"apply"},
	{"status"},
	{"selftest"},
	{"cmd/felhom-converge"},
}

// TestPackagesImportOnlyLowerLayers fails when a package imports across
// its layer, upward or sideways (a cycle in the making).
func TestPackagesImportOnlyLowerLayers(t *testing.T) {
	const module = "github.com/felhom/felhom-converge/"
	rank := map[string]int{}
	for i, l := range layers {
		for _, p := range l {
			rank[p] = i
		}
	}
	imports := map[string]map[string]bool{} // package → module packages it imports (non-test files)
	walkModuleSources(t, func(root, path string) error {
		f, err := parser.ParseFile(token.NewFileSet(), path, nil, parser.ImportsOnly)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, filepath.Dir(path))
		pkg := filepath.ToSlash(rel)
		if imports[pkg] == nil {
			imports[pkg] = map[string]bool{}
		}
		for _, im := range f.Imports {
			p, _ := strconv.Unquote(im.Path.Value)
			if dep, ok := strings.CutPrefix(p, module); ok {
				imports[pkg][dep] = true
			}
		}
		return nil
	})
	for pkg, deps := range imports {
		if strings.HasPrefix(pkg, "bench") || pkg == "packaging" {
			continue // tools and tests, outside the product
		}
		r, ok := rank[pkg]
		if !ok {
			t.Errorf("package %s is in no layer: add it to the table in %s", pkg, "layers_test.go")
			continue
		}
		for dep := range deps {
			if dr, ok := rank[dep]; !ok || dr >= r {
				t.Errorf("%s imports %s, which is not in a lower layer", pkg, dep)
			}
		}
	}
}

// walkModuleSources calls fn with the module's root and the path of each
// non-test .go file of the module (testdata and hidden directories left
// out), failing the test on an error.
func walkModuleSources(t *testing.T, fn func(root, path string) error) {
	t.Helper()
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
		t.Fatalf("the module root was not found: %v", err)
	}
	err = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == "testdata" || strings.HasPrefix(d.Name(), ".")) {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		return fn(root, path)
	})
	if err != nil {
		t.Fatal(err)
	}
}
