package pvesim

// One guest's backup in a vzdump job (pve-manager PVE/VZDump.pm
// exec_backup_task, pve-container PVE/VZDump/LXC.pm): the mode, the
// archive (a vzdump tar file or a Proxmox Backup Server snapshot), notes,
// protection, pruning and the cleanup, with the log lines Proxmox writes.

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"
)

// backupOne backs up g to st and, with remove, prunes its older backups
// by the retention ret.
func (s *Sim) backupOne(t *task, st *storage, g *guest, start time.Time, remove bool, ret string) error {
	p := t.Params
	vmid := g.VMID
	t.logf("INFO: Starting Backup of VM %d (lxc)", vmid)
	t.logf("INFO: Backup started at %s", start.Format("2006-01-02 15:04:05"))
	running := g.Running
	t.logf("INFO: status = %s", map[bool]string{true: "running", false: "stopped"}[running])
	mode := p["mode"]
	if mode == "" {
		mode = "snapshot"
	}
	if !running {
		mode = "stop"
	}
	included := prepareBackup(t, g)
	// has_feature('snapshot', ..., backup_only): only the volumes the
	// backup includes need to support snapshots.
	if mode == "snapshot" && !s.canSnapshotAll(g, included) {
		t.logf("INFO: mode failure - some volumes do not support snapshots")
		t.logf("INFO: trying 'suspend' mode instead")
		mode = "suspend"
		prepareBackup(t, g) // prepare runs again in suspend mode
	}
	t.logf("INFO: backup mode: %s", mode)
	t.logf("INFO: ionice priority: 7")
	restart, snapshot := false, false
	switch mode {
	case "stop":
		if running {
			t.logf("INFO: stopping virtual guest")
			s.setRunning(g, false, 0)
			restart = true
		}
	case "suspend":
		t.logf("INFO: suspending guest")
		t.logf("INFO: resuming guest")
		t.logf("INFO: guest is online again after <1 seconds")
	case "snapshot":
		t.logf("INFO: create storage snapshot 'vzdump'")
		if err := s.snapshotVolumes(g, "vzdump", included); err != nil {
			return err
		}
		for _, k := range included {
			if vs, _ := s.st.volume(volumeOf(g.Conf[k])); vs != nil && vs.thin() {
				t.logf("  Logical volume \"snap_%s_vzdump\" created.", volName(volumeOf(g.Conf[k])))
			}
		}
		snapshot = true
	}
	var data int64
	for _, k := range included {
		if _, v := s.st.volume(volumeOf(g.Conf[k])); v != nil {
			data += v.Size / 100 * int64(20+vmid%30)
		}
	}
	err := s.archiveAndPrune(t, st, g, start, mode, data, remove, ret)
	// Cleanup, whether the archive was made or not: the backup lock goes,
	// the temporary snapshot goes, a guest stopped for the backup starts
	// again (vm_start applies its pending changes).
	g.unlock()
	if snapshot {
		t.logf("INFO: cleanup temporary 'vzdump' snapshot")
		for _, k := range included {
			if vs, _ := s.st.volume(volumeOf(g.Conf[k])); vs != nil && vs.thin() {
				t.logf("  Logical volume \"snap_%s_vzdump\" successfully removed.", volName(volumeOf(g.Conf[k])))
			}
		}
	}
	if restart {
		t.logf("INFO: restarting vm")
		// PVE 9's nesting warning of this start is not counted: whether
		// it makes the backup task end with WARNINGS is not known.
		if _, serr := s.vmStart(t, g, true); serr != nil {
			t.logf("%s", errText(serr))
		} else {
			t.logf("INFO: guest is online again after <1 seconds")
		}
	}
	if err != nil {
		return err
	}
	t.logf("INFO: Finished Backup of VM %d (00:00:%02d)", vmid, 3+vmid%50)
	t.logf("INFO: Backup finished at %s", start.Add(time.Duration(3+vmid%50)*time.Second).Format("2006-01-02 15:04:05"))
	return nil
}

