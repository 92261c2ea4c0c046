package pvesim

// Start, stop, shutdown and reboot (pve-container API2/LXC/Status.pm,
// LXC.pm vm_start). Proxmox asks check_running before forking, so "already
// running" and "not running" fail the call; the rest fails the task.

import (
	"fmt"
	"strconv"
	"strings"
)

func hStart(r *request) (any, error) {
	vmid := r.vmid()
	if r.params["skiplock"] == "1" {
		return nil, param1Error("skiplock", "Only root may use this option.")
	}
	if g := r.s.st.Guests[vmid]; g != nil && g.Running {
		return nil, failf("CT %d already running", vmid)
	}
	return r.s.startTaskLocked(r, "vzstart", strconv.Itoa(vmid), "start", copyConf(r.params))
}

// forkStartLocked is vm_start called at the end of another worker
// (create, restore or rollback with start=1): that task ends OK and a
// separate vzstart task, which can fail on its own, starts the CT.
func (s *Sim) forkStartLocked(parent *task, g *guest) error {
	if g.Running {
		return fmt.Errorf("CT %d already running", g.VMID)
	}
	id := strconv.Itoa(g.VMID)
	_, err := s.forkTaskLocked(parent.User, s.clock(), "vzstart", id, "start", map[string]string{"vmid": id})
	return err
}

func beginStart(s *Sim, t *task) error {
	g, err := taskGuest(s, t)
	if err != nil {
		return err
	}
	if g.Conf["template"] == "1" {
		return fmt.Errorf("you can't start a CT if it's a template")
	}
	return g.checkLockExcept("mounted")
}

func finishStart(s *Sim, t *task) (int, error) {
	g, err := taskGuest(s, t)
	if err != nil {
		return 0, err
	}
	if g.Running {
		return 0, fmt.Errorf("CT %d already running", g.VMID)
	}
	// The API checked the lock before vm_start (beginStart).
	return s.vmStart(t, g, false)
}

// checkMountable is what the prestart hook's mount needs: every rootfs/mpN
// volume exists (a rootfs written verbatim as "local-lvm:6" does not).
func (s *Sim) checkMountable(g *guest) error {
	for _, k := range g.mountKeys() {
		vol := volumeOf(g.Conf[k])
		if strings.HasPrefix(vol, "/") {
			continue
		}
		st, v := s.st.volume(vol)
		if st == nil {
			sid, _, _ := cutVolID(vol)
			return fmt.Errorf("storage '%s' does not exist", sid)
		}
		if v == nil {
			_, name, _ := cutVolID(vol)
			if newVolPattern.MatchString(vol) {
				kind := map[string]string{"lvmthin": "lvm", "dir": "directory", "zfspool": "zfs"}[st.Type]
				return fmt.Errorf("unable to parse %s volume name '%s'", kind, name)
			}
			return fmt.Errorf("volume '%s' does not exist", vol)
		}
	}
	return nil
}

func hStop(r *request) (any, error)     { return stopLike(r, "vzstop", "stop", "CT") }
func hShutdown(r *request) (any, error) { return stopLike(r, "vzshutdown", "shutdown", "CT") }
func hReboot(r *request) (any, error)   { return stopLike(r, "vzreboot", "reboot", "VM") }

// stopLike is stop, shutdown and reboot. Proxmox asks check_running first,
// so a missing CT is "not running"; reboot's message says "VM".
func stopLike(r *request, typ, opName, noun string) (any, error) {
	vmid := r.vmid()
	if r.params["skiplock"] == "1" {
		return nil, param1Error("skiplock", "Only root may use this option.")
	}
	if g := r.s.st.Guests[vmid]; g == nil || !g.Running {
		return nil, failf("%s %d not running", noun, vmid)
	}
	return r.s.startTaskLocked(r, typ, strconv.Itoa(vmid), opName, copyConf(r.params))
}

// beginStop: a hard stop goes on with a "mounted" lock.
func beginStop(s *Sim, t *task) error {
	g, err := taskGuest(s, t)
	if err != nil {
		return err
	}
	return g.checkLockExcept("mounted")
}

// beginShutdown: a clean shutdown is refused under any lock.
func beginShutdown(s *Sim, t *task) error {
	g, err := taskGuest(s, t)
	if err != nil {
		return err
	}
	return g.checkLock()
}

func finishStop(s *Sim, t *task) (int, error) {
	g, err := taskGuest(s, t)
	if err != nil {
		return 0, err
	}
	s.setRunning(g, false, 0)
	return 0, nil
}

// finishReboot is vm_reboot: it stops the CT without looking at its lock,
// then vm_start applies and writes the pending section and starts it; the
// prestart hook refuses any lock but "mounted", so a CT locked meanwhile
// (a backup that started) ends stopped, its pending changes applied, and
// the task fails.
func finishReboot(s *Sim, t *task) (int, error) {
	g, err := taskGuest(s, t)
	if err != nil {
		return 0, err
	}
	s.setRunning(g, false, 0)
	return s.vmStart(t, g, true)
}

// vmStart is LXC.pm vm_start after the API's own checks: the pending
// section is applied and written first (so it stays applied when the
// start fails), update_lxc_config checks the bridges, then the prestart
// hook checks the lock (when the caller did not already, as vm_reboot
// does not) and mounts the volumes. A failing hook leaves the CT stopped
// and ends the task with "startup for container 'N' failed". It returns
// the warnings the start logged (PVE 9's systemd nesting check).
func (s *Sim) vmStart(t *task, g *guest, prestartLock bool) (int, error) {
	s.applyPendingAtStart(g)
	if err := s.checkBridges(g.Conf); err != nil {
		return 0, err
	}
	if prestartLock {
		if err := g.checkLockExcept("mounted"); err != nil {
			// lxc-pve-prestart-hook dies; lxc-start reports the hook's
			// exit and the container aborts.
			t.logf("run_buffer: 571 Script exited with status 2")
			t.logf("lxc_init: 845 Failed to run lxc.hook.pre-start for container \"%d\"", g.VMID)
			t.logf("__lxc_start: 2034 Failed to initialize container \"%d\"", g.VMID)
			return 0, fmt.Errorf("startup for container '%d' failed", g.VMID)
		}
	}
	if err := s.checkMountable(g); err != nil {
		t.logf("%v", err)
		return 0, fmt.Errorf("startup for container '%d' failed", g.VMID)
	}
	s.setRunning(g, true, int(t.PID)+1) // a new init process, a new uptime
	if w := s.st.nestingWarning(g.Conf); w != "" {
		t.logf("WARN: %s", w)
		return 1, nil
	}
	return 0, nil
}

// systemdVersions stands for the init of a CT by its ostype (the simulator
// has no guest files): the systemd of the distribution's current template,
// none for those without systemd.
var systemdVersions = map[string]int{"debian": 252, "ubuntu": 255, "centos": 252, "fedora": 257,
	"opensuse": 254, "archlinux": 257, "nixos": 256}

// nestingWarning is PVE 9's check_systemd_nesting (pve-container 6.0.19,
// in PVE 9.1's updates): a CT whose init is systemd newer than 241 and
// which lacks nesting gets a warning from the prestart hook at every start
// (so the task ends "WARNINGS: 1") and after a create from a template.
func (st *state) nestingWarning(conf map[string]string) string {
	if !st.pve9() {
		return ""
	}
	if f, _ := parseFeatures(conf["features"]); perlTrue(f["nesting"]) {
		return ""
	}
	v, ok := systemdVersions[conf["ostype"]]
	if !ok {
		return ""
	}
	return fmt.Sprintf("Systemd %d detected. You may need to enable nesting.", v)
}
