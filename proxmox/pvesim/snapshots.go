package pvesim

// Snapshots: create, delete, rollback, description (pve-container API2/LXC/Snapshot.pm, pve-guest-common AbstractConfig.pm).

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
)

func hSnapshotCreate(r *request) (any, error) {
	name := r.params["snapname"]
	if name == "current" || name == "vzdump" {
		return nil, failf("unable to use snapshot name '%s' (reserved name)", name)
	}
	vmid := r.vmid()
	return r.s.startTaskLocked(r, "vzsnapshot", strconv.Itoa(vmid), "snapshot",
		map[string]string{"vmid": strconv.Itoa(vmid), "snapname": name, "description": r.params["description"]})
}

func beginSnapshot(s *Sim, t *task) error {
	g, err := taskGuest(s, t)
	if err != nil {
		return err
	}
	if err := g.checkLock(); err != nil {
		return err
	}
	name := t.Params["snapname"]
	if _, used := g.Snapshots[name]; used {
		return fmt.Errorf("snapshot name '%s' already used", name)
	}
	if g.Conf["template"] == "1" {
		return fmt.Errorf("you can't take a snapshot if it's a template")
	}
	for _, k := range g.mountKeys() {
		st, _ := s.st.volume(volumeOf(g.Conf[k]))
		if st == nil || !st.canSnapshot() {
			return fmt.Errorf("snapshot feature is not available")
		}
	}
	sc := map[string]string{}
	snapshotCopy(g.Conf, sc)
	sc["description"] = normalizeDescription(t.Params["description"])
	if sc["description"] == "" {
		delete(sc, "description")
	}
	sc["snapstate"] = "prepare"
	if g.Snapshots == nil {
		g.Snapshots = map[string]*snapshot{}
	}
	var seq int64
	for _, o := range g.Snapshots {
		seq = max(seq, o.Seq)
	}
	g.Snapshots[name] = &snapshot{Conf: sc, Snaptime: s.clock().Unix(), Running: g.Running, Seq: seq + 1}
	g.setLock("snapshot")
	return nil
}

func finishSnapshot(s *Sim, t *task) (int, error) {
	g, err := taskGuest(s, t)
	if err != nil {
		return 0, err
	}
	name := t.Params["snapname"]
	if err := s.snapshotVolumes(g, name, nil); err != nil {
		t.logf("snapshot create failed: starting cleanup")
		abortSnapshot(s, t)
		return 0, err
	}
	sn := g.Snapshots[name]
	delete(sn.Conf, "snapstate")
	g.Conf["parent"] = name
	g.unlock()
	for _, k := range g.mountKeys() {
		t.logf("  Logical volume \"snap_%s_%s\" created.", volName(volumeOf(g.Conf[k])), name)
	}
	return 0, nil
}

// snapshotVolumes takes the volume snapshots of a snapshot named name (of
// the given mount points; all when keys is nil): a thin snapshot is a new
// thin volume, which a full pool refuses.
func (s *Sim) snapshotVolumes(g *guest, name string, keys []string) error {
	if keys == nil {
		keys = g.mountKeys()
	}
	for _, k := range keys {
		vol := volumeOf(g.Conf[k])
		if st, _ := s.st.volume(vol); st != nil && st.Full && st.thin() {
			return failf("lvcreate snapshot '%s/snap_%s_%s' error:   Cannot create new thin volume, free space in thin pool %s/%s reached threshold.",
				st.VGName, volName(vol), name, st.VGName, st.ThinPool)
		}
	}
	return nil
}

func abortSnapshot(s *Sim, t *task) {
	if g := s.st.Guests[taskVMID(t)]; g != nil {
		delete(g.Snapshots, t.Params["snapname"])
		g.unlock()
	}
}

func hSnapshotDelete(r *request) (any, error) {
	vmid := r.vmid()
	return r.s.startTaskLocked(r, "vzdelsnapshot", strconv.Itoa(vmid), "delsnap",
		map[string]string{"vmid": strconv.Itoa(vmid), "snapname": r.vars["snapname"], "force": r.params["force"]})
}

