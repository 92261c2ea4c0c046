package pvesim

// Create and restore (pve-container API2/LXC.pm create_vm, LXC/Create.pm).
//
// The handler makes Proxmox's synchronous checks and locks the CT
// ("create"); the worker recovers the archive's config, allocates the new
// volumes (rootfs, mp0, mp1, ... in that order), and only then destroys
// the volumes of a CT restored over. From the allocation on, a failure
// deletes the CT's config: a restore over an existing CT that fails leaves
// no CT behind. With start=1 the worker ends and a separate vzstart task
// starts the CT.

import (
	"fmt"
	"path"
	"strconv"
	"strings"
)

// createParams are the create parameters that are not config keys, and
// the ones the handler adds for the worker ("existed", "may-allocate").
var createParams = map[string]bool{"node": true, "vmid": true, "ostemplate": true, "storage": true,
	"restore": true, "force": true, "unique": true, "start": true, "password": true,
	"ssh-public-keys": true, "pool": true, "ignore-unpack-errors": true, "bwlimit": true,
	"existed": true, "may-allocate": true}

func hCreate(r *request) (any, error) {
	st := r.s.st
	vmid := r.vmid()
	p := r.params
	if _, restore := p["restore"]; p["unique"] == "1" && !restore {
		// The schema: unique requires restore (an explicit restore=0 passes).
		return nil, r.s.st.requiresError("restore", "unique")
	}
	if err := r.checkPrivilegedCreate(); err != nil {
		return nil, err
	}
	existing := st.Guests[vmid]
	if err := r.checkCreateTarget(existing); err != nil {
		return nil, err
	}
	if err := r.checkCreatePerms(existing); err != nil {
		return nil, err
	}
	if err := r.checkCreateStorages(); err != nil {
		return nil, err
	}
	if err := r.checkArchiveAccess(); err != nil {
		return nil, err
	}
	set := map[string]string{}
	for k, v := range p {
		if !createParams[k] && k != "unprivileged" {
			set[k] = v
		}
	}
	probe := &guest{VMID: vmid, Conf: map[string]string{}}
	if p["unprivileged"] == "1" {
		probe.Conf["unprivileged"] = "1"
	}
	// On create every volume is new, so rootfs/mpN only need storage rights.
	if err := r.checkModifyPerms(probe, set, nil); err != nil {
		return nil, err
	}
	hasMP := false
	for _, k := range sortedKeys(set) {
		hasMP = hasMP || mpKeyPattern.MatchString(k)
		// update_pct_config runs before the worker: an MTU above the
		// bridge's fails the call.
		if ps, err := parseNet(set[k]); netKeyPattern.MatchString(k) && err == nil && ps["mtu"] != "" {
			if err := r.s.checkNetMTU(k, ps); err != nil {
				return nil, failf("%v", err)
			}
		}
	}
	if hasMP && p["rootfs"] == "" {
		return nil, failf("mount points configured, but 'rootfs' not set - aborting")
	}
	if existing != nil {
		// create_and_lock_config refuses a locked CT; create_vm prefixes
		// its error.
		if err := existing.checkLock(); err != nil {
			return nil, failf("unable to restore CT %d - %s", vmid, errText(err))
		}
	}

	params := copyConf(p)
	params["existed"] = strconv.FormatBool(existing != nil)
	params["may-allocate"] = strconv.FormatBool(r.has(vmPath(vmid), "VM.Allocate"))
	if existing != nil {
		existing.setLock("create")
	} else {
		st.Guests[vmid] = &guest{VMID: vmid, Conf: map[string]string{"lock": "create"}, Created: r.now.UnixMilli()}
	}
	typ := "vzcreate"
	if p["restore"] == "1" {
		typ = "vzrestore"
	}
	return r.s.startTaskLocked(r, typ, strconv.Itoa(vmid), "create", params)
}

// checkCreateTarget: the vmid must be free, unless a restore with force
// overwrites a stopped, unprotected CT.
func (r *request) checkCreateTarget(existing *guest) error {
	p := r.params
	vmid := r.vmid()
	restore, force := p["restore"] == "1", p["force"] == "1"
	if existing == nil {
		return nil
	}
	if !(restore && force) {
		return failf("CT %d already exists on node '%s'", vmid, r.s.st.Node)
	}
	if existing.Running {
		return failf("can't overwrite running container")
	}
	if existing.Conf["protection"] == "1" {
		return failf("unable to restore CT %d - protection mode enabled", vmid)
	}
	return nil
}

