package pvesim

// Guest reads: the LXC list, status/current, /cluster/resources, config, pending, snapshots (pve-container vmstatus, API2/LXC/Config.pm, pve-manager Cluster.pm).

import (
	"fmt"
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
		if r.s.st.pve9() {
			// PVE 9 adds the CT's pressure stall information (pve-container 6.0.7).
			for _, k := range []string{"pressurecpusome", "pressurecpufull", "pressureiosome", "pressureiofull", "pressurememorysome", "pressurememoryfull"} {
				e[k] = 0.0
			}
		}
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
			if r.s.st.pve9() {
				res["memhost"] = e["mem"] // PVE 9: the memory the host accounts to the guest
			}
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
			// pvestatd records only active storages: an inactive one has
			// no sizes and reads "unknown" (extract_storage_stats).
			e := map[string]any{"id": "storage/" + st.Node + "/" + s.ID, "storage": s.ID, "node": st.Node,
				"type": "storage", "status": "unknown", "plugintype": s.Type, "shared": s.shared(),
				"content": strings.Join(s.Content, ",")}
			if st.activate(s) == nil {
				e["status"], e["disk"], e["maxdisk"] = "available", s.used(), s.Total
			}
			out = append(out, e)
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