func beginDelSnapshot(s *Sim, t *task) error {
	g, err := taskGuest(s, t)
	if err != nil {
		return err
	}
	// AbstractConfig snapshot_delete: the snapshot must exist, then
	// set_lock refuses a locked CT; force only keeps going when removing
	// the volume snapshots fails, it does not skip the lock.
	sn := g.Snapshots[t.Params["snapname"]]
	if sn == nil {
		return fmt.Errorf("snapshot '%s' does not exist", t.Params["snapname"])
	}
	if err := g.checkLock(); err != nil {
		return err
	}
	sn.Conf["snapstate"] = "delete"
	g.setLock("snapshot-delete")
	return nil
}

func finishDelSnapshot(s *Sim, t *task) (int, error) {
	g, err := taskGuest(s, t)
	if err != nil {
		return 0, err
	}
	name := t.Params["snapname"]
	sn := g.Snapshots[name]
	parent := ""
	if sn != nil {
		parent = sn.Conf["parent"]
	}
	var vols []string
	if sn != nil {
		for _, k := range mountKeysOf(sn.Conf) {
			if vol := volumeOf(sn.Conf[k]); !strings.HasPrefix(vol, "/") {
				vols = append(vols, vol)
				t.logf("  Logical volume \"snap_%s_%s\" successfully removed.", volName(vol), name)
			}
		}
	}
	delete(g.Snapshots, name)
	for _, other := range g.Snapshots {
		if other.Conf["parent"] == name {
			setOrDelete(other.Conf, "parent", parent)
		}
	}
	if g.Conf["parent"] == name {
		setOrDelete(g.Conf, "parent", parent)
	}
	g.unlock()
	// Every volume whose snapshot was removed is added as unusedN, and
	// writing the config drops those a current mount point uses: a volume
	// only this snapshot still held (a mount point detached since) comes
	// back as unusedN.
	for _, vol := range vols {
		addUnused(g.Conf, vol)
	}
	g.beforeWrite()
	return 0, nil
}

// failDelSnapshot is a snapshot delete made to fail (FailTask): as when
// removing a volume snapshot fails without force, AbstractConfig
// snapshot_delete dies and leaves the CT locked "snapshot-delete" and the
// snapshot with "snapstate: delete". With force=1 the failure is only
// warned about and the snapshot is deleted.
func failDelSnapshot(s *Sim, t *task, err error) (int, error) {
	if t.Params["force"] == "1" {
		t.logf("%s", errText(err))
		return finishDelSnapshot(s, t)
	}
	return 0, err
}

// snapshotCopy is AbstractConfig's __snapshot_copy_config: every key but
// the lock, the description, the snapshot state and the unusedN entries.
func snapshotCopy(src, dst map[string]string) {
	for k, v := range src {
		if k == "lock" || k == "description" || k == "snapstate" || unusedPattern.MatchString(k) {
			continue
		}
		dst[k] = v
	}
}

func hRollback(r *request) (any, error) {
	vmid := r.vmid()
	return r.s.startTaskLocked(r, "vzrollback", strconv.Itoa(vmid), "rollback",
		map[string]string{"vmid": strconv.Itoa(vmid), "snapname": r.vars["snapname"], "start": r.params["start"]})
}

func beginRollback(s *Sim, t *task) error {
	g, err := taskGuest(s, t)
	if err != nil {
		return err
	}
	// AbstractConfig snapshot_rollback's prepare step: the snapshot must
	// exist, each volume must be able to roll back (ZFS only to the most
	// recent snapshot), the snapshot must be complete, then check_lock,
	// the stop, and the lock "rollback".
	if g.Conf["template"] == "1" {
		return fmt.Errorf("you can't rollback if vm is a template")
	}
	name := t.Params["snapname"]
	sn := g.Snapshots[name]
	if sn == nil {
		return fmt.Errorf("snapshot '%s' does not exist", name)
	}
	// ZFSPoolPlugin volume_rollback_is_possible lists the volume's ZFS
	// snapshots by creation (same-second ones in the order they were
	// made): one made after this snapshot blocks the rollback.
	for k, v := range sn.Conf {
		if !isMountKey(k) {
			continue
		}
		st, _ := s.st.volume(volumeOf(v))
		if st == nil || st.Type != "zfspool" {
			continue
		}
		for other, o := range g.Snapshots {
			if other != name && o.newer(sn) {
				return fmt.Errorf("can't rollback, '%s' is not most recent snapshot on '%s/%s'", name, st.Pool, volName(volumeOf(v)))
			}
		}
	}
	if st := sn.Conf["snapstate"]; st != "" {
		return fmt.Errorf("unable to rollback to incomplete snapshot (snapstate = %s)", st)
	}
	if err := g.checkLock(); err != nil {
		return err
	}
	if g.Running {
		s.setRunning(g, false, 0) // vm_stop with kill, no log line
	}
	g.setLock("rollback")
	return nil
}

