// Package matching writes a desired-state file that matches a live host
// exactly, for benchmarks: every guest the node lists, with its hostname,
// cores, memory, swap, tags, onboot, unprivileged, features, rootfs, volume
// mounts and networks as the host reports them. A plan of the result
// against the same host has no steps.
package matching

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/felhom/felhom-converge/proxmox"
)

// Write writes the desired state of every guest c lists, for host.
func Write(ctx context.Context, out io.Writer, c *proxmox.Client, host string) error {
	list, err := c.ListLXC(ctx)
	if err != nil {
		return err
	}
	sort.Slice(list, func(i, j int) bool { return list[i].VMID < list[j].VMID })
	w := bufio.NewWriter(out)
	fmt.Fprintf(w, "host %q {\n  node = %q\n}\n", host, c.Node())
	for _, l := range list {
		conf, err := c.GuestConfig(ctx, int(l.VMID))
		if err != nil {
			return err
		}
		writeGuest(w, int(l.VMID), l.Status == "running", conf.Values)
	}
	return w.Flush()
}

func writeGuest(w *bufio.Writer, vmid int, running bool, v map[string]string) {
	state := "stopped"
	if running {
		state = "running"
	}
	fmt.Fprintf(w, "\nguest \"ct%d\" {\n  vmid  = %d\n  state = %q\n", vmid, vmid, state)
	for _, k := range []string{"hostname"} {
		if s, ok := v[k]; ok {
			fmt.Fprintf(w, "  %s = %q\n", k, s)
		}
	}
	for _, k := range []string{"cores", "memory", "swap"} {
		if s, ok := v[k]; ok {
			fmt.Fprintf(w, "  %s = %s\n", k, s)
		}
	}
	for _, k := range []string{"onboot", "unprivileged"} {
		if s, ok := v[k]; ok {
			fmt.Fprintf(w, "  %s = %t\n", k, s == "1")
		}
	}
	if t := v["tags"]; t != "" {
		fmt.Fprintf(w, "  tags = %q\n", t)
	}
	if f := v["features"]; f != "" {
		fmt.Fprintf(w, "  features = %q\n", f)
	}
	if ps, err := proxmox.ParsePropertyString(v["rootfs"], "volume"); err == nil && ps["size"] != "" {
		st, _, _ := strings.Cut(ps["volume"], ":")
		fmt.Fprintf(w, "  rootfs {\n    storage = %q\n    size    = %q\n  }\n", st, ps["size"])
	}
	for i := 0; i < 256; i++ {
		mp, ok := v[fmt.Sprintf("mp%d", i)]
		if !ok {
			continue
		}
		ps, err := proxmox.ParsePropertyString(mp, "volume")
		if err != nil || strings.HasPrefix(ps["volume"], "/") {
			continue
		}
		st, _, _ := strings.Cut(ps["volume"], ":")
		fmt.Fprintf(w, "  mount \"mp%d\" {\n    path    = %q\n    storage = %q\n    size    = %q\n    backup  = %t\n  }\n",
			i, ps["mp"], st, ps["size"], ps["backup"] == "1")
	}
	for i := 0; i < 32; i++ {
		n, ok := v[fmt.Sprintf("net%d", i)]
		if !ok {
			continue
		}
		ps, err := proxmox.ParsePropertyString(n, "")
		if err != nil {
			continue
		}
		fmt.Fprintf(w, "  network %q {\n    bridge = %q\n", ps["name"], ps["bridge"])
		for _, k := range []string{"ip", "gw", "hwaddr"} {
			if s := ps[k]; s != "" {
				fmt.Fprintf(w, "    %s = %q\n", k, s)
			}
		}
		if ps["firewall"] == "1" {
			fmt.Fprintf(w, "    firewall = true\n")
		}
		fmt.Fprintf(w, "  }\n")
	}
	fmt.Fprintf(w, "}\n")
}
