package schema

import (
	"regexp"
	"strings"

	"github.com/hashicorp/hcl/v2"
)

// pctHints name our form of the Proxmox (pct) settings people write by
// habit, keyed by the pct name; a key ending in "N" matches any index.
var pctHints = map[string]string{
	"netN":         `Interfaces are blocks named by their name inside the guest: network "eth0" { bridge = "vmbr0", ip = "dhcp" }.`,
	"mpN":          `Mount points are blocks named by you and matched by path: mount "data" { path = "/srv/data", storage = "local-lvm", size = "32G" }.`,
	"unusedN":      `Detached volumes are freed with remove_volumes = ["unused0"] (destructive: it needs a signature).`,
	"ostemplate":   `Guests are created by restoring a vzdump archive: from_backup = "local:backup/vzdump-lxc-...tar.zst".`,
	"template":     `Guests are created by restoring a vzdump archive: from_backup = "local:backup/vzdump-lxc-...tar.zst".`,
	"tag":          `Tags are a list: tags = ["prod", "web"] (or Proxmox's own "prod;web").`,
	"tags":         ``,
	"vlan":         `A VLAN tag belongs to an interface: network "eth0" { bridge = "vmbr0", vlan = 20 }.`,
	"nameserver":   `nameserver is not supported yet; set it inside the guest, or in the archive the guest is restored from.`,
	"searchdomain": `searchdomain is not supported yet; set it inside the guest, or in the archive the guest is restored from.`,
	"startup":      `startup (boot order and delays) is not supported yet; onboot = true starts the guest at boot.`,
	"cpulimit":     `cpulimit is not supported yet; cores limits the guest's CPUs.`,
	"cpuunits":     `cpuunits is not supported yet.`,
	"hookscript":   `hookscript is not supported.`,
	"password":     `Passwords are not set through the desired state; the archive the guest is restored from carries its accounts.`,
	"storage":      `A guest's storage is set per volume: rootfs { storage = "local-lvm", size = "8G" } and in each mount block.`,
	"ostype":       `ostype comes from the archive the guest is restored from.`,
	"arch":         `arch comes from the archive the guest is restored from.`,
	"rootfs":       `rootfs is a block: rootfs { storage = "local-lvm", size = "8G" }.`,
}

var (
	unsupportedName = regexp.MustCompile(`^An argument named "([^"]+)" is not expected here\.`)
	indexedPct      = regexp.MustCompile(`^(net|mp|unused)\d+$`)
)

// pctHint returns the hint for a Proxmox setting name, or "".
func pctHint(name string) string {
	if m := indexedPct.FindStringSubmatch(name); m != nil {
		return pctHints[m[1]+"N"]
	}
	return pctHints[name]
}

// addPctHints appends, to each "Unsupported argument" diagnostic that
// names a Proxmox setting, the form the desired state uses instead.
func addPctHints(diags hcl.Diagnostics) {
	for _, d := range diags {
		if d.Summary != "Unsupported argument" {
			continue
		}
		m := unsupportedName.FindStringSubmatch(d.Detail)
		if m == nil {
			continue
		}
		if h := pctHint(m[1]); h != "" && !strings.Contains(d.Detail, h) {
			d.Detail = strings.TrimSpace(d.Detail) + " " + h
		}
	}
}

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}
