package plan

import (
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/felhom/felhom-converge/humanize"
	"github.com/felhom/felhom-converge/ops"
	"github.com/felhom/felhom-converge/proxmox"
	"github.com/felhom/felhom-converge/schema"
)

// Room on the storages: a step that allocates more than a storage reports
// free fails halfway on a thick storage (ZFS without sparse, LVM), whose
// volumes take their whole size at once; on a thin one (LVM-thin, a
// directory, ...) volumes take room as they are written, and Proxmox lets
// their sizes add up to more than the pool (over-provisioning), but a
// single volume larger than what is free can fill the pool by itself and
// stop every guest on it. The plan refuses such a guest with the numbers.

// roomNeeded lists, per storage and guest, the bytes each step allocates:
// a new volume of a create or a mount.add (STORAGE:SIZE_IN_GiB), and what
// a grow adds to a volume. A restore's volumes whose sizes come from the
// archive, and a rebuild, which frees the volumes it replaces, are not
// counted.
func roomNeeded(steps []Step, live *Live) map[string]map[int][]int64 {
	need := map[string]map[int][]int64{}
	add := func(storage string, vmid int, n int64) {
		if storage == "" || n <= 0 {
			return
		}
		if need[storage] == nil {
			need[storage] = map[int][]int64{}
		}
		need[storage][vmid] = append(need[storage][vmid], n)
	}
	for _, s := range steps {
		switch s.Op {
		case ops.GuestCreate:
			p, _ := ops.Decode[ops.GuestCreateParams](s.Op, s.Params)
			for k, v := range p.Config {
				if k == "rootfs" || mpKeyRe.MatchString(k) {
					st, n := allocation(k, v)
					add(st, s.VMID(), n)
				}
			}
		case ops.MountAdd:
			p, _ := ops.Decode[ops.MountAddParams](s.Op, s.Params)
			st, n := allocation(p.Slot, p.Value)
			add(st, s.VMID(), n)
		case ops.DiskGrow:
			p, _ := ops.Decode[ops.DiskGrowParams](s.Op, s.Params)
			lg := live.Guests[s.VMID()]
			if lg == nil {
				continue
			}
			m, err := ParseMount(p.Disk, lg.Current[p.Disk])
			from, ok1 := parseSizeBytes(p.From)
			to, ok2 := parseSizeBytes(p.To)
			if err == nil && !m.Bind && ok1 && ok2 {
				add(storageOf(m.Volume), s.VMID(), to-from)
			}
		}
	}
	return need
}

// allocation is the storage and bytes of a new volume in a rootfs or mpN
// value ("local-lvm:8,mp=/srv"), or "" when it names an existing one.
func allocation(slot, value string) (string, int64) {
	m, err := ParseMount(slot, value)
	if err != nil || m.Bind {
		return "", 0
	}
	st, size, ok := strings.Cut(m.Volume, ":")
	if !ok || !isAllocation(size) {
		return "", 0
	}
	g, err := strconv.ParseFloat(size, 64)
	if err != nil {
		return "", 0
	}
	return st, int64(g * float64(schema.GiB))
}

// thickStorage reports whether a storage type gives a volume its whole
// size when it is made: ZFS (Proxmox's default is no sparse) and LVM.
func thickStorage(typ string) bool { return typ == "zfspool" || typ == "lvm" }

// checkRoom finds the guests whose allocations do not fit in what an
// active storage reports free: on a thick storage, guests in vmid order
// take the room until one needs more than is left; on a thin one, any
// single volume larger than the room. Storages that are missing or
// inactive are storageProblem's (skip names those a storage.mount of the
// plan makes active).
func checkRoom(need map[string]map[int][]int64, have map[string]proxmox.NodeStorage, skip func(storage string) bool, bad map[int]string) {
	for _, st := range slices.Sorted(maps.Keys(need)) {
		ns, ok := have[st]
		if !ok || skip(st) || !bool(ns.Active) {
			continue
		}
		avail := int64(ns.Avail)
		free := avail
		for _, v := range slices.Sorted(maps.Keys(need[st])) {
			allocs := need[st][v]
			if bad[v] != "" {
				continue
			}
			if !thickStorage(ns.Type) {
				if n := slices.Max(allocs); n > avail {
					bad[v] = fmt.Sprintf("a new volume of %s on thin storage %s is larger than the %s free there: by itself it could fill the pool and stop every guest on it; free room there, or choose a smaller size or another storage",
						humanize.ByteSize(n), st, humanize.ByteSize(avail))
				}
				continue
			}
			var n int64
			for _, a := range allocs {
				n += a
			}
			if n <= free {
				free -= n
				continue
			}
			others := ""
			if free < avail {
				others = fmt.Sprintf(" after the plan's other new volumes there (%s free in all)", humanize.ByteSize(avail))
			}
			bad[v] = fmt.Sprintf("its new volumes need %s on storage %s, which has %s free%s; free room there, or choose smaller sizes or another storage",
				humanize.ByteSize(n), st, humanize.ByteSize(free), others)
		}
	}
}
