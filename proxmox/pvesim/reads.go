package pvesim

// Read-only endpoints. Shapes follow the captured responses in the
// reference (node status, lxc list, status/current, cluster resources,
// storage, tasks).

import (
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/felhom/felhom-converge/proxmox"
)

const (
	pveVersion = "8.4.1"
	pveRelease = "8.4"
	pveRepoID  = "2a5fa54a8503f96d"

	hostCPUs   = 16
	hostMemory = 67282944000
	hostRootfs = 100861726720
)

func hVersion(r *request) (any, error) {
	return map[string]any{"version": pveVersion, "release": pveRelease, "repoid": pveRepoID}, nil
}

func (r *request) uptime() int64 { return r.now.Unix() - r.s.st.BootTime }

func hNodes(r *request) (any, error) {
	st := r.s.st
	e := map[string]any{"node": st.Node, "status": "online", "type": "node", "id": "node/" + st.Node,
		"level": "", "ssl_fingerprint": r.s.Fingerprint()}
	if r.has("/nodes/"+st.Node, "Sys.Audit") {
		e["cpu"] = 0.0123
		e["maxcpu"] = hostCPUs
		e["mem"] = r.s.usedHostMemory()
		e["maxmem"] = int64(hostMemory)
		e["disk"] = int64(9234567168)
		e["maxdisk"] = int64(hostRootfs)
		e["uptime"] = r.uptime()
	}
	return []any{e}, nil
}

// usedHostMemory is a plausible node memory use: a base plus what the
// running guests use.
func (s *Sim) usedHostMemory() int64 {
	used := int64(3 << 30)
	for _, g := range s.st.Guests {
		if g.Running {
			used += guestMem(g)
		}
	}
	return used
}

func hNodeStatus(r *request) (any, error) {
	used := r.s.usedHostMemory()
	return map[string]any{
		"uptime":         r.uptime(),
		"idle":           0,
		"loadavg":        []string{"0.12", "0.09", "0.05"},
		"kversion":       "Linux 6.8.12-9-pve #1 SMP PREEMPT_DYNAMIC PMX 6.8.12-9 (2025-03-16T19:18Z)",
		"current-kernel": map[string]any{"sysname": "Linux", "release": "6.8.12-9-pve", "version": "#1 SMP PREEMPT_DYNAMIC PMX 6.8.12-9 (2025-03-16T19:18Z)", "machine": "x86_64"},
		"boot-info":      map[string]any{"mode": "efi", "secureboot": 0},
		"cpuinfo": map[string]any{"model": "AMD Ryzen 7 5700G with Radeon Graphics", "sockets": 1, "cores": 8,
			"cpus": hostCPUs, "mhz": "3800.000", "hvm": "1", "flags": "fpu vme de pse tsc msr pae mce cx8 apic sep mtrr pge mca cmov", "user_hz": 100},
		"cpu":        0.0123,
		"wait":       0.0004,
		"memory":     map[string]any{"total": int64(hostMemory), "used": used, "free": int64(hostMemory) - used},
		"ksm":        map[string]any{"shared": 0},
		"swap":       map[string]any{"total": int64(8589930496), "used": 0, "free": int64(8589930496)},
		"pveversion": "pve-manager/" + pveVersion + "/" + pveRepoID,
		"rootfs":     map[string]any{"total": int64(hostRootfs), "avail": int64(hostRootfs - 9234567168), "used": int64(9234567168), "free": int64(hostRootfs - 9234567168)},
	}, nil
}

func hNetwork(r *request) (any, error) {
	var out []any
	for i, b := range r.s.st.Bridges {
		e := map[string]any{"iface": b, "type": "bridge", "active": 1, "autostart": 1, "method": "manual",
			"method6": "manual", "families": []string{"inet"}, "bridge_ports": "", "bridge_stp": "off", "bridge_fd": "0", "priority": i + 3}
		if i == 0 {
			e["method"] = "static"
			e["cidr"] = "192.168.1.10/24"
			e["address"] = "192.168.1.10"
			e["netmask"] = "24"
			e["gateway"] = "192.168.1.1"
			e["bridge_ports"] = "enp1s0"
		}
		if t := r.params["type"]; t != "" && t != "bridge" && t != "any_bridge" {
			continue
		}
		out = append(out, e)
	}
	return out, nil
}

