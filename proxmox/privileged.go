package proxmox

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

// Privileged runs the few operations that need root on the host itself,
// because no API token can do them (a token is never root@pam). It never
// opens a network connection: it holds only a [Runner], and every command
// is an argument vector (never a shell), built from validated arguments.
//
// In [ModeSudo] every command is run as "sudo -n <absolute path> ...", so
// the host's sudoers file can allow exactly these command lines to the
// service user; in [ModeDirect] the process is already root.
type Privileged struct {
	mode  Mode
	run   Runner
	tools Tools
}

// Runner executes one command, given as an argument vector whose first
// element is the program's absolute path. It returns what the command wrote
// to stdout and stderr. A command that ran and exited non-zero returns an
// error with an ExitCode() int method (as *exec.ExitError has). The real
// implementation is hostexec.Runner; tests use a fake.
type Runner interface {
	Run(ctx context.Context, argv []string) (stdout, stderr []byte, err error)
}

// Mode is how Privileged gains root.
type Mode string

const (
	ModeSudo   Mode = "sudo"   // prefix "sudo -n": a narrow sudoers allowlist, never a password prompt
	ModeDirect Mode = "direct" // run as is: the process is already root
)

// Tools are the absolute paths of the programs Privileged runs (Debian
// 12 / Proxmox VE 8 locations by default). A sudoers allowlist names the
// same paths.
type Tools struct {
	Sudo     string
	Pct      string
	Findmnt  string
	Mount    string
	Smartctl string
	Sensors  string
}

// DefaultTools are the programs' locations on a Proxmox VE 8 host.
func DefaultTools() Tools {
	return Tools{
		Sudo:     "/usr/bin/sudo",
		Pct:      "/usr/sbin/pct",
		Findmnt:  "/usr/bin/findmnt",
		Mount:    "/usr/bin/mount",
		Smartctl: "/usr/sbin/smartctl",
		Sensors:  "/usr/bin/sensors",
	}
}

// NewPrivileged returns a Privileged running commands through r. Zero
// fields of tools take their DefaultTools value.
func NewPrivileged(mode Mode, r Runner, tools Tools) (*Privileged, error) {
	if mode != ModeSudo && mode != ModeDirect {
		return nil, fmt.Errorf("privileged mode %q: want %q or %q", mode, ModeSudo, ModeDirect)
	}
	if r == nil {
		return nil, errors.New("privileged: no Runner")
	}
	def := DefaultTools()
	for _, f := range []struct {
		p *string
		d string
	}{
		{&tools.Sudo, def.Sudo}, {&tools.Pct, def.Pct}, {&tools.Findmnt, def.Findmnt},
		{&tools.Mount, def.Mount}, {&tools.Smartctl, def.Smartctl}, {&tools.Sensors, def.Sensors},
	} {
		if *f.p == "" {
			*f.p = f.d
		}
		if err := checkAbsPath(*f.p); err != nil {
			return nil, fmt.Errorf("privileged: tool path: %w", err)
		}
	}
	return &Privileged{mode: mode, run: r, tools: tools}, nil
}

// CommandError is a privileged command that could not run or exited
// non-zero. It names the command and carries its stderr, as os/exec's
// errors do.
type CommandError struct {
	Argv     []string // the command as run, sudo prefix included
	ExitCode int      // -1 when the command did not run to an exit
	Stderr   string   // trimmed, at most a few KiB
	Err      error
}

func (e *CommandError) Error() string {
	msg := fmt.Sprintf("%s: %v", strings.Join(e.Argv, " "), e.Err)
	if e.Stderr != "" {
		msg += ": " + e.Stderr
	}
	return msg
}

func (e *CommandError) Unwrap() error { return e.Err }

// maxStderr bounds the stderr kept in a CommandError.
const maxStderr = 4 << 10

