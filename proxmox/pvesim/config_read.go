package pvesim

// GET config and pending (pve-container API2/LXC/Config.pm vm_config, vm_pending).

import (
	"sort"
)

// hConfigGet returns the config with pending changes overlaid, or the
// active one with current=1, or a snapshot's.
func hConfigGet(r *request) (any, error) {
	g, err := r.guestOr500(r.vmid())
	if err != nil {
		return nil, err
	}
	if r.params["current"] == "1" && r.params["snapshot"] != "" {
		return nil, param1Error("snapshot", "option conflicts with option 'current'")
	}
	var conf map[string]string
	switch {
	case r.params["snapshot"] != "":
		sn := g.Snapshots[r.params["snapshot"]]
		if sn == nil {
			return nil, failf("snapshot '%s' does not exist", r.params["snapshot"])
		}
		conf = copyConf(sn.Conf)
	case r.params["current"] == "1":
		conf = copyConf(g.Conf)
	default:
		conf = withPending(g)
	}
	r.hideRestricted(conf)
	out := configJSON(conf)
	out["digest"] = digestOf(g)
	if sn := g.Snapshots[r.params["snapshot"]]; sn != nil {
		out["snaptime"] = sn.Snaptime
	}
	return out, nil
}

func hPending(r *request) (any, error) {
	g, err := r.guestOr500(r.vmid())
	if err != nil {
		return nil, err
	}
	keys := map[string]bool{}
	for k := range g.Conf {
		keys[k] = true
	}
	for k := range g.Pending {
		keys[k] = true
	}
	cur, pend := copyConf(g.Conf), copyConf(g.Pending)
	r.hideRestricted(cur)
	r.hideRestricted(pend)
	if _, shown := cur["env"]; !shown {
		if _, shown := pend["env"]; !shown {
			delete(keys, "env")
		}
	}
	sorted := make([]string, 0, len(keys))
	for k := range keys {
		sorted = append(sorted, k)
	}
	sort.Strings(sorted)
	del := map[string]bool{}
	for _, k := range g.PendingDelete {
		del[k] = true
	}
	curJSON, pendJSON := configJSON(cur), configJSON(pend)
	// config_with_pending_array lists every plain key of the loaded
	// config, the digest included.
	out := []any{map[string]any{"key": "digest", "value": digestOf(g)}}
	for _, k := range sorted {
		e := map[string]any{"key": k}
		if v, ok := curJSON[k]; ok {
			e["value"] = v
		}
		if v, ok := pendJSON[k]; ok {
			e["pending"] = v
		}
		if del[k] {
			e["delete"] = 1
		}
		out = append(out, e)
	}
	return out, nil
}

// hideRestricted is delete_read_restricted_options: PVE 9 shows a CT's
// environment (it may hold secrets) only to a caller holding
// VM.Config.Options on the CT (pve-container 6.0.15).
func (r *request) hideRestricted(conf map[string]string) {
	if !r.has(vmPath(r.vmid()), "VM.Config.Options") {
		delete(conf, "env")
	}
}
