package pvesim

// Guest lifecycle: create/restore, destroy, power, resize and snapshots
// (pve-container API2/LXC.pm, LXC/Status.pm, LXC/Snapshot.pm). Each
// handler makes Proxmox's synchronous checks and starts a task; the checks
// Proxmox makes inside the worker live in the task's begin phase.

import (
	"fmt"
	"path"
	"sort"
	"strconv"
	"strings"
)

func buildOps() map[string]op {
	return map[string]op{
		"create":   {finish: finishCreate, abort: abortCreate},
		"destroy":  {begin: beginDestroy, finish: finishDestroy, abort: clearLockOp},
		"start":    {begin: beginStart, finish: finishStart},
		"stop":     {begin: beginStop, finish: finishStop},
		"reboot":   {begin: beginStop, finish: finishReboot},
		"resize":   {finish: finishResize},
		"snapshot": {begin: beginSnapshot, finish: finishSnapshot, abort: abortSnapshot},
		"delsnap":  {begin: beginDelSnapshot, finish: finishDelSnapshot, abort: abortDelSnapshot},
		"rollback": {begin: beginRollback, finish: finishRollback, abort: clearLockOp},
		"vzdump":   {begin: beginVzdump, finish: finishVzdump, abort: abortVzdump},
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

func clearLockOp(s *Sim, t *task) {
	if g := s.st.Guests[taskVMID(t)]; g != nil {
		delete(g.Conf, "lock")
	}
}

// --- create / restore ---

// createParams are the create parameters that are not config keys, and
// "existed", which the task's parameters carry for the worker.
var createParams = map[string]bool{"node": true, "vmid": true, "ostemplate": true, "storage": true,
	"restore": true, "force": true, "unique": true, "start": true, "password": true,
	"ssh-public-keys": true, "pool": true, "ignore-unpack-errors": true, "bwlimit": true, "existed": true}

func hCreate(r *request) (any, error) {
	st := r.s.st
	vmid := r.vmid()
	p := r.params
	restore, force := p["restore"] == "1", p["force"] == "1"
	existing := st.Guests[vmid]
	if existing != nil && !(restore && force) {
		return nil, failf("CT %d already exists on node '%s'", vmid, st.Node)
	}
	if existing != nil && existing.Conf["protection"] == "1" {
		return nil, failf("unable to restore CT %d - protection mode enabled", vmid)
	}
	if p["unique"] == "1" && !restore {
		return nil, param1Error("unique", "option 'unique' requires option 'restore'")
	}
	// VM.Allocate, or VM.Backup to restore over an existing CT; the
	// refusal names no privilege (a bare raise_perm_exc).
	if !r.has(vmPath(vmid), "VM.Allocate") && !(existing != nil && restore && force && r.has(vmPath(vmid), "VM.Backup")) {
		return nil, &apiError{status: 403, msg: "Permission check failed"}
	}
	// Turning an unprivileged CT into a privileged one by restoring over it.
	if existing != nil && existing.Conf["unprivileged"] == "1" && p["unprivileged"] == "0" {
		if err := r.check("/", "Sys.Modify"); err != nil {
			return nil, err
		}
	}
	sid := p["storage"]
	if sid == "" {
		sid = "local"
	}
	// Volumes land on the storage parameter (default "local") unless the
	// mount point parameters name their own: always in "storage only"
	// restores (no rootfs/mpN given), and for a create without rootfs.
	targets := map[string]bool{}
	if _, err := strconv.ParseFloat(p["rootfs"], 64); p["rootfs"] == "" || err == nil {
		// No rootfs, or a bare size that means "<storage>:<size>".
		targets[sid] = true
	}
	for k, v := range p {
		if k == "rootfs" || mpKeyPattern.MatchString(k) {
			if m := newVolPattern.FindStringSubmatch(volumeOf(v)); m != nil {
				targets[m[1]] = true
			}
		}
	}
	for t := range targets {
		if s := st.storage(t); s == nil {
			// storage_check_enabled dies: a 500, unlike the content check.
			return nil, failf("storage '%s' does not exist", t)
		} else if !s.hasContent("rootdir") {
			return nil, param1Error("storage", "storage '%s' does not support container directories", t)
		}
		if err := r.check(storagePath(t), "Datastore.AllocateSpace"); err != nil {
			return nil, err
		}
	}
	// Access to the template or archive.
	tmpl := p["ostemplate"]
	tsid, _, ok := cutVolID(tmpl)
	if !ok {
		if strings.HasPrefix(tmpl, "/") {
			return nil, failf("Only root can pass arbitrary filesystem paths.")
		}
		return nil, param1Error("ostemplate", "unable to parse volume ID '%s'", tmpl)
	}
	if _, v := st.volume(tmpl); v != nil && v.Content == "backup" {
		if err := r.check(storagePath(tsid), "Datastore.AllocateSpace"); err != nil {
			return nil, err
		}
		if err := r.check(vmPath(v.VMID), "VM.Backup"); err != nil {
			return nil, err
		}
	} else if err := r.checkAny(storagePath(tsid), "Datastore.Audit", "Datastore.AllocateSpace"); err != nil {
		return nil, err
	}
	set := map[string]string{}
	hasMP := false
	for k, v := range p {
		if !createParams[k] {
			set[k] = v
			hasMP = hasMP || mpKeyPattern.MatchString(k)
		}
	}
	delete(set, "unprivileged")
	probe := &guest{VMID: vmid, Conf: map[string]string{"unprivileged": "1"}}
	if p["unprivileged"] != "1" {
		probe.Conf["unprivileged"] = "0"
	}
	// On create every volume is new, so rootfs/mpN only need storage rights.
	if err := r.checkModifyPerms(probe, set, nil); err != nil {
		return nil, err
	}
	if hasMP && p["rootfs"] == "" {
		return nil, failf("mount points configured, but 'rootfs' not set - aborting")
	}
	if existing != nil {
		if existing.Running {
			return nil, failf("can't overwrite running container")
		}
		if err := checkLock(existing); err != nil {
			return nil, err
		}
	}

	params := map[string]string{}
	for k, v := range p {
		params[k] = v
	}
	params["existed"] = strconv.FormatBool(existing != nil)
	if existing != nil {
		existing.Conf["lock"] = "create"
	} else {
		st.Guests[vmid] = &guest{VMID: vmid, Conf: map[string]string{"lock": "create"}, Created: r.now.UnixMilli()}
	}
	typ := "vzcreate"
	if restore {
		typ = "vzrestore"
	}
	return r.s.startTaskLocked(r, typ, strconv.Itoa(vmid), "create", params)
}

func archivePath(volid string) string {
	_, name, _ := cutVolID(volid)
	if strings.HasPrefix(name, "backup/") {
		return "/var/lib/vz/dump/" + strings.TrimPrefix(name, "backup/")
	}
	return "/var/lib/vz/template/cache/" + strings.TrimPrefix(name, "vztmpl/")
}

// finishCreate builds the new guest: from the archive's config merged with
// the given parameters (restore) or from the parameters (template).
func finishCreate(s *Sim, t *task) (int, error) {
	st := s.st
	p := t.Params
	vmid := taskVMID(t)
	restore := p["restore"] == "1"
	verb := "create"
	if restore {
		verb = "restore"
	}
	fail := func(err error) (int, error) {
		abortCreate(s, t)
		msg := err.Error()
		if ae, ok := err.(*apiError); ok {
			msg = ae.msg
		}
		return 0, fmt.Errorf("unable to %s CT %d - %s", verb, vmid, msg)
	}
	g := st.Guests[vmid]
	if g == nil {
		return fail(fmt.Errorf("configuration file vanished"))
	}
	_, arch := st.volume(p["ostemplate"])
	if arch == nil || (restore && arch.Content != "backup") || (!restore && arch.Content != "vztmpl") {
		return fail(fmt.Errorf("volume '%s' does not exist", p["ostemplate"]))
	}
	warnings := 0
	sid := p["storage"]
	if sid == "" {
		sid = "local"
	}
	conf := map[string]string{}
	if restore {
		t.logf("recovering backed-up configuration from '%s'", p["ostemplate"])
		mountsGiven := false
		for k := range p {
			mountsGiven = mountsGiven || k == "rootfs" || mpKeyPattern.MatchString(k)
		}
		for k, v := range arch.Conf {
			if k == "lock" || k == "parent" || unusedPattern.MatchString(k) {
				continue
			}
			if k == "rootfs" || mpKeyPattern.MatchString(k) {
				if mountsGiven {
					continue
				}
				// Storage-only mode: each backed-up volume is recreated on
				// the target storage at its old size.
				ps, err := parseMount(k, v)
				if err != nil {
					return fail(err)
				}
				if !strings.HasPrefix(ps["volume"], "/") {
					size, _ := parseSize(ps["size"])
					if size == 0 {
						size = 4 << 30
					}
					ps["volume"] = fmt.Sprintf("%s:%g", sid, float64(size)/(1<<30))
					delete(ps, "size")
					v = printMount(ps)
				}
			}
			conf[k] = v
		}
	} else {
		conf["hostname"] = fmt.Sprintf("CT%d", vmid)
		conf["memory"], conf["swap"], conf["arch"] = "512", "512", "amd64"
		conf["ostype"] = "debian"
		if n := path.Base(p["ostemplate"]); strings.HasPrefix(n, "ubuntu") || strings.HasPrefix(n, "alpine") {
			conf["ostype"], _, _ = strings.Cut(n, "-")
		}
	}
	// An existing CT restored over loses its volumes and snapshots first.
	if p["existed"] == "true" {
		for _, vol := range guestVolumes(g) {
			s.freeVolume(vol)
			t.logf("  Logical volume \"%s\" successfully removed.", volName(vol))
		}
		// The old config goes with its volumes: a failure from here on
		// leaves no CT behind (abortCreate), as on Proxmox.
		g.Conf = map[string]string{"lock": "create"}
		g.Snapshots = nil
		g.Pending, g.PendingDelete = nil, nil
	}
	for k, v := range p {
		switch {
		case createParams[k]:
		case unusedPattern.MatchString(k):
			// Proxmox warns about it on the daemon's log, not the task's.
		default:
			conf[k] = v
		}
	}
	// pct writes "unprivileged: 1" only; a privileged CT has no such key.
	// A restore keeps the archive's setting unless the parameter is given.
	switch p["unprivileged"] {
	case "1":
		conf["unprivileged"] = "1"
	case "0":
		delete(conf, "unprivileged")
	}
	if _, ok := conf["rootfs"]; !ok {
		conf["rootfs"] = sid + ":4"
	}
	// Allocate the volumes: a restore recreates each backed-up volume at
	// its old size unless the parameters name a new one.
	var mountKeys []string
	for k := range conf {
		if k == "rootfs" || mpKeyPattern.MatchString(k) {
			mountKeys = append(mountKeys, k)
		}
	}
	sort.Strings(mountKeys)
	newConf := map[string]string{}
	for k, v := range conf {
		if k == "rootfs" || mpKeyPattern.MatchString(k) {
			continue
		}
		newConf[k] = v
	}
	allocated := map[string]bool{}
	for _, k := range mountKeys {
		v := conf[k]
		if n, err := strconv.ParseFloat(v, 64); err == nil && k == "rootfs" {
			v = fmt.Sprintf("%s:%g", sid, n)
		}
		ps, err := parseMount(k, v)
		if err != nil {
			return fail(err)
		}
		vol := ps["volume"]
		m := newVolPattern.FindStringSubmatch(vol)
		if m == nil {
			// Existing volumes and bind mounts are taken as they are.
			newConf[k] = printMount(ps)
			continue
		}
		gib, _ := strconv.ParseFloat(m[2], 64)
		size, target := int64(gib*(1<<30)), m[1]
		volid, err := s.allocVolume(target, vmid, size)
		if err != nil {
			for v := range allocated {
				s.freeVolume(v)
			}
			return fail(err)
		}
		allocated[volid] = true
		t.logf("  Logical volume \"%s\" created.", volName(volid))
		ps["volume"], ps["size"] = volid, formatSize(size)
		newConf[k] = printMount(ps)
	}
	for k, v := range newConf {
		switch {
		case netKeyPattern.MatchString(k):
			ps, err := parseNet(v)
			if err != nil {
				return fail(err)
			}
			if ps["hwaddr"] == "" || p["unique"] == "1" {
				ps["hwaddr"] = randomMAC()
			}
			ps["type"] = "veth"
			newConf[k] = printNet(ps)
		case k == "tags":
			newConf[k], _ = normalizeTags(v)
		case k == "description":
			newConf[k] = normalizeDescription(v)
		}
	}
	if restore {
		t.logf("restoring '%s' now..", p["ostemplate"])
		t.logf("extracting archive '%s'", archivePath(p["ostemplate"]))
		t.logf("Total bytes read: %d (%dMiB, 187MiB/s)", arch.Size*2, arch.Size*2>>20)
		t.logf("merging backed-up and given configuration..")
	} else {
		t.logf("extracting archive '%s'", archivePath(p["ostemplate"]))
		t.logf("Total bytes read: 524113920 (500MiB, 112MiB/s)")
	}
	t.logf("Detected container architecture: %s", newConf["arch"])
	if !restore {
		t.logf("Creating SSH host key 'ssh_host_ed25519_key' - this may take some time ...")
	}
	g.Conf = newConf
	if p["start"] == "1" {
		s.setRunning(g, true, int(t.PID)+1)
	}
	return warnings, nil
}

// abortCreate undoes a failed create: the new config and its volumes go;
// a restore over an existing CT leaves it without volumes or config.
func abortCreate(s *Sim, t *task) {
	vmid := taskVMID(t)
	g := s.st.Guests[vmid]
	if g == nil {
		return
	}
	if t.Params["existed"] == "true" && len(guestVolumes(g)) > 0 {
		// The old CT's volumes were not destroyed yet: just unlock.
		delete(g.Conf, "lock")
		return
	}
	for _, vol := range guestVolumes(g) {
		s.freeVolume(vol)
	}
	delete(s.st.Guests, vmid)
}

// guestVolumes lists the storage volumes a guest owns (rootfs, mpN,
// unusedN, current and in snapshots and pending).
func guestVolumes(g *guest) []string {
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
			if _, _, ok := cutVolID(vol); ok {
				seen[vol] = true
				out = append(out, vol)
			}
		}
	}
	add(g.Conf)
	add(g.Pending)
	for _, sn := range g.Snapshots {
		add(sn.Conf)
	}
	sort.Strings(out)
	return out
}