// exec runs argv (with the sudo prefix in ModeSudo) and returns stdout.
// okCodes lists non-zero exit codes that still count as success; the
// exit code is returned in that case.
func (p *Privileged) exec(ctx context.Context, argv []string, okCode func(int) bool) (stdout []byte, code int, err error) {
	if p.mode == ModeSudo {
		argv = append([]string{p.tools.Sudo, "-n", "--"}, argv...)
	}
	stdout, stderr, err := p.run.Run(ctx, argv)
	if err == nil {
		return stdout, 0, nil
	}
	code = -1
	var ec interface{ ExitCode() int }
	if errors.As(err, &ec) {
		code = ec.ExitCode()
		if code > 0 && okCode != nil && okCode(code) {
			return stdout, code, nil
		}
	}
	msg := strings.TrimSpace(string(stderr))
	if len(msg) > maxStderr {
		msg = msg[:maxStderr] + "..."
	}
	return stdout, code, &CommandError{Argv: argv, ExitCode: code, Stderr: msg, Err: err}
}

var (
	// A template volid: storage:vztmpl/name.tar.{gz,xz,zst}.
	templatePattern = regexp.MustCompile(`^[a-zA-Z][a-zA-Z0-9._-]*[a-zA-Z0-9]:vztmpl/[a-zA-Z0-9][a-zA-Z0-9._+-]*\.tar\.(gz|xz|zst)$`)
	// A DNS name (pct's hostname).
	hostnamePattern = regexp.MustCompile(`^[a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?(\.[a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?)*$`)
	// A netN property string: key=value pairs of a safe alphabet.
	netPattern = regexp.MustCompile(`^name=[a-zA-Z0-9_.-]+(,[a-z0-9_]+=[a-zA-Z0-9_.:/;-]+)*$`)
	// Filesystem UUIDs: RFC 4122 (ext4, xfs, btrfs), XXXX-XXXX (vfat,
	// exfat), 16 hex digits (ntfs).
	fsUUIDPattern = regexp.MustCompile(`^([0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}|[0-9a-fA-F]{4}-[0-9a-fA-F]{4}|[0-9a-fA-F]{16})$`)
	// Block devices SMART can read.
	devicePattern = regexp.MustCompile(`^/dev/(sd[a-z]{1,2}|hd[a-z]|vd[a-z]{1,2}|nvme[0-9]{1,2}(n[0-9]{1,2})?|disk/by-id/[a-zA-Z0-9._:-]+)$`)
	// Path characters allowed in a mount point.
	pathPattern = regexp.MustCompile(`^[a-zA-Z0-9._/-]+$`)
)

// checkAbsPath: absolute, clean (no "..", no "//", no trailing "/"), of a
// plain alphabet.
func checkAbsPath(p string) error {
	if !filepath.IsAbs(p) || filepath.Clean(p) != p || p == "/" || !pathPattern.MatchString(p) {
		return fmt.Errorf("%q is not a clean absolute path", p)
	}
	for _, part := range strings.Split(p, "/") {
		if part == ".." || part == "." || strings.HasPrefix(part, "-") {
			return fmt.Errorf("%q is not a clean absolute path", p)
		}
	}
	return nil
}

// GoldenLXC describes the golden image CreateGoldenLXC creates.
type GoldenLXC struct {
	VMID      int    // the new guest
	Template  string // template volid, "local:vztmpl/debian-12-standard_12.7-1_amd64.tar.zst"
	Hostname  string // optional
	Storage   string // storage for the root disk, "local-lvm"
	RootFSGiB int    // root disk size in GiB (optional: Proxmox's default 4)
	MemoryMiB int    // optional (default 512)
	Cores     int    // optional (default: all host cores)
	Net0      string // optional netN property string, "name=eth0,bridge=vmbr0,ip=dhcp"
	// Features are the LXC features, "keyctl=1,nesting=1" (the default
	// when empty): flags of force_rw_sys, fuse, keyctl, mknod and nesting
	// set to 0 or 1, and mount=TYPE;TYPE, each once, comma-separated.
	Features string
}

// goldenFeatures is a features value CreateGoldenLXC passes: known flags
// as 0 or 1, and mount= file system types.
var goldenFeatures = regexp.MustCompile(`^(?:(force_rw_sys|fuse|keyctl|mknod|nesting)=[01]|mount=[a-zA-Z0-9_]+(;[a-zA-Z0-9_]+)*)$`)

