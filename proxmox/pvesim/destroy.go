package pvesim

// Destroy (pve-container API2/LXC.pm destroy_vm).

import (
	"sort"
	"strconv"
)

func hDestroy(r *request) (any, error) {
	vmid := r.vmid()
	g, err := r.guestOr500(vmid)
	if err != nil {
		return nil, err
	}
	if g.Conf["protection"] == "1" {
		return nil, failf("can't remove CT %d - protection mode enabled", vmid)
	}
	if err := g.checkLock(); err != nil {
		return nil, err
	}
	if g.Running && r.params["force"] != "1" {
		return nil, failf("unable to destroy CT %d - container is running", vmid)
	}
	return r.s.startTaskLocked(r, "vzdestroy", strconv.Itoa(vmid), "destroy", copyConf(r.params))
}

func beginDestroy(s *Sim, t *task) error {
	g, err := taskGuest(s, t)
	if err != nil {
		return err
	}
	if g.Running {
		s.setRunning(g, false, 0)
	}
	g.setLock("destroyed")
	return nil
}

func finishDestroy(s *Sim, t *task) (int, error) {
	g, err := taskGuest(s, t)
	if err != nil {
		return 0, err
	}
	vmid := g.VMID
	for _, vol := range guestVolumes(g) {
		s.freeVolume(vol)
		t.logf("  Logical volume \"%s\" successfully removed.", volName(vol))
	}
	if t.Params["destroy-unreferenced-disks"] == "1" {
		for _, st := range s.st.Storages {
			ids := make([]string, 0)
			for id, v := range st.Volumes {
				if v.VMID == vmid && (v.Content == "rootdir" || v.Content == "images") {
					ids = append(ids, id)
				}
			}
			sort.Strings(ids)
			for _, id := range ids {
				delete(st.Volumes, id)
				t.logf("  Logical volume \"%s\" successfully removed.", volName(id))
			}
		}
	}
	if t.Params["purge"] == "1" {
		t.logf("purging CT %d from related configurations..", vmid)
	}
	delete(s.st.Guests, vmid)
	return 0, nil
}