func volName(volid string) string {
	_, n, _ := cutVolID(volid)
	return n
}

// --- destroy ---

func hDestroy(r *request) (any, error) {
	vmid := r.vmid()
	g, err := r.guestOr500(vmid)
	if err != nil {
		return nil, err
	}
	if g.Conf["protection"] == "1" {
		return nil, failf("can't remove CT %d - protection mode enabled", vmid)
	}
	if err := checkLock(g); err != nil {
		return nil, err
	}
	if g.Running && r.params["force"] != "1" {
		return nil, failf("unable to destroy CT %d - container is running", vmid)
	}
	return r.s.startTaskLocked(r, "vzdestroy", strconv.Itoa(vmid), "destroy", copyConf(r.params))
}

func beginDestroy(s *Sim, t *task) error {
	g, err := taskGuest(s, t)
	if err != nil {
		return err
	}
	if g.Running {
		s.setRunning(g, false, 0)
	}
	g.Conf["lock"] = "destroyed"
	return nil
}

func finishDestroy(s *Sim, t *task) (int, error) {
	vmid := taskVMID(t)
	g := s.st.Guests[vmid]
	if g == nil {
		return 0, errNoConfig(s.st.Node, vmid)
	}
	for _, vol := range guestVolumes(g) {
		s.freeVolume(vol)
		t.logf("  Logical volume \"%s\" successfully removed.", volName(vol))
	}
	if t.Params["destroy-unreferenced-disks"] == "1" {
		for _, st := range s.st.Storages {
			ids := make([]string, 0)
			for id, v := range st.Volumes {
				if v.VMID == vmid && (v.Content == "rootdir" || v.Content == "images") {
					ids = append(ids, id)
				}
			}
			sort.Strings(ids)
			for _, id := range ids {
				delete(st.Volumes, id)
				t.logf("  Logical volume \"%s\" successfully removed.", volName(id))
			}
		}
	}
	if t.Params["purge"] == "1" {
		t.logf("purging CT %d from related configurations..", vmid)
	}
	delete(s.st.Guests, vmid)
	return 0, nil
}

