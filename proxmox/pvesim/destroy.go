package pvesim

// Destroy (pve-container API2/LXC.pm destroy_vm).

import (
	"fmt"
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

// beginDestroy is destroy_vm's worker under the config flock: the early
// checks again, then a forced stop. The config carries no lock while the
// volumes go; "lock: destroyed" is the config written once they are gone,
// just before it is removed.
func beginDestroy(s *Sim, t *task) error {
	g, err := taskGuest(s, t)
	if err != nil {
		return err
	}
	if g.Conf["protection"] == "1" {
		return fmt.Errorf("can't remove CT %d - protection mode enabled", g.VMID)
	}
	if err := g.checkLock(); err != nil {
		return err
	}
	if g.Running {
		if t.Params["force"] != "1" {
			return fmt.Errorf("unable to destroy CT %d - container is running", g.VMID)
		}
		t.logf("forced to stop CT %d before destroying!", g.VMID)
		s.setRunning(g, false, 0)
	}
	return nil
}

func finishDestroy(s *Sim, t *task) (int, error) {
	g, err := taskGuest(s, t)
	if err != nil {
		return 0, err
	}
	vmid := g.VMID
	s.destroyVolumes(t, g)
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