// checkPrivilegedCreate is PVE 9's default for a create from a template:
// unprivileged unless the caller says otherwise, and a privileged CT needs
// Sys.Modify on "/" (pve-container 6.0.6). A restore keeps the archive's
// value; its check is in the worker.
func (r *request) checkPrivilegedCreate() error {
	p := r.params
	if !r.s.st.pve9() || p["restore"] == "1" {
		return nil
	}
	if _, given := p["unprivileged"]; !given {
		p["unprivileged"] = "1"
	}
	if p["unprivileged"] != "1" {
		return r.check("/", "Sys.Modify")
	}
	return nil
}

// checkCreatePerms: VM.Allocate, or VM.Backup to restore over an existing
// CT. Without VM.Allocate, an explicit change from unprivileged to
// privileged is refused here (PVE 9: unless the caller holds Sys.Modify on
// "/"); an implicit one (a privileged archive) is checked in the worker.
func (r *request) checkCreatePerms(existing *guest) error {
	vm := vmPath(r.vmid())
	if r.has(vm, "VM.Allocate") {
		return nil
	}
	p := r.params
	if existing != nil && p["restore"] == "1" && p["force"] == "1" && r.has(vm, "VM.Backup") {
		if existing.Conf["unprivileged"] == "1" && p["unprivileged"] == "0" {
			if r.s.st.pve9() {
				return r.check("/", "Sys.Modify")
			}
			return permErrorText("cannot change from unprivileged to privileged without VM.Allocate")
		}
		return nil
	}
	// A bare raise_perm_exc: the refusal names no privilege.
	return &apiError{status: 403, msg: "Permission check failed"}
}

// checkCreateStorages checks the storages new volumes land on: the
// storage parameter (default "local") unless the mount point parameters
// name their own, which is always so in a "storage only" restore (no
// rootfs/mpN given) and for a create without rootfs.
func (r *request) checkCreateStorages() error {
	p := r.params
	targets := map[string]bool{}
	if _, err := strconv.ParseFloat(p["rootfs"], 64); p["rootfs"] == "" || err == nil {
		// No rootfs, or a bare size that means "<storage>:<size>".
		targets[createStorage(p)] = true
	}
	for k, v := range p {
		if isMountKey(k) {
			if m := newVolPattern.FindStringSubmatch(volumeOf(v)); m != nil {
				targets[m[1]] = true
			}
		}
	}
	for _, t := range sortedKeys(boolKeys(targets)) {
		if s := r.s.st.storage(t); s == nil {
			// storage_check_enabled dies: a 500, unlike the content check.
			return failf("storage '%s' does not exist", t)
		} else if !s.hasContent("rootdir") {
			return param1Error("storage", "storage '%s' does not support container directories", t)
		}
		if err := r.check(storagePath(t), "Datastore.AllocateSpace"); err != nil {
			return err
		}
	}
	return nil
}

// checkArchiveAccess: read access to the template, or for a backup
// archive the right to restore it (AllocateSpace on its storage and
// VM.Backup on the guest it was taken of).
func (r *request) checkArchiveAccess() error {
	tmpl := r.params["ostemplate"]
	tsid, _, ok := cutVolID(tmpl)
	if !ok {
		if strings.HasPrefix(tmpl, "/") {
			return failf("Only root can pass arbitrary filesystem paths.")
		}
		return param1Error("ostemplate", "unable to parse volume ID '%s'", tmpl)
	}
	if _, v := r.s.st.volume(tmpl); v != nil && v.Content == "backup" {
		if err := r.check(storagePath(tsid), "Datastore.AllocateSpace"); err != nil {
			return err
		}
		return r.check(vmPath(v.VMID), "VM.Backup")
	}
	return r.checkAny(storagePath(tsid), "Datastore.Audit", "Datastore.AllocateSpace")
}

func createStorage(p map[string]string) string {
	if sid := p["storage"]; sid != "" {
		return sid
	}
	return "local"
}

func boolKeys(m map[string]bool) map[string]string {
	out := make(map[string]string, len(m))
	for k := range m {
		out[k] = ""
	}
	return out
}

