package trust

import (
	"encoding/json"
	"regexp"
	"sort"
	"strings"

	"github.com/felhom/felhom-converge/ops"
	"github.com/felhom/felhom-converge/proxmox"
)

// LossOf says what a signed step of op with params loses, in the words a signer
// reads: Spec.Loses for a destructive op; for a guest.set, the mount
// points whose backup it turns off; for any other op (held for a signature
// only by a host's local policy) that it loses no data by itself.
func LossOf(op string, params json.RawMessage) string {
	spec, ok := ops.Lookup(op)
	switch {
	case ok && spec.Loses != "":
		return spec.Loses
	case op == ops.GuestSet:
		var p ops.GuestSetParams
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
		ps, err := proxmox.ParsePropertyString(v, "volume")
		if err != nil {
			continue
		}
		switch ps["backup"] {
		case "1", "yes", "on", "true":
			continue
		}
		vol := ps["volume"]
		out = append(out, k+" ("+vol+")")
	}
	sort.Strings(out)
	return out
}
