package buildinfo

import (
	"runtime/debug"
	"testing"
)

func TestVersion(t *testing.T) {
	vcs := []debug.BuildSetting{
		{Key: "vcs", Value: "git"},
		{Key: "vcs.revision", Value: "14eca78c1a2b3c4d5e6f708192a3b4c5d6e7f809"},
		{Key: "vcs.time", Value: "2026-12-01T15:29:13Z"},
		{Key: "vcs.modified", Value: "true"},
	}
	for _, tc := range []struct {
		name     string
		override string
		bi       *debug.BuildInfo
		want     string
	}{
		{"no build info", "", nil, "devel"},
		{"test binary", "", &debug.BuildInfo{Main: debug.Module{Version: "(devel)"}}, "devel"},
		{"tagged module", "", &debug.BuildInfo{Main: debug.Module{Version: "v1.2.0"}}, "v1.2.0"},
		{"checkout, no module version", "", &debug.BuildInfo{Main: debug.Module{Version: "(devel)"}, Settings: vcs},
			"devel (commit 14eca78c1a2b, 2026-12-01T15:29:13Z, modified)"},
		{"pseudo-version", "", &debug.BuildInfo{Main: debug.Module{Version: "v0.0.0-20261201152913-14eca78c1a2b"}, Settings: vcs[:3]},
			"v0.0.0-20261201152913-14eca78c1a2b (commit 14eca78c1a2b, 2026-12-01T15:29:13Z)"},
		{"release override", "v1.3.0", &debug.BuildInfo{Main: debug.Module{Version: "(devel)"}, Settings: vcs[:2]},
			"v1.3.0 (commit 14eca78c1a2b)"},
	} {
		if got := Version(tc.override, tc.bi); got != tc.want {
			t.Errorf("%s: got %q, want %q", tc.name, got, tc.want)
		}
	}
}
