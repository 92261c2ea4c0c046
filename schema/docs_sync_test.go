package schema

import (
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"
)

// docBlocks maps each block path of the desired-state schema to its body
// schema ("" is the file's top level; nil: free-form attributes, as in
// locals). A block the schema gains must be added here and to docs/hcl.md.
var docBlocks = map[string]*hcl.BodySchema{
	"":                rootSchema,
	"host":            hostSchema,
	"locals":          nil,
	"guest":           guestSchema,
	"guest.rootfs":    rootfsSchema,
	"guest.features":  featuresSchema,
	"guest.startup":   startupSchema,
	"guest.mount":     mountSchema,
	"guest.network":   networkSchema,
	"guest.snapshot":  snapshotSchema,
	"job":             jobSchema,
	"golden":          goldenSchema,
	"golden.features": featuresSchema,
	"storage":         storageSchema,
	"signers":         signersSchema,
	"signers.signer":  signerSchema,
}

// docsSections reads docs/hcl.md: for each heading "## `PATH`" or
// "### `PATH`", the attributes its tables document (rows starting with
// "| `NAME` |"), and every ```hcl example.
func docsSections(t *testing.T) (map[string][]string, []string) {
	t.Helper()
	b, err := os.ReadFile("../docs/hcl.md")
	if err != nil {
		t.Fatal(err)
	}
	heading := regexp.MustCompile("^#{2,3} `([a-z_.]+)`$")
	row := regexp.MustCompile("^\\| `([a-z_0-9.]+)` \\|")
	sections := map[string][]string{}
	current := ""
	for _, line := range strings.Split(string(b), "\n") {
		if m := heading.FindStringSubmatch(line); m != nil {
			current = m[1]
			if _, dup := sections[current]; dup {
				t.Errorf("docs/hcl.md: %q has two sections", current)
			}
			sections[current] = []string{}
			continue
		}
		if m := row.FindStringSubmatch(line); m != nil && current != "" {
			sections[current] = append(sections[current], m[1])
		}
	}
	examples := regexp.MustCompile("(?s)```hcl\n(.*?)```").FindAllStringSubmatch(string(b), -1)
	var srcs []string
	for _, e := range examples {
		srcs = append(srcs, e[1])
	}
	return sections, srcs
}

// Every block and attribute of the schema is documented in docs/hcl.md,
// and the page documents nothing the schema does not have.
func TestDocsCoverTheSchema(t *testing.T) {
	sections, _ := docsSections(t)
	seen := map[string]bool{}
	var walk func(path string, s *hcl.BodySchema)
	walk = func(path string, s *hcl.BodySchema) {
		seen[path] = true
		if s == nil {
			return
		}
		if path != "" {
			documented, ok := sections[path]
			if !ok {
				t.Errorf("docs/hcl.md has no section \"## `%s`\"", path)
			}
			var names []string
			for _, a := range s.Attributes {
				names = append(names, a.Name)
				if ok && !slices.Contains(documented, a.Name) {
					t.Errorf("docs/hcl.md: %s.%s is not documented (add a \"| `%s` | type | units | default | meaning |\" row to its section)", path, a.Name, a.Name)
				}
			}
			for _, name := range documented {
				if !slices.Contains(names, name) && !(path == "job" && docsJobOpRow(name)) {
					t.Errorf("docs/hcl.md documents %s.%s, which the schema does not have", path, name)
				}
			}
		}
		for _, blk := range s.Blocks {
			child := blk.Type
			if path != "" {
				child = path + "." + blk.Type
			}
			cs, ok := docBlocks[child]
			if !ok {
				t.Errorf("block %s: add its body schema to docBlocks in docs_sync_test.go and document it in docs/hcl.md", child)
				continue
			}
			walk(child, cs)
		}
	}
	walk("", rootSchema)
	for path := range docBlocks {
		if !seen[path] {
			t.Errorf("docBlocks lists %s, which the schema no longer has", path)
		}
	}
	for path := range sections {
		if _, ok := docBlocks[path]; !ok {
			t.Errorf("docs/hcl.md has a section for %s, which is not a block of the schema", path)
		}
	}
}

// docsJobOpRow reports whether name is a row of the job section's table
// of operations rather than an attribute.
func docsJobOpRow(name string) bool { return slices.Contains(Ops, name) }

// Every example in docs/hcl.md loads without errors or warnings (a
// fragment without a host block gets one).
func TestDocsExamplesLoad(t *testing.T) {
	_, examples := docsSections(t)
	if len(examples) < 10 {
		t.Fatalf("found %d hcl examples in docs/hcl.md", len(examples))
	}
	for i, src := range examples {
		if !strings.HasPrefix(src, "host ") {
			src = "host \"pve-demo\" {\n  node = \"pve\"\n}\n\n" + src
		}
		if _, diags := Load([]byte(src), "docs/hcl.md"); len(diags) > 0 {
			t.Errorf("example %d:\n%s\n%v", i+1, src, diags)
		}
	}
}
