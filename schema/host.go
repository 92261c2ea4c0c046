package schema

import (
	"fmt"
	"strings"
	"time"

	"github.com/hashicorp/hcl/v2"
)

// Host is one host's desired state, typed and canonical. Every block keeps
// the range of its header (DeclRange) and of each attribute it set
// (AttrRanges, keyed by attribute name), so later stages can point at the
// file line that asked for a change.
type Host struct {
	Name      string // the felhom host name (the host block's label)
	Node      string // the Proxmox node name
	DeclRange hcl.Range
	NodeRange hcl.Range // of the node attribute

	Guests   []Guest   // sorted by VMID
	Goldens  []Golden  // sorted by name
	Jobs     []Job     // in file order
	Storages []Storage // sorted by name
	Signers  *Signers  // nil when the file has no signers block
}

// Guest is one declarative LXC guest. Unset optional fields are zero (nil
// for pointers and slices) and mean "leave the live value alone": omission
// never changes anything.
type Guest struct {
	Name       string // the block label, used by jobs to refer to the guest
	VMID       int
	State      State
	Hostname   string
	FromBackup string // volid of the vzdump archive a new guest is restored from
	// FromTemplate is the volid of the container template a new guest is
	// created from (STORAGE:vztmpl/NAME.tar.zst); at most one of it and
	// FromBackup is set.
	FromTemplate string
	// FromGolden is the golden image a new guest is restored from
	// (from_backup = golden.NAME): its newest archive.
	FromGolden string
	// SSHPublicKeys are root's authorized keys in a guest created from a
	// template, one OpenSSH public key line each; used at creation only.
	SSHPublicKeys []string
	Cores         int    // 0: unset
	Memory        int64  // MiB; 0: unset
	Swap          *int64 // MiB
	Tags          []string
	// Description is the guest's notes in the form Proxmox reads them
	// back ("Company website\n": each line ends in a newline); nil leaves
	// them alone, "" removes them.
	Description  *string
	OnBoot       *bool
	Protection   *bool
	Unprivileged *bool
	// Nameservers and SearchDomains are the guest's DNS settings, in
	// file order; nil leaves them alone, empty removes them (the guest
	// then uses the host's).
	Nameservers   []string
	SearchDomains []string
	CPULimit      *float64 // 0 to 8192 CPUs; 0 is no limit
	CPUUnits      *int     // CPU weight, 0 to 500000
	Timezone      string   // "host", "UTC" or a tzdata zone; "": unset
	Startup       *Startup
	Features      *Features
	Rootfs        *Rootfs
	Mounts        []Mount    // in file order
	Networks      []Network  // in file order
	Snapshots     []Snapshot // in file order
	// RemoveVolumes lists detached volumes (unusedN keys or volids) that
	// should be freed.
	RemoveVolumes []string
	// RebootAfterUpdate lets apply reboot the running guest when a change
	// takes effect only at its next start. Off by default: never an
	// unannounced reboot.
	RebootAfterUpdate bool

	DeclRange  hcl.Range
	AttrRanges map[string]hcl.Range
}

// State is a guest's desired power or existence state.
type State string

// The guest states. StateRunning is the default.
const (
	StateRunning State = "running"
	StateStopped State = "stopped"
	StateAbsent  State = "absent"
)

// Features are the LXC feature flags (features: nesting=1,keyctl=1,...).
// Nil flags are left as they are live.
type Features struct {
	Nesting    *bool
	Keyctl     *bool
	Fuse       *bool
	Mknod      *bool
	ForceRWSys *bool
	Mount      []string // file system types allowed to mount

	DeclRange  hcl.Range
	AttrRanges map[string]hcl.Range
}

// String renders the features as a Proxmox property string, in Proxmox's
// key order, with only the flags the file sets.
func (f *Features) String() string {
	var parts []string
	add := func(k string, v *bool) {
		if v != nil {
			parts = append(parts, k+"="+boolDigit(*v))
		}
	}
	add("force_rw_sys", f.ForceRWSys)
	add("fuse", f.Fuse)
	add("keyctl", f.Keyctl)
	add("mknod", f.Mknod)
	if f.Mount != nil {
		parts = append(parts, "mount="+strings.Join(f.Mount, ";"))
	}
	add("nesting", f.Nesting)
	return strings.Join(parts, ",")
}

func boolDigit(b bool) string {
	if b {
		return "1"
	}
	return "0"
}

// Startup is the guest's start and shutdown order at host boot
// (Proxmox's startup: order=N,up=N,down=N). A field left out is unset:
// the block declares the whole value.
type Startup struct {
	Order, Up, Down *int

	DeclRange  hcl.Range
	AttrRanges map[string]hcl.Range
}

// String renders the startup value in Proxmox's form, with the fields
// set.
func (s *Startup) String() string {
	var parts []string
	for _, f := range []struct {
		k string
		v *int
	}{{"order", s.Order}, {"up", s.Up}, {"down", s.Down}} {
		if f.v != nil {
			parts = append(parts, fmt.Sprintf("%s=%d", f.k, *f.v))
		}
	}
	return strings.Join(parts, ",")
}

// Rootfs is the guest's root file system volume.
type Rootfs struct {
	Storage string
	Size    Size

	DeclRange  hcl.Range
	AttrRanges map[string]hcl.Range
}

