package pvesim

import (
	"strings"
)

// hExtractConfig is GET /nodes/{node}/vzdump/extractconfig: the guest
// config stored in a backup archive, as the text of a pct.conf (pve-manager
// PVE::API2::VZDump extractconfig: check_volume_access on the archive, then
// VM.Backup on its owner; the config is what vzdump's assemble wrote,
// without lock, snapshots, parent and pending).
func hExtractConfig(r *request) (any, error) {
	volid := r.params["volume"]
	s, v := r.s.st.volume(volid)
	if s == nil || v == nil {
		return nil, failf("volume '%s' does not exist", volid)
	}
	if !r.mayAccessVolume(s, volid) {
		return nil, permError(storagePath(s.ID), "Datastore.AllocateSpace")
	}
	if v.Content != "backup" {
		return nil, failf("volume '%s' is not a backup archive", volid)
	}
	if v.VMID != 0 {
		if err := r.check(vmPath(v.VMID), "VM.Backup"); err != nil {
			return nil, err
		}
	}
	// The archive holds the config file as pct wrote it: the description
	// as '#' comment lines, then the keys.
	var b strings.Builder
	writeSection(&b, v.Conf)
	return b.String(), nil
}
