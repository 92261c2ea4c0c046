package plan

import (
	"maps"
	"slices"
	"strings"

	"github.com/felhom/felhom-converge/printable"
	"github.com/felhom/felhom-converge/proxmox"
)

// The volumes of a guest, as a destroy, a restore over, a rebuild and a
// safety backup see them. The planner names them in a step's params and
// apply checks the live guest against them with the same functions, so a
// signature covers exactly what the executor will find.

// Configs splits GET pending's entries into the active config and the
// config as it will be after the next start (pending values applied).
func Configs(entries []proxmox.PendingEntry) (current, effective map[string]string, digest string) {
	lg := &LiveGuest{}
	lg.fromPending(entries)
	return lg.Current, lg.Effective, lg.Digest
}

// SafeLogText reports whether s can be written into a Proxmox task log
// without being mistaken for the log's own text, and shown without
// reordering what a reader sees: no quote, no backslash, no control or
// text-direction character (printable.IsControl). Mount paths must be;
// vzdump echoes them verbatim.
func SafeLogText(s string) bool {
	for _, r := range s {
		if r == '\'' || r == '"' || r == '\\' || printable.IsControl(r) {
			return false
		}
	}
	return true
}

// OwnedVolumes lists, sorted, the storage volumes a destroy, a restore
// over or a rebuild frees, given the guest's configs: rootfs, every volume
// mount point and every unusedN. Pass both the active config and the one
// with pending changes applied: a mount point whose removal waits for the
// next start is still the guest's. Bind mounts are not the guest's.
func OwnedVolumes(configs ...map[string]string) []string {
	seen := map[string]bool{}
	for _, conf := range configs {
		for k, v := range conf {
			switch {
			case k == "rootfs" || mpKeyRe.MatchString(k):
				if m, err := ParseMount(k, v); err == nil && !m.Bind && m.Volume != "" && strings.Contains(m.Volume, ":") {
					seen[m.Volume] = true
				}
			case unusedKeyRe.MatchString(k):
				seen[v] = true
			}
		}
	}
	vols := slices.Sorted(maps.Keys(seen))
	if vols == nil {
		vols = []string{}
	}
	return vols
}

// CoveredVolumes lists, sorted, the volumes a vzdump of the guest backs
// up, given its active config (vzdump ignores pending values): rootfs and
// every volume mount point with backup=1. Bind mounts and detached
// (unusedN) volumes are never in a backup.
func CoveredVolumes(current map[string]string) []string {
	seen := map[string]bool{}
	for k, v := range current {
		if k != "rootfs" && !mpKeyRe.MatchString(k) {
			continue
		}
		m, err := ParseMount(k, v)
		if err != nil || m.Bind || m.Volume == "" {
			continue
		}
		if k == "rootfs" || liveBool(m.Props, "backup", false) {
			seen[m.Volume] = true
		}
	}
	return slices.Sorted(maps.Keys(seen))
}

// Uncovered lists, sorted, the volumes of owned that covered lacks.
func Uncovered(owned, covered []string) []string {
	out := []string{}
	for _, v := range owned {
		if !slices.Contains(covered, v) {
			out = append(out, v)
		}
	}
	slices.Sort(out)
	return out
}

// VolumeKey reports whether a config key holds or names a volume: rootfs,
// mpN or unusedN. A benign config write never sets or deletes one (a
// mount point's options aside, checked on their own).
func VolumeKey(k string) bool { return volumeKeyRe.MatchString(k) }

// MountKey reports whether k is a mount point slot (mpN).
func MountKey(k string) bool { return mpKeyRe.MatchString(k) }

// UnusedKey reports whether k is a detached volume slot (unusedN).
func UnusedKey(k string) bool { return unusedKeyRe.MatchString(k) }

// NetKey reports whether k is a network interface slot (netN).
func NetKey(k string) bool { return netKeyRe.MatchString(k) }
