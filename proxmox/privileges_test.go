package proxmox

import (
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// The install guide tells operators to create the role with `pveum role
// add`; that line must grant exactly ToolPrivileges.
func TestInstallGuideRoleIsToolPrivileges(t *testing.T) {
	readme, err := os.ReadFile("../docs/operating.md")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`pveum role add \S+ --privs "([^"]*)"`).FindAllSubmatch(readme, -1)
	if len(m) != 1 {
		t.Fatalf("found %d `pveum role add ... --privs \"...\"` lines in docs/operating.md, want 1", len(m))
	}
	got := strings.Fields(string(m[0][1]))
	want := slices.Clone(ToolPrivileges)
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("the install guide's role grants %v,\nToolPrivileges is %v", got, want)
	}
	if len(slices.Compact(slices.Clone(want))) != len(want) {
		t.Errorf("ToolPrivileges lists a privilege twice: %v", ToolPrivileges)
	}
}
