package pvesim

// Guest reads: the LXC list, status/current, /cluster/resources, config, pending, snapshots (pve-container vmstatus, API2/LXC/Config.pm, pve-manager Cluster.pm).

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
)

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
		"maxmem": confInt(c, "memory", 512) << 20, "maxswap": confInt(c, "swap", 0) << 20,
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
