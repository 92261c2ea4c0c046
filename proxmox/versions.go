package proxmox

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// SupportedMajors are the Proxmox VE major releases felhom-converge
// supports. CheckedReleases are the releases it is checked against: the
// simulator plays each of them, and the conformance run's expectations
// (selftest --conformance) follow them.
var (
	SupportedMajors = []int{8, 9}
	CheckedReleases = []string{"8.4", "9.1"}
)

// majorMinor reads the release ("9.1"), or else the version ("9.1.1").
func (v Version) majorMinor() (major, minor int, ok bool) {
	s := v.Release
	if s == "" {
		s = v.Version
	}
	head, rest, _ := strings.Cut(s, ".")
	rest, _, _ = strings.Cut(rest, ".")
	maj, err1 := strconv.Atoi(head)
	min, err2 := strconv.Atoi(strings.SplitN(rest, "-", 2)[0])
	return maj, min, err1 == nil && err2 == nil
}

// Major is the major version of the release ("9.1" → 9); ok is false when
// the release cannot be read.
func (v Version) Major() (major int, ok bool) {
	maj, _, ok := v.majorMinor()
	return maj, ok
}

// AtLeast reports whether the release is major.minor or later.
func (v Version) AtLeast(major, minor int) bool {
	maj, min, ok := v.majorMinor()
	return ok && (maj > major || maj == major && min >= minor)
}

// Support says whether felhom-converge supports the release, in a line
// naming the release and what it was checked against.
func (v Version) Support() (line string, supported bool) {
	checked := "checked against Proxmox VE " + strings.Join(CheckedReleases, " and ")
	maj, ok := v.Major()
	switch {
	case !ok:
		return fmt.Sprintf("Proxmox VE %q (release %q): the release cannot be read; felhom-converge is %s", v.Version, v.Release, checked), false
	case slices.Contains(SupportedMajors, maj):
		return fmt.Sprintf("Proxmox VE %s (release %s), supported (%s)", v.Version, v.Release, checked), true
	}
	return fmt.Sprintf("Proxmox VE %s (release %s) is not a supported release: felhom-converge supports %s and is %s; "+
		"run 'felhom-converge selftest --conformance --vmid N' to see how this host differs before trusting it with customer data",
		v.Version, v.Release, majors(), checked), false
}

func majors() string {
	var parts []string
	for _, m := range SupportedMajors {
		parts = append(parts, fmt.Sprintf("%d.x", m))
	}
	return strings.Join(parts, " and ")
}
