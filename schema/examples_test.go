package schema

import (
	"os"
	"path/filepath"
	"testing"
)

// TestExamples loads every examples/*.hcl: none may have an error (or a
// warning: examples show canonical values), and each must already be in
// fmt's canonical form.
func TestExamples(t *testing.T) {
	files, err := filepath.Glob("../examples/*.hcl")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 3 {
		t.Fatalf("found %d examples, want at least demo, small-office and rollback-job", len(files))
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			src, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			h, diags := Load(src, f)
			if len(diags) > 0 {
				t.Fatalf("diagnostics:\n%s", describe(diags))
			}
			if len(h.Guests) == 0 {
				t.Errorf("example declares no guest")
			}
			out, diags := Format(src, f)
			if diags.HasErrors() {
				t.Fatalf("format: %s", describe(diags))
			}
			if d := Diff(f, src, out); d != "" {
				t.Errorf("not in canonical form; run felhom-converge fmt:\n%s", d)
			}
		})
	}
}

// TestDemoMatchesSeed pins the parts of the demo the quick start relies on.
func TestDemoMatchesSeed(t *testing.T) {
	src, err := os.ReadFile("../examples/demo.hcl")
	if err != nil {
		t.Fatal(err)
	}
	h, diags := Load(src, "demo.hcl")
	if diags.HasErrors() {
		t.Fatal(describe(diags))
	}
	if h.Name != "pve-demo" || h.Node != "pve" {
		t.Errorf("host %q node %q, want pve-demo on pve", h.Name, h.Node)
	}
	want := map[int]string{100: "web", 101: "files", 102: "wiki"}
	if len(h.Guests) != len(want) {
		t.Fatalf("guests %d, want %d", len(h.Guests), len(want))
	}
	for _, g := range h.Guests {
		if want[g.VMID] != g.Name {
			t.Errorf("guest %d is %q, want %q", g.VMID, g.Name, want[g.VMID])
		}
	}
	if wiki := h.Guest("wiki"); wiki.FromBackup != "local:backup/vzdump-lxc-9000-2026_10_01-12_00_00.tar.zst" {
		t.Errorf("wiki from_backup %q", wiki.FromBackup)
	}
}
