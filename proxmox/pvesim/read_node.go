package pvesim

// Node-level reads: version, node list and status, network, certificate, next free vmid, permissions. Shapes follow the captured responses in the reference.

import (
	"strconv"
	"strings"
)

const (
	hostCPUs   = 16
	hostMemory = 67282944000
	hostRootfs = 100861726720
)

func hVersion(r *request) (any, error) {
	rel := r.s.st.release()
	return map[string]any{"version": rel.version, "release": rel.release(), "repoid": rel.repoID}, nil
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
	const base = int64(3 << 30)
	var guests int64
	for _, g := range s.st.Guests {
		if g.Running {
			guests += guestMem(g)
		}
	}
	// Thousands of guests would use more than the host has: the kernel
	// reclaims and shares, so scale them into 95% of the total.
	if room := int64(hostMemory) / 100 * 95; base+guests > room {
		guests = int64(float64(guests) * float64(room-base) / float64(guests))
	}
	return base + guests
}

func hNodeStatus(r *request) (any, error) {
	used := r.s.usedHostMemory()
	rel := r.s.st.release()
	memory := map[string]any{"total": int64(hostMemory), "used": used, "free": int64(hostMemory) - used}
	if rel.major() >= 9 {
		// PVE 9 adds what the kernel could give without swapping (MemAvailable).
		memory["available"] = int64(hostMemory) - used
	}
	return map[string]any{
		"uptime":         r.uptime(),
		"idle":           0,
		"loadavg":        []string{"0.12", "0.09", "0.05"},
		"kversion":       "Linux " + rel.kernel + " " + rel.build,
		"current-kernel": map[string]any{"sysname": "Linux", "release": rel.kernel, "version": rel.build, "machine": "x86_64"},
		"boot-info":      map[string]any{"mode": "efi", "secureboot": 0},
		"cpuinfo": map[string]any{"model": "AMD Ryzen 7 5700G with Radeon Graphics", "sockets": 1, "cores": 8,
			"cpus": hostCPUs, "mhz": "3800.000", "hvm": "1", "flags": "fpu vme de pse tsc msr pae mce cx8 apic sep mtrr pge mca cmov", "user_hz": 100},
		"cpu":        0.0123,
		"wait":       0.0004,
		"memory":     memory,
		"ksm":        map[string]any{"shared": 0},
		"swap":       map[string]any{"total": int64(8589930496), "used": 0, "free": int64(8589930496)},
		"pveversion": "pve-manager/" + rel.version + "/" + rel.repoID,
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
