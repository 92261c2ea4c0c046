package plan

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"

	"github.com/felhom/felhom-converge/proxmox"
)

// ResourceAPI is what CheckResources reads: the node's bridges and its
// storages.
type ResourceAPI interface {
	Network(ctx context.Context, ifaceType string) ([]proxmox.NetworkInterface, error)
	NodeStorage(ctx context.Context) ([]proxmox.NodeStorage, error)
}

// CheckResources checks that the bridges and storages the plan's steps
// use exist on the node (a storage also active and holding container
// volumes), so a typo is a plan error at its guest instead of a failed
// task after a restore. It reads only when a step names one: at most two
// requests. The steps of a guest with a problem are taken out.
func (p *Plan) CheckResources(ctx context.Context, api ResourceAPI) error {
	bridges, storages := map[int][]string{}, map[int][]string{}
	for _, s := range p.Steps {
		b, st := resourcesOf(s)
		bridges[s.VMID()] = append(bridges[s.VMID()], b...)
		storages[s.VMID()] = append(storages[s.VMID()], st...)
	}
	if !anyNamed(bridges) && !anyNamed(storages) {
		return nil
	}
	haveBridge := map[string]bool{}
	if anyNamed(bridges) {
		list, err := api.Network(ctx, "any_bridge")
		if err != nil {
			return fmt.Errorf("list the node's bridges: %w", err)
		}
		for _, n := range list {
			haveBridge[n.Iface] = true
		}
	}
	haveStorage := map[string]proxmox.NodeStorage{}
	if anyNamed(storages) {
		list, err := api.NodeStorage(ctx)
		if err != nil {
			return fmt.Errorf("list the node's storages: %w", err)
		}
		for _, s := range list {
			haveStorage[s.Storage] = s
		}
	}
	bad := map[int]string{}
	for _, v := range sortedVMIDs(bridges, storages) {
		for _, b := range uniq(bridges[v]) {
			if !haveBridge[b] {
				bad[v] = fmt.Sprintf("bridge %s does not exist on node %s; the node's bridges are %s", b, p.Node, orNone(slices.Sorted(maps.Keys(haveBridge))))
			}
		}
		for _, s := range uniq(storages[v]) {
			st, ok := haveStorage[s]
			switch {
			case !ok:
				bad[v] = fmt.Sprintf("storage %s does not exist on node %s (or the token cannot see it)", s, p.Node)
			case !bool(st.Active) || !bool(st.Enabled):
				bad[v] = fmt.Sprintf("storage %s is not active on node %s", s, p.Node)
			case !strings.Contains(","+st.Content+",", ",rootdir,"):
				bad[v] = fmt.Sprintf("storage %s does not hold container volumes (its content is %s; it needs rootdir)", s, st.Content)
			}
		}
	}
	if len(bad) == 0 {
		return nil
	}
	source := map[int]string{}
	kept := p.Steps[:0]
	for _, s := range p.Steps {
		if _, ok := bad[s.VMID()]; !ok {
			kept = append(kept, s)
		} else if source[s.VMID()] == "" {
			source[s.VMID()] = s.Source
		}
	}
	p.Steps = kept
	vmids := make([]int, 0, len(bad))
	for v := range bad {
		vmids = append(vmids, v)
	}
	sort.Ints(vmids)
	for _, v := range vmids {
		vv := v
		p.Errors = append(p.Errors, Error{Guest: &vv, Range: source[v], Message: fmt.Sprintf("guest %d: %s", v, bad[v])})
	}
	return nil
}

// resourcesOf lists the bridges and storages a step's params name for
// new volumes and interfaces.
func resourcesOf(s Step) (bridges, storages []string) {
	var p struct {
		Storage string
		Config  map[string]string
		Set     map[string]string
		Slot    string
		Value   string
	}
	_ = json.Unmarshal(s.Params, &p)
	vals := map[string]string{}
	for k, v := range p.Config {
		vals[k] = v
	}
	for k, v := range p.Set {
		vals[k] = v
	}
	if p.Slot != "" {
		vals[p.Slot] = p.Value
	}
	for k, v := range vals {
		switch {
		case netKeyRe.MatchString(k):
			if ps, err := proxmox.ParsePropertyString(v, ""); err == nil && ps["bridge"] != "" {
				bridges = append(bridges, ps["bridge"])
			}
		case k == "rootfs" || mpKeyRe.MatchString(k):
			if m, err := ParseMount(k, v); err == nil && !m.Bind {
				if st, size, ok := strings.Cut(m.Volume, ":"); ok && isAllocation(size) {
					storages = append(storages, st)
				}
			}
		}
	}
	if p.Storage != "" && p.Config != nil {
		storages = append(storages, p.Storage)
	}
	return bridges, storages
}

// isAllocation reports whether a volume's part after the storage is a
// size in GiB (a new volume), not an existing volume's name.
func isAllocation(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if (r < '0' || r > '9') && r != '.' {
			return false
		}
	}
	return true
}

func anyNamed(m map[int][]string) bool {
	for _, l := range m {
		if len(l) > 0 {
			return true
		}
	}
	return false
}

func sortedVMIDs(ms ...map[int][]string) []int {
	seen := map[int]bool{}
	for _, m := range ms {
		for v := range m {
			seen[v] = true
		}
	}
	out := make([]int, 0, len(seen))
	for v := range seen {
		out = append(out, v)
	}
	sort.Ints(out)
	return out
}

func orNone(list []string) string {
	if len(list) == 0 {
		return "none"
	}
	return strings.Join(list, ", ")
}
