package runas

import (
	"os"
	"path/filepath"
	"testing"
)

func TestWithin(t *testing.T) {
	dir := t.TempDir()
	for _, c := range []struct {
		paths []string
		want  bool
	}{
		{[]string{dir}, true},
		{[]string{filepath.Join(dir, "requests", "x.req")}, true},
		{[]string{dir + "-other"}, false}, // a sibling with the same prefix is not inside
		{[]string{"/elsewhere", filepath.Join(dir, "a")}, true},
		{nil, false},
	} {
		if got := Within(dir, c.paths); got != c.want {
			t.Errorf("Within(%s, %q) = %v", dir, c.paths, got)
		}
	}
}

// A directory of our own, a missing one and a link to one are no one
// else's: nothing to switch to.
func TestDirOwnerOfOurOwnIsNone(t *testing.T) {
	dir := t.TempDir()
	link := filepath.Join(t.TempDir(), "link")
	if err := os.Symlink("/", link); err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{dir, filepath.Join(dir, "missing"), link} {
		if o, ok := DirOwner(d); ok {
			t.Errorf("DirOwner(%s) = %+v", d, o)
		}
	}
}

func TestCommandLine(t *testing.T) {
	for in, want := range map[string]string{
		"apply":               "apply",
		"/var/lib/x/host.hcl": "/var/lib/x/host.hcl",
		"--not-after=24h":     "--not-after=24h",
		"a b":                 "'a b'",
		"it's":                `'it'\''s'`,
		"":                    "''",
		"$HOME":               "'$HOME'",
	} {
		if got := CommandLine(in); got != want {
			t.Errorf("CommandLine(%q) = %s, want %s", in, got, want)
		}
	}
	if got, want := CommandLine("felhom-converge", "plan", "a b.hcl"), "felhom-converge plan 'a b.hcl'"; got != want {
		t.Errorf("CommandLine = %s, want %s", got, want)
	}
}
