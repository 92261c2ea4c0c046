package proxmox

import (
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// The README tells operators to create the role with `pveum role add`;
// that line must grant exactly ToolPrivileges.
func TestReadmeRoleIsToolPrivileges(t *testing.T) {
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`pveum role add \S+ --privs "([^"]*)"`).FindAllSubmatch(readme, -1)
	if len(m) != 1 {
		t.Fatalf("found %d `pveum role add ... --privs \"...\"` lines in README.md, want 1", len(m))
	}
	got := strings.Fields(string(m[0][1]))
	want := slices.Clone(ToolPrivileges)
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("README role grants %v,\nToolPrivileges is %v", got, want)
	}
	if len(slices.Compact(slices.Clone(want))) != len(want) {
		t.Errorf("ToolPrivileges lists a privilege twice: %v", ToolPrivileges)
	}
}