// --- power ---

func hStart(r *request) (any, error) {
	vmid := r.vmid()
	if r.params["skiplock"] == "1" {
		return nil, param1Error("skiplock", "Only root may use this option.")
	}
	if g := r.s.st.Guests[vmid]; g != nil && g.Running {
		return nil, failf("CT %d already running", vmid)
	}
	return r.s.startTaskLocked(r, "vzstart", strconv.Itoa(vmid), "start", copyConf(r.params))
}

func beginStart(s *Sim, t *task) error {
	g, err := taskGuest(s, t)
	if err != nil {
		return err
	}
	if l := g.Conf["lock"]; l != "" && l != "mounted" {
		return fmt.Errorf("CT is locked (%s)", l)
	}
	if g.Conf["template"] == "1" {
		return fmt.Errorf("you can't start a CT if it's a template")
	}
	return nil
}

func finishStart(s *Sim, t *task) (int, error) {
	g, err := taskGuest(s, t)
	if err != nil {
		return 0, err
	}
	if g.Running {
		return 0, fmt.Errorf("CT %d already running", g.VMID)
	}
	s.applyPendingLocked(g)
	s.setRunning(g, true, int(t.PID)+1)
	return 0, nil
}

func hStop(r *request) (any, error)     { return stopLike(r, "vzstop", "stop", "CT") }
func hShutdown(r *request) (any, error) { return stopLike(r, "vzshutdown", "stop", "CT") }
func hReboot(r *request) (any, error)   { return stopLike(r, "vzreboot", "reboot", "VM") }