func hCertInfo(r *request) (any, error) {
	return []any{map[string]any{"filename": "pve-ssl.pem", "fingerprint": r.s.Fingerprint(),
		"issuer": "/CN=" + r.s.st.Node + ".localdomain", "subject": "/OU=PVE Cluster Node/O=Proxmox Virtual Environment/CN=" + r.s.st.Node + ".localdomain",
		"public-key-type": "id-ecPublicKey", "public-key-bits": 256, "san": []string{"127.0.0.1", "localhost", r.s.st.Node}}}, nil
}

func hNextID(r *request) (any, error) {
	if v := r.params["vmid"]; v != "" {
		n, _ := strconv.Atoi(v)
		if _, used := r.s.st.Guests[n]; used {
			return nil, param1Error("vmid", "VM %d already exists", n)
		}
		return v, nil
	}
	for id := 100; ; id++ {
		if _, used := r.s.st.Guests[id]; !used {
			return strconv.Itoa(id), nil
		}
	}
}

// guestOr500 returns the guest or Proxmox's missing-config error.
func (r *request) guestOr500(vmid int) (*guest, error) {
	g := r.s.st.Guests[vmid]
	if g == nil {
		return nil, errNoConfig(r.s.st.Node, vmid)
	}
	return g, nil
}

func errNoConfig(node string, vmid int) error {
	return failf("Configuration file 'nodes/%s/lxc/%d.conf' does not exist", node, vmid)
}

func confInt(conf map[string]string, key string, def int64) int64 {
	if v, ok := conf[key]; ok {
		if n, err := strconv.ParseInt(v, 10, 64); err == nil {
			return n
		}
	}
	return def
}

func guestMem(g *guest) int64 {
	max := confInt(g.Conf, "memory", 512) << 20
	return max / 100 * int64(12+g.VMID%17)
}

func rootfsSize(conf map[string]string) int64 {
	ps, err := parseMount("rootfs", conf["rootfs"])
	if err != nil || ps["size"] == "" {
		return 4 << 30
	}
	n, _ := parseSize(ps["size"])
	return n
}

// vmStatus is one entry of GET /nodes/{node}/lxc (pve-container vmstatus).
func (r *request) vmStatus(g *guest) map[string]any {
	c := g.Conf
	name := c["hostname"]
	if name == "" {
		name = fmt.Sprintf("CT%d", g.VMID)
	}
	cpus := float64(hostCPUs)
	if v, ok := c["cores"]; ok {
		cpus, _ = strconv.ParseFloat(v, 64)
	} else if v, ok := c["cpulimit"]; ok && v != "0" {
		cpus, _ = strconv.ParseFloat(v, 64)
	}
	maxdisk := rootfsSize(c)
	e := map[string]any{
		"vmid": g.VMID, "type": "lxc", "status": "stopped", "name": name, "cpus": cpus,
		"maxmem": confInt(c, "memory", 512) << 20, "maxswap": confInt(c, "swap", 512) << 20,
		"maxdisk": maxdisk, "disk": 0, "mem": 0, "swap": 0, "uptime": 0, "cpu": 0,
		"netin": 0, "netout": 0, "diskread": 0, "diskwrite": 0,
	}
	if g.Running {
		up := r.now.Unix() - g.StartTime
		e["status"] = "running"
		e["pid"] = g.PID
		e["uptime"] = up
		e["mem"] = guestMem(g)
		e["disk"] = maxdisk / 100 * int64(20+g.VMID%30)
		e["cpu"] = float64(g.VMID%7) / 1000
		e["netin"] = up * int64(1200+g.VMID%500)
		e["netout"] = up * int64(300+g.VMID%200)
		e["diskread"] = int64(g.VMID%50+10) << 20
		e["diskwrite"] = up * 4096
	}
	if t := c["tags"]; t != "" {
		e["tags"] = t
	}
	if l := c["lock"]; l != "" {
		e["lock"] = l
	}
	if c["template"] == "1" {
		e["template"] = 1
	}
	return e
}

