package pvesim_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/felhom/felhom-converge/proxmox"
	"github.com/felhom/felhom-converge/proxmox/pvesim"
)

// pct as root may create a container with features no token may set, and
// the fenced runner (proxmox.Privileged over RootHost) drives it; what
// Proxmox's formats refuse, pct refuses too.
func TestPctCreatesAsRoot(t *testing.T) {
	t.Parallel()
	a := startSim(t, pvesim.Options{TaskDuration: -1})
	ctx := context.Background()
	tmpl := "local:vztmpl/debian-12-standard_12.7-1_amd64.tar.zst"

	// A token is refused: features other than nesting are root@pam's.
	r := a.do("POST", "/nodes/pve/lxc", form("vmid", "9000", "ostemplate", tmpl, "unprivileged", "1", "features", "keyctl=1,nesting=1", "storage", "local-lvm"))
	if r.Code != 403 || !strings.Contains(r.Status, "only allowed for root@pam") {
		t.Fatalf("token create with keyctl: %s", r.Status)
	}

	p, err := proxmox.NewPrivileged(proxmox.ModeDirect, pvesim.RootHost{Dir: t.TempDir(), Sim: a.sim}, proxmox.Tools{})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.CreateGoldenLXC(ctx, proxmox.GoldenLXC{VMID: 9000, Template: tmpl, Storage: "local-lvm", RootFSGiB: 4,
		Hostname: "debian-base", Features: "fuse=1,keyctl=1,nesting=1"}); err != nil {
		t.Fatal(err)
	}
	c := a.config(9000)
	if c["features"] != "fuse=1,keyctl=1,nesting=1" || fmt.Sprint(c["unprivileged"]) != "1" || !strings.HasPrefix(c["rootfs"].(string), "local-lvm:vm-9000-disk-0,") {
		t.Fatalf("config %v", c)
	}
	if _, ok := c["lock"]; ok {
		t.Fatalf("pct returned before its task ended: %v", c)
	}

	// The same vmid again: pct's error, exit 255.
	err = p.CreateGoldenLXC(ctx, proxmox.GoldenLXC{VMID: 9000, Template: tmpl, Storage: "local-lvm"})
	if ce, ok := err.(interface{ Unwrap() error }); !ok || !strings.Contains(err.Error(), "CT 9000 already exists") || ce == nil {
		t.Fatalf("second create: %v", err)
	}
	// Formats still apply to root.
	out, stderr, code := a.sim.Pct(ctx, []string{"set", "9000", "--timezone", "Mars/Olympus"})
	if code != 255 || !strings.Contains(stderr, "invalid time zone") {
		t.Fatalf("pct set with a bad time zone: %q %q %d", out, stderr, code)
	}
	if _, stderr, code := a.sim.Pct(ctx, []string{"destroy", "9000"}); code != 255 || !strings.Contains(stderr, "only") {
		t.Fatalf("pct destroy is not played: %q %d", stderr, code)
	}
}
