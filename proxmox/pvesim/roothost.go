package pvesim

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/felhom/felhom-converge/atomicfile"
	"github.com/felhom/felhom-converge/proxmox"
)

// RootHost stands in for the host itself under --sim, where the product
// would run root commands or read the host's file system: it plays
// findmnt and mount for storage.mount, keeping what is mounted where in
// DIR/mounts.json (mount point → file-system UUID), shows the host's
// directories as DIR/hostfs/PATH, and plays pct against Sim (the
// simulator of that DIR) as root@pam.
type RootHost struct {
	Dir string
	Sim *Sim // nil: pct is not there
}

func (h RootHost) mountsFile() string { return filepath.Join(h.Dir, "mounts.json") }

// Mounted reads what is mounted where: mount point → UUID.
func (h RootHost) Mounted() (map[string]string, error) {
	mounts := map[string]string{}
	b, err := os.ReadFile(h.mountsFile())
	if errors.Is(err, fs.ErrNotExist) {
		return mounts, nil
	}
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal(b, &mounts); err != nil {
		return nil, fmt.Errorf("%s: %w", h.mountsFile(), err)
	}
	return mounts, nil
}

// MountedUUIDs is proxmox.MountedUUIDs on the simulated host.
func (h RootHost) MountedUUIDs(wanted map[string]string) map[string]string {
	mounts, err := h.Mounted()
	if err != nil {
		return nil
	}
	out := map[string]string{}
	for mp, uuid := range wanted {
		if strings.EqualFold(mounts[mp], uuid) {
			out[mp] = mounts[mp]
		}
	}
	return out
}

// MountPoints lists the simulated host's mount points (its root too).
func (h RootHost) MountPoints() ([]string, error) {
	mounts, err := h.Mounted()
	if err != nil {
		return nil, err
	}
	out := []string{"/"}
	for mp := range mounts {
		out = append(out, mp)
	}
	return out, nil
}

// DirEntries counts the entries of a directory of the simulated host.
func (h RootHost) DirEntries(path string) (int, error) {
	entries, err := os.ReadDir(filepath.Join(h.Dir, "hostfs", filepath.Clean("/"+path)))
	if errors.Is(err, fs.ErrNotExist) {
		return 0, nil
	}
	return len(entries), err
}

type rootExit int

func (e rootExit) Error() string { return fmt.Sprintf("exit status %d", int(e)) }
func (e rootExit) ExitCode() int { return int(e) }

// Run plays the root commands of proxmox.Privileged (a proxmox.Runner).
func (h RootHost) Run(ctx context.Context, argv []string) ([]byte, []byte, error) {
	tools := proxmox.DefaultTools()
	if len(argv) > 0 && argv[0] == tools.Pct && h.Sim != nil {
		out, errText, code := h.Sim.Pct(ctx, argv[1:])
		if code != 0 {
			return []byte(out), []byte(errText), rootExit(code)
		}
		return []byte(out), []byte(errText), nil
	}
	mounts, err := h.Mounted()
	if err != nil {
		return nil, []byte(err.Error()), rootExit(2)
	}
	switch {
	case len(argv) > 0 && argv[0] == tools.Findmnt:
		mp := argv[len(argv)-1]
		uuid, ok := mounts[mp]
		if !ok {
			return nil, nil, rootExit(1)
		}
		out, _ := json.Marshal(map[string]any{"filesystems": []map[string]string{{"target": mp, "source": "/dev/disk/by-uuid/" + uuid, "uuid": uuid}}})
		return out, nil, nil
	case len(argv) == 3 && argv[0] == tools.Mount && strings.HasPrefix(argv[1], "UUID="):
		mounts[argv[2]] = strings.TrimPrefix(argv[1], "UUID=")
		b, _ := json.MarshalIndent(mounts, "", "  ")
		if err := atomicfile.WriteFile(h.mountsFile(), append(b, '\n'), 0o600); err != nil {
			return nil, []byte(err.Error()), rootExit(32)
		}
		return nil, nil, nil
	}
	return nil, []byte("simulated host: no such command"), rootExit(127)
}
