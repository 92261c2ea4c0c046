package proxmox

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// fakeRunner plays the host's programs: each call is recorded and answered
// by the function for the program's base name.
type fakeRunner struct {
	t     *testing.T
	calls [][]string
	progs map[string]func(args []string) (stdout, stderr string, exit int)
}

// exitError is what a command exiting non-zero returns, like
// *exec.ExitError.
type exitError int

func (e exitError) Error() string { return fmt.Sprintf("exit status %d", int(e)) }
func (e exitError) ExitCode() int { return int(e) }

func (f *fakeRunner) Run(_ context.Context, argv []string) ([]byte, []byte, error) {
	f.calls = append(f.calls, argv)
	prog := argv
	if filepath.Base(argv[0]) == "sudo" {
		if len(argv) < 4 || argv[1] != "-n" || argv[2] != "--" {
			f.t.Errorf("sudo without -n --: %q", argv)
		}
		prog = argv[3:]
	}
	if !filepath.IsAbs(prog[0]) {
		f.t.Errorf("program %q is not an absolute path", prog[0])
	}
	run, ok := f.progs[filepath.Base(prog[0])]
	if !ok {
		return nil, []byte("no such program"), exitError(127)
	}
	out, errOut, code := run(prog[1:])
	if code != 0 {
		return []byte(out), []byte(errOut), exitError(code)
	}
	return []byte(out), []byte(errOut), nil
}

func newFakePrivileged(t *testing.T, mode Mode, progs map[string]func([]string) (string, string, int)) (*Privileged, *fakeRunner) {
	t.Helper()
	r := &fakeRunner{t: t, progs: progs}
	p, err := NewPrivileged(mode, r, Tools{})
	if err != nil {
		t.Fatal(err)
	}
	return p, r
}

// succeed plays a program that prints nothing and exits 0.
func succeed([]string) (string, string, int) { return "", "", 0 }

func TestCreateGoldenLXC(t *testing.T) {
	g := GoldenLXC{VMID: 9000, Template: "local:vztmpl/debian-12-standard_12.7-1_amd64.tar.zst", Hostname: "golden",
		Storage: "local-lvm", RootFSGiB: 8, MemoryMiB: 1024, Cores: 2, Net0: "name=eth0,bridge=vmbr0,ip=10.0.0.5/24,gw=10.0.0.1,ip6=fd00::5/64,link_down=0,tag=10"}
	want := "/usr/sbin/pct create 9000 local:vztmpl/debian-12-standard_12.7-1_amd64.tar.zst --features keyctl=1,nesting=1 --unprivileged 1 --storage local-lvm --rootfs local-lvm:8 --hostname golden --memory 1024 --cores 2 --net0 name=eth0,bridge=vmbr0,ip=10.0.0.5/24,gw=10.0.0.1,ip6=fd00::5/64,link_down=0,tag=10"
	for _, tc := range []struct {
		mode   Mode
		prefix string
	}{{ModeDirect, ""}, {ModeSudo, "/usr/bin/sudo -n -- "}} {
		t.Run(string(tc.mode), func(t *testing.T) {
			p, r := newFakePrivileged(t, tc.mode, map[string]func([]string) (string, string, int){"pct": succeed})
			if err := p.CreateGoldenLXC(context.Background(), g); err != nil {
				t.Fatal(err)
			}
			if len(r.calls) != 1 || strings.Join(r.calls[0], " ") != tc.prefix+want {
				t.Fatalf("ran %q", r.calls)
			}
		})
	}
	t.Run("failure names the command and carries stderr", func(t *testing.T) {
		p, _ := newFakePrivileged(t, ModeSudo, map[string]func([]string) (string, string, int){
			"pct": func([]string) (string, string, int) { return "", "CT 9000 already exists on node 'pve'\n", 255 },
		})
		err := p.CreateGoldenLXC(context.Background(), g)
		var ce *CommandError
		if !errors.As(err, &ce) || ce.ExitCode != 255 || ce.Stderr != "CT 9000 already exists on node 'pve'" {
			t.Fatalf("err %v", err)
		}
		if !strings.Contains(err.Error(), "/usr/bin/sudo -n -- /usr/sbin/pct create 9000") || !strings.Contains(err.Error(), "already exists") {
			t.Fatalf("Error() = %q", err)
		}
	})
}

