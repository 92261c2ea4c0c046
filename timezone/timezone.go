// Package timezone knows the time zones Proxmox VE accepts for a
// container (the pve-ct-timezone format), so that the desired state and
// the simulator refuse what Proxmox refuses. It is data only.
package timezone

import "slices"

// Valid reports whether tz is a container time zone Proxmox accepts:
// "host" (use the host's), "UTC", or a zone of tzdata's zone.tab
// ("Europe/Budapest"), as pve-common's pve_verify_timezone reads it. The
// list is the tzdata this binary was built with (zonetab.go): a zone
// added to tzdata later is refused until then.
func Valid(tz string) bool {
	if tz == "host" || tz == "UTC" {
		return true
	}
	_, found := slices.BinarySearch(zoneTab, tz)
	return found
}