// prepareBackup is the LXC plugin's prepare: it logs the CT's name and
// which mount points the backup includes, and returns them.
func prepareBackup(t *task, g *guest) []string {
	if h := g.Conf["hostname"]; h != "" {
		t.logf("INFO: CT Name: %s", h)
	}
	var included []string
	for _, k := range mountKeysOf(g.Conf) {
		ps, _ := parseMount(k, g.Conf[k])
		mp := ps["mp"]
		if k == "rootfs" {
			mp = "/"
		}
		switch {
		case k == "rootfs", ps["backup"] == "1" && !strings.HasPrefix(ps["volume"], "/"):
			t.logf("INFO: including mount point %s ('%s') in backup", k, mp)
			included = append(included, k)
		case strings.HasPrefix(ps["volume"], "/"):
			t.logf("INFO: excluding bind mount point %s ('%s') from backup (not a volume)", k, mp)
		default:
			t.logf("INFO: excluding volume mount point %s ('%s') from backup (disabled)", k, mp)
		}
	}
	return included
}

// canSnapshotAll reports whether every included volume's storage can take
// snapshots.
func (s *Sim) canSnapshotAll(g *guest, keys []string) bool {
	for _, k := range keys {
		if vs, _ := s.st.volume(volumeOf(g.Conf[k])); vs == nil || !vs.canSnapshot() {
			return false
		}
	}
	return true
}

