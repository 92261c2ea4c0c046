package proxmox

import (
	"strings"
	"testing"
)

func TestVersionSupport(t *testing.T) {
	for _, c := range []struct {
		v         Version
		supported bool
		at90      bool
		want      string
	}{
		{Version{Version: "8.4.1", Release: "8.4"}, true, false, "Proxmox VE 8.4.1 (release 8.4), supported (checked against Proxmox VE 8.4 and 9.1)"},
		{Version{Version: "9.1.1", Release: "9.1"}, true, true, "Proxmox VE 9.1.1 (release 9.1), supported"},
		{Version{Version: "9.0.0~14", Release: "9.0"}, true, true, "supported"},
		{Version{Version: "7.4-16", Release: "7.4"}, false, false, "Proxmox VE 7.4-16 (release 7.4) is not a supported release: felhom-converge supports 8.x and 9.x and is checked against Proxmox VE 8.4 and 9.1; run 'felhom-converge selftest --conformance --vmid N'"},
		{Version{Version: "10.0.1", Release: "10.0"}, false, true, "is not a supported release"},
		{Version{Version: "9.2.3"}, true, true, "supported"},
		{Version{}, false, false, "the release cannot be read"},
	} {
		line, ok := c.v.Support()
		if ok != c.supported || !strings.Contains(line, c.want) {
			t.Errorf("%+v: %v %q", c.v, ok, line)
		}
		if got := c.v.AtLeast(9, 0); got != c.at90 {
			t.Errorf("%+v: AtLeast(9, 0) = %v", c.v, got)
		}
	}
}
