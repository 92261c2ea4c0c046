package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/felhom/felhom-converge/config"
	"github.com/felhom/felhom-converge/ops"
	"github.com/felhom/felhom-converge/plan"
	"github.com/felhom/felhom-converge/schema"
)

// docFiles are the documents whose HCL examples are desired states or
// local configs (docs/hcl.md's are checked by package schema).
var docFiles = []string{"README.md", "docs/operating.md", "docs/reference.md", "docs/security.md"}

func readDoc(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// The HCL examples of the README and docs must stay true: desired-state
// examples load without errors and local-config examples load as a
// config. The reference shows the whole config.
func TestDocHCLExamples(t *testing.T) {
	configs := map[string]int{}
	for _, name := range docFiles {
		blocks := regexp.MustCompile("(?s)```hcl\n(.*?)```").FindAllSubmatch(readDoc(t, name), -1)
		for i, b := range blocks {
			src := b[1]
			if strings.HasPrefix(string(src), `host "`) {
				if _, diags := schema.Load(src, name); diags.HasErrors() {
					t.Errorf("%s: desired-state example %d: %v", name, i+1, diags)
				}
				continue
			}
			configs[name]++
			path := filepath.Join(t.TempDir(), "config.hcl")
			if err := os.WriteFile(path, src, 0o600); err != nil {
				t.Fatal(err)
			}
			// The token comes from the environment here: the example's
			// token_file does not exist on a test machine.
			getenv := func(k string) string {
				if k == "FELHOM_CONVERGE_PROXMOX_TOKEN" {
					return "felhom@pve!converge=00000000-0000-0000-0000-000000000000"
				}
				return ""
			}
			if _, err := config.Load(config.Sources{File: path, Getenv: getenv}); err != nil {
				t.Errorf("%s: config example %d: %v", name, i+1, err)
			}
		}
	}
	if configs["docs/reference.md"] == 0 {
		t.Fatal("docs/reference.md has no local config example")
	}
}

// .ci/run runs the README's test command.
func TestReadmeTestCommandIsWhatCIRuns(t *testing.T) {
	readme := readDoc(t, "README.md")
	ci, err := os.ReadFile("../../.ci/run")
	if err != nil {
		t.Fatal(err)
	}
	const cmd = "go test -race ./..."
	if !strings.Contains(string(readme), "    "+cmd+"\n") || !strings.Contains(string(ci), "\n"+cmd+"\n") {
		t.Fatalf("README.md and .ci/run must both run %q", cmd)
	}
}

// The reference's JSON plan example is a document the code reads back
// with no unknown field, and its steps are real ops with params that fit
// them.
func TestReferencePlanJSON(t *testing.T) {
	found := 0
	for _, b := range regexp.MustCompile("(?s)```json\n(.*?)```").FindAllSubmatch(readDoc(t, "docs/reference.md"), -1) {
		if !strings.Contains(string(b[1]), `"format_version"`) {
			continue
		}
		found++
		dec := json.NewDecoder(strings.NewReader(string(b[1])))
		dec.DisallowUnknownFields()
		var p plan.Plan
		if err := dec.Decode(&p); err != nil {
			t.Fatalf("reference plan example: %v", err)
		}
		if p.FormatVersion != plan.FormatVersion || len(p.Steps) == 0 {
			t.Errorf("reference plan example: format %q, %d steps", p.FormatVersion, len(p.Steps))
		}
		for _, s := range p.Steps {
			if err := ops.CheckParams(s.Op, s.Params); err != nil {
				t.Errorf("reference plan example, step %s: %v", s.ID, err)
			}
			if s.Class != ops.ClassOf(s.Op) {
				t.Errorf("reference plan example, step %s: class %s, the op's is %s", s.ID, s.Class, ops.ClassOf(s.Op))
			}
		}
	}
	if found == 0 {
		t.Fatal("docs/reference.md has no JSON plan example")
	}
}