// createFailure is a create or restore that failed; its message gets
// Proxmox's "unable to restore CT N - " prefix.
func createFailure(t *task, err error) error {
	verb := "create"
	if t.Params["restore"] == "1" {
		verb = "restore"
	}
	return fmt.Errorf("unable to %s CT %d - %s", verb, taskVMID(t), errText(err))
}

// finishCreate is the create worker.
func finishCreate(s *Sim, t *task) (int, error) {
	p := t.Params
	vmid := taskVMID(t)
	g := s.st.Guests[vmid]
	if g == nil {
		return 0, createFailure(t, fmt.Errorf("configuration file vanished"))
	}
	restore := p["restore"] == "1"
	astor, arch := s.st.volume(p["ostemplate"])
	if astor != nil {
		if err := s.st.activate(astor); err != nil {
			return 0, s.failCreateUnchanged(t, err)
		}
	}
	if arch == nil || (restore && arch.Content != "backup") || (!restore && arch.Content != "vztmpl") {
		return 0, s.failCreateUnchanged(t, fmt.Errorf("volume '%s' does not exist", p["ostemplate"]))
	}
	var conf, mounts map[string]string
	warnings := 0
	if restore {
		var err error
		conf, mounts, warnings, err = s.recoverConfig(t, g, arch)
		if err != nil {
			return 0, s.failCreateUnchanged(t, err)
		}
	} else {
		conf, mounts = templateConfig(t)
	}

	// From here on the CT is changed: a failure deletes its config.
	newConf, allocated, err := s.createDisks(t, conf, mounts)
	if err != nil {
		for _, v := range allocated {
			s.freeVolume(v)
		}
		delete(s.st.Guests, vmid) // a CT restored over keeps its old volumes, orphaned
		return 0, createFailure(t, err)
	}
	if p["existed"] == "true" {
		s.destroyVolumes(t, g)
		g.Snapshots = nil
		g.Pending, g.PendingDelete = nil, nil
	}
	logExtract(t, astor, arch, restore, newConf["arch"])
	g.Conf = newConf
	if w := s.st.nestingWarning(newConf); w != "" && !restore {
		t.logf("WARN: %s", w) // post_create_hook; a restore runs no setup
		warnings++
	}
	if p["start"] == "1" {
		if err := s.forkStartLocked(t, g); err != nil {
			return warnings, err
		}
	}
	return warnings, nil
}

// failCreateUnchanged fails the worker before the CT was changed: only the
// create lock goes (and a new CT's placeholder config).
func (s *Sim) failCreateUnchanged(t *task, err error) error {
	if g := s.st.Guests[taskVMID(t)]; g != nil {
		if t.Params["existed"] == "true" {
			g.unlock()
		} else {
			delete(s.st.Guests, g.VMID)
		}
	}
	return createFailure(t, err)
}

// giveUpCreate is a create or restore whose worker could not take the
// config flock: nothing was changed but the create lock.
func giveUpCreate(s *Sim, t *task, err error) error { return s.failCreateUnchanged(t, err) }

// abortCreate is a create or restore made to fail by fault injection: it
// fails as one failing during the extraction does, after the new volumes
// were allocated and the old ones destroyed, so no CT is left behind.
func abortCreate(s *Sim, t *task) {
	vmid := taskVMID(t)
	g := s.st.Guests[vmid]
	if g == nil {
		return
	}
	s.destroyVolumes(t, g)
	delete(s.st.Guests, vmid)
}

// templateConfig is the config of a CT created from a template: defaults,
// then the parameters; mounts holds rootfs/mpN (rootfs "<storage>:4" when
// none is given).
func templateConfig(t *task) (conf, mounts map[string]string) {
	p := t.Params
	vmid := taskVMID(t)
	conf = map[string]string{"hostname": fmt.Sprintf("CT%d", vmid), "memory": "512", "swap": "512", "arch": "amd64", "ostype": "debian"}
	if n := path.Base(p["ostemplate"]); strings.HasPrefix(n, "ubuntu") || strings.HasPrefix(n, "alpine") {
		conf["ostype"], _, _ = strings.Cut(n, "-")
	}
	mounts = map[string]string{}
	for k, v := range p {
		switch {
		case createParams[k], unusedPattern.MatchString(k):
		case isMountKey(k):
			mounts[k] = v
		default:
			conf[k] = v
		}
	}
	if p["unprivileged"] != "1" {
		delete(conf, "unprivileged") // pct writes only "unprivileged: 1"
	}
	if _, ok := mounts["rootfs"]; !ok {
		mounts["rootfs"] = createStorage(p) + ":4"
	}
	return conf, mounts
}