// Mount is a mount point (mpN): either a storage volume (Storage and Size)
// or a bind mount of a host directory (HostPath).
type Mount struct {
	Name     string // the block label
	Path     string // absolute, clean path inside the guest
	Storage  string
	Size     Size
	HostPath string
	Backup   *bool // volume mounts only
	ReadOnly *bool
	// MountOptions are Proxmox's mount options (noatime, nodev, ...),
	// sorted; nil leaves them as they are, empty removes them.
	MountOptions []string

	DeclRange  hcl.Range
	AttrRanges map[string]hcl.Range
}

// Network is one interface (netN). Hwaddr is upper case; empty means keep
// the live MAC address.
type Network struct {
	Name     string // interface name inside the guest, e.g. eth0
	Bridge   string
	IP       string // CIDR, "dhcp" or "manual"; empty: unset
	Gateway  string
	IP6      string // CIDR, "auto", "dhcp" or "manual"; empty: unset
	Gateway6 string
	Hwaddr   string
	VLAN     int // 0: untagged
	Firewall *bool
	MTU      int      // 0: unset (the bridge's)
	Rate     *float64 // MB/s; 0 is no limit

	DeclRange  hcl.Range
	AttrRanges map[string]hcl.Range
}

// Snapshot is a snapshot the guest should have.
type Snapshot struct {
	Name        string
	Description string // as Proxmox reads it back, like Guest.Description

	DeclRange  hcl.Range
	AttrRanges map[string]hcl.Range
}

// Job is a one-shot imperative operation. Its ID is unique in the file; the
// journal records that it ran, so it runs at most once per host.
type Job struct {
	ID string
	Op string // one of Ops
	// Guest is the name of the guest block the job runs on. It is empty
	// when the job names, by vmid, a guest the file does not declare.
	Guest    string
	VMID     int    // the guest's VMID, always set
	Snapshot string // snapshot.rollback, snapshot.delete
	Backup   string // guest.restore_over: volid of the archive
	Storage  string // backup.create: target storage; empty: the node default
	Mode     string // backup.create: snapshot, suspend or stop; empty: snapshot
	Prune    bool   // backup.create: apply the storage's retention (remove=1)
	Golden   string // golden.rebuild: the golden image to build again
	// NotAfter, when set, is the time after which the job never runs (a
	// job written for a maintenance window does not run weeks later).
	NotAfter time.Time

	DeclRange  hcl.Range
	AttrRanges map[string]hcl.Range
}

// The job operations, named as the plan names its steps.
const (
	OpSnapshotRollback = "snapshot.rollback"
	OpGuestRestoreOver = "guest.restore_over"
	OpSnapshotDelete   = "snapshot.delete"
	OpBackupCreate     = "backup.create"
	OpGuestReboot      = "guest.reboot"
	OpGoldenRebuild    = "golden.rebuild"
)

// Ops lists every operation a job may name.
var Ops = []string{OpSnapshotRollback, OpGuestRestoreOver, OpSnapshotDelete, OpBackupCreate, OpGuestReboot, OpGoldenRebuild}

// Storage is host storage mounted by file system UUID (a USB backup disk).
type Storage struct {
	Name       string
	USBUUID    string
	Mountpoint string

	DeclRange  hcl.Range
	AttrRanges map[string]hcl.Range
}

// Guest returns the guest with the given block name, or nil.
func (h *Host) Guest(name string) *Guest {
	for i := range h.Guests {
		if h.Guests[i].Name == name {
			return &h.Guests[i]
		}
	}
	return nil
}

// GuestByVMID returns the guest with the given VMID, or nil.
func (h *Host) GuestByVMID(vmid int) *Guest {
	for i := range h.Guests {
		if h.Guests[i].VMID == vmid {
			return &h.Guests[i]
		}
	}
	return nil
}

// WrongHostError says that a desired-state file was written for another
// host than the one it is being applied to.
type WrongHostError struct {
	Want  string // the local host name
	Got   string // the file's host block label
	Range hcl.Range
}

func (e *WrongHostError) Error() string {
	return fmt.Sprintf("%s:%d: desired state is for host %q, but this host is %q",
		e.Range.Filename, e.Range.Start.Line, e.Got, e.Want)
}

// CheckHost refuses a file written for another host: it returns a
// *WrongHostError unless the file's host name equals name.
func (h *Host) CheckHost(name string) error {
	if h.Name != name {
		return &WrongHostError{Want: name, Got: h.Name, Range: h.DeclRange}
	}
	return nil
}

// WrongNodeError says that a desired-state file names another Proxmox node
// than the one the local config reaches.
type WrongNodeError struct {
	Want  string // the local config's node
	Got   string // the host block's node
	Range hcl.Range
}

func (e *WrongNodeError) Error() string {
	return fmt.Sprintf("%s:%d: the host block names node %q, but the local config's node is %q",
		e.Range.Filename, e.Range.Start.Line, e.Got, e.Want)
}

// Hint says how to make the two agree.
func (e *WrongNodeError) Hint() string {
	return fmt.Sprintf("set node = %q in the host block if that is this host's Proxmox node (pvesh get /nodes lists it), "+
		"else set the local config's proxmox.node (or FELHOM_CONVERGE_PROXMOX_NODE) to %q", e.Want, e.Got)
}

// CheckNode refuses a file that names another node: it returns a
// *WrongNodeError unless the host block's node is empty or equals node.
func (h *Host) CheckNode(node string) error {
	if h.Node != "" && h.Node != node {
		return &WrongNodeError{Want: node, Got: h.Node, Range: h.NodeRange}
	}
	return nil
}
