package plan

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/felhom/felhom-converge/ops"
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
// volumes, or for a backup, backups), so a typo is a plan error at its
// guest instead of a failed task after a restore, and that the volumes
// the steps allocate fit in what each storage reports free (checkRoom). It
// reads only when a step names one: at most two requests. The steps of a
// guest with a problem are taken out.
func (p *Plan) CheckResources(ctx context.Context, api ResourceAPI, live *Live) error {
	bridges, storages, backups := map[int][]string{}, map[int][]string{}, map[int][]string{}
	mounting := map[string]bool{} // storages a storage.mount of this plan makes active
	for _, s := range p.Steps {
		if s.Op == ops.StorageMount {
			mp, _ := ops.Decode[ops.StorageMountParams](s.Op, s.Params)
			mounting[mp.Name] = true
		}
	}
	mtus := map[int]map[string]int{}
	for _, s := range p.Steps {
		b, st, m := resourcesOf(s)
		bridges[s.VMID()] = append(bridges[s.VMID()], b...)
		for br, n := range m {
			if mtus[s.VMID()] == nil {
				mtus[s.VMID()] = map[string]int{}
			}
			mtus[s.VMID()][br] = max(mtus[s.VMID()][br], n)
		}
		storages[s.VMID()] = append(storages[s.VMID()], st...)
		if bs := backupStorageOf(s); bs != "" {
			backups[s.VMID()] = append(backups[s.VMID()], bs)
		}
	}
	need := roomNeeded(p.Steps, live)
	if !anyNamed(bridges) && !anyNamed(storages) && !anyNamed(backups) && len(need) == 0 {
		return nil
	}
	haveBridge := map[string]int{} // bridge → its MTU
	if anyNamed(bridges) {
		list, err := api.Network(ctx, "any_bridge")
		if err != nil {
			return fmt.Errorf("list the node's bridges: %w", err)
		}
		for _, n := range list {
			haveBridge[n.Iface] = cmp.Or(int(n.MTU), defaultMTU)
		}
	}
	haveStorage := map[string]proxmox.NodeStorage{}
	if anyNamed(storages) || anyNamed(backups) || len(need) > 0 {
		list, err := api.NodeStorage(ctx)
		if err != nil {
			return fmt.Errorf("list the node's storages: %w", err)
		}
		for _, s := range list {
			haveStorage[s.Storage] = s
		}
	}
	bad := map[int]string{}
	for _, v := range sortedVMIDs(bridges, storages, backups) {
		for _, b := range uniq(bridges[v]) {
			bridgeMTU, ok := haveBridge[b]
			switch {
			case !ok:
				bad[v] = fmt.Sprintf("bridge %s does not exist on node %s; the node's bridges are %s", b, p.Node, orNone(slices.Sorted(maps.Keys(haveBridge))))
			case mtus[v][b] > bridgeMTU:
				bad[v] = fmt.Sprintf("an interface on bridge %s asks for MTU %d, above the bridge's %d, which Proxmox refuses", b, mtus[v][b], bridgeMTU)
			}
		}
		for _, s := range uniq(storages[v]) {
			if why := p.storageProblem(haveStorage, s, "rootdir", "container volumes", false); why != "" {
				bad[v] = why
			}
		}
		for _, s := range uniq(backups[v]) {
			if why := p.storageProblem(haveStorage, s, "backup", "backups", mounting[s]); why != "" {
				bad[v] = why
			}
		}
	}
	checkRoom(need, haveStorage, func(s string) bool { return mounting[s] }, bad)
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

// defaultMTU is a bridge's MTU when the node's network config sets none.
const defaultMTU = 1500

// storageProblem says why storage s cannot take what a step puts there
// (content, such as rootdir, holding what), or "". A storage the plan
// mounts first may be inactive now.
func (p *Plan) storageProblem(have map[string]proxmox.NodeStorage, s, content, what string, mounted bool) string {
	st, ok := have[s]
	switch {
	case !ok:
		return fmt.Sprintf("storage %s does not exist on node %s (or the token cannot see it)", s, p.Node)
	case !mounted && (!bool(st.Active) || !bool(st.Enabled)):
		return fmt.Sprintf("storage %s is not active on node %s", s, p.Node)
	case !strings.Contains(","+st.Content+",", ","+content+","):
		return fmt.Sprintf("storage %s does not hold %s (its content is %s; it needs %s)", s, what, st.Content, content)
	}
	return ""
}

// backupStorageOf is the storage a backup step writes its archive to.
func backupStorageOf(s Step) string {
	switch s.Op {
	case ops.BackupCreate:
		p, _ := ops.Decode[ops.BackupCreateParams](s.Op, s.Params)
		return p.Storage
	case ops.BackupPrune:
		p, _ := ops.Decode[ops.BackupPruneParams](s.Op, s.Params)
		return p.Storage
	}
	return ""
}

// resourcesOf lists the bridges and storages a step's params name for
// new volumes and interfaces.
func resourcesOf(s Step) (bridges, storages []string, mtus map[string]int) {
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
				if n, err := strconv.Atoi(ps["mtu"]); err == nil {
					if mtus == nil {
						mtus = map[string]int{}
					}
					mtus[ps["bridge"]] = max(mtus[ps["bridge"]], n)
				}
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
	return bridges, storages, mtus
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