// recoverConfig merges the archive's config with the parameters
// (sanitize_and_merge_config): given keys win, except that with unique=1
// every interface of the archive replaces the given one, with a new MAC.
// Mount points are the given ones, or in "storage only" mode (none given)
// every volume of the archive recreated on the target storage at its old
// size. A change from unprivileged to privileged needs VM.Allocate.
func (s *Sim) recoverConfig(t *task, g *guest, arch *volume) (conf, mounts map[string]string, warnings int, err error) {
	p := t.Params
	t.logf("recovering backed-up configuration from '%s'", p["ostemplate"])
	// Before any disk is made, every interface taken from the archive
	// needs SDN.Use on its bridge (check_bridge_access).
	for _, k := range sortedKeys(arch.Conf) {
		if !netKeyPattern.MatchString(k) || p[k] != "" {
			continue
		}
		if ps, err := parseNet(arch.Conf[k]); err == nil && ps["bridge"] != "" && !s.st.privs(t.User, bridgePath(ps))["SDN.Use"] {
			return nil, nil, 0, permError(bridgePath(ps), "SDN.Use")
		}
	}
	conf, mounts = map[string]string{}, map[string]string{}
	for k, v := range p {
		switch {
		case createParams[k], unusedPattern.MatchString(k):
		case isMountKey(k):
			mounts[k] = v
		default:
			conf[k] = v
		}
	}
	switch {
	case p["unprivileged"] == "1":
		conf["unprivileged"] = "1"
	case p["unprivileged"] == "0":
		delete(conf, "unprivileged")
	case arch.Conf["unprivileged"] == "1":
		conf["unprivileged"] = "1"
	}
	if err := s.checkPrivilegedRestore(t, g, conf); err != nil {
		return nil, nil, 0, err
	}
	toPrivileged := arch.Conf["unprivileged"] == "1" && conf["unprivileged"] != "1"
	for _, k := range sortedKeys(arch.Conf) {
		v := arch.Conf[k]
		switch {
		case k == "lock" || k == "parent" || k == "unprivileged" || k == "template" || k == "digest":
		case isMountKey(k) || unusedPattern.MatchString(k):
		case k == "features" && toPrivileged:
			t.logf("WARN: changing from unprivileged to privileged, skipping features")
			warnings++
		case netKeyPattern.MatchString(k) && p["unique"] == "1":
			ps, perr := parseNet(v)
			if perr != nil {
				return nil, nil, 0, perr
			}
			ps["hwaddr"] = s.st.randomMAC()
			conf[k] = printNet(s.st.normalizeNet(ps))
		default:
			if _, given := conf[k]; !given {
				conf[k] = v
			}
		}
	}
	if len(mounts) == 0 {
		// Storage-only mode.
		sid := createStorage(p)
		for _, k := range mountKeysOf(arch.Conf) {
			ps, perr := parseMount(k, arch.Conf[k])
			if perr != nil {
				return nil, nil, 0, perr
			}
			if strings.HasPrefix(ps["volume"], "/") {
				if k == "rootfs" {
					return nil, nil, 0, failf("restoring rootfs to bind mount is only possible by specifying -rootfs manually!")
				}
				return nil, nil, 0, fmt.Errorf("restoring '%s' to bind mount is only possible for root", k)
			}
			size, _ := parseSize(ps["size"])
			if size == 0 {
				return nil, nil, 0, fmt.Errorf("unable to detect disk size - please specify %s (size)", k)
			}
			ps["volume"] = fmt.Sprintf("%s:%g", sid, float64(size)/(1<<30))
			delete(ps, "size")
			mounts[k] = printMount(ps)
		}
		if mounts["rootfs"] == "" {
			return nil, nil, 0, failf("rootfs configuration could not be recovered, please check and specify manually!")
		}
	}
	return conf, mounts, warnings, nil
}

