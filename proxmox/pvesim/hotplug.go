package pvesim

// Hotplug on a running CT (pve-container LXC/Config.pm
// vmconfig_hotplug_pending, LXC.pm update_net, hotplug_net,
// update_ipconfig).

import (
	"fmt"
)

// hotplugPending is vmconfig_hotplug_pending for the keys in sel: the
// fast-pluggable keys, memory, swap and CPU limits, interfaces and new
// mount points take effect; everything else stays pending as sent.
func (s *Sim) hotplugPending(g *guest, sel map[string]bool, errs map[string]string, allocated *[]string, write func()) {
	for _, k := range sortedKeys(g.Pending) {
		if sel[k] && fastplugKeys[k] {
			g.Conf[k] = g.Pending[k]
			delete(g.Pending, k)
		}
	}
	for _, k := range append([]string(nil), g.PendingDelete...) {
		if !sel[k] {
			continue
		}
		switch {
		case fastplugKeys[k], k == "swap", k == "cpulimit", k == "cpuunits", netKeyPattern.MatchString(k):
		case unusedPattern.MatchString(k):
			s.freeIfUnused(g, volumeOf(g.Conf[k]), k)
		default:
			continue // not hot-pluggable: stays pending
		}
		delete(g.Conf, k)
		g.PendingDelete = removeString(g.PendingDelete, k)
	}
	for _, k := range sortedKeys(g.Pending) {
		if !sel[k] {
			continue
		}
		v := g.Pending[k]
		switch {
		case k == "cpulimit", k == "cpuunits", k == "memory", k == "swap":
		case netKeyPattern.MatchString(k):
			nv, err := s.hotplugNet(g, k, v, write)
			if err != nil {
				errs[k] = fmt.Sprintf("unable to hotplug %s: %v", k, err)
				continue
			}
			v = nv
		case mpKeyPattern.MatchString(k):
			if _, exists := g.Conf[k]; exists {
				continue // no hotplug over an existing mount point
			}
			nv, err := s.applyMount(g, k, v, allocated)
			if err != nil {
				errs[k] = fmt.Sprintf("unable to hotplug %s: %v", k, err)
				continue
			}
			v = nv
		default:
			continue // not hot-pluggable: stays pending
		}
		g.Conf[k] = v
		delete(g.Pending, k)
	}
	if len(g.Pending) == 0 {
		g.Pending = nil
	}
}

// hotplugNet is update_net for interface k with the pending value raw,
// and returns the value to store. Like Proxmox it writes the config on
// its way (write): a changed MAC or name first removes the interface and
// writes, then plugs the new one and writes; a changed bridge, tag,
// firewall, link state or rate is plugged and written; update_ipconfig
// then writes the addresses. A bridge the host lacks fails the plug, after
// what was written so far.
func (s *Sim) hotplugNet(g *guest, k, raw string, write func()) (string, error) {
	ps, _ := parseNet(raw)
	if ps["bridge"] == "" {
		return "", fmt.Errorf("unable to get bridge setting")
	}
	nw := s.st.normalizeNet(ps)
	set := func(p propString) { g.Conf[k] = printNet(p) }
	// hotplug_net writes what it plugged: no addresses yet.
	plugged := func() propString {
		done := propString{"type": "veth"}
		for _, x := range []string{"bridge", "tag", "firewall", "hwaddr", "name", "link_down"} {
			if perlTrue(nw[x]) {
				done[x] = nw[x]
			}
		}
		return done
	}
	var addrs propString
	if old, ok := g.Conf[k]; !ok {
		if err := s.checkNetBridge(nw); err != nil {
			return "", err
		}
		addrs = plugged()
		set(addrs)
		write()
	} else if op, _ := parseNet(old); op["hwaddr"] != nw["hwaddr"] || op["name"] != nw["name"] {
		delete(g.Conf, k)
		write()
		if err := s.checkNetBridge(nw); err != nil {
			return "", err
		}
		addrs = plugged()
		set(addrs)
		write()
	} else {
		if op["bridge"] != nw["bridge"] || op["tag"] != nw["tag"] || op["firewall"] != nw["firewall"] || op["link_down"] != nw["link_down"] {
			if err := s.checkNetBridge(nw); err != nil {
				return "", err
			}
			for _, x := range []string{"bridge", "tag", "firewall", "rate", "link_down"} {
				if perlTrue(nw[x]) {
					op[x] = nw[x]
				}
			}
		} else if op["rate"] != nw["rate"] {
			setOrDelete(op, "rate", nw["rate"])
		}
		set(op)
		write()
		addrs = op
	}
	// update_ipconfig, once per address family that changed.
	for _, fam := range [][2]string{{"ip", "gw"}, {"ip6", "gw6"}} {
		if addrs[fam[0]] == nw[fam[0]] && addrs[fam[1]] == nw[fam[1]] {
			continue
		}
		for _, x := range fam {
			setOrDelete(addrs, x, nw[x])
		}
		set(addrs)
		write()
	}
	return printNet(nw), nil
}

// perlTrue is Perl's truth of a config value: set, and neither "" nor "0".
func perlTrue(v string) bool { return v != "" && v != "0" }