// failRollback is a rollback made to fail (FailTask), as when rolling
// back a volume fails after the stop: snapshot_rollback dies between its
// two config updates, so the CT stays stopped and locked "rollback"
// until someone unlocks it.
func failRollback(s *Sim, t *task, err error) (int, error) { return 0, err }

func finishRollback(s *Sim, t *task) (int, error) {
	g, err := taskGuest(s, t)
	if err != nil {
		return 0, err
	}
	name := t.Params["snapname"]
	sn := g.Snapshots[name]
	if sn == nil {
		return 0, fmt.Errorf("snapshot '%s' does not exist", name)
	}
	// __snapshot_apply_config: the current description and unusedN stay,
	// everything else comes from the snapshot; then every current volume
	// the snapshot does not use is kept as unusedN
	// (__snapshot_rollback_get_unused, add_unused_volume).
	newConf := map[string]string{}
	for k, v := range g.Conf {
		if k == "description" || unusedPattern.MatchString(k) {
			newConf[k] = v
		}
	}
	snapshotCopy(sn.Conf, newConf)
	inSnap := map[string]bool{}
	for _, k := range mountKeysOf(sn.Conf) {
		inSnap[volumeOf(sn.Conf[k])] = true
	}
	for _, k := range mountKeysOf(g.Conf) {
		if vol := volumeOf(g.Conf[k]); !inSnap[vol] && !strings.HasPrefix(vol, "/") {
			addUnused(newConf, vol)
		}
	}
	newConf["parent"] = name
	g.Conf = newConf
	g.Pending, g.PendingDelete = nil, nil
	t.logf("  Logical volume \"%s\" successfully removed.", volName(volumeOf(newConf["rootfs"])))
	t.logf("  Logical volume \"%s\" created.", volName(volumeOf(newConf["rootfs"])))
	g.unlock()
	if t.Params["start"] == "1" {
		if err := s.forkStartLocked(t, g); err != nil {
			return 0, err
		}
	}
	return 0, nil
}

// hSnapshotConfigPut changes a snapshot's description (synchronous).
func hSnapshotConfigPut(r *request) (any, error) {
	g, err := r.guestOr500(r.vmid())
	if err != nil {
		return nil, err
	}
	d, ok := r.params["description"]
	if !ok {
		return nil, nil
	}
	if err := g.checkLock(); err != nil {
		return nil, err
	}
	sn := g.Snapshots[r.vars["snapname"]]
	if sn == nil {
		return nil, failf("snapshot '%s' does not exist", r.vars["snapname"])
	}
	setOrDelete(sn.Conf, "description", normalizeDescription(d))
	return nil, r.s.persistLocked()
}

func hSnapshotList(r *request) (any, error) {
	g, err := r.guestOr500(r.vmid())
	if err != nil {
		return nil, err
	}
	out := []any{}
	names := make([]string, 0, len(g.Snapshots))
	for n := range g.Snapshots {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		sn := g.Snapshots[n]
		e := map[string]any{"name": n, "description": sn.Conf["description"], "snaptime": sn.Snaptime}
		if p := sn.Conf["parent"]; p != "" {
			e["parent"] = p
		}
		if s := sn.Conf["snapstate"]; s != "" {
			e["snapstate"] = s
		}
		out = append(out, e)
	}
	cur := map[string]any{"name": "current", "description": "You are here!", "digest": digestOf(g), "running": map[bool]int{true: 1, false: 0}[g.Running]}
	if p := g.Conf["parent"]; p != "" {
		cur["parent"] = p
	}
	return append(out, cur), nil
}

func hSnapshotConfig(r *request) (any, error) {
	g, err := r.guestOr500(r.vmid())
	if err != nil {
		return nil, err
	}
	sn := g.Snapshots[r.vars["snapname"]]
	if sn == nil {
		return nil, failf("snapshot '%s' does not exist", r.vars["snapname"])
	}
	out := configJSON(sn.Conf)
	out["snaptime"] = sn.Snaptime
	return out, nil
}