// checkPrivilegedRestore is the worker's check of a restore that makes a
// privileged CT. PVE 8.4 asks VM.Allocate for a change from unprivileged
// to privileged over an existing CT; PVE 9 asks Sys.Modify on "/" for any
// privileged CT on a new vmid or over an unprivileged one (pve-container
// 6.0.6, before any disk is allocated).
func (s *Sim) checkPrivilegedRestore(t *task, g *guest, conf map[string]string) error {
	p := t.Params
	existed := p["existed"] == "true"
	if conf["unprivileged"] == "1" {
		return nil
	}
	if s.st.pve9() {
		if (!existed || g.Conf["unprivileged"] == "1") && !s.st.privs(t.User, "/")["Sys.Modify"] {
			return permError("/", "Sys.Modify")
		}
		return nil
	}
	if existed && g.Conf["unprivileged"] == "1" && p["may-allocate"] != "true" {
		return permError(vmPath(g.VMID), "VM.Allocate")
	}
	return nil
}

// createDisks allocates the new volumes of mounts in Proxmox's order
// (rootfs, mp0, mp1, ...) and returns the full config with the mount
// points, and what it allocated.
func (s *Sim) createDisks(t *task, conf, mounts map[string]string) (map[string]string, []string, error) {
	sid := createStorage(t.Params)
	out := map[string]string{}
	for k, v := range conf {
		switch {
		case netKeyPattern.MatchString(k):
			ps, err := parseNet(v)
			if err != nil {
				return nil, nil, err
			}
			out[k] = printNet(s.st.normalizeNet(ps))
		case k == "tags":
			out[k], _ = normalizeTags(v)
		case k == "description":
			out[k] = normalizeDescription(v)
		case k == "nameserver":
			out[k], _ = nameserverList(v)
		case k == "searchdomain":
			out[k], _ = searchdomainList(v)
		default:
			out[k] = v
		}
	}
	var allocated []string
	for _, k := range mountKeysOf(mounts) {
		v := mounts[k]
		if n, err := strconv.ParseFloat(v, 64); err == nil && k == "rootfs" {
			v = fmt.Sprintf("%s:%g", sid, n)
		}
		ps, err := parseMount(k, v)
		if err != nil {
			return nil, allocated, err
		}
		m := newVolPattern.FindStringSubmatch(ps["volume"])
		if m == nil {
			// Existing volumes and bind mounts are taken as they are.
			out[k] = printMount(ps)
			continue
		}
		gib, _ := strconv.ParseFloat(m[2], 64)
		size := int64(gib*1024) << 20
		volid, err := s.allocVolume(m[1], taskVMID(t), size)
		if err != nil {
			return nil, allocated, err
		}
		allocated = append(allocated, volid)
		t.logf("  Logical volume \"%s\" created.", volName(volid))
		ps["volume"], ps["size"] = volid, formatSize(size)
		out[k] = printMount(ps)
	}
	if out["hostname"] == "" {
		out["hostname"] = fmt.Sprintf("CT%d", taskVMID(t))
	}
	if out["memory"] == "" {
		out["memory"] = "512"
	}
	if _, ok := out["swap"]; !ok {
		out["swap"] = "512"
	}
	return out, allocated, nil
}

func logExtract(t *task, stor *storage, arch *volume, restore bool, cpuArch string) {
	p := t.Params
	if restore {
		t.logf("restoring '%s' now..", p["ostemplate"])
		// A Proxmox Backup Server archive is restored by
		// proxmox-backup-client, which logs nothing on success.
		if arch.Format != "pbs-ct" {
			t.logf("extracting archive '%s'", stor.filePath(volName(p["ostemplate"])))
			t.logf("Total bytes read: %d (%s, 187MiB/s)", arch.Size*2, tarHuman(arch.Size*2))
		}
		t.logf("merging backed-up and given configuration..")
	} else {
		t.logf("extracting archive '%s'", stor.filePath(volName(p["ostemplate"])))
		t.logf("Total bytes read: 524113920 (500MiB, 112MiB/s)")
	}
	t.logf("Detected container architecture: %s", cpuArch)
	if !restore {
		t.logf("Creating SSH host key 'ssh_host_ed25519_key' - this may take some time ...")
	}
}
