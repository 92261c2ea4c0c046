package pvesim

// Worker task operations by name, and what the guest lifecycle files share.

import (
	"sort"
	"strconv"
	"strings"
)

func buildOps() map[string]op {
	return map[string]op{
		"create":   {lock: lockConfigWhole, giveUp: giveUpCreate, finish: finishCreate, abort: abortCreate},
		"destroy":  {lock: lockConfigWhole, begin: beginDestroy, finish: finishDestroy},
		"start":    {lock: lockConfigWhole, begin: beginStart, finish: finishStart},
		"stop":     {lock: lockConfigWhole, begin: beginStop, finish: finishStop},
		"shutdown": {lock: lockConfigWhole, begin: beginShutdown, finish: finishStop},
		"reboot":   {lock: lockConfigWhole, begin: beginGuest, finish: finishReboot},
		"resize":   {lock: lockConfigWhole, finish: finishResize},
		"snapshot": {lock: lockConfigBrief, begin: beginSnapshot, finish: finishSnapshot, abort: abortSnapshot},
		"delsnap":  {lock: lockConfigBrief, begin: beginDelSnapshot, finish: finishDelSnapshot, fail: failDelSnapshot},
		"rollback": {lock: lockConfigBrief, begin: beginRollback, finish: finishRollback, fail: failRollback},
		"vzdump":   {prelock: prelockVzdump, lock: lockVzdump, begin: beginVzdump, finish: finishVzdump, abort: abortVzdump},
		"imgdel":   {finish: finishImgDel},
		"prune":    {finish: finishPrune},
		"move":     {finish: finishMove, abort: clearLockOp},
	}
}

func taskVMID(t *task) int {
	n, _ := strconv.Atoi(t.Params["vmid"])
	return n
}

// taskGuest is the guest a task works on, or Proxmox's error for a CT
// whose config is gone.
func taskGuest(s *Sim, t *task) (*guest, error) {
	vmid := taskVMID(t)
	if g := s.st.Guests[vmid]; g != nil {
		return g, nil
	}
	return nil, errNoConfig(s.st.Node, vmid)
}

// beginGuest only needs the guest to exist.
func beginGuest(s *Sim, t *task) error {
	_, err := taskGuest(s, t)
	return err
}

func clearLockOp(s *Sim, t *task) {
	if g := s.st.Guests[taskVMID(t)]; g != nil {
		g.unlock()
	}
}

// ownedVolumes is what destroy_lxc_container frees: the volumes of
// rootfs, mpN and unusedN in the current config and in the pending
// section, each once. Volumes only snapshots still reference stay behind.
func ownedVolumes(g *guest) []string {
	seen := map[string]bool{}
	var out []string
	add := func(c map[string]string) {
		for k, v := range c {
			if !isVolumeKey(k) {
				continue
			}
			vol := volumeOf(v)
			if strings.HasPrefix(vol, "/") || seen[vol] {
				continue
			}
			// A raw "STORAGE:GiB" left pending is no volume yet.
			if _, _, ok := cutVolID(vol); ok && !newVolPattern.MatchString(vol) {
				seen[vol] = true
				out = append(out, vol)
			}
		}
	}
	add(g.Conf)
	add(g.Pending)
	sort.Strings(out)
	return out
}

// destroyVolumes frees g's own volumes as destroy_lxc_container does,
// through delete_mountpoint_volume: a volume of another guest is left
// alone with a warning.
func (s *Sim) destroyVolumes(t *task, g *guest) {
	for _, vol := range ownedVolumes(g) {
		st, v := s.st.volume(vol)
		if v != nil && v.VMID != g.VMID {
			t.logf("ignore deletion of '%s', CT %d isn't the owner!", vol, g.VMID)
			continue
		}
		s.freeVolume(vol)
		if st != nil && st.thin() {
			t.logf("  Logical volume \"%s\" successfully removed.", volName(vol))
		}
	}
}

func volName(volid string) string {
	_, n, _ := cutVolID(volid)
	return n
}

// mountKeysOf returns rootfs and the mpN keys of conf, in order.
func mountKeysOf(conf map[string]string) []string {
	var keys []string
	if _, ok := conf["rootfs"]; ok {
		keys = append(keys, "rootfs")
	}
	for i := 0; i <= 255; i++ {
		if _, ok := conf["mp"+strconv.Itoa(i)]; ok {
			keys = append(keys, "mp"+strconv.Itoa(i))
		}
	}
	return keys
}

// addUnused is add_unused_volume: vol goes to the first free unusedN
// unless an unusedN already holds it.
func addUnused(conf map[string]string, vol string) {
	for k, v := range conf {
		if unusedPattern.MatchString(k) && volumeOf(v) == vol {
			return
		}
	}
	if uk, ok := nextFreeKey(conf, "unused", 255); ok {
		conf[uk] = vol
	}
}

func setOrDelete(c map[string]string, k, v string) {
	if v == "" {
		delete(c, k)
	} else {
		c[k] = v
	}
}

// setRunning starts or stops a guest, remembering the status it had for
// the /cluster/resources lag.
func (s *Sim) setRunning(g *guest, running bool, pid int) {
	if g.Running != running {
		g.PrevStatus = map[bool]string{true: "running", false: "stopped"}[g.Running]
		g.StatusAt = s.clock().UnixMilli()
	}
	g.Running = running
	if running {
		g.StartTime, g.PID = s.clock().Unix(), pid
	} else {
		g.StartTime, g.PID = 0, 0
	}
}