func checkGoldenFeatures(s string) error {
	seen := map[string]bool{}
	for _, f := range strings.Split(s, ",") {
		k, _, _ := strings.Cut(f, "=")
		if !goldenFeatures.MatchString(f) || seen[k] {
			return fmt.Errorf("features %q: %q is not one of force_rw_sys, fuse, keyctl, mknod, nesting (=0 or 1) or mount=TYPE;TYPE, each once", s, f)
		}
		seen[k] = true
	}
	return nil
}

// CreateGoldenLXC creates an unprivileged container with the given
// features, keyctl=1 and nesting=1 by default (what Docker inside an LXC
// needs), by running "pct create VMID TEMPLATE --features keyctl=1,nesting=1 ...".
//
// Why not the API: Proxmox lets only root@pam set any feature flag other
// than nesting ("changing feature flags (except nesting) is only allowed
// for root@pam"), and no API token is ever root@pam, whatever its
// privileges. pct runs as root on the host and is not subject to that rule.
func (p *Privileged) CreateGoldenLXC(ctx context.Context, g GoldenLXC) error {
	if err := checkVMID(g.VMID); err != nil {
		return fmt.Errorf("create golden CT: %w", err)
	}
	if !templatePattern.MatchString(g.Template) {
		return fmt.Errorf("create golden CT %d: %q is not a template volume id (storage:vztmpl/NAME.tar.zst)", g.VMID, g.Template)
	}
	if err := checkStorageID(g.Storage); err != nil {
		return fmt.Errorf("create golden CT %d: %w", g.VMID, err)
	}
	if g.Hostname != "" && (len(g.Hostname) > 255 || !hostnamePattern.MatchString(g.Hostname)) {
		return fmt.Errorf("create golden CT %d: %q is not a DNS name", g.VMID, g.Hostname)
	}
	if g.Net0 != "" && !netPattern.MatchString(g.Net0) {
		return fmt.Errorf("create golden CT %d: net0 %q is not a plain name=...,key=value list", g.VMID, g.Net0)
	}
	if g.RootFSGiB < 0 || g.MemoryMiB < 0 || g.Cores < 0 || (g.MemoryMiB != 0 && g.MemoryMiB < 16) || g.Cores > 8192 {
		return fmt.Errorf("create golden CT %d: size, memory (>= 16 MiB) or cores out of range", g.VMID)
	}
	features := g.Features
	if features == "" {
		features = "keyctl=1,nesting=1"
	}
	if err := checkGoldenFeatures(features); err != nil {
		return fmt.Errorf("create golden CT %d: %w", g.VMID, err)
	}
	argv := []string{p.tools.Pct, "create", strconv.Itoa(g.VMID), g.Template,
		"--features", features, "--unprivileged", "1", "--storage", g.Storage}
	if g.RootFSGiB > 0 {
		argv = append(argv, "--rootfs", g.Storage+":"+strconv.Itoa(g.RootFSGiB))
	}
	if g.Hostname != "" {
		argv = append(argv, "--hostname", g.Hostname)
	}
	if g.MemoryMiB > 0 {
		argv = append(argv, "--memory", strconv.Itoa(g.MemoryMiB))
	}
	if g.Cores > 0 {
		argv = append(argv, "--cores", strconv.Itoa(g.Cores))
	}
	if g.Net0 != "" {
		argv = append(argv, "--net0", g.Net0)
	}
	if _, _, err := p.exec(ctx, argv, nil); err != nil {
		return fmt.Errorf("create golden CT %d: %w", g.VMID, err)
	}
	return nil
}

// BindMount is a mount point of a guest that bind-mounts a host directory.
type BindMount struct {
	VMID     int
	Slot     string // mp0 to mp255
	HostPath string // the host directory, absolute and clean
	Path     string // where the guest sees it, absolute and clean
	ReadOnly bool
}

var mpSlotPattern = regexp.MustCompile(`^mp(0|[1-9][0-9]{0,2})$`)

