// Package buildinfo says which build of the tool runs: its release
// version or module version, and the commit it was built from when the
// build recorded one.
package buildinfo

import (
	"runtime/debug"
	"strings"
)

// Version is the version to print: override (a release's -X value); else the main
// module's version (a tag, or since Go 1.24 a pseudo-version such as
// v0.0.0-20261201152913-14eca78c1a2b+dirty for a build in a Git checkout);
// else, for a build without one ("(devel)", e.g. go build -buildvcs=false
// or a test binary), "devel". The commit, its time and whether the tree
// had uncommitted changes follow when the build recorded them.
func Version(override string, bi *debug.BuildInfo) string {
	v := override
	if v == "" && bi != nil && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		v = bi.Main.Version
	}
	if v == "" {
		v = "devel"
	}
	var rev, when string
	modified := false
	if bi != nil {
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				rev = s.Value
			case "vcs.time":
				when = s.Value
			case "vcs.modified":
				modified = s.Value == "true"
			}
		}
	}
	if rev == "" {
		return v
	}
	if len(rev) > 12 {
		rev = rev[:12]
	}
	detail := []string{"commit " + rev}
	if when != "" {
		detail = append(detail, when)
	}
	if modified {
		detail = append(detail, "modified")
	}
	return v + " (" + strings.Join(detail, ", ") + ")"
}
