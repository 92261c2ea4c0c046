package pvesim

// GET /nodes/{node}/lxc/{vmid}/interfaces (pve-container API2/LXC.pm ip,
// LXC.pm get_interfaces, PVE 8.1 and later): the addresses `ip --json a`
// shows in a running CT's network namespace.

import (
	"fmt"
	"net"
	"strconv"
	"strings"
)

// hInterfaces lists a running CT's interfaces: lo, then each netN with
// its MAC, its static address or one its DHCP server gave it, and its
// IPv6 link-local address. A CT that is not running, or does not exist,
// has none: the answer is null.
func hInterfaces(r *request) (any, error) {
	g := r.s.st.Guests[r.vmid()]
	if g == nil || !g.Running {
		return nil, nil
	}
	out := []any{iface("lo", "00:00:00:00:00:00", "127.0.0.1/8", "::1/128")}
	for _, k := range sortedKeys(g.Conf) {
		m := netKeyPattern.FindStringSubmatch(k)
		if m == nil {
			continue
		}
		ps, err := parseNet(g.Conf[k])
		if err != nil || perlTrue(ps["link_down"]) {
			continue
		}
		mac := strings.ToLower(ps["hwaddr"])
		var addrs []string
		switch ip := ps["ip"]; ip {
		case "", "manual":
		case "dhcp":
			n, _ := strconv.Atoi(m[1])
			addrs = append(addrs, fmt.Sprintf("192.168.%d.%d/24", 1+n, 100+g.VMID%150))
		default:
			addrs = append(addrs, ip)
		}
		if ip6 := ps["ip6"]; strings.Contains(ip6, ":") {
			addrs = append(addrs, ip6)
		}
		addrs = append(addrs, linkLocal(mac))
		out = append(out, iface(ps["name"], mac, addrs...))
	}
	return out, nil
}

// iface is one entry of get_interfaces; inet and inet6 (deprecated) hold
// the last address of each family.
func iface(name, mac string, cidrs ...string) map[string]any {
	e := map[string]any{"name": name, "hwaddr": mac, "hardware-address": mac}
	list := []any{}
	for _, c := range cidrs {
		addr, prefix, _ := strings.Cut(c, "/")
		fam := "inet"
		if strings.Contains(addr, ":") {
			fam = "inet6"
		}
		n, _ := strconv.Atoi(prefix)
		list = append(list, map[string]any{"ip-address-type": fam, "ip-address": addr, "prefix": n})
		e[fam] = c
	}
	e["ip-addresses"] = list
	return e
}

// linkLocal is the EUI-64 IPv6 link-local address of a MAC.
func linkLocal(mac string) string {
	hw, err := net.ParseMAC(mac)
	if err != nil || len(hw) != 6 {
		return "fe80::1/64"
	}
	ip := net.IP{0xfe, 0x80, 0, 0, 0, 0, 0, 0, hw[0] ^ 2, hw[1], hw[2], 0xff, 0xfe, hw[3], hw[4], hw[5]}
	return ip.String() + "/64"
}