// SetBindMount adds a bind mount to a guest by running
// "pct set VMID --mpN HOST_PATH,mp=PATH[,ro=1]".
//
// Why not the API: Proxmox allows bind mounts only to root@pam ("mount
// point type bind is only allowed for root@pam"), and no API token is
// ever root@pam. Which host directories may be bound is the caller's
// decision (the local config's allowlist); this checks only their shape.
func (p *Privileged) SetBindMount(ctx context.Context, b BindMount) error {
	if err := checkVMID(b.VMID); err != nil {
		return fmt.Errorf("bind mount: %w", err)
	}
	n, _ := strconv.Atoi(strings.TrimPrefix(b.Slot, "mp"))
	if !mpSlotPattern.MatchString(b.Slot) || n > 255 {
		return fmt.Errorf("bind mount on CT %d: %q is not a mount point slot (mp0 to mp255)", b.VMID, b.Slot)
	}
	for _, path := range []string{b.HostPath, b.Path} {
		if err := checkAbsPath(path); err != nil {
			return fmt.Errorf("bind mount on CT %d: %w", b.VMID, err)
		}
	}
	value := b.HostPath + ",mp=" + b.Path
	if b.ReadOnly {
		value += ",ro=1"
	}
	if _, _, err := p.exec(ctx, []string{p.tools.Pct, "set", strconv.Itoa(b.VMID), "--" + b.Slot, value}, nil); err != nil {
		return fmt.Errorf("bind mount %s on CT %d: %w", b.HostPath, b.VMID, err)
	}
	return nil
}

// MountBusyError is a mount point already in use by another filesystem.
type MountBusyError struct {
	MountPoint string
	Source     string // what is mounted there, "/dev/sdb1"
	UUID       string // its filesystem UUID, when findmnt knows it
}

func (e *MountBusyError) Error() string {
	return fmt.Sprintf("mount point %s is already in use by %s (UUID %q)", e.MountPoint, e.Source, e.UUID)
}

// MountUSBByUUID mounts the filesystem with the given UUID (a USB backup
// disk) at mountpoint, under /mnt or /media. It first checks, read-only
// with findmnt, that nothing is mounted there: if the same filesystem
// already is, it does nothing; if another one is, it returns a
// *MountBusyError and mounts nothing.
//
// Why not the API: Proxmox's API can add a directory storage, but mounting
// a filesystem on the host is an OS operation only root can do, and the
// API has no call for it.
func (p *Privileged) MountUSBByUUID(ctx context.Context, uuid, mountpoint string) error {
	if !fsUUIDPattern.MatchString(uuid) {
		return fmt.Errorf("mount: %q is not a filesystem UUID", uuid)
	}
	if err := checkAbsPath(mountpoint); err != nil {
		return fmt.Errorf("mount UUID=%s: mount point: %w", uuid, err)
	}
	if !strings.HasPrefix(mountpoint, "/mnt/") && !strings.HasPrefix(mountpoint, "/media/") {
		return fmt.Errorf("mount UUID=%s: mount point %s is not under /mnt or /media", uuid, mountpoint)
	}
	// findmnt exits 1, printing nothing, when nothing is mounted there.
	out, code, err := p.exec(ctx, []string{p.tools.Findmnt, "--json", "--output", "TARGET,SOURCE,UUID", "--mountpoint", mountpoint},
		func(code int) bool { return code == 1 })
	if err != nil {
		return fmt.Errorf("mount UUID=%s: check %s: %w", uuid, mountpoint, err)
	}
	if code == 0 && len(bytes.TrimSpace(out)) > 0 {
		var fm struct {
			Filesystems []struct {
				Target string `json:"target"`
				Source string `json:"source"`
				UUID   string `json:"uuid"`
			} `json:"filesystems"`
		}
		if err := json.Unmarshal(out, &fm); err != nil {
			return fmt.Errorf("mount UUID=%s: check %s: findmnt output: %w", uuid, mountpoint, err)
		}
		for _, f := range fm.Filesystems {
			if f.Target != mountpoint {
				continue
			}
			if strings.EqualFold(f.UUID, uuid) {
				return nil // already mounted there
			}
			return &MountBusyError{MountPoint: mountpoint, Source: f.Source, UUID: f.UUID}
		}
	}
	if _, _, err := p.exec(ctx, []string{p.tools.Mount, "UUID=" + uuid, mountpoint}, nil); err != nil {
		return fmt.Errorf("mount UUID=%s on %s: %w", uuid, mountpoint, err)
	}
	return nil
}

