package schema

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/hashicorp/hcl/v2"
)

// FuzzLoad feeds arbitrary bytes to Load. Properties: it never panics;
// every error names a place in the file (a Subject with the filename); and
// a file that loads without errors still loads, to the same guests, after
// Format, which is idempotent. The committed corpus in
// testdata/fuzz/FuzzLoad holds the examples and the bad cases.
func FuzzLoad(f *testing.F) {
	examples, _ := filepath.Glob("../examples/*.hcl")
	for _, e := range examples {
		if src, err := os.ReadFile(e); err == nil {
			f.Add(src)
		}
	}
	f.Fuzz(func(t *testing.T, src []byte) {
		const name = "fuzz.hcl"
		h, diags := Load(src, name)
		checkSubjects(t, diags, name)
		if diags.HasErrors() {
			if h != nil {
				t.Fatal("Load returned a host together with errors")
			}
			return
		}
		formatted, fdiags := Format(src, name)
		if fdiags.HasErrors() {
			t.Fatalf("Format refused a file Load accepted: %s", describe(fdiags))
		}
		again, _ := Format(formatted, name)
		if string(again) != string(formatted) {
			t.Fatalf("Format is not idempotent:\n%s", Diff(name, formatted, again))
		}
		h2, diags2 := Load(formatted, name)
		if diags2.HasErrors() {
			t.Fatalf("the formatted file no longer loads: %s\n%s", describe(diags2), formatted)
		}
		if len(h2.Guests) != len(h.Guests) || len(h2.Jobs) != len(h.Jobs) || h2.Name != h.Name {
			t.Fatalf("formatting changed the meaning: %d/%d guests, %d/%d jobs", len(h.Guests), len(h2.Guests), len(h.Jobs), len(h2.Jobs))
		}
		for i := range h.Guests {
			a, b := h.Guests[i], h2.Guests[i]
			if a.Name != b.Name || a.VMID != b.VMID || a.Memory != b.Memory || a.Hostname != b.Hostname {
				t.Fatalf("formatting changed guest %q", a.Name)
			}
		}
	})
}

func checkSubjects(t *testing.T, diags hcl.Diagnostics, name string) {
	t.Helper()
	for _, d := range diags {
		if d.Severity == hcl.DiagError && (d.Subject == nil || d.Subject.Filename != name) {
			t.Fatalf("error %q (%s) has no subject in %s", d.Summary, d.Detail, name)
		}
	}
}