func hLXCList(r *request) (any, error) {
	out := []any{}
	for _, id := range r.s.st.guestIDs() {
		if !r.has(vmPath(id), "VM.Audit") {
			continue
		}
		out = append(out, r.vmStatus(r.s.st.Guests[id]))
	}
	return out, nil
}

func hStatusCurrent(r *request) (any, error) {
	g, err := r.guestOr500(r.vmid())
	if err != nil {
		return nil, err
	}
	e := r.vmStatus(g)
	e["ha"] = map[string]any{"managed": 0}
	return e, nil
}

func hResources(r *request) (any, error) {
	st := r.s.st
	typ := r.params["type"]
	out := []any{}
	if typ == "" || typ == "vm" {
		for _, id := range st.guestIDs() {
			if !r.has(vmPath(id), "VM.Audit") {
				continue
			}
			g := st.Guests[id]
			e := r.vmStatus(g)
			if r.lagging(g.Created) {
				// Not in the RRD cache yet: only what is read live from the config.
				res := map[string]any{"id": fmt.Sprintf("lxc/%d", id), "vmid": id, "type": "lxc", "node": st.Node, "status": "unknown"}
				for _, k := range []string{"tags", "lock"} {
					if v, ok := e[k]; ok {
						res[k] = v
					}
				}
				out = append(out, res)
				continue
			}
			if r.lagging(g.StatusAt) {
				// pvestatd has not seen the start or stop yet.
				e["status"] = g.PrevStatus
			}
			res := map[string]any{"id": fmt.Sprintf("lxc/%d", id), "vmid": id, "type": "lxc", "node": st.Node,
				"name": e["name"], "status": e["status"], "template": 0, "uptime": e["uptime"],
				"maxcpu": e["cpus"], "cpu": e["cpu"], "maxmem": e["maxmem"], "mem": e["mem"],
				"maxdisk": e["maxdisk"], "disk": e["disk"], "netin": e["netin"], "netout": e["netout"],
				"diskread": e["diskread"], "diskwrite": e["diskwrite"]}
			if t, ok := e["template"]; ok {
				res["template"] = t
			}
			for _, k := range []string{"tags", "lock"} {
				if v, ok := e[k]; ok {
					res[k] = v
				}
			}
			out = append(out, res)
		}
	}
	if typ == "" || typ == "node" {
		n := map[string]any{"id": "node/" + st.Node, "node": st.Node, "type": "node", "status": "online", "level": "", "cgroup-mode": 2}
		if r.has("/nodes/"+st.Node, "Sys.Audit") {
			n["cpu"] = 0.0123
			n["maxcpu"] = hostCPUs
			n["mem"] = r.s.usedHostMemory()
			n["maxmem"] = int64(hostMemory)
			n["disk"] = int64(9234567168)
			n["maxdisk"] = int64(hostRootfs)
			n["uptime"] = r.uptime()
		}
		out = append(out, n)
	}
	if typ == "" || typ == "storage" {
		for _, s := range st.Storages {
			if !r.canSeeStorage(s.ID) {
				continue
			}
			out = append(out, map[string]any{"id": "storage/" + st.Node + "/" + s.ID, "storage": s.ID, "node": st.Node,
				"type": "storage", "status": "available", "plugintype": s.Type, "shared": 0,
				"content": strings.Join(s.Content, ","), "disk": s.used(), "maxdisk": s.Total})
		}
	}
	if typ == "" || typ == "sdn" {
		out = append(out, map[string]any{"id": "sdn/" + st.Node + "/localnetwork", "sdn": "localnetwork", "node": st.Node, "type": "sdn", "status": "ok"})
	}
	return out, nil
}