// Every argument is validated before anything runs.
func TestPrivilegedRefusals(t *testing.T) {
	good := GoldenLXC{VMID: 9000, Template: "local:vztmpl/debian-12-standard_12.7-1_amd64.tar.zst", Storage: "local-lvm"}
	with := func(f func(*GoldenLXC)) GoldenLXC { g := good; f(&g); return g }
	cases := []struct {
		name string
		call func(*Privileged) error
	}{
		{"vmid out of range", func(p *Privileged) error {
			return p.CreateGoldenLXC(context.Background(), with(func(g *GoldenLXC) { g.VMID = 42 }))
		}},
		{"template that is a backup", func(p *Privileged) error {
			return p.CreateGoldenLXC(context.Background(), with(func(g *GoldenLXC) { g.Template = "local:backup/vzdump-lxc-100.tar.zst" }))
		}},
		{"template path traversal", func(p *Privileged) error {
			return p.CreateGoldenLXC(context.Background(), with(func(g *GoldenLXC) { g.Template = "local:vztmpl/../../etc/x.tar.gz" }))
		}},
		{"template as an option", func(p *Privileged) error {
			return p.CreateGoldenLXC(context.Background(), with(func(g *GoldenLXC) { g.Template = "--help" }))
		}},
		{"hostname with a space", func(p *Privileged) error {
			return p.CreateGoldenLXC(context.Background(), with(func(g *GoldenLXC) { g.Hostname = "a b" }))
		}},
		{"net0 with a bind of something else", func(p *Privileged) error {
			return p.CreateGoldenLXC(context.Background(), with(func(g *GoldenLXC) { g.Net0 = "name=eth0 --mp0 /" }))
		}},
		{"memory below Proxmox's minimum", func(p *Privileged) error {
			return p.CreateGoldenLXC(context.Background(), with(func(g *GoldenLXC) { g.MemoryMiB = 8 }))
		}},
		{"unknown feature", func(p *Privileged) error {
			return p.CreateGoldenLXC(context.Background(), with(func(g *GoldenLXC) { g.Features = "keyctl=1,hookscript=1" }))
		}},
		{"feature twice", func(p *Privileged) error {
			return p.CreateGoldenLXC(context.Background(), with(func(g *GoldenLXC) { g.Features = "keyctl=1,keyctl=0" }))
		}},
		{"features smuggling an option", func(p *Privileged) error {
			return p.CreateGoldenLXC(context.Background(), with(func(g *GoldenLXC) { g.Features = "keyctl=1 --mp0 /:/x" }))
		}},
		{"uuid with shell characters", func(p *Privileged) error {
			return p.MountUSBByUUID(context.Background(), "1234-ABCD;reboot", "/mnt/usb")
		}},
		{"mount point with ..", func(p *Privileged) error {
			return p.MountUSBByUUID(context.Background(), "1234-ABCD", "/mnt/../etc")
		}},
		{"mount point relative", func(p *Privileged) error { return p.MountUSBByUUID(context.Background(), "1234-ABCD", "mnt/usb") }},
		{"mount point outside /mnt and /media", func(p *Privileged) error {
			return p.MountUSBByUUID(context.Background(), "1234-ABCD", "/var/lib/vz")
		}},
		{"mount point not clean", func(p *Privileged) error { return p.MountUSBByUUID(context.Background(), "1234-ABCD", "/mnt//usb/") }},
		{"device outside /dev", func(p *Privileged) error { _, err := p.SMART(context.Background(), "/tmp/sda"); return err }},
		{"device traversal", func(p *Privileged) error { _, err := p.SMART(context.Background(), "/dev/../etc/shadow"); return err }},
		{"device as an option", func(p *Privileged) error { _, err := p.SMART(context.Background(), "-d"); return err }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p, r := newFakePrivileged(t, ModeDirect, nil)
			if err := tc.call(p); err == nil {
				t.Fatal("accepted")
			}
			if len(r.calls) != 0 {
				t.Fatalf("ran %q for a refused argument", r.calls)
			}
		})
	}
	if _, err := NewPrivileged("root", &fakeRunner{t: t}, Tools{}); err == nil {
		t.Error("NewPrivileged accepted an unknown mode")
	}
	if _, err := NewPrivileged(ModeSudo, &fakeRunner{t: t}, Tools{Pct: "pct"}); err == nil {
		t.Error("NewPrivileged accepted a relative tool path")
	}
}