// stopLike is stop, shutdown and reboot. Proxmox asks check_running first,
// so a missing CT is "not running"; reboot's message says "VM".
func stopLike(r *request, typ, opName, noun string) (any, error) {
	vmid := r.vmid()
	if r.params["skiplock"] == "1" {
		return nil, param1Error("skiplock", "Only root may use this option.")
	}
	if g := r.s.st.Guests[vmid]; g == nil || !g.Running {
		return nil, failf("%s %d not running", noun, vmid)
	}
	return r.s.startTaskLocked(r, typ, strconv.Itoa(vmid), opName, copyConf(r.params))
}

func beginStop(s *Sim, t *task) error {
	g, err := taskGuest(s, t)
	if err != nil {
		return err
	}
	if l := g.Conf["lock"]; l != "" && l != "mounted" && t.Params["skiplock"] != "1" {
		return fmt.Errorf("CT is locked (%s)", l)
	}
	return nil
}

func finishStop(s *Sim, t *task) (int, error) {
	g, err := taskGuest(s, t)
	if err != nil {
		return 0, err
	}
	s.setRunning(g, false, 0)
	return 0, nil
}

func finishReboot(s *Sim, t *task) (int, error) {
	g, err := taskGuest(s, t)
	if err != nil {
		return 0, err
	}
	s.applyPendingLocked(g)
	s.setRunning(g, true, int(t.PID)+1)
	return 0, nil
}

