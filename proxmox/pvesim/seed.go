package pvesim

import (
	"crypto/rand"
	"fmt"
	mrand "math/rand/v2"
	"strconv"
	"time"

	"github.com/felhom/felhom-converge/proxmox"
)

// minimalRole is the tool's minimal token role, the one list the install guide
// and the selftest use too.
var minimalRole = append([]string(nil), proxmox.ToolPrivileges...)

var readonlyRole = []string{"VM.Audit", "Datastore.Audit", "Sys.Audit"}

const (
	seedUser        = "felhom@pve"
	tokenConverge   = "felhom@pve!converge"
	tokenReadonly   = "felhom@pve!readonly"
	goldenArchive   = "local:backup/vzdump-lxc-9000-2026_10_01-12_00_00.tar.zst"
	debianTemplate  = "local:vztmpl/debian-12-standard_12.7-1_amd64.tar.zst"
	extraGuestsBase = 1000
)

// uuid returns a random RFC 4122 version 4 UUID, the shape of Proxmox
// token secrets.
func uuid() (string, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("token secret: %w", err)
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16]), nil
}

func archiveTime(s string) int64 {
	// vzdump names archives in the host's local time.
	t, err := time.ParseInLocation("2006_01_02-15_04_05", s, time.Local)
	if err != nil {
		panic(err)
	}
	return t.Unix()
}

// seedState builds the documented default host (see the package comment).
func seedState(node string, now time.Time, extra int) (*state, error) {
	st := &state{
		Version:  stateVersion,
		Node:     node,
		BootTime: now.Add(-10 * 24 * time.Hour).Unix(),
		NextPID:  0x0002A3F1,
		Users:    map[string]*user{seedUser: {ACL: map[string][]string{"/": minimalRole}}},
		Tokens:   map[string]*token{},
		Bridges:  []string{"vmbr0", "vmbr1"},
		Guests:   map[int]*guest{},
	}
	for id, role := range map[string][]string{tokenConverge: minimalRole, tokenReadonly: readonlyRole} {
		secret, err := uuid()
		if err != nil {
			return nil, err
		}
		st.Tokens[id] = &token{Secret: secret, Privsep: true, ACL: map[string][]string{"/": role}}
	}
	local := &storage{ID: "local", Type: "dir", Path: "/var/lib/vz", Content: []string{"backup", "iso", "vztmpl"},
		Total: 100 << 30, PruneBackups: "keep-last=2", Volumes: map[string]*volume{}}
	lvm := &storage{ID: "local-lvm", Type: "lvmthin", VGName: "pve", ThinPool: "data", Content: []string{"images", "rootdir"},
		Total: 400 << 30, Volumes: map[string]*volume{}}
	st.Storages = []*storage{local, lvm}

	local.Volumes[debianTemplate] = &volume{VolID: debianTemplate, Content: "vztmpl", Format: "tzst", Size: 126479223, CTime: archiveTime("2026_09_02-08_11_40")}

	web := map[string]string{
		"hostname": "web", "ostype": "debian", "arch": "amd64", "cores": "2", "memory": "1024", "swap": "512",
		"unprivileged": "1", "onboot": "1", "features": "nesting=1", "tags": "prod;web",
		"description": "Company website\n", "rootfs": "local-lvm:vm-100-disk-0,size=8G",
		"net0": "name=eth0,bridge=vmbr0,firewall=1,hwaddr=BC:24:11:5E:7A:01,ip=dhcp,type=veth",
	}
	files := map[string]string{
		"hostname": "files", "ostype": "debian", "arch": "amd64", "cores": "2", "memory": "2048", "swap": "512",
		"unprivileged": "1", "onboot": "1", "tags": "files", "rootfs": "local-lvm:vm-101-disk-0,size=16G",
		"mp0":  "local-lvm:vm-101-disk-1,mp=/srv/share,backup=1,size=64G",
		"net0": "name=eth0,bridge=vmbr0,hwaddr=BC:24:11:5E:7A:02,ip=192.168.1.21/24,gw=192.168.1.1,type=veth",
	}
	legacy := map[string]string{
		"hostname": "legacy", "ostype": "debian", "arch": "amd64", "cores": "1", "memory": "512", "swap": "512",
		"rootfs": "local-lvm:vm-110-disk-0,size=4G", // privileged: no unprivileged key
		"net0":   "name=eth0,bridge=vmbr1,hwaddr=BC:24:11:5E:7A:10,ip=dhcp,type=veth",
	}
	golden := map[string]string{
		"hostname": "golden", "ostype": "debian", "arch": "amd64", "cores": "1", "memory": "512", "swap": "512",
		"unprivileged": "1", "features": "nesting=1", "rootfs": "local-lvm:vm-9000-disk-0,size=4G",
		"net0":        "name=eth0,bridge=vmbr0,hwaddr=BC:24:11:5E:90:00,ip=dhcp,type=veth",
		"description": "felhom golden image (Debian 12)\n",
	}
	for _, c := range []map[string]string{web, files, legacy, golden} {
		normalizeSeed(c)
	}
	addGuest := func(vmid int, conf map[string]string, running bool) *guest {
		g := &guest{VMID: vmid, Conf: conf, Running: running}
		if running {
			g.StartTime = st.BootTime + 120
			g.PID = 1000 + vmid*7
		}
		st.Guests[vmid] = g
		for k, v := range conf {
			if k == "rootfs" || mpKeyPattern.MatchString(k) {
				ps, _ := parseMount(k, v)
				size, _ := parseSize(ps["size"])
				lvm.Volumes[ps["volume"]] = &volume{VolID: ps["volume"], Content: "rootdir", Format: "raw", Size: size, VMID: vmid}
			}
		}
		return g
	}
	g100 := addGuest(100, web, true)
	snap := copyConf(web)
	snap["description"] = "before the PHP 8.2 upgrade\n"
	g100.Snapshots = map[string]*snapshot{"pre-upgrade": {Conf: snap, Snaptime: archiveTime("2026_11_15-09_30_12")}}
	g100.Conf["parent"] = "pre-upgrade"
	addGuest(101, files, true)
	addGuest(110, legacy, false)

	for _, a := range []struct {
		volid string
		vmid  int
		size  int64
		conf  map[string]string
	}{
		{"local:backup/vzdump-lxc-100-2026_11_20-02_00_03.tar.zst", 100, 612345678, web},
		{"local:backup/vzdump-lxc-100-2026_11_26-02_00_05.tar.zst", 100, 618876543, web},
		{"local:backup/vzdump-lxc-101-2026_11_26-02_15_41.tar.zst", 101, 9876543210, files},
		{goldenArchive, 9000, 498017292, golden},
	} {
		name := a.volid[len("local:backup/vzdump-lxc-")+len(strconv.Itoa(a.vmid))+1 : len(a.volid)-len(".tar.zst")]
		conf := copyConf(a.conf)
		delete(conf, "parent")
		local.Volumes[a.volid] = &volume{VolID: a.volid, Content: "backup", Format: "tar.zst", Size: a.size, VMID: a.vmid,
			CTime: archiveTime(name), Subtype: "lxc", Notes: conf["hostname"], Conf: conf}
	}
	local.Volumes[goldenArchive].Protected = true
	local.Volumes[goldenArchive].Notes = "golden image"

	seedExtraGuests(st, lvm, extra)
	return st, nil
}

