package schema

import (
	"fmt"
	"path"
	"regexp"
	"strings"
	"unicode"

	"github.com/felhom/felhom-converge/printable"

	"github.com/hashicorp/hcl/v2"
)

// The name rules, mostly as Proxmox's JSON schema formats define them.
var (
	// dns-name: labels of letters, digits and inner hyphens.
	hostnamePattern = regexp.MustCompile(`^(?i:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)(?:\.(?i:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?))*$`)
	// pve-node: a single DNS label.
	nodePattern = regexp.MustCompile(`^(?i:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)$`)
	// pve-storage-id.
	storageIDPattern = regexp.MustCompile(`^[a-z][a-z0-9\-_.]*[a-z0-9]$`)
	// pve-tag.
	tagPattern = regexp.MustCompile(`^[a-z0-9_][a-z0-9_\-+.]*$`)
	// pve-configid, as snapshot names use it (at most 40 characters).
	snapshotPattern = regexp.MustCompile(`^[a-zA-Z][a-zA-Z0-9_\-]{1,39}$`)
	// A Linux network interface name: at most 15 characters, no slash,
	// colon or white space.
	ifnamePattern = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9_.\-]{0,14}$`)
	// Labels the file chooses itself: guest, mount, job and signer names.
	labelPattern  = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9_.@+\-]{0,63}$`)
	vmidPattern   = regexp.MustCompile(`^[0-9]+$`)
	unusedPattern = regexp.MustCompile(`^unused(?:0|[1-9][0-9]?|1[0-9][0-9]|2[0-4][0-9]|25[0-5])$`)
	// File system UUIDs: RFC 4122, vfat/exfat serials (1234-ABCD), NTFS
	// serials (16 hex digits).
	uuidPattern = regexp.MustCompile(`^(?i:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|[0-9a-f]{4}-[0-9a-f]{4}|[0-9a-f]{16})$`)
)

// checkVolid validates a Proxmox volume ID, STORAGE:VOLNAME.
func checkVolid(s string) error {
	storage, name, ok := strings.Cut(s, ":")
	switch {
	case !ok:
		return fmt.Errorf("%q is not a volume ID: write STORAGE:NAME, such as local:backup/vzdump-lxc-100-2026_11_26-02_00_05.tar.zst", s)
	case !storageIDPattern.MatchString(storage):
		return fmt.Errorf("%q is not a volume ID: %q is not a storage name", s, storage)
	case name == "" || strings.ContainsAny(name, " \t\r\n\x00,=;"):
		return fmt.Errorf("%q is not a volume ID: the volume name must be non-empty, without spaces, commas, '=' or ';'", s)
	}
	for _, part := range strings.Split(name, "/") {
		if part == ".." || part == "." || part == "" {
			return fmt.Errorf("%q is not a volume ID: the volume name has an empty, '.' or '..' path element", s)
		}
	}
	return nil
}

// volumeNamePattern finds the owning VMID in the names Proxmox gives guest
// volumes: vm-100-disk-0 (lvm, lvmthin, rbd), subvol-100-disk-0 (zfs),
// base-100-disk-0 (templates), 100/vm-100-disk-0.raw (dir).
var volumeNamePattern = regexp.MustCompile(`^(?:[0-9]+/)?(?:vm|subvol|base)-([0-9]+)-disk-[0-9]+(?:\.[a-z0-9]+)?$`)

// volumeOwner returns the VMID a volume ID's name assigns it to, if the
// name follows Proxmox's pattern.
func volumeOwner(volid string) (string, bool) {
	_, name, _ := strings.Cut(volid, ":")
	m := volumeNamePattern.FindStringSubmatch(name)
	if m == nil {
		return "", false
	}
	return m[1], true
}

// absPath reads a path attribute that must be absolute and clean; a bad
// value is reported with summary and detail (": reason." is appended) and
// gives "".
func (d *decoder) absPath(a *hcl.Attribute, summary, detail string) string {
	v, ok := d.str(a)
	if !ok {
		return ""
	}
	if err := checkAbsPath(v); err != nil {
		d.errorf(a.Expr.Range(), summary, detail+": %s.", err)
		return ""
	}
	return v
}

// checkAbsPath validates an absolute, clean path other than "/".
func checkAbsPath(p string) error {
	switch {
	case !strings.HasPrefix(p, "/"):
		return fmt.Errorf("%q is not an absolute path", p)
	case p == "/":
		return fmt.Errorf("the path must not be the root directory")
	case path.Clean(p) != p:
		return fmt.Errorf("%q is not clean; write %q", p, path.Clean(p))
	case strings.ContainsAny(p, ",;="):
		return fmt.Errorf("%q contains a character Proxmox cannot store in a config (comma, ';' or '=')", p)
	case strings.ContainsFunc(p, unsafeInLog):
		return fmt.Errorf("%q contains a quote, a backslash or a control character (text-direction marks included), which Proxmox writes into task logs as they are", p)
	}
	return nil
}

// unsafeInLog reports a character a Proxmox task log would echo verbatim
// and a reader could take for the log's own text, or that would reorder
// or hide what a reader sees (printable.IsControl: bidirectional
// overrides and marks, line separators).
func unsafeInLog(r rune) bool {
	return r == '\'' || r == '"' || r == '\\' || unicode.IsControl(r) || printable.IsControl(r)
}

// checkBackupVolid validates the volume ID of a vzdump archive,
// STORAGE:backup/NAME (on PBS too).
func checkBackupVolid(s string) error {
	if err := checkVolid(s); err != nil {
		return err
	}
	if _, name, _ := strings.Cut(s, ":"); !strings.HasPrefix(name, "backup/") {
		return fmt.Errorf("%q is not a backup archive: write STORAGE:backup/NAME", s)
	}
	return nil
}
