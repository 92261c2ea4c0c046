package schema

import "strings"

// refusedHostDirs are host directories no bind mount may ever expose to a
// guest, nor be under: the host's own system, Proxmox's cluster
// configuration (/etc/pve holds every guest's config and the cluster's
// keys), root's home, the kernel's file systems, and where guests' and
// this tool's data live. Local config and desired state both refuse them.
var refusedHostDirs = []string{
	"/bin", "/boot", "/dev", "/etc", "/lib", "/lib32", "/lib64", "/proc", "/root", "/run", "/sbin", "/sys", "/usr",
	"/var/lib/felhom-converge", "/var/lib/lxc", "/var/lib/pve", "/var/lib/pve-cluster", "/var/lib/vz", "/var/log",
}

// RefusedHostDir says why host directory p can never be bind-mounted into
// a guest ("" when it may be, on a host that allows it): it is the host's
// root, one of refusedHostDirs, under one, or a directory above one.
func RefusedHostDir(p string) string {
	if p == "/" {
		return "it is the host's root directory"
	}
	for _, r := range refusedHostDirs {
		switch {
		case p == r || strings.HasPrefix(p, r+"/"):
			return "it is " + r + " or under it, part of the host's own system or data"
		case strings.HasPrefix(r, p+"/"):
			return "it holds " + r + ", part of the host's own system or data"
		}
	}
	return ""
}
