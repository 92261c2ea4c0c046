package pvesim

// Privileges, as pve-access-control computes them for API tokens: on each
// ACL path the most specific entry on the path or above it applies
// (propagation from "/"), and a token with privilege separation gets the
// intersection of its own privileges and its user's.

import (
	"fmt"
	"strings"
)

// aclPrivs returns the privileges an ACL grants on path: those of the most
// specific ACL entry at path or one of its ancestors.
func aclPrivs(acl map[string][]string, path string) map[string]bool {
	p := path
	for {
		if privs, ok := acl[p]; ok {
			set := make(map[string]bool, len(privs))
			for _, x := range privs {
				set[x] = true
			}
			return set
		}
		if p == "/" {
			return map[string]bool{}
		}
		i := strings.LastIndex(p, "/")
		if i <= 0 {
			p = "/"
		} else {
			p = p[:i]
		}
	}
}

// privs returns the effective privileges of a token on path.
func (st *state) privs(tokenID, path string) map[string]bool {
	t := st.Tokens[tokenID]
	if t == nil {
		return map[string]bool{}
	}
	userID, _, _ := strings.Cut(tokenID, "!")
	userPrivs := map[string]bool{}
	if u := st.Users[userID]; u != nil {
		userPrivs = aclPrivs(u.ACL, path)
	}
	if !t.Privsep {
		return userPrivs
	}
	tokPrivs := aclPrivs(t.ACL, path)
	for p := range tokPrivs {
		if !userPrivs[p] {
			delete(tokPrivs, p)
		}
	}
	return tokPrivs
}

// has reports whether the caller holds priv on path (root holds all).
func (r *request) has(path, priv string) bool {
	return r.root || r.s.st.privs(r.tokenID, path)[priv]
}

// check demands priv on path (403 otherwise).
func (r *request) check(path, priv string) error {
	if !r.has(path, priv) {
		return permError(path, priv)
	}
	return nil
}

// checkAny demands one of privs on path.
func (r *request) checkAny(path string, privs ...string) error {
	for _, p := range privs {
		if r.has(path, p) {
			return nil
		}
	}
	return permError(path, privs...)
}

func vmPath(vmid int) string        { return fmt.Sprintf("/vms/%d", vmid) }
func storagePath(sid string) string { return "/storage/" + sid }

// Declarative permission checks for routes.

func needVM(priv string) func(*request) error {
	return func(r *request) error { return r.check(vmPath(r.vmid()), priv) }
}

func needVMAny(privs ...string) func(*request) error {
	return func(r *request) error { return r.checkAny(vmPath(r.vmid()), privs...) }
}

func needNode(priv string) func(*request) error {
	return func(r *request) error { return r.check("/nodes/"+r.vars["node"], priv) }
}

func needStorageAny(privs ...string) func(*request) error {
	return func(r *request) error { return r.checkAny(storagePath(r.vars["storage"]), privs...) }
}

// configPrivs is the gate of PUT config: any of the config privileges.
var configPrivs = []string{"VM.Config.Disk", "VM.Config.CPU", "VM.Config.Memory", "VM.Config.Network", "VM.Config.Options"}

// keyPriv is the privilege check_ct_modify_config_perm demands for a key.
func keyPriv(key string) string {
	switch {
	case key == "cores" || key == "cpulimit" || key == "cpuunits":
		return "VM.Config.CPU"
	case key == "memory" || key == "swap":
		return "VM.Config.Memory"
	case key == "rootfs" || mpKeyPattern.MatchString(key):
		return "VM.Config.Disk"
	case netKeyPattern.MatchString(key) || key == "hostname" || key == "nameserver" || key == "searchdomain":
		return "VM.Config.Network"
	case key == "features":
		return "VM.Allocate"
	}
	return "VM.Config.Options"
}

// bridgePath is the SDN ACL path a netN value needs SDN.Use on.
func bridgePath(ps propString) string {
	p := "/sdn/zones/localnetwork/" + ps["bridge"]
	if t := ps["tag"]; t != "" {
		p += "/" + t
	}
	return p
}

// checkModifyPerms is check_ct_modify_config_perm: a privilege per key,
// SDN.Use for bridges, and the root@pam-only options a token never passes.
func (r *request) checkModifyPerms(g *guest, set map[string]string, dels []string) error {
	if r.root {
		return nil // root@pam may set every key
	}
	vm := vmPath(g.VMID)
	keys := make([]string, 0, len(set)+len(dels))
	for k := range set {
		keys = append(keys, k)
	}
	keys = append(keys, dels...)
	for _, k := range keys {
		v, isSet := set[k]
		switch {
		case k == "hookscript":
			return permErrorText("changing the hookscript is only allowed for root@pam")
		case strings.HasPrefix(k, "dev"):
			return permErrorText("configuring device passthrough is only allowed for root@pam")
		case k == "features":
			if g.Conf["unprivileged"] != "1" {
				return permErrorText("changing feature flags for privileged container is only allowed for root@pam")
			}
			old, _ := parseFeatures(g.Conf["features"])
			nw := propString{}
			if isSet {
				nw, _ = parseFeatures(v)
			}
			for f := range featureKeys {
				if f != "nesting" && old[f] != nw[f] {
					return permErrorText("changing feature flags (except nesting) is only allowed for root@pam")
				}
			}
			if old["nesting"] != nw["nesting"] {
				if err := r.check(vm, "VM.Allocate"); err != nil {
					return err
				}
			}
			continue
		}
		if err := r.check(vm, keyPriv(k)); err != nil {
			return err
		}
		if netKeyPattern.MatchString(k) {
			for _, val := range []string{g.Conf[k], v} {
				if val == "" {
					continue
				}
				if ps, err := parseNet(val); err == nil && ps["bridge"] != "" {
					if err := r.check(bridgePath(ps), "SDN.Use"); err != nil {
						return err
					}
				}
			}
		}
		if isSet && isMountKey(k) {
			ps, err := parseMount(k, v)
			if err != nil {
				continue // the schema check already refused it
			}
			vol := ps["volume"]
			if strings.HasPrefix(vol, "/") {
				return permErrorText("mount point type bind is only allowed for root@pam")
			}
			sid, _, _ := cutVolID(vol)
			if m := newVolPattern.FindStringSubmatch(vol); m != nil {
				sid = m[1]
			}
			if err := r.check(storagePath(sid), "Datastore.AllocateSpace"); err != nil {
				return err
			}
		}
	}
	return nil
}
