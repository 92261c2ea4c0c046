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
	"ostemplate":   `A new guest is created from a template with from_template = "local:vztmpl/debian-12-standard_12.7-1_amd64.tar.zst", or restored with from_backup.`,
	"template":     `A new guest is created from a template with from_template = "local:vztmpl/debian-12-standard_12.7-1_amd64.tar.zst", or restored with from_backup.`,
	"tag":          `Tags are a list: tags = ["prod", "web"] (or Proxmox's own "prod;web").`,
	"tags":         ``,
	"vlan":         `A VLAN tag belongs to an interface: network "eth0" { bridge = "vmbr0", vlan = 20 }.`,
	"nameservers":  `The attribute is nameserver = ["192.168.1.1"], as Proxmox names it.`,
	"startup":      `The boot order is a block: startup { order = 1, up = 30, down = 60 }.`,
	"hookscript":   `hookscript is not supported.`,
	"password":     `A root password never comes from the desired state: a guest created from a template gets the one in the local config's create.root_password_file; a restored guest keeps the archive's accounts.`,
	"mountoptions": `Mount options are a list in a mount block: mount_options = ["noatime", "nodev"].`,
	"tz":           `The time zone is timezone = "Europe/Budapest" (or "host").`,
	"storage":      `A guest's storage is set per volume: rootfs { storage = "local-lvm", size = "8G" } and in each mount block.`,
	"ostype":       `ostype comes from the archive the guest is restored from.`,
	"arch":         `arch comes from the archive the guest is restored from.`,
	"rootfs":       `rootfs is a block: rootfs { storage = "local-lvm", size = "8G" }.`,
}

var (
	unsupportedName = regexp.MustCompile(`^An argument named "([^"]+)" is not expected here\.`)
	indexedPct      = regexp.MustCompile(`^(net|mp|unused)\d+$`)
)

// networkHints are the hints inside a network block, where Proxmox's
// names mean something else than at the guest's level.
var networkHints = map[string]string{
	"tag":  `An interface's VLAN tag is vlan = 20 (Proxmox's tag=).`,
	"name": `The interface's name is the block's label: network "eth0" { ... }.`,
}

// addBlockHints appends, to each "Unsupported argument" diagnostic of a
// block whose name hints knows, that hint; addPctHints then adds no
// other.
func addBlockHints(diags hcl.Diagnostics, hints map[string]string) {
	for _, d := range diags {
		if d.Summary != "Unsupported argument" {
			continue
		}
		if m := unsupportedName.FindStringSubmatch(d.Detail); m != nil && hints[m[1]] != "" {
			d.Detail = strings.TrimSpace(d.Detail) + " " + hints[m[1]]
			d.Extra = blockHinted{}
		}
	}
}

// blockHinted marks a diagnostic addBlockHints gave its hint.
type blockHinted struct{}

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
		if _, hinted := d.Extra.(blockHinted); hinted || d.Summary != "Unsupported argument" {
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