func TestMountUSBByUUID(t *testing.T) {
	const uuid = "3e6be9de-8139-4a2c-b4c5-1f5e0c1a2b3d"
	findmnt := func(out string, code int) func([]string) (string, string, int) {
		return func(args []string) (string, string, int) {
			if strings.Join(args, " ") != "--json --output TARGET,SOURCE,UUID --mountpoint /mnt/usb-backup" {
				t.Errorf("findmnt %q", args)
			}
			return out, "", code
		}
	}
	cases := []struct {
		name      string
		findmnt   func([]string) (string, string, int)
		wantMount bool
		wantBusy  bool
		wantErr   bool
	}{
		{"nothing mounted: findmnt exits 1, then mount", findmnt("", 1), true, false, false},
		{"the same filesystem already mounted: nothing to do",
			findmnt(`{"filesystems":[{"target":"/mnt/usb-backup","source":"/dev/sdb1","uuid":"`+strings.ToUpper(uuid)+`"}]}`, 0), false, false, false},
		{"another filesystem mounted there: refused",
			findmnt(`{"filesystems":[{"target":"/mnt/usb-backup","source":"/dev/sdc1","uuid":"1234-ABCD"}]}`, 0), false, true, true},
		{"findmnt itself fails", findmnt("", 4), false, false, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p, r := newFakePrivileged(t, ModeSudo, map[string]func([]string) (string, string, int){
				"findmnt": tc.findmnt,
				"mount": func(args []string) (string, string, int) {
					if strings.Join(args, " ") != "UUID="+uuid+" /mnt/usb-backup" {
						t.Errorf("mount %q", args)
					}
					return "", "", 0
				},
			})
			err := p.MountUSBByUUID(context.Background(), uuid, "/mnt/usb-backup")
			if (err != nil) != tc.wantErr {
				t.Fatalf("err %v", err)
			}
			var busy *MountBusyError
			if errors.As(err, &busy) != tc.wantBusy {
				t.Fatalf("err %v, busy %v", err, tc.wantBusy)
			}
			mounted := false
			for i, c := range r.calls {
				if filepath.Base(c[3]) == "mount" {
					mounted = true
					if i == 0 {
						t.Error("mounted before checking the mount point")
					}
				}
			}
			if mounted != tc.wantMount {
				t.Fatalf("mounted %v, want %v (calls %q)", mounted, tc.wantMount, r.calls)
			}
		})
	}
}