// normalizeSeed writes seed values through the same normalisers as PUT
// config, so the seed reads back exactly as Proxmox would store it.
func normalizeSeed(c map[string]string) {
	for k, v := range c {
		switch {
		case netKeyPattern.MatchString(k):
			ps, err := parseNet(v)
			if err != nil {
				panic(err)
			}
			c[k] = printNet(ps)
		case k == "rootfs" || mpKeyPattern.MatchString(k):
			ps, err := parseMount(k, v)
			if err != nil {
				panic(err)
			}
			c[k] = printMount(ps)
		}
	}
}

// seedExtraGuests adds n guests with deterministic, varied settings for
// scale tests. The thin pool grows so that they fit.
func seedExtraGuests(st *state, lvm *storage, n int) {
	rng := mrand.New(mrand.NewPCG(42, 1024))
	mems := []int{256, 512, 1024, 2048, 4096}
	for i := 0; i < n; i++ {
		vmid := extraGuestsBase + i
		disk := 2 + rng.IntN(7)
		c := map[string]string{
			"hostname": fmt.Sprintf("ct%d", vmid), "ostype": "debian", "arch": "amd64",
			"cores": strconv.Itoa(1 + rng.IntN(4)), "memory": strconv.Itoa(mems[rng.IntN(len(mems))]),
			"swap": strconv.Itoa(256 * rng.IntN(3)), "unprivileged": "1", "onboot": strconv.Itoa(rng.IntN(2)),
			"rootfs": fmt.Sprintf("local-lvm:vm-%d-disk-0,size=%dG", vmid, disk),
			"net0":   fmt.Sprintf("name=eth0,bridge=vmbr%d,hwaddr=BC:24:11:%02X:%02X:%02X,ip=dhcp,type=veth", rng.IntN(2), vmid>>16&0xff, vmid>>8&0xff, vmid&0xff),
			"tags":   []string{"bench", "bench;db", "bench;web", "app;bench"}[rng.IntN(4)],
		}
		if rng.IntN(3) == 0 {
			c["mp0"] = fmt.Sprintf("local-lvm:vm-%d-disk-1,mp=/srv/data,backup=1,size=%dG", vmid, 1+rng.IntN(4))
		}
		if rng.IntN(4) == 0 {
			c["features"] = "nesting=1"
		}
		normalizeSeed(c)
		g := &guest{VMID: vmid, Conf: c, Running: rng.IntN(3) != 0}
		if g.Running {
			g.StartTime = st.BootTime + int64(300+i)
			g.PID = 20000 + i*13
		}
		if rng.IntN(4) == 0 {
			sc := copyConf(c)
			sc["description"] = "before maintenance\n"
			g.Snapshots = map[string]*snapshot{"before-maint": {Conf: sc, Snaptime: st.BootTime + int64(3600*(i%200))}}
			g.Conf["parent"] = "before-maint"
		}
		st.Guests[vmid] = g
		for k, v := range c {
			if k == "rootfs" || mpKeyPattern.MatchString(k) {
				ps, _ := parseMount(k, v)
				size, _ := parseSize(ps["size"])
				lvm.Volumes[ps["volume"]] = &volume{VolID: ps["volume"], Content: "rootdir", Format: "raw", Size: size, VMID: vmid}
			}
		}
	}
	if used := lvm.used(); used*2 > lvm.Total {
		lvm.Total = used * 2
	}
}
