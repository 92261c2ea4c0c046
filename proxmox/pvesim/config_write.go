package pvesim

// PUT /nodes/{node}/lxc/{vmid}/config (pve-container 5.3 API2/LXC/Config.pm
// update_vm, LXC/Config.pm update_pct_config, vmconfig_hotplug_pending,
// vmconfig_apply_pending; pve-guest-common cleanup_pending). Synchronous,
// returns null.
//
// Every change is first written to the pending section as sent, then
// pending entries equal to the current value are dropped. On a running CT
// only what Proxmox can hotplug is applied; the rest stays pending, raw and
// unallocated, until the next start. On a stopped CT everything is
// applied. When any key fails (an allocation, a hotplug), the whole update
// is abandoned: nothing is written, what was allocated is freed, and the
// answer is a 400 naming the key (since PVE 8.3, pve-container 5.2.3).

import (
	"crypto/rand"
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// requiredKeys cannot be deleted.
var requiredKeys = map[string]bool{"memory": true, "rootfs": true, "ostype": true}

// fastplugKeys take effect at once on a running CT, as plain config values.
var fastplugKeys = map[string]bool{"description": true, "onboot": true, "startup": true, "protection": true,
	"hostname": true, "hookscript": true, "cores": true, "tags": true, "lock": true}

// metaParams are the parameters of PUT config that are not config keys.
var metaParams = map[string]bool{"node": true, "vmid": true, "delete": true, "revert": true, "digest": true}

// bridgeMTU is the MTU of every simulated bridge.
const bridgeMTU = 1500

func checkDigest(r *request, g *guest) error {
	if d := r.params["digest"]; d != "" && d != digestOf(g) {
		return failf("detected modified configuration - file changed by other user? Try again.")
	}
	return nil
}

// randomMAC is random_ether_addr with Proxmox's prefix BC:24:11, drawn
// again while a guest of the node has it (Proxmox leaves a clash to
// chance; 24 random bits make one likely among a few thousand guests).
func (st *state) randomMAC() string {
	used := map[string]bool{}
	note := func(c map[string]string) {
		for k, v := range c {
			if netKeyPattern.MatchString(k) {
				if ps, err := parseNet(v); err == nil {
					used[strings.ToUpper(ps["hwaddr"])] = true
				}
			}
		}
	}
	for _, g := range st.Guests {
		note(g.Conf)
		note(g.Pending)
		for _, sn := range g.Snapshots {
			note(sn.Conf)
		}
	}
	if st.issuedMACs == nil {
		st.issuedMACs = map[string]bool{}
	}
	for {
		var b [3]byte
		rand.Read(b[:])
		// Also unlike one drawn for a guest not written yet (two
		// interfaces of one new CT).
		if mac := fmt.Sprintf("BC:24:11:%02X:%02X:%02X", b[0], b[1], b[2]); !used[mac] && !st.issuedMACs[mac] {
			st.issuedMACs[mac] = true
			return mac
		}
	}
}

// configChange is one PUT config request: keys to set, delete and revert.
type configChange struct {
	set     map[string]string
	dels    []string
	reverts []string
}

func (r *request) configChange() configChange {
	c := configChange{set: map[string]string{}, dels: splitList(r.params["delete"]), reverts: splitList(r.params["revert"])}
	for k, v := range r.params {
		if !metaParams[k] {
			c.set[k] = v
		}
	}
	return c
}

func hConfigPut(r *request) (any, error) {
	vmid := r.vmid()
	g, err := r.guestOr500(vmid)
	if err != nil {
		return nil, err
	}
	c := r.configChange()
	if len(c.set) == 0 && len(c.dels) == 0 && len(c.reverts) == 0 {
		return nil, failf("no options specified")
	}
	if err := g.checkLock(); err != nil {
		return nil, err
	}
	if err := checkDigest(r, g); err != nil {
		return nil, err
	}
	if err := c.check(r, g); err != nil {
		return nil, err
	}

	// Work on a copy: the API writes the config only when every key
	// succeeded. Some hotplug paths (update_net) write the config
	// themselves on the way; a later failure leaves what they wrote. A
	// volume allocated for a key that succeeded stays allocated either way.
	work := g.clone()
	var allocated []string
	var written *guest
	write := func() {
		c := work.clone()
		c.beforeWrite()
		written = c
	}
	errs, err := r.s.updateConfig(work, c, &allocated, write)
	if err == nil && len(errs) > 0 {
		err = paramError(errs)
	}
	if err != nil {
		if written != nil {
			*g = *written
			if perr := r.s.persistLocked(); perr != nil {
				return nil, perr
			}
		}
		return nil, err
	}
	*g = *work
	if err := r.s.persistLocked(); err != nil {
		return nil, err
	}
	// update_lxc_config runs after the write and reads every interface's
	// bridge: an unknown bridge fails the call, but the change is written.
	if err := r.s.checkBridges(g.Conf); err != nil {
		return nil, failf("%v", err)
	}
	return nil, nil
}

// check makes update_vm's checks before anything changes: permissions for
// deletions, reversions and values, and the parameter conflicts.
func (c configChange) check(r *request, g *guest) error {
	if err := r.checkModifyPerms(g, nil, c.dels); err != nil {
		return err
	}
	if err := r.checkModifyPerms(g, nil, c.reverts); err != nil {
		return err
	}
	for _, k := range c.reverts {
		if !isLXCKey(k) {
			return param1Error("revert", "unknown option '%s'", k)
		}
		if _, ok := c.set[k]; ok {
			return param1Error("revert", "you can't use '-%s' and '-revert %s' at the same time", k, k)
		}
	}
	for _, k := range c.dels {
		if _, ok := c.set[k]; ok {
			return param1Error("delete", "you can't use '-%s' and -delete %s' at the same time", k, k)
		}
		if contains(c.reverts, k) {
			return param1Error("delete", "you can't use '-delete %s' and '-revert %s' at the same time", k, k)
		}
	}
	return r.checkModifyPerms(g, c.set, nil)
}

// updateConfig is update_pct_config on g: it returns the per-key errors of
// applying or hotplugging, or a handler error (a die, HTTP 500). Volumes
// it allocates are appended to allocated; write is called where a hotplug
// writes the config file itself.
func (s *Sim) updateConfig(g *guest, c configChange, allocated *[]string, write func()) (map[string]string, error) {
	for _, k := range c.reverts {
		delete(g.Pending, k)
		g.PendingDelete = removeString(g.PendingDelete, k)
	}
	modified := map[string]bool{}
	for _, k := range c.dels {
		_, inConf := g.Conf[k]
		_, inPending := g.Pending[k]
		if !inConf && !inPending {
			continue // Proxmox only warns: not set in current configuration
		}
		modified[k] = true
		switch {
		case requiredKeys[k]:
			return nil, failf("unable to delete required option '%s'", k)
		case unusedPattern.MatchString(k) || mpKeyPattern.MatchString(k):
			if g.Conf["protection"] == "1" {
				return nil, failf("can't remove CT %d drive '%s' - protection mode enabled", g.VMID, k)
			}
		case k == "unprivileged":
			return nil, failf("unable to delete read-only option: '%s'", k)
		}
		g.addPendingDelete(k)
	}
	for _, k := range sortedKeys(c.set) {
		v := c.set[k]
		modified[k] = true
		switch {
		case isMountKey(k):
			if g.Conf["protection"] == "1" {
				return nil, failf("can't update CT %d drive '%s' - protection mode enabled", g.VMID, k)
			}
			if err := s.checkMountValue(g, k, v); err != nil {
				return nil, err
			}
		case k == "unprivileged":
			return nil, failf("unable to modify read-only option: '%s'", k)
		case k == "tags":
			v, _ = normalizeTags(v)
		case k == "description":
			v = normalizeDescription(v)
		case k == "nameserver":
			v, _ = nameserverList(v) // checked by the schema
		case k == "searchdomain":
			v, _ = searchdomainList(v)
		case netKeyPattern.MatchString(k):
			ps, err := parseNet(v)
			if err != nil {
				return nil, param1Error(k, "%v", err)
			}
			if ps["mtu"] != "" {
				if err := s.checkNetMTU(k, ps); err != nil {
					return nil, failf("%v", err)
				}
			}
		}
		if g.Pending == nil {
			g.Pending = map[string]string{}
		}
		g.Pending[k] = v
		g.PendingDelete = removeString(g.PendingDelete, k)
	}
	g.cleanupPending()
	errs := map[string]string{}
	if g.Running {
		s.hotplugPending(g, modified, errs, allocated, write)
	} else {
		s.applyPending(g, modified, errs, allocated)
	}
	g.beforeWrite()
	return errs, nil
}

// checkMountValue makes update_pct_config's checks of a rootfs/mpN value:
// it parses, and a volume's storage must hold container volumes. A
// volume of another guest is refused.
func (s *Sim) checkMountValue(g *guest, k, v string) error {
	ps, err := parseMount(k, v)
	if err != nil {
		return param1Error(k, "%v", err)
	}
	vol := ps["volume"]
	if strings.HasPrefix(vol, "/") {
		return nil
	}
	sid, _, _ := cutVolID(vol)
	if m := newVolPattern.FindStringSubmatch(vol); m != nil {
		sid = m[1]
	}
	st := s.st.storage(sid)
	if st == nil {
		return failf("storage '%s' does not exist", sid)
	}
	if !st.hasContent("rootdir") {
		return failf("storage '%s' does not allow content type 'rootdir' (Container)", sid)
	}
	if _, vinfo := s.st.volume(vol); vinfo != nil && vinfo.VMID != 0 && vinfo.VMID != g.VMID {
		return failf("volume '%s' belongs to another guest (%d)", vol, vinfo.VMID)
	}
	return nil
}

// cleanupPending is cleanup_pending: a pending value equal to the current
// one is dropped, and so is a pending deletion of a key that is not set.
func (g *guest) cleanupPending() {
	for k, v := range g.Pending {
		if cur, ok := g.Conf[k]; ok && cur == v {
			delete(g.Pending, k)
		}
	}
	var keep []string
	for _, k := range g.PendingDelete {
		if _, ok := g.Conf[k]; ok {
			keep = append(keep, k)
		}
	}
	g.PendingDelete = keep
	if len(g.Pending) == 0 {
		g.Pending = nil
	}
}

// beforeWrite is what writing the config file drops (write_pct_config):
// an unusedN whose volume a current mount point uses again, and an empty
// description or tags, for which nothing is written.
func (g *guest) beforeWrite() {
	for k, v := range g.Conf {
		if unusedPattern.MatchString(k) && g.mountedNow(volumeOf(v)) {
			delete(g.Conf, k)
		}
	}
	for _, k := range []string{"description", "tags"} {
		if v, ok := g.Conf[k]; ok && v == "" {
			delete(g.Conf, k)
		}
		if v, ok := g.Pending[k]; ok && v == "" {
			if _, cur := g.Conf[k]; !cur {
				delete(g.Pending, k)
			}
		}
	}
	if len(g.Pending) == 0 {
		g.Pending = nil
	}
}

func (g *guest) addPendingDelete(k string) {
	if !contains(g.PendingDelete, k) {
		g.PendingDelete = append(g.PendingDelete, k)
		sort.Strings(g.PendingDelete)
	}
}

// applyPending is vmconfig_apply_pending for the keys in sel (nil: all),
// on a stopped CT or at start. rootfs is taken verbatim: Proxmox neither
// allocates a volume for it nor rescans its size.
func (s *Sim) applyPending(g *guest, sel map[string]bool, errs map[string]string, allocated *[]string) {
	for _, k := range append([]string(nil), g.PendingDelete...) {
		if sel != nil && !sel[k] {
			continue
		}
		v := g.Conf[k]
		switch {
		case mpKeyPattern.MatchString(k):
			// is_volume_in_use is given the whole mount string, which never
			// equals a volume id: the volume always becomes unusedN, even
			// when a snapshot still uses it (write_pct_config drops it again
			// only when a current mount point uses it).
			delete(g.Conf, k)
			if vol := volumeOf(v); !strings.HasPrefix(vol, "/") {
				addUnused(g.Conf, vol)
			}
		case unusedPattern.MatchString(k):
			s.freeIfUnused(g, volumeOf(v), k)
		}
		delete(g.Conf, k)
		g.PendingDelete = removeString(g.PendingDelete, k)
	}
	g.cleanupPending()
	for _, k := range sortedKeys(g.Pending) {
		if sel != nil && !sel[k] {
			continue
		}
		v := g.Pending[k]
		switch {
		case mpKeyPattern.MatchString(k):
			nv, err := s.applyMount(g, k, v, allocated)
			if err != nil {
				errs[k] = fmt.Sprintf("unable to apply pending change %s : %v", k, err)
				continue
			}
			v = nv
		case netKeyPattern.MatchString(k):
			ps, _ := parseNet(v)
			v = printNet(s.st.normalizeNet(ps))
		}
		g.Conf[k] = v
		delete(g.Pending, k)
	}
	if len(g.Pending) == 0 {
		g.Pending = nil
	}
}

// applyMount is apply_pending_mountpoint: a new volume ("STORAGE:GiB") is
// allocated, an existing one has its size read from storage; the volume
// displaced from k is kept as unusedN. It returns the value to store.
func (s *Sim) applyMount(g *guest, k, v string, allocated *[]string) (string, error) {
	ps, err := parseMount(k, v)
	if err != nil {
		return "", err
	}
	vol := ps["volume"]
	if m := newVolPattern.FindStringSubmatch(vol); m != nil {
		gib, _ := strconv.ParseFloat(m[2], 64)
		size := int64(gib*1024) << 20 // whole MiB, as create_disks computes it
		volid, err := s.allocVolume(m[1], g.VMID, size)
		if err != nil {
			return "", fmt.Errorf("%s", errText(err))
		}
		*allocated = append(*allocated, volid)
		ps["volume"], ps["size"] = volid, formatSize(size)
	} else if !strings.HasPrefix(vol, "/") {
		_, vinfo := s.st.volume(vol)
		if vinfo == nil {
			return "", fmt.Errorf("volume '%s' does not exist", vol)
		}
		ps["size"] = formatSize(vinfo.Size)
	}
	nv := printMount(ps)
	newVol := ps["volume"]
	for uk, uv := range g.Conf {
		if unusedPattern.MatchString(uk) && volumeOf(uv) == newVol {
			delete(g.Conf, uk)
		}
	}
	if old, ok := g.Conf[k]; ok {
		if ov := volumeOf(old); ov != newVol && !strings.HasPrefix(ov, "/") {
			addUnused(g.Conf, ov)
		}
	}
	return nv, nil
}

// normalizeNet is parse_lxc_network: type veth, and a random MAC when
// none is given.
func (st *state) normalizeNet(ps propString) propString {
	if ps["hwaddr"] == "" {
		ps["hwaddr"] = st.randomMAC()
	} else {
		ps["hwaddr"] = strings.ToUpper(ps["hwaddr"])
	}
	ps["type"] = "veth"
	return ps
}

// checkNetBridge fails for an interface on a bridge the host does not
// have (read_bridge_mtu, veth_create).
func (s *Sim) checkNetBridge(ps propString) error {
	for _, b := range s.st.Bridges {
		if b == ps["bridge"] {
			return nil
		}
	}
	return fmt.Errorf("bridge '%s' does not exist", ps["bridge"])
}

// checkNetMTU is the MTU check: the bridge must exist and its MTU bound
// the interface's.
func (s *Sim) checkNetMTU(k string, ps propString) error {
	if err := s.checkNetBridge(ps); err != nil {
		return err
	}
	mtu, _ := strconv.Atoi(ps["mtu"])
	if mtu > bridgeMTU {
		return fmt.Errorf("%s: MTU size '%d' is bigger than bridge MTU '%d'", k, mtu, bridgeMTU)
	}
	return nil
}

// checkBridges is update_lxc_config's pass over the interfaces of conf:
// each bridge must exist and bound the interface's MTU. Starting a CT
// makes the same check.
func (s *Sim) checkBridges(conf map[string]string) error {
	for _, k := range sortedKeys(conf) {
		if !netKeyPattern.MatchString(k) {
			continue
		}
		ps, err := parseNet(conf[k])
		if err != nil {
			continue
		}
		if ps["mtu"] == "" {
			if err := s.checkNetBridge(ps); err != nil {
				return err
			}
			continue
		}
		if err := s.checkNetMTU(k, ps); err != nil {
			return err
		}
	}
	return nil
}

// applyPendingAtStart applies the whole pending section, as vm_start
// does; what fails to apply stays pending (Proxmox only warns).
func (s *Sim) applyPendingAtStart(g *guest) {
	var allocated []string
	s.applyPending(g, nil, map[string]string{}, &allocated)
	g.beforeWrite()
}

// errText is the message of an error as a task log or a 400 shows it.
func errText(err error) string {
	if ae, ok := err.(*apiError); ok {
		return ae.msg
	}
	return err.Error()
}

func removeString(list []string, s string) []string {
	out := list[:0]
	for _, x := range list {
		if x != s {
			out = append(out, x)
		}
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
