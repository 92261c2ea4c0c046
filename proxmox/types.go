package proxmox

import (
	"bytes"
	"encoding/json"
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

// The structs below are the API's answers, field for field, with the
// lenient scalar types where Proxmox varies. Fields absent from an answer
// keep their zero value.

// Version is GET /version.
type Version struct {
	Version string `json:"version"` // "8.4.1" (PVE 7: "7.4-16")
	Release string `json:"release"` // "8.4"
	RepoID  string `json:"repoid"`
	Console string `json:"console,omitempty"`
}

// Node is one entry of GET /nodes.
type Node struct {
	Node           string `json:"node"`
	Status         string `json:"status"` // online, offline, unknown
	Type           string `json:"type"`
	ID             string `json:"id"`
	Level          string `json:"level"` // subscription level
	CPU            Float  `json:"cpu"`
	MaxCPU         Int    `json:"maxcpu"`
	Mem            Int    `json:"mem"`
	MaxMem         Int    `json:"maxmem"`
	Disk           Int    `json:"disk"`
	MaxDisk        Int    `json:"maxdisk"`
	Uptime         Int    `json:"uptime"`
	SSLFingerprint string `json:"ssl_fingerprint"`
}

// NodeStatus is GET /nodes/{node}/status.
type NodeStatus struct {
	Uptime        Int         `json:"uptime"`
	Idle          Float       `json:"idle"`
	LoadAvg       []Float     `json:"loadavg"` // strings on the wire
	KVersion      string      `json:"kversion"`
	CurrentKernel *Kernel     `json:"current-kernel,omitempty"` // PVE 8+
	BootInfo      *BootInfo   `json:"boot-info,omitempty"`      // PVE 8+
	CPUInfo       CPUInfo     `json:"cpuinfo"`
	CPU           Float       `json:"cpu"`
	Wait          Float       `json:"wait"`
	Memory        MemoryUsage `json:"memory"`
	Swap          MemoryUsage `json:"swap"`
	KSM           struct {
		Shared Int `json:"shared"`
	} `json:"ksm"`
	PVEVersion string    `json:"pveversion"` // "pve-manager/8.4.1/2a5fa54a8503f96d"
	RootFS     DiskUsage `json:"rootfs"`
}

// Kernel is the running kernel in NodeStatus.
type Kernel struct {
	Sysname string `json:"sysname"`
	Release string `json:"release"`
	Version string `json:"version"`
	Machine string `json:"machine"`
}

// BootInfo is how the node booted.
type BootInfo struct {
	Mode       string `json:"mode"` // efi, legacy-bios
	SecureBoot Bool   `json:"secureboot"`
}

// CPUInfo describes the node's processors.
type CPUInfo struct {
	Model   string `json:"model"`
	Sockets Int    `json:"sockets"`
	Cores   Int    `json:"cores"`
	CPUs    Int    `json:"cpus"`
	MHz     Float  `json:"mhz"` // a string on the wire
	HVM     Bool   `json:"hvm"` // a string on the wire
	Flags   string `json:"flags"`
	UserHz  Int    `json:"user_hz"`
}

// MemoryUsage is in bytes.
type MemoryUsage struct {
	Total Int `json:"total"`
	Used  Int `json:"used"`
	Free  Int `json:"free"`
}

// DiskUsage is in bytes.
type DiskUsage struct {
	Total Int `json:"total"`
	Used  Int `json:"used"`
	Avail Int `json:"avail"`
	Free  Int `json:"free"`
}

// ClusterResource is one entry of GET /cluster/resources. Guest stats come
// from a cache refreshed about every 10 s: a guest created seconds ago has
// status "unknown" and no name or stats yet.
type ClusterResource struct {
	ID        string `json:"id"` // "lxc/100", "node/pve", "storage/pve/local"
	Type      string `json:"type"`
	Node      string `json:"node"`
	VMID      Int    `json:"vmid"`
	Name      string `json:"name"`
	Status    string `json:"status"`
	Template  Bool   `json:"template"`
	Uptime    Int    `json:"uptime"`
	CPU       Float  `json:"cpu"`
	MaxCPU    Float  `json:"maxcpu"`
	Mem       Int    `json:"mem"`
	MaxMem    Int    `json:"maxmem"`
	Disk      Int    `json:"disk"`
	MaxDisk   Int    `json:"maxdisk"`
	NetIn     Int    `json:"netin"`
	NetOut    Int    `json:"netout"`
	DiskRead  Int    `json:"diskread"`
	DiskWrite Int    `json:"diskwrite"`
	Tags      string `json:"tags,omitempty"` // "prod;web"; only when set
	Lock      string `json:"lock,omitempty"` // only while locked
	Pool      string `json:"pool,omitempty"`
	HAState   string `json:"hastate,omitempty"`
	// storage entries
	Storage    string `json:"storage,omitempty"`
	PluginType string `json:"plugintype,omitempty"`
	Content    string `json:"content,omitempty"`
	Shared     Bool   `json:"shared"`
}

// LXC is one entry of GET /nodes/{node}/lxc.
type LXC struct {
	VMID      Int    `json:"vmid"` // a string before PVE 8.2
	Type      string `json:"type"`
	Status    string `json:"status"` // running, stopped
	Name      string `json:"name"`
	CPUs      Float  `json:"cpus"`
	CPU       Float  `json:"cpu"`
	Mem       Int    `json:"mem"`
	MaxMem    Int    `json:"maxmem"`
	Swap      Int    `json:"swap"`
	MaxSwap   Int    `json:"maxswap"`
	Disk      Int    `json:"disk"`
	MaxDisk   Int    `json:"maxdisk"`
	Uptime    Int    `json:"uptime"`
	NetIn     Int    `json:"netin"`
	NetOut    Int    `json:"netout"`
	DiskRead  Int    `json:"diskread"`
	DiskWrite Int    `json:"diskwrite"`
	PID       Int    `json:"pid,omitempty"`
	Tags      string `json:"tags,omitempty"`
	Lock      string `json:"lock,omitempty"`
	Template  Bool   `json:"template"`
}

// GuestStatus is GET /nodes/{node}/lxc/{vmid}/status/current: a list
// entry plus the HA state.
type GuestStatus struct {
	LXC
	HA struct {
		Managed Bool   `json:"managed"`
		State   string `json:"state,omitempty"`
		Group   string `json:"group,omitempty"`
	} `json:"ha"`
}

// GuestConfig is GET /nodes/{node}/lxc/{vmid}/config: every key as Proxmox
// returned it, numbers rendered as their decimal text. By default the
// values include pending changes.
type GuestConfig struct {
	// Digest is the SHA-1 of the whole config file. Pass it back with a
	// write so Proxmox refuses a lost update.
	Digest string
	// Values holds every key but digest and lxc.
	Values map[string]string
	// RawLXC holds the raw lxc.* entries, in order, as [key, value] pairs.
	RawLXC [][2]string
}

// UnmarshalJSON decodes the config object, tolerating numbers or strings
// for every scalar.
func (g *GuestConfig) UnmarshalJSON(b []byte) error {
	var raw map[string]json.RawMessage
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	if err := dec.Decode(&raw); err != nil {
		return fmt.Errorf("guest config: %w", err)
	}
	*g = GuestConfig{Values: make(map[string]string, len(raw))}
	for k, v := range raw {
		switch k {
		case "lxc":
			var pairs [][]string
			if err := json.Unmarshal(v, &pairs); err != nil {
				return fmt.Errorf("guest config: lxc: %w", err)
			}
			for _, p := range pairs {
				if len(p) == 2 {
					g.RawLXC = append(g.RawLXC, [2]string{p[0], p[1]})
				}
			}
		default:
			s, isNull := scalarText(v)
			if len(bytes.TrimSpace(v)) > 0 && (v[0] == '{' || v[0] == '[') {
				return fmt.Errorf("guest config: key %q is not a scalar", k)
			}
			if isNull {
				continue
			}
			if v[0] == '"' {
				// Keep string values verbatim (description's trailing
				// newline included).
				if err := json.Unmarshal(v, &s); err != nil {
					return fmt.Errorf("guest config: key %q: %w", k, err)
				}
			}
			if k == "digest" {
				g.Digest = s
				continue
			}
			g.Values[k] = s
		}
	}
	return nil
}

// MarshalJSON writes the config back in the API's shape (all values as
// strings), so a GuestConfig round-trips through JSON.
func (g GuestConfig) MarshalJSON() ([]byte, error) {
	m := make(map[string]any, len(g.Values)+2)
	for k, v := range g.Values {
		m[k] = v
	}
	if g.Digest != "" {
		m["digest"] = g.Digest
	}
	if len(g.RawLXC) > 0 {
		m["lxc"] = g.RawLXC
	}
	return json.Marshal(m)
}

// Get returns a raw value and whether it is set.
func (g GuestConfig) Get(key string) (string, bool) {
	v, ok := g.Values[key]
	return v, ok
}

func (g GuestConfig) intValue(key string) (int, bool) {
	v, ok := g.Values[key]
	if !ok {
		return 0, false
	}
	n, err := strconv.Atoi(v)
	return n, err == nil
}

// boolValue reads 0/1, as Proxmox writes booleans, and a JSON true/false
// rendered as text.
func (g GuestConfig) boolValue(key string) bool {
	v := g.Values[key]
	return v == "1" || v == "true"
}

// Memory is the memory limit in MiB; ok is false when unset (Proxmox's
// default is 512).
func (g GuestConfig) Memory() (mib int, ok bool) { return g.intValue("memory") }

// Swap is the swap limit in MiB; ok is false when unset (default 512).
func (g GuestConfig) Swap() (mib int, ok bool) { return g.intValue("swap") }

// Cores is the CPU core limit; ok is false when unset (all host cores).
func (g GuestConfig) Cores() (int, bool) { return g.intValue("cores") }

// CPULimit is the cpulimit (0 = unlimited); a string on the wire.
func (g GuestConfig) CPULimit() (float64, bool) {
	v, ok := g.Values["cpulimit"]
	if !ok {
		return 0, false
	}
	f, err := strconv.ParseFloat(v, 64)
	return f, err == nil
}

// Hostname is the guest's hostname.
func (g GuestConfig) Hostname() string { return g.Values["hostname"] }

// Description is the description as stored; Proxmox appends a newline to
// every line it reads back.
func (g GuestConfig) Description() string { return g.Values["description"] }

// Tags returns the tags, split on Proxmox's separators.
func (g GuestConfig) Tags() []string {
	return strings.FieldsFunc(g.Values["tags"], func(r rune) bool { return r == ';' || r == ',' || r == ' ' })
}

// OnBoot reports whether the guest starts at boot.
func (g GuestConfig) OnBoot() bool { return g.boolValue("onboot") }

// Unprivileged reports whether the guest is unprivileged (default false).
func (g GuestConfig) Unprivileged() bool { return g.boolValue("unprivileged") }

// Protection reports whether protection mode is on.
func (g GuestConfig) Protection() bool { return g.boolValue("protection") }

// Template reports whether the guest is a template.
func (g GuestConfig) Template() bool { return g.boolValue("template") }

// Features is the raw features property string ("nesting=1,keyctl=1").
func (g GuestConfig) Features() string { return g.Values["features"] }

// Lock is the lock held on the guest, "" when none.
func (g GuestConfig) Lock() string { return g.Values["lock"] }

// RootFS is the raw rootfs property string.
func (g GuestConfig) RootFS() string { return g.Values["rootfs"] }

var (
	mpKey     = regexp.MustCompile(`^mp(\d+)$`)
	netKey    = regexp.MustCompile(`^net(\d+)$`)
	unusedKey = regexp.MustCompile(`^unused(\d+)$`)
)

func (g GuestConfig) indexed(p *regexp.Regexp) map[int]string {
	out := map[int]string{}
	for k, v := range g.Values {
		if m := p.FindStringSubmatch(k); m != nil {
			n, _ := strconv.Atoi(m[1])
			out[n] = v
		}
	}
	return out
}

// MountPoints returns the raw mpN property strings by N.
func (g GuestConfig) MountPoints() map[int]string { return g.indexed(mpKey) }

// Nets returns the raw netN property strings by N.
func (g GuestConfig) Nets() map[int]string { return g.indexed(netKey) }

// Unused returns the unusedN volumes by N.
func (g GuestConfig) Unused() map[int]string { return g.indexed(unusedKey) }

// Keys returns the config's keys, sorted.
func (g GuestConfig) Keys() []string {
	keys := make([]string, 0, len(g.Values))
	for k := range g.Values {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// ParsePropertyString splits a Proxmox property string such as
// "local-lvm:vm-100-disk-1,mp=/srv/data,size=32G" into its keys. A leading
// value without '=' is returned under defaultKey ("volume" for rootfs/mpN,
// "" to refuse it).
func ParsePropertyString(s, defaultKey string) (map[string]string, error) {
	out := map[string]string{}
	if s == "" {
		return out, nil
	}
	for i, part := range strings.Split(s, ",") {
		k, v, ok := strings.Cut(part, "=")
		if !ok {
			if i != 0 || defaultKey == "" {
				return nil, fmt.Errorf("property string %q: %q has no key", s, part)
			}
			k, v = defaultKey, part
		}
		if _, dup := out[k]; dup {
			return nil, fmt.Errorf("property string %q: duplicate key %q", s, k)
		}
		out[k] = v
	}
	return out, nil
}

// Storage is one entry of GET /storage (the storage configuration).
type Storage struct {
	Storage      string `json:"storage"`
	Type         string `json:"type"`    // dir, lvmthin, zfspool, ...
	Content      string `json:"content"` // "rootdir,images"
	Digest       string `json:"digest"`
	Path         string `json:"path,omitempty"`
	Nodes        string `json:"nodes,omitempty"` // "" = all nodes
	Shared       Bool   `json:"shared"`
	Disable      Bool   `json:"disable"`
	Pool         string `json:"pool,omitempty"`
	VGName       string `json:"vgname,omitempty"`
	ThinPool     string `json:"thinpool,omitempty"`
	PruneBackups string `json:"prune-backups,omitempty"`
}

// NodeStorage is one entry of GET /nodes/{node}/storage. Inactive storages
// have no total/used/avail.
type NodeStorage struct {
	Storage      string `json:"storage"`
	Type         string `json:"type"`
	Content      string `json:"content"`
	Shared       Bool   `json:"shared"`
	Enabled      Bool   `json:"enabled"`
	Active       Bool   `json:"active"`
	Total        Int    `json:"total"`
	Used         Int    `json:"used"`
	Avail        Int    `json:"avail"`
	UsedFraction Float  `json:"used_fraction"`
}

// StorageItem is one entry of GET /nodes/{node}/storage/{storage}/content.
type StorageItem struct {
	VolID        string `json:"volid"`   // "local:backup/vzdump-lxc-100-....tar.zst"
	Content      string `json:"content"` // backup, vztmpl, rootdir, images, iso
	Format       string `json:"format"`  // tar.zst, tzst, raw, subvol, ...
	Size         Int    `json:"size"`
	Used         Int    `json:"used,omitempty"`
	VMID         Int    `json:"vmid,omitempty"`
	CTime        Int    `json:"ctime,omitempty"`
	Notes        string `json:"notes,omitempty"`
	Protected    Bool   `json:"protected"`
	Subtype      string `json:"subtype,omitempty"` // lxc, qemu (backups)
	Parent       string `json:"parent,omitempty"`
	Verification *struct {
		State string `json:"state"`
		UPID  string `json:"upid"`
	} `json:"verification,omitempty"`
}

// Snapshot is one entry of GET /nodes/{node}/lxc/{vmid}/snapshot. The
// list always includes the pseudo-entry "current" ("You are here!").
type Snapshot struct {
	Name        string `json:"name"`
	Description string `json:"description"`
	SnapTime    Int    `json:"snaptime,omitempty"`
	Parent      string `json:"parent,omitempty"`
	SnapState   string `json:"snapstate,omitempty"`
	Running     Bool   `json:"running"` // "current" only
	Digest      string `json:"digest,omitempty"`
}

// Task is one entry of GET /nodes/{node}/tasks. Proxmox lists a running
// task with Status "RUNNING" and no EndTime (pve-manager Tasks.pm: "status
// = 'RUNNING' if !status"); a finished one has an EndTime and Status = its
// exit status ("OK", "WARNINGS: N", or the error). Use [Task.Running]
// rather than reading Status as an exit status.
type Task struct {
	UPID      string `json:"upid"`
	Node      string `json:"node"`
	PID       Int    `json:"pid"`
	PStart    Int    `json:"pstart"`
	StartTime Int    `json:"starttime"`
	EndTime   Int    `json:"endtime,omitempty"`
	Type      string `json:"type"`
	ID        string `json:"id"`
	User      string `json:"user"`
	TokenID   string `json:"tokenid,omitempty"`
	Status    string `json:"status,omitempty"`
}

// Running reports whether the task was still running when listed: status
// "RUNNING", or (as some servers list it) no status and no end time.
func (t Task) Running() bool {
	return t.Status == "RUNNING" || (t.Status == "" && t.EndTime == 0)
}

// TaskStatus is GET /nodes/{node}/tasks/{upid}/status.
type TaskStatus struct {
	UPID       string `json:"upid"`
	Node       string `json:"node"`
	PID        Int    `json:"pid"`
	PStart     Int    `json:"pstart"`
	StartTime  Int    `json:"starttime"`
	Type       string `json:"type"`
	ID         string `json:"id"` // always a string
	User       string `json:"user"`
	TokenID    string `json:"tokenid,omitempty"`
	Status     string `json:"status"`               // running, stopped
	ExitStatus string `json:"exitstatus,omitempty"` // only when stopped
}

// Running reports whether the task is still running.
func (s TaskStatus) Running() bool { return s.Status == "running" }

var warningsPattern = regexp.MustCompile(`^WARNINGS: (\d+)$`)

// Warnings returns N from an exit status "WARNINGS: N", which Proxmox
// counts as success.
func (s TaskStatus) Warnings() (n int, ok bool) {
	m := warningsPattern.FindStringSubmatch(s.ExitStatus)
	if m == nil {
		return 0, false
	}
	n, _ = strconv.Atoi(m[1])
	return n, true
}

// NetworkInterface is one entry of GET /nodes/{node}/network.
type NetworkInterface struct {
	Iface           string   `json:"iface"`
	Type            string   `json:"type"` // bridge, eth, bond, vlan, OVSBridge, ...
	Active          Bool     `json:"active"`
	Autostart       Bool     `json:"autostart"`
	Method          string   `json:"method,omitempty"`
	Method6         string   `json:"method6,omitempty"`
	Families        []string `json:"families,omitempty"`
	CIDR            string   `json:"cidr,omitempty"`
	Address         string   `json:"address,omitempty"`
	Netmask         string   `json:"netmask,omitempty"`
	Gateway         string   `json:"gateway,omitempty"`
	CIDR6           string   `json:"cidr6,omitempty"`
	BridgePorts     string   `json:"bridge_ports,omitempty"`
	BridgeVLANAware Bool     `json:"bridge_vlan_aware"`
	Comments        string   `json:"comments,omitempty"`
	MTU             Int      `json:"mtu,omitempty"` // 0: not set (1500)
}

// GuestInterface is one entry of GET /nodes/{node}/lxc/{vmid}/interfaces
// (LXC.pm get_interfaces, from `ip --json a` in the guest).
type GuestInterface struct {
	Name            string      `json:"name"`             // "eth0"; "lo" too
	HardwareAddress string      `json:"hardware-address"` // lower-case MAC
	IPAddresses     []IPAddress `json:"ip-addresses"`
}

// IPAddress is one address of a [GuestInterface].
type IPAddress struct {
	Type    string `json:"ip-address-type"` // "inet" or "inet6"
	Address string `json:"ip-address"`
	Prefix  Int    `json:"prefix"`
}

// PendingEntry is one entry of GET /nodes/{node}/lxc/{vmid}/pending: a
// config key with its active value, and the value waiting for the next
// start (or a pending deletion).
type PendingEntry struct {
	Key        string
	Value      string // the active value; "" when the key exists only in pending
	HasValue   bool
	Pending    string // the value applied at the next start
	HasPending bool
	Delete     bool // the key is deleted at the next start
}

// UnmarshalJSON decodes an entry whose values may be numbers or strings.
func (p *PendingEntry) UnmarshalJSON(b []byte) error {
	var raw struct {
		Key     string          `json:"key"`
		Value   json.RawMessage `json:"value"`
		Pending json.RawMessage `json:"pending"`
		Delete  json.RawMessage `json:"delete"` // 1, or 2 for a forced delete
	}
	if err := json.Unmarshal(b, &raw); err != nil {
		return fmt.Errorf("pending entry: %w", err)
	}
	del, _ := scalarText(raw.Delete)
	*p = PendingEntry{Key: raw.Key, Delete: del != "" && del != "0" && del != "false"}
	text := func(v json.RawMessage) (string, bool) {
		if len(v) == 0 {
			return "", false
		}
		s, isNull := scalarText(v)
		if isNull {
			return "", false
		}
		if v[0] == '"' {
			_ = json.Unmarshal(v, &s) // verbatim, untrimmed
		}
		return s, true
	}
	p.Value, p.HasValue = text(raw.Value)
	p.Pending, p.HasPending = text(raw.Pending)
	return nil
}

// NeedsRestart reports whether the entry waits for the next start.
func (p PendingEntry) NeedsRestart() bool { return p.HasPending || p.Delete }