// --- resize ---

func hResize(r *request) (any, error) {
	vmid := r.vmid()
	g, err := r.guestOr500(vmid)
	if err != nil {
		return nil, err
	}
	if err := checkLock(g); err != nil {
		return nil, err
	}
	if err := checkDigest(r, g); err != nil {
		return nil, err
	}
	disk := r.params["disk"]
	val, ok := g.Conf[disk]
	if !ok {
		return nil, failf("disk '%s' does not exist", disk)
	}
	ps, err := parseMount(disk, val)
	if err != nil {
		return nil, failf("%v", err)
	}
	vol := ps["volume"]
	sid, _, ok := cutVolID(vol)
	if !ok {
		return nil, failf("can't resize mount point of type bind")
	}
	if err := r.check(storagePath(sid), "Datastore.AllocateSpace"); err != nil {
		return nil, err
	}
	_, v := r.s.st.volume(vol)
	if v == nil {
		return nil, failf("volume '%s' does not exist", vol)
	}
	if v.VMID != vmid {
		return nil, failf("can't resize mount point owned by another container (%d)", v.VMID)
	}
	arg := r.params["size"]
	add := strings.HasPrefix(arg, "+")
	n, err := parseSize(strings.TrimPrefix(arg, "+"))
	if err != nil {
		return nil, param1Error("size", "%v", err)
	}
	newSize := n
	if add {
		newSize = v.Size + n
	}
	if newSize < v.Size {
		return nil, failf("unable to shrink disk size")
	}
	if newSize == v.Size {
		return nil, failf("disk is already at specified size")
	}
	// Growing the volume happens in the worker (volume_resize in
	// realcmd): a full storage fails the task, not the call.
	params := map[string]string{"vmid": strconv.Itoa(vmid), "disk": disk, "size": strconv.FormatInt(newSize, 10)}
	return r.s.startTaskLocked(r, "resize", strconv.Itoa(vmid), "resize", params)
}

