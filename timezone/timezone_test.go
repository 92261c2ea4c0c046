package timezone

import (
	"slices"
	"testing"
)

func TestValid(t *testing.T) {
	if !slices.IsSorted(zoneTab) {
		t.Fatal("zoneTab is not sorted: Valid's binary search needs it sorted")
	}
	for _, tz := range []string{"host", "UTC", "Europe/Budapest", "America/Argentina/Buenos_Aires", "Pacific/Auckland"} {
		if !Valid(tz) {
			t.Errorf("Valid(%q) = false, want true", tz)
		}
	}
	// Not in zone.tab, so Proxmox refuses them: aliases, offsets, case.
	for _, tz := range []string{"", "utc", "Host", "Etc/UTC", "GMT", "CET", "Europe/budapest", "Europe/Budapest ", "../etc/passwd", "US/Pacific"} {
		if Valid(tz) {
			t.Errorf("Valid(%q) = true, want false", tz)
		}
	}
}
