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
	sorted := make([]string, 0, len(keys))
	for k := range keys {
		sorted = append(sorted, k)
	}
	sort.Strings(sorted)
	del := map[string]bool{}
	for _, k := range g.PendingDelete {
		del[k] = true
	}
	cur := configJSON(g.Conf)
	pend := configJSON(g.Pending)
	// config_with_pending_array lists every plain key of the loaded
	// config, the digest included.
	out := []any{map[string]any{"key": "digest", "value": digestOf(g)}}
	for _, k := range sorted {
		e := map[string]any{"key": k}
		if v, ok := cur[k]; ok {
			e["value"] = v
		}
		if v, ok := pend[k]; ok {
			e["pending"] = v
		}
		if del[k] {
			e["delete"] = 1
		}
		out = append(out, e)
	}
	return out, nil
}