// archiveAndPrune writes the archive, adds notes and protection, and with
// remove prunes older backups.
func (s *Sim) archiveAndPrune(t *task, st *storage, g *guest, start time.Time, mode string, data int64, remove bool, ret string) error {
	p := t.Params
	var vol *volume
	var err error
	if st.Type == "pbs" {
		vol, err = s.writePBS(t, st, g, start, mode, data)
	} else {
		vol, err = writeTar(t, st, g, start, data)
	}
	if err != nil {
		return err
	}
	conf := copyConf(g.Conf)
	delete(conf, "lock")
	delete(conf, "parent")
	vol.Conf, vol.CTime, vol.VMID, vol.Content, vol.Subtype = conf, start.Unix(), g.VMID, "backup", "lxc"
	st.Volumes[vol.VolID] = vol
	if tmpl := p["notes-template"]; tmpl != "" {
		t.logf("INFO: adding notes to backup")
		// generate_notes: \n and \\ unescaped, the variables filled in.
		vol.Notes = strings.NewReplacer(`\n`, "\n", `\\`, `\`, "{{guestname}}", g.Conf["hostname"],
			"{{vmid}}", strconv.Itoa(g.VMID), "{{node}}", s.st.Node, "{{cluster}}", s.st.Node).Replace(tmpl)
	}
	if p["protected"] == "1" {
		t.logf("INFO: marking backup as protected")
		vol.Protected = true
	}
	if remove {
		s.prune(t, st, g.VMID, ret)
	}
	return nil
}

var compressExt = map[string]string{"": ".tar", "0": ".tar", "1": ".tar.lzo", "lzo": ".tar.lzo", "gzip": ".tar.gz", "zstd": ".tar.zst"}

// writeTar writes a vzdump archive to a directory storage; an archive of
// the same name (the same guest, the same second) is replaced.
func writeTar(t *task, st *storage, g *guest, start time.Time, data int64) (*volume, error) {
	ext := compressExt[t.Params["compress"]]
	file := fmt.Sprintf("vzdump-lxc-%d-%s%s", g.VMID, start.Format("2006_01_02-15_04_05"), ext)
	t.logf("INFO: creating vzdump archive '%s/dump/%s'", st.Path, file)
	size := data
	if ext != ".tar" {
		size = data / 5 * 2
	}
	if !st.fits(size) {
		return nil, fmt.Errorf("vma_queue_write: write error - No space left on device")
	}
	t.logf("INFO: Total bytes written: %d (%s, 210MiB/s)", data, tarHuman(data))
	t.logf("INFO: archive file size: %s", vzdumpSize(size))
	return &volume{VolID: st.ID + ":backup/" + file, Format: strings.TrimPrefix(ext, "."), Size: size}, nil
}

// writePBS makes a Proxmox Backup Server snapshot ct/VMID/TIME (UTC, as
// PBSPlugin print_volid writes it) with proxmox-backup-client, logging its
// output. A server refuses a snapshot no newer than the group's last.
func (s *Sim) writePBS(t *task, st *storage, g *guest, start time.Time, mode string, data int64) (*volume, error) {
	vmid := g.VMID
	name := fmt.Sprintf("ct/%d/%s", vmid, start.UTC().Format("2006-01-02T15:04:05Z"))
	t.logf("INFO: creating Proxmox Backup Server archive '%s'", name)
	tmpdir := fmt.Sprintf("/var/tmp/vzdumptmp%d_%d", t.PID, vmid)
	snapdir, sources := "/mnt/vzsnap0", []string{}
	if mode == "suspend" {
		snapdir, sources = tmpdir, []string{"."}
	} else {
		for _, k := range mountKeysOf(g.Conf) {
			ps, _ := parseMount(k, g.Conf[k])
			if k == "rootfs" {
				sources = append(sources, "./")
			} else if ps["backup"] == "1" && !strings.HasPrefix(ps["volume"], "/") {
				sources = append(sources, "."+ps["mp"])
			}
		}
	}
	var cmd []string
	if g.Conf["unprivileged"] == "1" {
		cmd = append(cmd, "lxc-usernsexec", "-m", "u:0:100000:65536", "-m", "g:0:100000:65536", "--")
	}
	cmd = append(cmd, "/usr/bin/proxmox-backup-client", "backup", "--crypt-mode=none",
		"pct.conf:"+tmpdir+"/etc/vzdump/pct.conf", "root.pxar:"+snapdir)
	for _, src := range sources {
		cmd = append(cmd, "--include-dev", snapdir+"/"+src)
	}
	if g.Conf["unprivileged"] == "1" {
		cmd = append(cmd, "--skip-lost-and-found")
	}
	cmd = append(cmd, "--exclude=/tmp/?*", "--exclude=/var/tmp/?*", "--exclude=/var/run/?*.pid",
		"--backup-type", "ct", "--backup-id", strconv.Itoa(vmid), "--backup-time", strconv.FormatInt(start.Unix(), 10),
		"--repository", st.Username+"@"+st.Server+":"+st.Datastore)
	line := strings.Join(cmd, " ")
	t.logf("INFO: run: %s", line)
	t.logf("INFO: Starting backup: %s", name)
	t.logf("INFO: Client name: %s", s.st.Node)
	t.logf("INFO: Starting backup protocol: %s", start.Format("Mon Jan _2 15:04:05 2006"))
	var last int64
	for _, v := range st.Volumes {
		if v.VMID == vmid && v.Subtype == "lxc" && v.CTime > last {
			last = v.CTime
		}
	}
	failed := func(msg string) (*volume, error) {
		t.logf("INFO: Error: %s", msg)
		return nil, fmt.Errorf("command '%s' failed: exit code 255", line)
	}
	if last >= start.Unix() {
		return failed("backup timestamp is older than last backup.")
	}
	if last > 0 {
		t.logf("INFO: Downloading previous manifest (%s)", time.Unix(last, 0).Local().Format("Mon Jan _2 15:04:05 2006"))
	} else {
		t.logf("INFO: No previous manifest available.")
	}
	repo := st.Username + "@" + st.Server + ":8007:" + st.Datastore
	t.logf("INFO: Upload config file '%s/etc/vzdump/pct.conf' to '%s' as pct.conf.blob", tmpdir, repo)
	t.logf("INFO: Upload directory '%s' to '%s' as root.pxar.didx", snapdir, repo)
	if !st.fits(data) {
		return failed(fmt.Sprintf("inserting chunk on store '%s' failed - No space left on device (os error 28)", st.Datastore))
	}
	t.logf("INFO: root.pxar: had to backup %s of %s (compressed %s) in 11.52s", pbsHuman(data), pbsHuman(data), pbsHuman(data/5*2))
	t.logf("INFO: root.pxar: average backup speed: %s/s", pbsHuman(data*100/1152))
	t.logf("INFO: Uploaded backup catalog (%s)", pbsHuman(data/4096+1024))
	t.logf("INFO: Duration: 11.87s")
	t.logf("INFO: End Time: %s", start.Add(12*time.Second).Format("Mon Jan _2 15:04:05 2006"))
	return &volume{VolID: st.ID + ":backup/" + name, Format: "pbs-ct", Size: data}, nil
}

// prune applies the retention ret to one guest's backups on st after its
// backup: pve-storage's marking, or the server's for a Proxmox Backup
// Server, which removes without naming each snapshot.
func (s *Sim) prune(t *task, st *storage, vmid int, ret string) {
	rules, _ := parsePropString(ret, "", pruneKeys)
	keys := sortedKeys(rules)
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		parts = append(parts, k+"="+rules[k])
	}
	t.logf("INFO: prune older backups with retention: %s", strings.Join(parts, ", "))
	archives, marks := pruneGroups(st, ret, vmid)
	if st.Type == "pbs" {
		t.logf("INFO: running 'proxmox-backup-client prune' for 'ct/%d'", vmid)
	}
	sort.Slice(archives, func(i, j int) bool { return archives[i].VolID < archives[j].VolID })
	removed := 0
	for _, v := range archives {
		if marks[v.VolID] == "remove" {
			if st.Type != "pbs" {
				t.logf("INFO: removing backup '%s'", v.VolID)
			}
			delete(st.Volumes, v.VolID)
			removed++
		}
	}
	extra := ""
	if removed > 0 {
		extra = " not covered by keep-retention policy"
	}
	t.logf("INFO: pruned %d backup(s)%s", removed, extra)
}

// vzdumpSize is PVE::VZDump format_size: whole KB and MB, then GB and TB
// with two decimals (binary units).
func vzdumpSize(n int64) string {
	kb := float64(n) / 1024
	switch {
	case kb < 1024:
		return fmt.Sprintf("%dKB", int64(kb))
	case kb/1024 < 1024:
		return fmt.Sprintf("%dMB", int64(kb/1024))
	case kb/1024/1024 < 1024:
		return fmt.Sprintf("%.2fGB", kb/1024/1024)
	}
	return fmt.Sprintf("%.2fTB", kb/1024/1024/1024)
}

// binaryUnits scales n bytes to the largest binary unit it reaches
// ("" below 1 KiB).
func binaryUnits(n int64) (float64, string) {
	v, unit := float64(n), ""
	for _, u := range []string{"KiB", "MiB", "GiB", "TiB"} {
		if v < 1024 {
			break
		}
		v, unit = v/1024, u
	}
	return v, unit
}

// tarHuman is GNU tar's --totals size: binary units, one decimal below 10.
func tarHuman(n int64) string {
	v, unit := binaryUnits(n)
	switch {
	case unit == "":
		return fmt.Sprintf("%dB", n)
	case v < 10:
		return fmt.Sprintf("%.1f%s", v, unit)
	}
	return fmt.Sprintf("%.0f%s", v, unit)
}

// pbsHuman is proxmox-backup-client's HumanByte: binary units with three
// decimals.
func pbsHuman(n int64) string {
	v, unit := binaryUnits(n)
	if unit == "" {
		return fmt.Sprintf("%d B", n)
	}
	return fmt.Sprintf("%.3f %s", v, unit)
}
