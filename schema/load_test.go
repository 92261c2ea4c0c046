package schema

import (
	"strconv"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"
)

const hostBlock = "host \"pve-demo\" {\n  node = \"pve\"\n}\n"

// TestLoadDiagnostics checks that each kind of mistake is reported with the
// expected summary, on the expected line, with a detail that says enough.
// Every source starts with hostBlock (lines 1-3) unless the case is about it.
func TestLoadDiagnostics(t *testing.T) {
	tests := []struct {
		name        string
		src         string
		wantSummary string
		wantLine    int
		wantDetail  string // substring of the detail
	}{
		{"unknown attribute gets a suggestion", hostBlock + "guest \"web\" {\n  vmid = 100\n  memroy = 512\n}\n",
			"Unsupported argument", 6, `Did you mean "memory"?`},
		{"unknown block gets a suggestion", hostBlock + "guests \"web\" {\n  vmid = 100\n}\n",
			"Unsupported block type", 4, `Did you mean "guest"?`},
		{"provenance cannot come from the hub", hostBlock + "guest \"web\" {\n  vmid = 100\n  scratch = true\n}\n",
			"Unsupported argument", 6, `"scratch" is not expected here`},
		{"managed_by is not a field either", hostBlock + "guest \"web\" {\n  vmid = 100\n  managed_by = \"felhom\"\n}\n",
			"Unsupported argument", 6, `"managed_by"`},
		{"wrong type: string for cores", hostBlock + "guest \"web\" {\n  vmid = 100\n  cores = \"two\"\n}\n",
			"Incorrect attribute value type", 6, "a number required, got string"},
		{"wrong type: number for hostname", hostBlock + "guest \"web\" {\n  vmid = 100\n  hostname = 5\n}\n",
			"Incorrect attribute value type", 6, "a string required"},
		{"missing vmid", hostBlock + "guest \"web\" {\n  cores = 1\n}\n",
			"Missing required argument", 4, `"vmid" is required`},
		{"vmid below range", hostBlock + "guest \"web\" {\n  vmid = 99\n}\n",
			"Value out of range", 5, "between 100 and 999999999"},
		{"vmid above range", hostBlock + "guest \"web\" {\n  vmid = 1000000000\n}\n",
			"Value out of range", 5, "between 100 and 999999999"},
		{"duplicate guest name", hostBlock + "guest \"web\" {\n  vmid = 100\n}\nguest \"web\" {\n  vmid = 101\n}\n",
			"Duplicate guest", 7, "already defined at test.hcl:4:7"},
		{"duplicate vmid", hostBlock + "guest \"a\" {\n  vmid = 100\n}\nguest \"b\" {\n  vmid = 100\n}\n",
			"Duplicate vmid", 8, "already used at test.hcl:5"},
		{"duplicate mount path", hostBlock + "guest \"a\" {\n  vmid = 100\n  mount \"x\" {\n    path = \"/srv\"\n    storage = \"local-lvm\"\n    size = \"1G\"\n  }\n  mount \"y\" {\n    path = \"/srv\"\n    storage = \"local-lvm\"\n    size = \"1G\"\n  }\n}\n",
			"Duplicate mount path", 12, `"/srv" is already used`},
		{"mount path not absolute", hostBlock + "guest \"a\" {\n  vmid = 100\n  mount \"x\" {\n    path = \"srv\"\n    storage = \"local-lvm\"\n    size = \"1G\"\n  }\n}\n",
			"Invalid mount path", 7, "not an absolute path"},
		{"mount path not clean", hostBlock + "guest \"a\" {\n  vmid = 100\n  mount \"x\" {\n    path = \"/srv/../etc\"\n    storage = \"local-lvm\"\n    size = \"1G\"\n  }\n}\n",
			"Invalid mount path", 7, `write "/etc"`},
		{"mount path echoing a vzdump log line", hostBlock + "guest \"a\" {\n  vmid = 100\n  mount \"x\" {\n    path = \"/var/log/x') creating vzdump archive '/var/lib/vz/dump/vzdump-lxc-101-2026_11_20-10_00_00.tar.zst\"\n    storage = \"local-lvm\"\n    size = \"1G\"\n  }\n}\n",
			"Invalid mount path", 7, "a quote, a backslash or a control character"},
		{"mount path with a backslash", hostBlock + "guest \"a\" {\n  vmid = 100\n  mount \"x\" {\n    path = \"/srv/a\\\\b\"\n    storage = \"local-lvm\"\n    size = \"1G\"\n  }\n}\n",
			"Invalid mount path", 7, "a quote, a backslash or a control character"},
		{"mount without a source", hostBlock + "guest \"a\" {\n  vmid = 100\n  mount \"x\" {\n    path = \"/srv\"\n  }\n}\n",
			"Incomplete mount", 6, "needs both storage and size"},
		{"bind mount and volume at once", hostBlock + "guest \"a\" {\n  vmid = 100\n  mount \"x\" {\n    path = \"/srv\"\n    host_path = \"/tank/srv\"\n    size = \"1G\"\n  }\n}\n",
			"Conflicting mount source", 6, "not both"},
		{"bad memory unit", hostBlock + "guest \"a\" {\n  vmid = 100\n  memory = \"2 bananas\"\n}\n",
			"Invalid size", 6, `unknown unit "bananas"`},
		{"decimal unit refused", hostBlock + "guest \"a\" {\n  vmid = 100\n  memory = \"2GB\"\n}\n",
			"Invalid size", 6, "Proxmox sizes are binary"},
		{"memory below 16 MiB", hostBlock + "guest \"a\" {\n  vmid = 100\n  memory = 8\n}\n",
			"Value out of range", 6, "at least 16 MiB"},
		{"negative memory", hostBlock + "guest \"a\" {\n  vmid = 100\n  memory = -512\n}\n",
			"Invalid size", 6, "greater than zero"},
		{"negative swap", hostBlock + "guest \"a\" {\n  vmid = 100\n  swap = -1\n}\n",
			"Invalid size", 6, `"swap" must not be negative`},
		{"zero disk size", hostBlock + "guest \"a\" {\n  vmid = 100\n  rootfs {\n    storage = \"local-lvm\"\n    size = \"0G\"\n  }\n}\n",
			"Invalid size", 8, "greater than zero"},
		{"negative disk size", hostBlock + "guest \"a\" {\n  vmid = 100\n  rootfs {\n    storage = \"local-lvm\"\n    size = \"-8G\"\n  }\n}\n",
			"Invalid size", 8, "must be positive"},
		{"disk size without unit", hostBlock + "guest \"a\" {\n  vmid = 100\n  rootfs {\n    storage = \"local-lvm\"\n    size = 8\n  }\n}\n",
			"Size needs a unit", 8, "cannot be misread"},
		{"invalid volid", hostBlock + "guest \"a\" {\n  vmid = 100\n  from_backup = \"vzdump-lxc-100.tar.zst\"\n}\n",
			"Invalid volume ID", 6, "STORAGE:NAME"},
		{"from_backup that is not a backup", hostBlock + "guest \"a\" {\n  vmid = 100\n  from_backup = \"local-lvm:vm-100-disk-0\"\n}\n",
			"Invalid volume ID", 6, "is not a backup archive"},
		{"restore_over needs a backup archive", hostBlock + "guest \"a\" {\n  vmid = 100\n}\njob \"j1\" {\n  op = \"guest.restore_over\"\n  guest = \"a\"\n  backup = \"local-lvm:vm-100-disk-0\"\n}\n",
			"Invalid volume ID", 10, "is not a backup archive"},
		{"invalid bridge", hostBlock + "guest \"a\" {\n  vmid = 100\n  network \"eth0\" {\n    bridge = \"vmbr 0\"\n  }\n}\n",
			"Invalid bridge name", 7, `"vmbr 0" is not a bridge name`},
		{"invalid MAC", hostBlock + "guest \"a\" {\n  vmid = 100\n  network \"eth0\" {\n    bridge = \"vmbr0\"\n    hwaddr = \"BC:24:11:5E:7A\"\n  }\n}\n",
			"Invalid MAC address", 8, "six colon-separated hex pairs"},
		{"multicast MAC", hostBlock + "guest \"a\" {\n  vmid = 100\n  network \"eth0\" {\n    bridge = \"vmbr0\"\n    hwaddr = \"01:00:5E:00:00:01\"\n  }\n}\n",
			"Invalid MAC address", 8, "multicast"},
		{"ip not CIDR", hostBlock + "guest \"a\" {\n  vmid = 100\n  network \"eth0\" {\n    bridge = \"vmbr0\"\n    ip = \"192.168.1.20\"\n  }\n}\n",
			"Invalid IP address", 8, "CIDR"},
		{"gateway with dhcp", hostBlock + "guest \"a\" {\n  vmid = 100\n  network \"eth0\" {\n    bridge = \"vmbr0\"\n    ip = \"dhcp\"\n    gw = \"192.168.1.1\"\n  }\n}\n",
			"Gateway without a static address", 9, "static ip"},
		{"vlan out of range", hostBlock + "guest \"a\" {\n  vmid = 100\n  network \"eth0\" {\n    bridge = \"vmbr0\"\n    vlan = 4095\n  }\n}\n",
			"Value out of range", 8, "between 1 and 4094"},
		{"bad tag", hostBlock + "guest \"a\" {\n  vmid = 100\n  tags = [\"prod\", \"-x\"]\n}\n",
			"Invalid tag", 6, `"-x"`},
		{"bad state", hostBlock + "guest \"a\" {\n  vmid = 100\n  state = \"runing\"\n}\n",
			"Invalid guest state", 6, `Did you mean "running"?`},
		{"absent guest with other settings", hostBlock + "guest \"a\" {\n  vmid = 100\n  state = \"absent\"\n  memory = 512\n}\n",
			"Settings have no meaning for an absent guest", 7, "no meaning (memory)"},
		{"absent guest with a block", hostBlock + "guest \"a\" {\n  vmid = 100\n  state = \"absent\"\n  rootfs {\n    storage = \"local-lvm\"\n    size = \"8G\"\n  }\n}\n",
			"Settings have no meaning for an absent guest", 7, "rootfs block"},
		{"absent guest with its old settings is one error at the first", hostBlock + "guest \"a\" {\n  vmid = 100\n  hostname = \"a\"\n  memory = 512\n  rootfs {\n    storage = \"local-lvm\"\n    size = \"8G\"\n  }\n  state = \"absent\"\n}\n",
			"Settings have no meaning for an absent guest", 6, "(hostname, memory, rootfs block)"},
		{"both guest sources", hostBlock + "guest \"a\" {\n  vmid = 100\n  from_backup = \"local:backup/vzdump-lxc-9000-2026_10_01-12_00_00.tar.zst\"\n  from_template = \"local:vztmpl/debian-12-standard_12.7-1_amd64.tar.zst\"\n  rootfs {\n    storage = \"local-lvm\"\n    size = \"8G\"\n  }\n}\n",
			"Conflicting guest sources", 7, "set at test.hcl:6:17"},
		{"template that is not a template", hostBlock + "guest \"a\" {\n  vmid = 100\n  from_template = \"local:backup/vzdump-lxc-9000-2026_10_01-12_00_00.tar.zst\"\n}\n",
			"Invalid template", 6, "STORAGE:vztmpl/NAME.tar.zst"},
		{"template without rootfs", hostBlock + "guest \"a\" {\n  vmid = 100\n  from_template = \"local:vztmpl/debian-12-standard_12.7-1_amd64.tar.zst\"\n}\n",
			"Missing rootfs block", 6, "needs a rootfs block"},
		{"restore without rootfs", hostBlock + "guest \"a\" {\n  vmid = 100\n  from_backup = \"local:backup/vzdump-lxc-9000-2026_10_01-12_00_00.tar.zst\"\n}\n",
			"Missing rootfs block", 6, "(from_backup)"},
		{"ssh keys without a template", hostBlock + "guest \"a\" {\n  vmid = 100\n  ssh_public_keys = [\"" + testKey + "\"]\n}\n",
			"SSH keys without a template", 6, "from_template"},
		{"ssh key that is not one", hostBlock + "guest \"a\" {\n  vmid = 100\n  from_template = \"local:vztmpl/debian-12-standard_12.7-1_amd64.tar.zst\"\n  ssh_public_keys = \"ssh-ed25519 AAAAB3NzaC1yc2E=\"\n  rootfs {\n    storage = \"local-lvm\"\n    size = \"8G\"\n  }\n}\n",
			"Invalid SSH public key", 7, "does not match its type"},
		{"name server that is not an address", hostBlock + "guest \"a\" {\n  vmid = 100\n  nameserver = [\"1.1.1.1\", \"dns.example\"]\n}\n",
			"Invalid name server", 6, `"dns.example" is not an IP address`},
		{"name server with a zone that is not link-local", hostBlock + "guest \"a\" {\n  vmid = 100\n  nameserver = \"2001:db8::53%eth0\"\n}\n",
			"Invalid name server", 6, "only a link-local IPv6 address"},
		{"search domain that is not a DNS name", hostBlock + "guest \"a\" {\n  vmid = 100\n  searchdomain = \"office_example\"\n}\n",
			"Invalid search domain", 6, "not a DNS name"},
		{"cpulimit above 8192", hostBlock + "guest \"a\" {\n  vmid = 100\n  cpulimit = 8193\n}\n",
			"Value out of range", 6, "between 0 and 8192"},
		{"negative cpuunits", hostBlock + "guest \"a\" {\n  vmid = 100\n  cpuunits = -1\n}\n",
			"Value out of range", 6, "between 0 and 500000"},
		{"time zone that zone.tab lacks", hostBlock + "guest \"a\" {\n  vmid = 100\n  timezone = \"UTC+1\"\n}\n",
			"Invalid time zone", 6, `Did you mean "UTC"?`},
		{"startup with a negative delay", hostBlock + "guest \"a\" {\n  vmid = 100\n  startup {\n    order = 1\n    up = -5\n  }\n}\n",
			"Value out of range", 8, `"up" must be between 0 and 86400`},
		{"empty startup block", hostBlock + "guest \"a\" {\n  vmid = 100\n  startup {}\n}\n",
			"Empty startup block", 6, "at least one of order, up and down"},
		{"mount option Proxmox does not allow", hostBlock + "guest \"a\" {\n  vmid = 100\n  mount \"d\" {\n    path = \"/srv/d\"\n    storage = \"local-lvm\"\n    size = \"1G\"\n    mount_options = [\"noatime\", \"noexce\"]\n  }\n}\n",
			"Invalid mount option", 10, `Did you mean "noexec"?`},
		{"mount path with ..", hostBlock + "guest \"a\" {\n  vmid = 100\n  mount \"d\" {\n    path = \"/srv/../etc\"\n    storage = \"local-lvm\"\n    size = \"1G\"\n  }\n}\n",
			"Invalid mount path", 7, `write "/etc"`},
		{"IPv4 prefix below /8", hostBlock + "guest \"a\" {\n  vmid = 100\n  network \"eth0\" {\n    bridge = \"vmbr0\"\n    ip = \"10.0.0.5/7\"\n  }\n}\n",
			"Invalid prefix length", 8, "from /8 to /32"},
		{"IPv4 prefix above /32", hostBlock + "guest \"a\" {\n  vmid = 100\n  network \"eth0\" {\n    bridge = \"vmbr0\"\n    ip = \"10.0.0.5/33\"\n  }\n}\n",
			"Invalid IP address", 8, "CIDR"},
		{"IPv6 prefix below /8", hostBlock + "guest \"a\" {\n  vmid = 100\n  network \"eth0\" {\n    bridge = \"vmbr0\"\n    ip6 = \"2001:db8::5/0\"\n  }\n}\n",
			"Invalid prefix length", 8, "from /8 to /128"},
		{"mtu below 64", hostBlock + "guest \"a\" {\n  vmid = 100\n  network \"eth0\" {\n    bridge = \"vmbr0\"\n    mtu = 63\n  }\n}\n",
			"Value out of range", 8, "between 64 and 65535"},
		{"negative rate", hostBlock + "guest \"a\" {\n  vmid = 100\n  network \"eth0\" {\n    bridge = \"vmbr0\"\n    rate = -1\n  }\n}\n",
			"Value out of range", 8, `"rate" must be between 0`},
		{"golden image that is not declared", hostBlock + "guest \"a\" {\n  vmid = 100\n  from_backup = golden.debian-bsae\n  rootfs {\n    storage = \"local-lvm\"\n    size = \"8G\"\n  }\n}\n" + goldenBlock,
			"Reference to undeclared golden image", 6, `Did you mean "debian-base"?`},
		{"golden image in a guest's vmid", hostBlock + "guest \"a\" {\n  vmid = 9000\n}\n" + goldenBlock,
			"Duplicate vmid", 9, "already used at test.hcl:5"},
		{"golden image size not in GiB", hostBlock + strings.Replace(goldenBlock, "storage = \"local-lvm\"", "storage = \"local-lvm\"\n  size = \"1536M\"", 1),
			"Size not in whole GiB", 8, "whole GiB"},
		{"golden rebuild names a guest", hostBlock + goldenBlock + "job \"j\" {\n  op = \"golden.rebuild\"\n  guest = 100\n  golden = \"debian-base\"\n}\n",
			"Argument not valid for this operation", 11, "names its golden image"},
		{"golden rebuild of an undeclared image", hostBlock + goldenBlock + "job \"j\" {\n  op = \"golden.rebuild\"\n  golden = \"debian\"\n}\n",
			"Reference to undeclared golden image", 11, "No golden block named \"debian\""},
		{"job without a guest", hostBlock + "job \"j\" {\n  op = \"guest.reboot\"\n}\n",
			"Missing required argument", 4, `needs "guest"`},
		{"bind mount of /etc/pve", hostBlock + "guest \"a\" {\n  vmid = 100\n  mount \"d\" {\n    path = \"/srv/d\"\n    host_path = \"/etc/pve\"\n  }\n}\n",
			"Host directory refused", 8, "it is /etc or under it"},
		{"bind mount of a directory above /root", hostBlock + "guest \"a\" {\n  vmid = 100\n  mount \"d\" {\n    path = \"/srv/d\"\n    host_path = \"/var/lib\"\n  }\n}\n",
			"Host directory refused", 8, "it holds /var/lib/felhom-converge"},
		{"Proxmox's tag in a network block", hostBlock + "guest \"a\" {\n  vmid = 100\n  network \"eth0\" {\n    bridge = \"vmbr0\"\n    tag = 20\n  }\n}\n",
			"Unsupported argument", 8, "VLAN tag is vlan = 20"},
		{"reserved snapshot name", hostBlock + "guest \"a\" {\n  vmid = 100\n  snapshot \"current\" {}\n}\n",
			"Invalid snapshot name", 6, "reserved"},
		{"bad remove_volumes entry", hostBlock + "guest \"a\" {\n  vmid = 100\n  remove_volumes = [\"unused256\"]\n}\n",
			"Invalid volume ID", 6, "unusedN keys"},
		{"freeing another guest's volume", hostBlock + "guest \"a\" {\n  vmid = 100\n  remove_volumes = [\"local-lvm:vm-1001-disk-0\"]\n}\n",
			"Volume of another guest", 6, "named for guest 1001, but this is guest 100"},
		{"freeing another guest's volume on dir storage", hostBlock + "guest \"a\" {\n  vmid = 100\n  remove_volumes = [\"local:101/vm-101-disk-0.raw\"]\n}\n",
			"Volume of another guest", 6, "guest 101"},
		{"unknown job op", hostBlock + "guest \"a\" {\n  vmid = 100\n}\njob \"j1\" {\n  op = \"snapshot.rolback\"\n  guest = \"a\"\n}\n",
			"Unknown job operation", 8, `Did you mean "snapshot.rollback"?`},
		{"dangling guest reference", hostBlock + "guest \"web\" {\n  vmid = 100\n}\njob \"j1\" {\n  op = \"guest.reboot\"\n  guest = \"wbe\"\n}\n",
			"Reference to undeclared guest", 9, `Did you mean "web"?`},
		{"job not_after not a time", hostBlock + "guest \"web\" {\n  vmid = 100\n}\njob \"j1\" {\n  op = \"guest.reboot\"\n  guest = \"web\"\n  not_after = \"next week\"\n}\n",
			"Invalid time", 10, `not_after must be an RFC 3339 time`},
		{"job names a vmid out of range", hostBlock + "job \"j1\" {\n  op = \"guest.reboot\"\n  guest = \"99\"\n}\n",
			"Value out of range", 6, "between 100 and 999999999, got 99"},
		{"job names a guest of the wrong type", hostBlock + "job \"j1\" {\n  op = \"guest.reboot\"\n  guest = true\n}\n",
			"Incorrect attribute value type", 6, "a guest name or vmid required"},
		{"job field for another op", hostBlock + "guest \"a\" {\n  vmid = 100\n}\njob \"j1\" {\n  op = \"guest.reboot\"\n  guest = \"a\"\n  snapshot = \"s1\"\n}\n",
			"Argument not valid for this operation", 10, `does not take "snapshot"`},
		{"rollback without snapshot", hostBlock + "guest \"a\" {\n  vmid = 100\n}\njob \"j1\" {\n  op = \"snapshot.rollback\"\n  guest = \"a\"\n}\n",
			"Missing required argument", 7, `needs "snapshot"`},
		{"duplicate job id", hostBlock + "guest \"a\" {\n  vmid = 100\n}\njob \"j1\" {\n  op = \"guest.reboot\"\n  guest = \"a\"\n}\njob \"j1\" {\n  op = \"guest.reboot\"\n  guest = \"a\"\n}\n",
			"Duplicate job", 11, "already defined"},
		{"job on an absent guest", hostBlock + "guest \"a\" {\n  vmid = 100\n  state = \"absent\"\n}\njob \"j1\" {\n  op = \"guest.reboot\"\n  guest = \"a\"\n}\n",
			"Job on an absent guest", 10, "to be destroyed"},
		{"bad backup mode", hostBlock + "guest \"a\" {\n  vmid = 100\n}\njob \"j1\" {\n  op = \"backup.create\"\n  guest = \"a\"\n  mode = \"stopp\"\n}\n",
			"Invalid backup mode", 10, `Did you mean "stop"?`},
		{"deleting a snapshot the guest should have", hostBlock + "guest \"a\" {\n  vmid = 100\n  snapshot \"keep\" {}\n}\njob \"j1\" {\n  op = \"snapshot.delete\"\n  guest = \"a\"\n  snapshot = \"keep\"\n}\n",
			"Contradictory snapshot", 11, "declares it should have (test.hcl:6)"},
		{"same MAC on two guests", hostBlock + "guest \"a\" {\n  vmid = 100\n  network \"eth0\" {\n    bridge = \"vmbr0\"\n    hwaddr = \"BC:24:11:00:00:01\"\n  }\n}\nguest \"b\" {\n  vmid = 101\n  network \"eth0\" {\n    bridge = \"vmbr0\"\n    hwaddr = \"bc:24:11:00:00:01\"\n  }\n}\n",
			"Duplicate MAC address", 15, "already used at test.hcl:8"},
		{"missing host block", "guest \"a\" {\n  vmid = 100\n}\n",
			"Missing host block", 1, "exactly one host block"},
		{"two host blocks", hostBlock + "host \"other\" {\n  node = \"pve\"\n}\n",
			"Duplicate host block", 4, "Only one host block"},
		{"bad node name", "host \"pve-demo\" {\n  node = \"pve_1\"\n}\n",
			"Invalid node name", 2, "DNS label"},
		{"bad usb uuid", hostBlock + "storage \"usb\" {\n  usb_uuid = \"not-a-uuid\"\n  mountpoint = \"/mnt/usb\"\n}\n",
			"Invalid file system UUID", 5, "blkid"},
		{"relative mountpoint", hostBlock + "storage \"usb\" {\n  usb_uuid = \"1234-ABCD\"\n  mountpoint = \"mnt/usb\"\n}\n",
			"Invalid mountpoint", 6, "absolute"},
		{"signer with unknown role", hostBlock + "signers {\n  signer \"a@b\" {\n    key = \"" + testKey + "\"\n    roles = [\"operationl\"]\n  }\n}\n",
			"Unknown role", 7, `Did you mean "operational"?`},
		{"signer with a bad key", hostBlock + "signers {\n  signer \"a@b\" {\n    key = \"ssh-ed25519 AAAAB3NzaC1yc2E=\"\n    roles = [\"operational\"]\n  }\n}\n",
			"Invalid public key", 6, "does not match its type"},
		{"signer with an unknown key type", hostBlock + "signers {\n  signer \"a@b\" {\n    key = \"ssh-dss AAAA\"\n    roles = [\"operational\"]\n  }\n}\n",
			"Invalid public key", 6, "unknown key type"},
		{"empty signers block", hostBlock + "signers {\n}\n",
			"Empty signers block", 4, "nobody able to sign"},
		{"unknown local", hostBlock + "locals {\n  mem = 512\n}\nguest \"a\" {\n  vmid = 100\n  memory = local.mme\n}\n",
			"Unsupported attribute", 9, `"mme"`},
		{"a broken local is reported once, where it is defined", hostBlock + "locals {\n  mem = 512 + \"x\"\n}\nguest \"a\" {\n  vmid = 100\n  memory = local.mem\n}\n",
			"Invalid operand", 5, "Unsuitable value for right operand"},
		{"circular locals", hostBlock + "locals {\n  a = local.b\n  b = local.a\n}\n",
			"Circular reference", 5, "depends on itself"},
		{"null is not a way to unset", hostBlock + "guest \"a\" {\n  vmid = null\n}\n",
			"Invalid null value", 5, "remove the line"},
		{"huge number for memory", hostBlock + "guest \"a\" {\n  vmid = 100\n  memory = 1e18\n}\n",
			"Invalid size", 6, "largest size"},
		{"huge string for memory", hostBlock + "guest \"a\" {\n  vmid = 100\n  memory = \"2000000T\"\n}\n",
			"Invalid size", 6, "largest size"},
		{"locals refuse blocks", hostBlock + "locals {\n  x {\n  }\n}\n",
			"Unexpected \"x\" block", 5, "Blocks are not allowed here"},
		{"top-level attribute", hostBlock + "memory = 512\n",
			"Unsupported argument", 4, `"memory" is not expected here`},
		{"syntax error", hostBlock + "guest \"a\" {\n  vmid = \n}\n",
			"Invalid expression", 5, ""},
		{"non-UTF-8 input", hostBlock + "guest \"a\" {\n  description = \"caf\xe9\"\n}\n",
			"Invalid UTF-8", 5, "byte offset 67 (line 5, column 21)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, diags := Load([]byte(tt.src), "test.hcl")
			if h != nil {
				t.Errorf("Load returned a host despite errors")
			}
			var found *hcl.Diagnostic
			for _, d := range diags {
				if d.Severity == hcl.DiagError && d.Summary == tt.wantSummary {
					found = d
					break
				}
			}
			if found == nil {
				t.Fatalf("no error %q; got:\n%s", tt.wantSummary, describe(diags))
			}
			if found.Subject == nil || found.Subject.Filename != "test.hcl" {
				t.Fatalf("diagnostic has no subject in test.hcl: %+v", found.Subject)
			}
			if found.Subject.Start.Line != tt.wantLine {
				t.Errorf("line = %d, want %d (%s)", found.Subject.Start.Line, tt.wantLine, found.Detail)
			}
			if !strings.Contains(found.Detail, tt.wantDetail) {
				t.Errorf("detail %q does not contain %q", found.Detail, tt.wantDetail)
			}
		})
	}
}

const goldenBlock = "golden \"debian-base\" {\n  template = \"local:vztmpl/debian-12-standard_12.7-1_amd64.tar.zst\"\n  vmid = 9000\n  storage = \"local-lvm\"\n}\n"

func describe(diags hcl.Diagnostics) string {
	var b strings.Builder
	for _, d := range diags {
		line := 0
		if d.Subject != nil {
			line = d.Subject.Start.Line
		}
		b.WriteString("  " + d.Summary + " @" + strconv.Itoa(line) + ": " + d.Detail + "\n")
	}
	return b.String()
}

// TestBrokenLocalReportedOnce checks that a local value that fails to
// evaluate is reported where it is defined, not again at each use.
func TestBrokenLocalReportedOnce(t *testing.T) {
	src := hostBlock + "locals {\n  mem = 512 + \"x\"\n}\nguest \"a\" {\n  vmid = 100\n  memory = local.mem\n}\nguest \"b\" {\n  vmid = 101\n  memory = local.mem\n}\n"
	_, diags := Load([]byte(src), "test.hcl")
	if len(diags) != 1 || diags[0].Subject.Start.Line != 5 {
		t.Errorf("want one diagnostic on line 5, got:\n%s", describe(diags))
	}
}
