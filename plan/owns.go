package plan

import (
	"maps"
	"slices"
	"strings"

	"github.com/felhom/felhom-converge/schema"
)

// A desired file owns a guest's mount list (or its interface list) once it
// has declared it: removing the last mount block then detaches what it
// held, as removing any other block does, instead of leaving the list
// alone as a file that never declared one does. Ownership is recorded in
// the journal, with the guest's digest after each apply (Owns), so it
// survives compaction and ends with the guest.

// The lists a file may own.
const (
	ListMounts   = "mounts"
	ListNetworks = "networks"
)

// Owns returns the lists of g a desired file owns after this file: those
// it declares and those owned before (last, as the journal recorded them),
// comma-separated and sorted.
func Owns(last string, g *schema.Guest) string {
	set := map[string]bool{}
	for _, l := range strings.Split(last, ",") {
		if l != "" {
			set[l] = true
		}
	}
	if g != nil && len(g.Mounts) > 0 {
		set[ListMounts] = true
	}
	if g != nil && len(g.Networks) > 0 {
		set[ListNetworks] = true
	}
	return strings.Join(slices.Sorted(maps.Keys(set)), ",")
}

// owns reports whether the file owns the guest's list: it declares it, or
// a desired file did before.
func (d *guestDiff) owns(list string) bool {
	last, _ := d.b.in.Provenance.LastDigest(d.g.VMID)
	return slices.Contains(strings.Split(Owns(last.Owns, d.g), ","), list)
}