// lagging reports whether something that happened at epoch milliseconds
// at (0: never) is too recent for pvestatd's RRD cache behind
// /cluster/resources.
func (r *request) lagging(at int64) bool {
	lag := r.s.opts.ResourcesLag
	return lag > 0 && at > 0 && r.now.UnixMilli()-at < lag.Milliseconds()
}

func (r *request) canSeeStorage(sid string) bool {
	return r.has(storagePath(sid), "Datastore.Audit") || r.has(storagePath(sid), "Datastore.AllocateSpace")
}

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
	var out []any
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

func hStorageConfig(r *request) (any, error) {
	out := []any{}
	for _, s := range r.s.st.Storages {
		if !r.canSeeStorage(s.ID) || (r.params["type"] != "" && r.params["type"] != s.Type) {
			continue
		}
		e := map[string]any{"storage": s.ID, "type": s.Type, "content": strings.Join(s.Content, ","), "digest": r.s.storageDigest()}
		for k, v := range map[string]string{"path": s.Path, "vgname": s.VGName, "thinpool": s.ThinPool, "pool": s.Pool, "prune-backups": s.PruneBackups} {
			if v != "" {
				e[k] = v
			}
		}
		out = append(out, e)
	}
	return out, nil
}

// storageDigest is the digest of storage.cfg, which only changes with the
// storage definitions (not their contents).
func (s *Sim) storageDigest() string {
	var b strings.Builder
	for _, st := range s.st.Storages {
		fmt.Fprintf(&b, "%s: %s\n\tcontent %s\n\tpath %s\n\tprune-backups %s\n", st.Type, st.ID, strings.Join(st.Content, ","), st.Path, st.PruneBackups)
	}
	return sha1Hex(b.String())
}

func storageStatus(s *storage) map[string]any {
	used := s.used()
	return map[string]any{"storage": s.ID, "type": s.Type, "content": strings.Join(s.Content, ","),
		"shared": 0, "enabled": 1, "active": 1, "total": s.Total, "used": used, "avail": s.Total - used,
		"used_fraction": float64(used) / float64(s.Total)}
}

func hNodeStorage(r *request) (any, error) {
	out := []any{}
	for _, s := range r.s.st.Storages {
		if !r.canSeeStorage(s.ID) {
			continue
		}
		if sid := r.params["storage"]; sid != "" && sid != s.ID {
			continue
		}
		if c := r.params["content"]; c != "" {
			ok := false
			for _, want := range splitList(c) {
				ok = ok || s.hasContent(want)
			}
			if !ok {
				continue
			}
		}
		out = append(out, storageStatus(s))
	}
	return out, nil
}

func hStorageStatus(r *request) (any, error) {
	s := r.s.st.storage(r.vars["storage"])
	if s == nil {
		return nil, failf("storage '%s' does not exist", r.vars["storage"])
	}
	return storageStatus(s), nil
}