func finishResize(s *Sim, t *task) (int, error) {
	g, err := taskGuest(s, t)
	if err != nil {
		return 0, err
	}
	disk := t.Params["disk"]
	ps, err := parseMount(disk, g.Conf[disk])
	if err != nil {
		return 0, fmt.Errorf("disk '%s' does not exist", disk)
	}
	stor, v := s.st.volume(ps["volume"])
	if v == nil {
		return 0, fmt.Errorf("volume '%s' does not exist", ps["volume"])
	}
	size, _ := strconv.ParseInt(t.Params["size"], 10, 64)
	if stor.used()-v.Size+size > stor.Total {
		return 0, s.noSpace(stor, volName(v.VolID))
	}
	t.logf("  Size of logical volume %s/%s changed from %s to %s.", stor.VGName, volName(v.VolID), formatSize(v.Size), formatSize(size))
	t.logf("  Logical volume %s/%s successfully resized.", stor.VGName, volName(v.VolID))
	if g.Running {
		t.logf("resize2fs 1.47.0 (5-Feb-2023)")
		t.logf("The filesystem on /dev/loop0 is now %d (4k) blocks long.", size/4096)
	}
	v.Size = size
	ps["size"] = formatSize(size)
	g.Conf[disk] = printMount(ps)
	return 0, nil
}

// --- snapshots ---

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
	vmid := taskVMID(t)
	g := s.st.Guests[vmid]
	if g == nil {
		return errNoConfig(s.st.Node, vmid)
	}
	if l := g.Conf["lock"]; l != "" {
		return fmt.Errorf("CT is locked (%s)", l)
	}
	name := t.Params["snapname"]
	if _, used := g.Snapshots[name]; used {
		return fmt.Errorf("snapshot name '%s' already used", name)
	}
	if g.Conf["template"] == "1" {
		return fmt.Errorf("you can't take a snapshot if it's a template")
	}
	for k, v := range g.Conf {
		if k != "rootfs" && !mpKeyPattern.MatchString(k) {
			continue
		}
		st, _ := s.st.volume(volumeOf(v))
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
	g.Snapshots[name] = &snapshot{Conf: sc, Snaptime: s.clock().Unix(), Running: g.Running}
	g.Conf["lock"] = "snapshot"
	return nil
}