// SMARTReport is the part of "smartctl --json -a" a health report uses.
type SMARTReport struct {
	Device        string // "/dev/sda"
	Type          string // "sat", "nvme"
	Protocol      string // "ATA", "NVMe", "SCSI"
	Model         string
	Serial        string
	Firmware      string
	CapacityBytes int64
	// Passed is the overall health self-assessment; nil when the device
	// did not report one.
	Passed *bool
	// TemperatureC is the current temperature; nil when not reported.
	TemperatureC *int
	PowerOnHours int64
	PowerCycles  int64
	Attributes   []SMARTAttribute // ATA attributes
	NVMe         *NVMeHealth      // NVMe health log
	// ExitStatus is smartctl's exit bitmask. Bits 0-1 (the command failed)
	// make SMART return an error instead; bits 2-7 are the disk's
	// warnings (e.g. bit 3: "disk failing", bit 5: attributes were below
	// threshold in the past).
	ExitStatus int
}

// SMARTAttribute is one row of the ATA attribute table.
type SMARTAttribute struct {
	ID         int    `json:"id"`
	Name       string `json:"name"`
	Value      int    `json:"value"`
	Worst      int    `json:"worst"`
	Thresh     int    `json:"thresh"`
	WhenFailed string `json:"when_failed"`
	Raw        struct {
		Value  int64  `json:"value"`
		String string `json:"string"`
	} `json:"raw"`
}

// NVMeHealth is the NVMe SMART / health information log.
type NVMeHealth struct {
	CriticalWarning  int   `json:"critical_warning"`
	Temperature      int   `json:"temperature"`
	AvailableSpare   int   `json:"available_spare"`
	PercentageUsed   int   `json:"percentage_used"`
	DataUnitsRead    int64 `json:"data_units_read"`
	DataUnitsWritten int64 `json:"data_units_written"`
	PowerCycles      int64 `json:"power_cycles"`
	PowerOnHours     int64 `json:"power_on_hours"`
	UnsafeShutdowns  int64 `json:"unsafe_shutdowns"`
	MediaErrors      int64 `json:"media_errors"`
	NumErrLogEntries int64 `json:"num_err_log_entries"`
}

// SMART reads a disk's SMART data with "smartctl --json -a DEVICE".
//
// Why not the API: Proxmox's GET /nodes/{node}/disks/smart returns its own
// parse of smartctl's text output (NVMe disks only as raw text) and drops
// smartctl's exit-status bits, which carry the "disk failing" verdicts.
// The full JSON report needs smartctl on the host, and opening the block
// device for SMART commands needs root.
func (p *Privileged) SMART(ctx context.Context, device string) (SMARTReport, error) {
	if !devicePattern.MatchString(device) || filepath.Clean(device) != device {
		return SMARTReport{}, fmt.Errorf("smart: %q is not a disk device under /dev", device)
	}
	// Bits 0-1 of smartctl's exit status mean it could not read the device;
	// higher bits report the disk's state, and the JSON is still complete.
	out, code, err := p.exec(ctx, []string{p.tools.Smartctl, "--json", "-a", device}, func(code int) bool { return code&3 == 0 })
	if err != nil {
		return SMARTReport{}, fmt.Errorf("smart %s: %w", device, err)
	}
	r, err := parseSMART(out)
	if err != nil {
		return SMARTReport{}, fmt.Errorf("smart %s: %w", device, err)
	}
	r.ExitStatus = code
	return r, nil
}

