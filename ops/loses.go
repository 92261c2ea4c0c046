package ops

import (
	"encoding/json"
	"regexp"
	"sort"
	"strings"
)

// LossOf says what a step of op with params loses, in the words a signer
// reads: Spec.Loses for a destructive op; for a guest.set, the mount
// points whose backup it turns off; for any other op (held for a signature
// only by a host's local policy) that it loses no data by itself.
func LossOf(op string, params json.RawMessage) string {
	spec, ok := Lookup(op)
	switch {
	case ok && spec.Loses != "":
		return spec.Loses
	case op == GuestSet:
		var p GuestSetParams
		if json.Unmarshal(params, &p) == nil {
			if off := backupOff(p.Set); len(off) > 0 {
				return "turns backup off for " + strings.Join(off, ", ") + ": every later backup of the guest leaves its data out"
			}
		}
	}
	return "no data by itself; held for a signature by the host's local policy (gate.sign): it may stop or disrupt the guest"
}

var mountSlot = regexp.MustCompile(`^mp\d+$`)

// backupOff lists the mount points set leaves without backup (no backup=1:
// a mount point's backup is off unless set), as "mpN (VOLUME)".
func backupOff(set map[string]string) []string {
	var out []string
	for k, v := range set {
		if !mountSlot.MatchString(k) {
			continue
		}
		vol, off := "", true
		for i, part := range strings.Split(v, ",") {
			key, val, hasEq := strings.Cut(part, "=")
			switch {
			case i == 0 && !hasEq, key == "volume":
				vol = val
				if !hasEq {
					vol = key
				}
			case key == "backup":
				off = !(val == "1" || val == "yes" || val == "on" || val == "true")
			}
		}
		if off {
			out = append(out, k+" ("+vol+")")
		}
	}
	sort.Strings(out)
	return out
}
