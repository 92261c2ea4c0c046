package pvesim

// Storages as pve-storage sees them: activation (a directory storage with
// is_mountpoint is active only while its disk is mounted), volume names
// per plugin (parse_volname), and adding storages and mounts to the
// simulated node.

import (
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// mountpoint is DirPlugin parse_is_mountpoint: the path that must be a
// mount point for the storage to be active, or "".
func (s *storage) mountpoint() string {
	v := s.IsMountpoint
	switch strings.ToLower(v) {
	case "", "0", "no", "off", "false":
		return ""
	case "1", "yes", "on", "true":
		return s.Path
	}
	return v
}

// activate is activate_storage: a directory storage with is_mountpoint
// whose disk is not mounted cannot be activated.
func (st *state) activate(s *storage) error {
	if mp := s.mountpoint(); mp != "" && !slices.Contains(st.Mounts, mp) {
		return fmt.Errorf("unable to activate storage '%s' - directory is expected to be a mount point but is not mounted: '%s'", s.ID, mp)
	}
	return nil
}

var (
	dirImagePattern  = regexp.MustCompile(`^(\d+)/(\S+)$`)
	dirBackupPattern = regexp.MustCompile(`^backup/([^/]+\.(tgz|(tar|vma)(\.(gz|lzo|zst|bz2))?))$`)
	dirOwnerPattern  = regexp.MustCompile(`^vzdump-(openvz|lxc|qemu)-(\d+)-.+`)
	dirVztmplPattern = regexp.MustCompile(`(?i)^vztmpl/[^/]+\.tar\.(gz|xz|zst|bz2)$`)
	dirISOPattern    = regexp.MustCompile(`(?i)^iso/[^/]+\.(iso|img)$`)
	lvmNamePattern   = regexp.MustCompile(`^(vm|base)-(\d+)-\S+$`)
	zfsNamePattern   = regexp.MustCompile(`^(base|basevol|vm|subvol)-(\d+)-\S+$`)
	pbsNamePattern   = regexp.MustCompile(`^backup/([^\s_]+)/([^\s_]+)/([0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z)$`)
)

// parseVolname is the storage plugin's parse_volname: the volume's type
// (images, backup, vztmpl, iso) and owner (0: none).
func (s *storage) parseVolname(name string) (vtype string, owner int, err error) {
	atoi := func(v string) int { n, _ := strconv.Atoi(v); return n }
	switch s.Type {
	case "lvmthin":
		if m := lvmNamePattern.FindStringSubmatch(name); m != nil {
			return "images", atoi(m[2]), nil
		}
		return "", 0, fmt.Errorf("unable to parse lvm volume name '%s'", name)
	case "zfspool":
		if m := zfsNamePattern.FindStringSubmatch(name); m != nil {
			return "images", atoi(m[2]), nil
		}
		return "", 0, fmt.Errorf("unable to parse zfs volume name '%s'", name)
	case "pbs":
		if m := pbsNamePattern.FindStringSubmatch(name); m != nil {
			if _, err := strconv.Atoi(m[2]); err == nil {
				return "backup", atoi(m[2]), nil
			}
			return "backup", 0, nil
		}
		return "", 0, fmt.Errorf("unable to parse PBS volume name '%s'", name)
	}
	switch {
	case dirImagePattern.MatchString(name):
		return "images", atoi(dirImagePattern.FindStringSubmatch(name)[1]), nil
	case dirISOPattern.MatchString(name):
		return "iso", 0, nil
	case dirVztmplPattern.MatchString(name):
		return "vztmpl", 0, nil
	case dirBackupPattern.MatchString(name):
		if m := dirOwnerPattern.FindStringSubmatch(dirBackupPattern.FindStringSubmatch(name)[1]); m != nil {
			return "backup", atoi(m[2]), nil
		}
		return "backup", 0, nil
	}
	return "", 0, fmt.Errorf("unable to parse directory volume name '%s'", name)
}

// StorageSpec is a storage to add to the simulated node's storage.cfg.
type StorageSpec struct {
	ID      string `json:"storage"`
	Type    string `json:"type"`    // dir, lvmthin, zfspool or pbs
	Content string `json:"content"` // e.g. "backup" or "images,rootdir"
	// Path is a dir storage's directory; IsMountpoint ("yes" for the path
	// itself, or another path) makes it active only while that path is
	// mounted (see Sim.SetMounted).
	Path         string `json:"path,omitempty"`
	IsMountpoint string `json:"is_mountpoint,omitempty"`
	VGName       string `json:"vgname,omitempty"`   // lvmthin
	ThinPool     string `json:"thinpool,omitempty"` // lvmthin
	Pool         string `json:"pool,omitempty"`     // zfspool
	// Server, Datastore and Username name a Proxmox Backup Server
	// datastore (pbs).
	Server       string `json:"server,omitempty"`
	Datastore    string `json:"datastore,omitempty"`
	Username     string `json:"username,omitempty"`
	PruneBackups string `json:"prune-backups,omitempty"`
	Total        int64  `json:"total,omitempty"` // bytes; default 100 GiB
}

// storageContents are the content types each storage type can hold.
var storageContents = map[string][]string{
	"dir":     {"backup", "images", "iso", "rootdir", "snippets", "vztmpl"},
	"lvmthin": {"images", "rootdir"},
	"zfspool": {"images", "rootdir"},
	"pbs":     {"backup"},
}

// AddStorage adds a storage to the simulated node and saves the state.
func (s *Sim) AddStorage(spec StorageSpec) error {
	stor, err := spec.storage()
	if err != nil {
		return fmt.Errorf("add storage: %w", err)
	}
	return s.change(func(st *state) error {
		if st.storage(stor.ID) != nil {
			return fmt.Errorf("add storage: storage ID '%s' already defined", stor.ID)
		}
		st.Storages = append(st.Storages, stor)
		return nil
	})
}

func (spec StorageSpec) storage() (*storage, error) {
	if !storageIDRegexp.MatchString(spec.ID) {
		return nil, fmt.Errorf("storage ID %q is not a valid storage ID", spec.ID)
	}
	allowed, ok := storageContents[spec.Type]
	if !ok {
		return nil, fmt.Errorf("storage type %q is not one of dir, lvmthin, zfspool, pbs", spec.Type)
	}
	content := splitList(spec.Content)
	if len(content) == 0 {
		return nil, fmt.Errorf("storage %s needs a content type", spec.ID)
	}
	for _, c := range content {
		if !slices.Contains(allowed, c) {
			return nil, fmt.Errorf("storage type %s does not hold content %q", spec.Type, c)
		}
	}
	need := map[string]string{"dir": spec.Path, "lvmthin": spec.VGName + spec.ThinPool, "zfspool": spec.Pool, "pbs": spec.Server + spec.Datastore}
	if need[spec.Type] == "" || (spec.Type == "pbs" && (spec.Server == "" || spec.Datastore == "")) ||
		(spec.Type == "lvmthin" && (spec.VGName == "" || spec.ThinPool == "")) {
		return nil, fmt.Errorf("storage %s of type %s lacks its location (path, vgname and thinpool, pool, or server and datastore)", spec.ID, spec.Type)
	}
	if spec.IsMountpoint != "" && spec.Type != "dir" {
		return nil, fmt.Errorf("is_mountpoint is a dir storage option")
	}
	if spec.PruneBackups != "" {
		if err := checkPrune(spec.PruneBackups); err != nil {
			return nil, fmt.Errorf("prune-backups: %w", err)
		}
	}
	total := spec.Total
	if total <= 0 {
		total = 100 << 30
	}
	username := spec.Username
	if spec.Type == "pbs" && username == "" {
		username = "root@pam"
	}
	return &storage{ID: spec.ID, Type: spec.Type, Path: spec.Path, VGName: spec.VGName, ThinPool: spec.ThinPool,
		Pool: spec.Pool, Server: spec.Server, Datastore: spec.Datastore, Username: username, Content: content,
		Total: total, PruneBackups: spec.PruneBackups, IsMountpoint: spec.IsMountpoint, Volumes: map[string]*volume{}}, nil
}

// SetMounted mounts or unmounts a path on the simulated host: a dir
// storage with is_mountpoint on that path is active only while it is
// mounted. The state is saved.
func (s *Sim) SetMounted(path string, mounted bool) error {
	if !strings.HasPrefix(path, "/") {
		return fmt.Errorf("mount: %q is not an absolute path", path)
	}
	return s.change(func(st *state) error {
		st.Mounts = slices.DeleteFunc(st.Mounts, func(p string) bool { return p == path })
		if mounted {
			st.Mounts = append(st.Mounts, path)
		}
		return nil
	})
}

// filePath is where a directory storage keeps volume name.
func (s *storage) filePath(name string) string {
	for prefix, dir := range map[string]string{"backup/": "dump/", "vztmpl/": "template/cache/", "iso/": "template/iso/"} {
		if rest, ok := strings.CutPrefix(name, prefix); ok {
			return s.Path + "/" + dir + rest
		}
	}
	return s.Path + "/images/" + name
}

// shared is 1 for the storage types pve-storage counts as shared
// (@SHARED_STORAGE: a Proxmox Backup Server is reachable from every node).
func (s *storage) shared() int {
	if s.Type == "pbs" {
		return 1
	}
	return 0
}