func TestSMART(t *testing.T) {
	read := func(name string) string {
		b, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	t.Run("ATA with a past failure bit is still a report", func(t *testing.T) {
		p, r := newFakePrivileged(t, ModeDirect, map[string]func([]string) (string, string, int){
			"smartctl": func([]string) (string, string, int) { return read("smartctl_ata.json"), "", 32 },
		})
		rep, err := p.SMART(context.Background(), "/dev/sda")
		if err != nil {
			t.Fatal(err)
		}
		if strings.Join(r.calls[0], " ") != "/usr/sbin/smartctl --json -a /dev/sda" {
			t.Errorf("ran %q", r.calls[0])
		}
		if rep.Model != "Samsung SSD 870 EVO 1TB" || rep.Passed == nil || !*rep.Passed || rep.TemperatureC == nil || *rep.TemperatureC != 33 ||
			rep.PowerOnHours != 12043 || rep.ExitStatus != 32 || len(rep.Attributes) != 4 || rep.Attributes[2].WhenFailed != "past" ||
			rep.Attributes[3].Raw.String != "33 (Min/Max 18/48)" || rep.CapacityBytes != 1000204886016 || rep.NVMe != nil {
			t.Fatalf("got %+v", rep)
		}
	})
	t.Run("NVMe health log", func(t *testing.T) {
		p, _ := newFakePrivileged(t, ModeDirect, map[string]func([]string) (string, string, int){
			"smartctl": func([]string) (string, string, int) { return read("smartctl_nvme.json"), "", 0 },
		})
		rep, err := p.SMART(context.Background(), "/dev/nvme0")
		if err != nil {
			t.Fatal(err)
		}
		if rep.NVMe == nil || rep.NVMe.PercentageUsed != 3 || rep.NVMe.UnsafeShutdowns != 12 || rep.Protocol != "NVMe" || len(rep.Attributes) != 0 {
			t.Fatalf("got %+v", rep)
		}
	})
	t.Run("device open failed (bit 1) is an error with stderr", func(t *testing.T) {
		p, _ := newFakePrivileged(t, ModeDirect, map[string]func([]string) (string, string, int){
			"smartctl": func([]string) (string, string, int) {
				return `{"smartctl":{"exit_status":2}}`, "Smartctl open device: /dev/sdz failed: No such device", 2
			},
		})
		_, err := p.SMART(context.Background(), "/dev/sdz")
		var ce *CommandError
		if !errors.As(err, &ce) || !strings.Contains(err.Error(), "No such device") {
			t.Fatalf("err %v", err)
		}
	})
}

func TestSensors(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("testdata", "sensors.json"))
	if err != nil {
		t.Fatal(err)
	}
	p, r := newFakePrivileged(t, ModeDirect, map[string]func([]string) (string, string, int){
		"sensors": func([]string) (string, string, int) { return string(b), "", 0 },
	})
	chips, err := p.Sensors(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(r.calls[0], " ") != "/usr/bin/sensors -j" {
		t.Errorf("ran %q", r.calls[0])
	}
	if len(chips) != 3 || chips[1].Name != "coretemp-isa-0000" || chips[1].Adapter != "ISA adapter" || len(chips[1].Features) != 2 {
		t.Fatalf("got %+v", chips)
	}
	pkg := chips[1].Features[1]
	if v, ok := pkg.Input(); pkg.Label != "Package id 0" || !ok || v != 45 || pkg.Values["temp1_crit"] != 100 {
		t.Fatalf("got %+v", pkg)
	}
	if v, _ := chips[2].Features[0].Input(); v != 40.85 {
		t.Fatalf("nvme composite %v", v)
	}
}

func TestSetBindMount(t *testing.T) {
	p, r := newFakePrivileged(t, ModeSudo, map[string]func([]string) (string, string, int){"pct": succeed})
	if err := p.SetBindMount(context.Background(), BindMount{VMID: 120, Slot: "mp3", HostPath: "/srv/shared", Path: "/data", ReadOnly: true}); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(r.calls[0], " "); got != "/usr/bin/sudo -n -- /usr/sbin/pct set 120 --mp3 /srv/shared,mp=/data,ro=1" {
		t.Fatalf("ran %q", got)
	}
	for _, b := range []BindMount{
		{VMID: 120, Slot: "mp256", HostPath: "/srv/shared", Path: "/data"},
		{VMID: 120, Slot: "rootfs", HostPath: "/srv/shared", Path: "/data"},
		{VMID: 120, Slot: "mp0", HostPath: "/srv/shared,mp=/x", Path: "/data"},
		{VMID: 120, Slot: "mp0", HostPath: "/srv/../etc", Path: "/data"},
		{VMID: 120, Slot: "mp0", HostPath: "/srv/shared", Path: "/data --hookscript x"},
		{VMID: 42, Slot: "mp0", HostPath: "/srv/shared", Path: "/data"},
	} {
		if err := p.SetBindMount(context.Background(), b); err == nil {
			t.Errorf("%+v: no error", b)
		}
	}
	if len(r.calls) != 1 {
		t.Errorf("ran %q for refused arguments", r.calls[1:])
	}
}