func parseSMART(out []byte) (SMARTReport, error) {
	var j struct {
		Device struct {
			Name     string `json:"name"`
			Type     string `json:"type"`
			Protocol string `json:"protocol"`
		} `json:"device"`
		ModelName       string `json:"model_name"`
		SerialNumber    string `json:"serial_number"`
		FirmwareVersion string `json:"firmware_version"`
		UserCapacity    struct {
			Bytes int64 `json:"bytes"`
		} `json:"user_capacity"`
		SmartStatus *struct {
			Passed bool `json:"passed"`
		} `json:"smart_status"`
		Temperature *struct {
			Current int `json:"current"`
		} `json:"temperature"`
		PowerOnTime struct {
			Hours int64 `json:"hours"`
		} `json:"power_on_time"`
		PowerCycleCount    int64 `json:"power_cycle_count"`
		ATASmartAttributes struct {
			Table []SMARTAttribute `json:"table"`
		} `json:"ata_smart_attributes"`
		NVMe *NVMeHealth `json:"nvme_smart_health_information_log"`
	}
	if err := json.Unmarshal(out, &j); err != nil {
		return SMARTReport{}, fmt.Errorf("smartctl output: %w", err)
	}
	r := SMARTReport{
		Device: j.Device.Name, Type: j.Device.Type, Protocol: j.Device.Protocol,
		Model: j.ModelName, Serial: j.SerialNumber, Firmware: j.FirmwareVersion,
		CapacityBytes: j.UserCapacity.Bytes, PowerOnHours: j.PowerOnTime.Hours, PowerCycles: j.PowerCycleCount,
		Attributes: j.ATASmartAttributes.Table, NVMe: j.NVMe,
	}
	if j.SmartStatus != nil {
		passed := j.SmartStatus.Passed
		r.Passed = &passed
	}
	if j.Temperature != nil {
		t := j.Temperature.Current
		r.TemperatureC = &t
	}
	return r, nil
}

// SensorChip is one chip of "sensors -j" (coretemp, nvme, acpitz, ...).
type SensorChip struct {
	Name     string // "coretemp-isa-0000"
	Adapter  string // "ISA adapter"
	Features []SensorFeature
}

// SensorFeature is one labelled sensor of a chip, with its subfeatures
// ("temp1_input": 42, "temp1_crit": 100).
type SensorFeature struct {
	Label  string
	Values map[string]float64
}

// Input returns the current reading: the value of the *_input subfeature.
func (f SensorFeature) Input() (float64, bool) {
	for k, v := range f.Values {
		if strings.HasSuffix(k, "_input") {
			return v, true
		}
	}
	return 0, false
}

// Sensors reads the host's hardware sensors with "sensors -j".
//
// Why not the API: Proxmox VE 8's API has no hardware-sensor endpoint;
// lm-sensors reads them from the host's /sys.
func (p *Privileged) Sensors(ctx context.Context) ([]SensorChip, error) {
	out, _, err := p.exec(ctx, []string{p.tools.Sensors, "-j"}, nil)
	if err != nil {
		return nil, fmt.Errorf("sensors: %w", err)
	}
	chips, err := parseSensors(out)
	if err != nil {
		return nil, fmt.Errorf("sensors: %w", err)
	}
	return chips, nil
}

func parseSensors(out []byte) ([]SensorChip, error) {
	var raw map[string]map[string]json.RawMessage
	if err := json.Unmarshal(out, &raw); err != nil {
		return nil, fmt.Errorf("sensors output: %w", err)
	}
	chips := make([]SensorChip, 0, len(raw))
	for name, entries := range raw {
		chip := SensorChip{Name: name}
		for label, v := range entries {
			if label == "Adapter" {
				if err := json.Unmarshal(v, &chip.Adapter); err != nil {
					return nil, fmt.Errorf("sensors output: %s: adapter: %w", name, err)
				}
				continue
			}
			var values map[string]float64
			if err := json.Unmarshal(v, &values); err != nil {
				return nil, fmt.Errorf("sensors output: %s: %s: %w", name, label, err)
			}
			chip.Features = append(chip.Features, SensorFeature{Label: label, Values: values})
		}
		sort.Slice(chip.Features, func(i, j int) bool { return chip.Features[i].Label < chip.Features[j].Label })
		chips = append(chips, chip)
	}
	sort.Slice(chips, func(i, j int) bool { return chips[i].Name < chips[j].Name })
	return chips, nil
}
