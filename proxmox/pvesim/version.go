package pvesim

// The Proxmox VE release the simulated node runs. A state keeps the
// release it was seeded or last started with; PVE 9 differs from 8.4 where
// docs/simulator.md ("PVE 9") says.

import (
	"fmt"
	"strings"
)

// release is one Proxmox VE release the simulator plays.
type release struct {
	version string // pve-manager's upstream version, GET /version "version"
	repoID  string // git rev-parse --short=16 of pve-manager's release commit
	kernel  string // uname -r
	build   string // uname -v
}

// releases are the releases the simulator plays, oldest first. The repoids
// are pve-manager's "bump version to 8.4.1" and "bump version to 9.1.1"
// commits; 9.1's kernel is the one PVE 9.1 shipped with (not verified on a
// live node).
var releases = []release{
	{version: "8.4.1", repoID: "2a5fa54a8503f96d", kernel: "6.8.12-9-pve", build: "#1 SMP PREEMPT_DYNAMIC PMX 6.8.12-9 (2025-03-16T19:18Z)"},
	{version: "9.1.1", repoID: "f4d3f125ffae50e9", kernel: "6.17.2-1-pve", build: "#1 SMP PREEMPT_DYNAMIC PMX 6.17.2-1 (2025-10-21T11:55Z)"},
}

// defaultRelease is the release of a new state and of a state saved before
// the release was recorded.
var defaultRelease = releases[0]

// PVEVersions lists the releases the simulator plays, as "MAJOR.MINOR".
func PVEVersions() []string {
	out := make([]string, len(releases))
	for i, r := range releases {
		out[i] = r.release()
	}
	return out
}

// ResolvePVEVersion returns the full version ("9.1.1") of release v ("9.1"
// or "9.1.1"; "" is a new state's), or an error naming the releases the
// simulator plays.
func ResolvePVEVersion(v string) (string, error) {
	if v == "" {
		return defaultRelease.version, nil
	}
	r, err := findRelease(v)
	return r.version, err
}

// findRelease reads "9.1" or "9.1.1".
func findRelease(v string) (release, error) {
	for _, r := range releases {
		if v == r.release() || v == r.version {
			return r, nil
		}
	}
	return release{}, fmt.Errorf("the simulator plays Proxmox VE %s, not %q", strings.Join(PVEVersions(), " or "), v)
}

// release is GET /version's "release": MAJOR.MINOR.
func (r release) release() string {
	maj, rest, _ := strings.Cut(r.version, ".")
	min, _, _ := strings.Cut(rest, ".")
	return maj + "." + min
}

// major is the major version.
func (r release) major() int {
	var n int
	fmt.Sscanf(r.version, "%d", &n)
	return n
}

// release is the release the node runs.
func (st *state) release() release {
	if r, err := findRelease(st.PVEVersion); err == nil {
		return r
	}
	return defaultRelease
}

// pve9 reports whether the node runs Proxmox VE 9.
func (st *state) pve9() bool { return st.release().major() >= 9 }

// PVEVersion is the Proxmox VE version the node reports ("8.4.1").
func (s *Sim) PVEVersion() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.st.release().version
}

// setReleaseLocked makes the node run release v ("" keeps the state's) and
// saves the state when that changes it, as an upgrade of the node would.
// The caller holds s.mu and the file lock.
func (s *Sim) setReleaseLocked(v string) error {
	if v == "" {
		return nil
	}
	r, err := findRelease(v)
	if err != nil {
		return err
	}
	if s.st.PVEVersion == r.version {
		return nil
	}
	s.st.PVEVersion = r.version
	return s.persistLocked()
}

// requiresError is the schema's refusal of a parameter given without one
// it requires (pve-common JSONSchema.pm check_object); PVE 9 words it
// differently (pve-common 9.0.8).
func (st *state) requiresError(required, by string) error {
	if st.pve9() {
		return param1Error(required, "missing property required by '%s'", by)
	}
	return param1Error(required, "missing property - '%s' requires this property", by)
}