func hContent(r *request) (any, error) {
	s := r.s.st.storage(r.vars["storage"])
	if s == nil {
		return nil, failf("storage '%s' does not exist", r.vars["storage"])
	}
	var want []string
	if c := r.params["content"]; c != "" {
		want = splitList(c)
	}
	vmid, _ := strconv.Atoi(r.params["vmid"])
	ids := make([]string, 0, len(s.Volumes))
	for id := range s.Volumes {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	out := []any{}
	for _, id := range ids {
		v := s.Volumes[id]
		if want != nil && !contains(want, v.Content) {
			continue
		}
		if vmid != 0 && v.VMID != vmid {
			continue
		}
		// Guest volumes and backups need access to the guest too.
		if v.VMID != 0 && !r.has(vmPath(v.VMID), "VM.Audit") && !r.has(vmPath(v.VMID), "VM.Backup") &&
			!r.has(storagePath(s.ID), "Datastore.Allocate") {
			continue
		}
		e := map[string]any{"volid": v.VolID, "content": v.Content, "format": v.Format, "size": v.Size}
		if v.VMID != 0 {
			e["vmid"] = v.VMID
		}
		if v.CTime != 0 {
			e["ctime"] = v.CTime
		}
		if v.Notes != "" {
			e["notes"] = v.Notes
		}
		if v.Protected {
			e["protected"] = 1
		}
		if v.Subtype != "" {
			e["subtype"] = v.Subtype
		}
		if v.Content == "rootdir" || v.Content == "images" {
			e["used"] = v.Size / 100 * 23
		}
		out = append(out, e)
	}
	return out, nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// Tasks.

// visibleTask reports whether the caller may see t: its own task, or any
// task with Sys.Audit on the node.
func (r *request) visibleTask(t *task) bool {
	return t.User == r.tokenID || r.has("/nodes/"+r.s.st.Node, "Sys.Audit")
}

// hTaskList is GET /nodes/{node}/tasks as pve-manager's Tasks.pm builds
// it: with source=active|all the running tasks come first, listed as
// Proxmox's active-worker file has them (status "RUNNING", the user still
// "user@realm!token"); the finished tasks follow, newest first, as read
// back from the task index (user and tokenid split, endtime and the exit
// status as status). Filters count towards "total" before start and limit
// apply; limit=0 lists nothing.
func hTaskList(r *request) (any, error) {
	p := r.params
	source := p["source"]
	if source == "" {
		source = "archive"
	}
	start, _ := strconv.Atoi(p["start"])
	limit := 50
	if v, ok := p["limit"]; ok {
		limit, _ = strconv.Atoi(v)
	}
	statuses := map[string]bool{"ok": true, "warning": true, "error": true, "unknown": true}
	if v, ok := p["statusfilter"]; ok && p["errors"] != "1" {
		statuses = map[string]bool{}
		for _, f := range splitList(v) {
			statuses[strings.ToLower(f)] = true
		}
	} else if p["errors"] == "1" {
		statuses["ok"] = false
	}
	var active, archived []*task
	for i := len(r.s.st.Tasks) - 1; i >= 0; i-- {
		if t := r.s.st.Tasks[i]; t.Status == "running" {
			active = append(active, t)
		} else {
			archived = append(archived, t)
		}
	}
	// The index is appended to as tasks end.
	sort.SliceStable(archived, func(i, j int) bool { return archived[i].EndTime > archived[j].EndTime })
	var tasks []*task
	if source != "archive" {
		tasks = append(tasks, active...)
	}
	if source != "active" {
		tasks = append(tasks, archived...)
	}
	count := 0
	out := []any{}
	for _, t := range tasks {
		running := t.Status == "running"
		e := map[string]any{"upid": t.UPID, "node": r.s.st.Node, "pid": t.PID, "pstart": t.PStart,
			"starttime": t.StartTime, "type": t.Type, "id": t.ID, "user": t.User}
		status := ""
		if !running {
			user, tok, ok := strings.Cut(t.User, "!")
			e["user"] = user
			if ok {
				e["tokenid"] = tok
			}
			e["endtime"] = t.EndTime
			e["status"] = t.ExitStatus
			status = t.ExitStatus
		}
		switch {
		case p["userfilter"] != "" && !strings.Contains(strings.ToLower(e["user"].(string)), strings.ToLower(p["userfilter"])),
			!r.visibleTask(t),
			p["typefilter"] != "" && t.Type != p["typefilter"],
			p["vmid"] != "" && t.ID != p["vmid"],
			p["since"] != "" && t.StartTime < atoi64(p["since"]),
			p["until"] != "" && t.StartTime > atoi64(p["until"]),
			!statuses[statusType(status)]:
			continue
		}
		count++
		if count <= start || len(out) >= limit {
			continue
		}
		if running {
			e["status"] = "RUNNING"
		}
		out = append(out, e)
	}
	r.total = &count
	return out, nil
}

func atoi64(s string) int64 {
	n, _ := strconv.ParseInt(s, 10, 64)
	return n
}

// statusType is pve-common's upid_normalize_status_type.
func statusType(status string) string {
	switch {
	case status == "" || status == "unexpected status":
		return "unknown"
	case status == "OK":
		return "ok"
	case warningsPattern.MatchString(status):
		return "warning"
	}
	return "error"
}

// taskFor resolves the {upid} path parameter and checks access.
func (r *request) taskFor() (*task, error) {
	raw := r.vars["upid"]
	if _, err := proxmox.ParseUPID(raw); err != nil {
		return nil, param1Error("upid", "unable to parse worker upid")
	}
	t := r.s.st.task(raw)
	if t == nil {
		return nil, param1Error("upid", "no such task")
	}
	if !r.visibleTask(t) {
		return nil, permError("/nodes/"+r.s.st.Node, "Sys.Audit")
	}
	return t, nil
}

func hTaskStatus(r *request) (any, error) {
	t, err := r.taskFor()
	if err != nil {
		return nil, err
	}
	e := map[string]any{"upid": t.UPID, "node": r.s.st.Node, "pid": t.PID, "pstart": t.PStart,
		"starttime": t.StartTime, "type": t.Type, "id": t.ID, "status": t.Status}
	user, tok, ok := strings.Cut(t.User, "!")
	e["user"] = user
	if ok {
		e["tokenid"] = tok
	}
	if t.Status == "stopped" {
		e["exitstatus"] = t.ExitStatus
	}
	return e, nil
}

func hTaskLog(r *request) (any, error) {
	t, err := r.taskFor()
	if err != nil {
		return nil, err
	}
	if r.params["download"] == "1" && (r.params["start"] != "" || r.params["limit"] != "") {
		return nil, param1Error("download", "option conflicts with option 'start'")
	}
	start, _ := strconv.Atoi(r.params["start"])
	limit := 50
	if v, ok := r.params["limit"]; ok {
		limit, _ = strconv.Atoi(v)
	}
	total := len(t.Log)
	if total == 0 {
		one := 1
		r.total = &one
		return []any{map[string]any{"n": 1, "t": "no content"}}, nil
	}
	r.total = &total
	out := []any{}
	for i := start; i < total && (limit == 0 || len(out) < limit); i++ {
		out = append(out, map[string]any{"n": i + 1, "t": t.Log[i]})
	}
	return out, nil
}

// hVMDirIndex is GET /nodes/{node}/lxc/{vmid}: the subdirectories, after
// checking that the CT exists.
func hVMDirIndex(r *request) (any, error) {
	if _, err := r.guestOr500(r.vmid()); err != nil {
		return nil, err
	}
	var out []any
	for _, d := range []string{"config", "pending", "status", "vncproxy", "termproxy", "vncwebsocket", "spiceproxy",
		"migrate", "clone", "rrd", "rrddata", "firewall", "snapshot", "resize", "interfaces"} {
		out = append(out, map[string]any{"subdir": d})
	}
	return out, nil
}

// hPermissions is GET /access/permissions: the caller's effective
// privileges, per ACL path (or for the given path), each as "Priv": 1.
func hPermissions(r *request) (any, error) {
	userID, _, _ := strings.Cut(r.tokenID, "!")
	if u := r.params["userid"]; u != "" && u != r.tokenID && u != userID {
		return nil, permError("/access", "Sys.Audit")
	}
	paths := map[string]bool{"/": true}
	if p := r.params["path"]; p != "" {
		paths = map[string]bool{p: true}
	} else {
		if u := r.s.st.Users[userID]; u != nil {
			for p := range u.ACL {
				paths[p] = true
			}
		}
		if t := r.s.st.Tokens[r.tokenID]; t != nil {
			for p := range t.ACL {
				paths[p] = true
			}
		}
		for _, p := range []string{"/vms", "/storage", "/nodes"} {
			paths[p] = true
		}
	}
	out := map[string]any{}
	for p := range paths {
		privs := map[string]int{}
		for priv := range r.s.st.privs(r.tokenID, p) {
			privs[priv] = 1
		}
		out[p] = privs
	}
	return out, nil
}