func finishSnapshot(s *Sim, t *task) (int, error) {
	g, err := taskGuest(s, t)
	if err != nil {
		return 0, err
	}
	name := t.Params["snapname"]
	sn := g.Snapshots[name]
	delete(sn.Conf, "snapstate")
	g.Conf["parent"] = name
	delete(g.Conf, "lock")
	for k, v := range g.Conf {
		if k == "rootfs" || mpKeyPattern.MatchString(k) {
			t.logf("  Logical volume \"snap_%s_%s\" created.", volName(volumeOf(v)), name)
		}
	}
	return 0, nil
}

func abortSnapshot(s *Sim, t *task) {
	if g := s.st.Guests[taskVMID(t)]; g != nil {
		delete(g.Snapshots, t.Params["snapname"])
		delete(g.Conf, "lock")
	}
}

func hSnapshotDelete(r *request) (any, error) {
	vmid := r.vmid()
	return r.s.startTaskLocked(r, "vzdelsnapshot", strconv.Itoa(vmid), "delsnap",
		map[string]string{"vmid": strconv.Itoa(vmid), "snapname": r.vars["snapname"], "force": r.params["force"]})
}

func beginDelSnapshot(s *Sim, t *task) error {
	vmid := taskVMID(t)
	g := s.st.Guests[vmid]
	if g == nil {
		return errNoConfig(s.st.Node, vmid)
	}
	// AbstractConfig snapshot_delete: the snapshot must exist, then
	// set_lock refuses a locked CT; force only keeps going when removing
	// the volume snapshots fails, it does not skip the lock.
	sn := g.Snapshots[t.Params["snapname"]]
	if sn == nil {
		return fmt.Errorf("snapshot '%s' does not exist", t.Params["snapname"])
	}
	if l := g.Conf["lock"]; l != "" {
		return fmt.Errorf("CT is locked (%s)", l)
	}
	sn.Conf["snapstate"] = "delete"
	g.Conf["lock"] = "snapshot-delete"
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
	delete(g.Snapshots, name)
	for _, other := range g.Snapshots {
		if other.Conf["parent"] == name {
			setOrDelete(other.Conf, "parent", parent)
		}
	}
	if g.Conf["parent"] == name {
		setOrDelete(g.Conf, "parent", parent)
	}
	delete(g.Conf, "lock")
	t.logf("  Logical volume \"snap_%s_%s\" successfully removed.", volName(volumeOf(g.Conf["rootfs"])), name)
	return 0, nil
}

