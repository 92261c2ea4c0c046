package ops

import (
	"fmt"
	"slices"
)

// Change kinds a host's local policy may require signatures for, besides
// whole ops: benign changes that lose no data but disrupt a guest.
const (
	MemoryShrink  = "memory.shrink"  // a guest.set that lowers memory
	NetworkChange = "network.change" // a guest.set that adds, changes or removes an interface, or changes the DNS servers or search domain
)

// CheckPolicyEntry checks one entry of the local policy's gate.sign list:
// a benign op or a change kind. A destructive op needs a signature anyway.
func CheckPolicyEntry(e string) error {
	switch {
	case e == MemoryShrink || e == NetworkChange:
		return nil
	case !Known(e):
		if s := Suggest(e, append(Names(), MemoryShrink, NetworkChange)); s != "" {
			return fmt.Errorf("%q is neither an op nor a change kind; did you mean %q?", e, s)
		}
		return fmt.Errorf("%q is neither an op nor a change kind (%s, %s)", e, MemoryShrink, NetworkChange)
	case ClassOf(e) == Destructive:
		return fmt.Errorf("%s is destructive: it needs a signature anyway", e)
	}
	return nil
}

// PolicyHit returns the entry of policy that makes a step of op with the
// given change kinds need a signature, or "".
func PolicyHit(policy []string, op string, kinds []string) string {
	if slices.Contains(policy, op) {
		return op
	}
	for _, k := range kinds {
		if slices.Contains(policy, k) {
			return k
		}
	}
	return ""
}