func abortDelSnapshot(s *Sim, t *task) {
	if g := s.st.Guests[taskVMID(t)]; g != nil {
		if sn := g.Snapshots[t.Params["snapname"]]; sn != nil {
			delete(sn.Conf, "snapstate")
		}
		delete(g.Conf, "lock")
	}
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

func hRollback(r *request) (any, error) {
	vmid := r.vmid()
	return r.s.startTaskLocked(r, "vzrollback", strconv.Itoa(vmid), "rollback",
		map[string]string{"vmid": strconv.Itoa(vmid), "snapname": r.vars["snapname"], "start": r.params["start"]})
}

func beginRollback(s *Sim, t *task) error {
	vmid := taskVMID(t)
	g := s.st.Guests[vmid]
	if g == nil {
		return errNoConfig(s.st.Node, vmid)
	}
	if l := g.Conf["lock"]; l != "" {
		return fmt.Errorf("CT is locked (%s)", l)
	}
	name := t.Params["snapname"]
	sn := g.Snapshots[name]
	if sn == nil {
		return fmt.Errorf("snapshot '%s' does not exist", name)
	}
	// ZFS can only roll back to the most recent snapshot.
	for k, v := range sn.Conf {
		if k != "rootfs" && !mpKeyPattern.MatchString(k) {
			continue
		}
		st, _ := s.st.volume(volumeOf(v))
		if st == nil || st.Type != "zfspool" {
			continue
		}
		for other, o := range g.Snapshots {
			if other != name && o.Snaptime > sn.Snaptime {
				return fmt.Errorf("can't rollback, '%s' is not most recent snapshot on '%s/%s'", name, st.Pool, volName(volumeOf(v)))
			}
		}
	}
	if g.Running {
		t.logf("stopping CT %d for rollback", vmid)
		s.setRunning(g, false, 0)
	}
	g.Conf["lock"] = "rollback"
	return nil
}

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
	if t.Params["start"] == "1" {
		s.setRunning(g, true, int(t.PID)+1)
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
	if err := checkLock(g); err != nil {
		return nil, err
	}
	sn := g.Snapshots[r.vars["snapname"]]
	if sn == nil {
		return nil, failf("snapshot '%s' does not exist", r.vars["snapname"])
	}
	setOrDelete(sn.Conf, "description", normalizeDescription(d))
	return nil, r.s.persistLocked()
}

// --- move_volume ---

// hMoveVolume moves rootfs/mpN/unusedN to another storage (pve-container
// move_volume): stopped CTs only, lock "disk" taken before the worker.
func hMoveVolume(r *request) (any, error) {
	vmid := r.vmid()
	g, err := r.guestOr500(vmid)
	if err != nil {
		return nil, err
	}
	p := r.params
	if p["target-vmid"] != "" || p["target-volume"] != "" {
		return nil, failf("moving a volume to another container is not supported by the simulator")
	}
	if p["storage"] == "" {
		return nil, failf("either set storage or target-vmid, but not both")
	}
	if err := checkLock(g); err != nil {
		return nil, err
	}
	if err := checkDigest(r, g); err != nil {
		return nil, err
	}
	if g.Running {
		return nil, failf("cannot move volumes of a running container")
	}
	key := p["volume"]
	val, ok := g.Conf[key]
	if !ok {
		return nil, failf("no such volume '%s'", key)
	}
	vol := volumeOf(val)
	if strings.HasPrefix(vol, "/") {
		return nil, failf("cannot move volumes of type bind")
	}
	if p["delete"] == "1" && len(g.Snapshots) > 0 {
		return nil, failf("you can't move a volume with snapshots and delete the source")
	}
	target := r.s.st.storage(p["storage"])
	if target == nil {
		return nil, failf("storage '%s' does not exist", p["storage"])
	}
	if err := r.check(storagePath(target.ID), "Datastore.AllocateSpace"); err != nil {
		return nil, err
	}
	if !target.hasContent("rootdir") {
		return nil, failf("storage '%s' does not support container directories", target.ID)
	}
	g.Conf["lock"] = "disk"
	params := map[string]string{"vmid": strconv.Itoa(vmid), "volume": key, "storage": target.ID, "delete": p["delete"]}
	return r.s.startTaskLocked(r, "move_volume", strconv.Itoa(vmid), "move", params)
}

func finishMove(s *Sim, t *task) (int, error) {
	vmid := taskVMID(t)
	g := s.st.Guests[vmid]
	if g == nil {
		return 0, errNoConfig(s.st.Node, vmid)
	}
	defer delete(g.Conf, "lock")
	key := t.Params["volume"]
	val := g.Conf[key]
	oldVol := volumeOf(val)
	_, v := s.st.volume(oldVol)
	if v == nil {
		return 0, fmt.Errorf("volume '%s' does not exist", oldVol)
	}
	newVol, err := s.allocVolume(t.Params["storage"], vmid, v.Size)
	if err != nil {
		if ae, ok := err.(*apiError); ok {
			return 0, fmt.Errorf("%s", ae.msg)
		}
		return 0, err
	}
	t.logf("moving volume '%s' to '%s'", oldVol, newVol)
	t.logf("transferred %s of %s (100.00%%)", formatSize(v.Size), formatSize(v.Size))
	if unusedPattern.MatchString(key) {
		g.Conf[key] = newVol
	} else {
		ps, _ := parseMount(key, val)
		ps["volume"] = newVol
		g.Conf[key] = printMount(ps)
	}
	if t.Params["delete"] == "1" {
		s.freeVolume(oldVol)
		t.logf("removing volume '%s'", oldVol)
	} else if uk, ok := nextFreeKey(g.Conf, "unused", 255); ok {
		g.Conf[uk] = oldVol
	}
	return 0, nil
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
