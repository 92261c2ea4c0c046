// Package packaging holds the files a host installs besides the binary;
// this test keeps the sudoers allowlist in step with the commands
// proxmox.Privileged actually runs.
//
// The rules are matched here with Go's regexp, which reads them as sudo's
// POSIX extended expressions do: they use only groups, bracket classes,
// alternation and bounded repeats, anchored at both ends. (The real sudo
// 1.9.13 was checked against the same shapes with "sudo -l -U felhom
// COMMAND"; CI does not create users, so it runs visudo -cf only.)
package packaging

import (
	"context"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/felhom/felhom-converge/proxmox"
)

// rule is one command of a Cmnd_Alias: the program and, for a ^...$
// argument list, the regular expression the joined arguments must match
// (sudo matches the arguments joined by single spaces); otherwise the
// literal arguments.
type rule struct {
	alias, program string
	re             *regexp.Regexp
	literal        string
}

// readRules parses the Cmnd_Alias lines of the sudoers file, commented-out
// ones included (the golden-image rule ships commented out).
func readRules(t *testing.T) []rule {
	t.Helper()
	b, err := os.ReadFile("sudoers.d/felhom-converge")
	if err != nil {
		t.Fatal(err)
	}
	unescape := strings.NewReplacer(`\,`, ",", `\:`, ":", `\=`, "=", `\\`, `\`)
	var rules []rule
	for _, line := range strings.Split(string(b), "\n") {
		line = strings.TrimPrefix(line, "#")
		rest, ok := strings.CutPrefix(line, "Cmnd_Alias ")
		if !ok {
			continue
		}
		alias, cmd, ok := strings.Cut(rest, " = ")
		if !ok {
			t.Fatalf("cannot read %q", line)
		}
		program, args, _ := strings.Cut(cmd, " ")
		r := rule{alias: alias, program: program}
		if strings.HasPrefix(args, "^") && strings.HasSuffix(args, "$") {
			// sudo escapes ',' ':' '=' and '\' in sudoers; the regular
			// expression itself keeps its own escapes (\. stays \.).
			expr := strings.NewReplacer(`\,`, ",", `\:`, ":", `\=`, "=").Replace(args)
			re, err := regexp.Compile(expr)
			if err != nil {
				t.Fatalf("%s: %v", alias, err)
			}
			r.re = re
		} else {
			r.literal = unescape.Replace(args)
		}
		rules = append(rules, r)
	}
	if len(rules) != 6 {
		t.Fatalf("found %d Cmnd_Alias rules, want 6 (findmnt, mount, smartctl, sensors, pct create, pct set for bind mounts)", len(rules))
	}
	return rules
}

// allowed reports which rule, if any, allows argv (without the sudo prefix).
func allowed(rules []rule, argv []string) string {
	args := strings.Join(argv[1:], " ")
	for _, r := range rules {
		if r.program != argv[0] {
			continue
		}
		if r.re != nil && r.re.MatchString(args) || r.re == nil && r.literal == args {
			return r.alias
		}
	}
	return ""
}

// recorder is a proxmox.Runner that records each command and answers
// findmnt with "nothing mounted" (exit 1) and smartctl and sensors with
// empty JSON.
type recorder struct{ argvs [][]string }

type exitCode int

func (e exitCode) Error() string { return "exit status " + strconv.Itoa(int(e)) }
func (e exitCode) ExitCode() int { return int(e) }

func (r *recorder) Run(_ context.Context, argv []string) ([]byte, []byte, error) {
	r.argvs = append(r.argvs, argv)
	switch {
	case strings.HasSuffix(argv[3], "/findmnt"):
		return nil, nil, exitCode(1)
	case strings.HasSuffix(argv[3], "/sensors"):
		return []byte(`{}`), nil, nil
	}
	return []byte(`{"device":{"name":"/dev/sda"}}`), nil, nil
}

// Every command Privileged runs in sudo mode is allowed by exactly the
// rule meant for it.
func TestSudoersAllowsWhatPrivilegedRuns(t *testing.T) {
	rules := readRules(t)
	rec := &recorder{}
	p, err := proxmox.NewPrivileged(proxmox.ModeSudo, rec, proxmox.Tools{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, m := range []struct{ uuid, at string }{
		{"3f2504e0-4f89-11d3-9a0c-0305e82c3301", "/mnt/usb-backup"},
		{"1234-ABCD", "/media/backup/disk_2"},
		{"0123456789ABCDEF", "/mnt/x.y"},
	} {
		if err := p.MountUSBByUUID(ctx, m.uuid, m.at); err != nil {
			t.Fatal(err)
		}
	}
	for _, dev := range []string{"/dev/sda", "/dev/nvme0n1", "/dev/vdb", "/dev/disk/by-id/ata-Samsung_SSD_870_S5Y1NX0R123456"} {
		if _, err := p.SMART(ctx, dev); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := p.Sensors(ctx); err != nil {
		t.Fatal(err)
	}
	for _, g := range []proxmox.GoldenLXC{
		{VMID: 9000, Template: "local:vztmpl/debian-12-standard_12.7-1_amd64.tar.zst", Storage: "local-lvm"},
		{VMID: 9001, Template: "local:vztmpl/debian-12-standard_12.7-1_amd64.tar.zst", Storage: "local-lvm",
			RootFSGiB: 8, Hostname: "golden.example.net", MemoryMiB: 1024, Cores: 2, Net0: "name=eth0,bridge=vmbr0,ip=dhcp,gw=192.168.1.1"},
		{VMID: 9002, Template: "local:vztmpl/debian-12-standard_12.7-1_amd64.tar.zst", Storage: "local-lvm",
			Features: "force_rw_sys=0,fuse=1,keyctl=1,mknod=1,mount=nfs;cifs,nesting=1"},
	} {
		if err := p.CreateGoldenLXC(ctx, g); err != nil {
			t.Fatal(err)
		}
	}
	for _, b := range []proxmox.BindMount{
		{VMID: 120, Slot: "mp0", HostPath: "/srv/shared", Path: "/srv/data"},
		{VMID: 120, Slot: "mp12", HostPath: "/srv/shared", Path: "/mnt/ro.d", ReadOnly: true},
	} {
		if err := p.SetBindMount(ctx, b); err != nil {
			t.Fatal(err)
		}
	}
	want := map[string]int{"FELHOM_FINDMNT": 3, "FELHOM_MOUNT": 3, "FELHOM_SMART": 4, "FELHOM_SENSORS": 1, "FELHOM_PCT_CREATE": 3, "FELHOM_PCT_BIND": 2}
	got := map[string]int{}
	for _, argv := range rec.argvs {
		if len(argv) < 4 || argv[0] != "/usr/bin/sudo" || argv[1] != "-n" || argv[2] != "--" {
			t.Fatalf("not a sudo command line: %q", argv)
		}
		alias := allowed(rules, argv[3:])
		if alias == "" {
			t.Errorf("the sudoers file does not allow %q", strings.Join(argv[3:], " "))
		}
		got[alias]++
	}
	for alias, n := range want {
		if got[alias] != n {
			t.Errorf("%s allowed %d commands, want %d (all: %v)", alias, got[alias], n, got)
		}
	}
}

// The rules refuse what Privileged would never run: other options, other
// places, more arguments.
func TestSudoersRefusesOtherShapes(t *testing.T) {
	rules := readRules(t)
	for _, cmd := range []string{
		"/usr/bin/findmnt --json --output TARGET,SOURCE,UUID --mountpoint /mnt/../etc",
		"/usr/bin/findmnt --json --output TARGET,SOURCE,UUID --mountpoint /mnt/a /etc",
		"/usr/bin/mount UUID=1234-ABCD /etc",
		"/usr/bin/mount UUID=1234-ABCD /mnt/x -o bind",
		"/usr/bin/mount --bind / /mnt/x",
		"/usr/bin/mount UUID=1234-ABCD /mnt/.hidden",
		"/usr/bin/mount UUID=not-a-uuid /mnt/x",
		"/usr/bin/mount /dev/sda1 /mnt/x",
		"/usr/sbin/smartctl --json -a /dev/sda -s off",
		"/usr/sbin/smartctl --json -a /etc/shadow",
		"/usr/sbin/smartctl --json -a /dev/../etc/shadow",
		"/usr/bin/sensors -s",
		"/usr/sbin/pct create 9000 local:vztmpl/x.tar.zst --features keyctl=1,nesting=1 --unprivileged 1 --storage local-lvm --mp0 /:/host",
		"/usr/sbin/pct create 9000 local:vztmpl/x.tar.zst --features keyctl=1,nesting=1 --unprivileged 0 --storage local-lvm",
		"/usr/sbin/pct create 9000 local:vztmpl/x.tar.zst --features keyctl=1,nesting=1,hookscript=1 --unprivileged 1 --storage local-lvm",
		"/usr/sbin/pct create 9000 local:vztmpl/x.tar.zst --features keyctl=2 --unprivileged 1 --storage local-lvm",
		"/usr/sbin/pct create 9000 local:vztmpl/x.tar.zst --features mount=nfs,x=/y --unprivileged 1 --storage local-lvm",
		"/usr/sbin/pct create 9000 local:vztmpl/x.tar.zst --features keyctl=1,nesting=1 --unprivileged 1 --storage local-lvm --net0 name=eth0 --hookscript local:snippets/x",
		"/usr/sbin/pct destroy 100",
		"/usr/sbin/pct set 100 --mp0 /:/host",
		"/usr/sbin/pct set 100 --mp0 /etc/pve,mp=/x",
		"/usr/sbin/pct set 100 --mp0 /srv/shared/../../etc,mp=/x",
		"/usr/sbin/pct set 100 --mp0 /srv/shared,mp=/x --hookscript local:snippets/x",
		"/usr/sbin/pct set 100 --mp0 /srv/shared,mp=/x,backup=1",
		"/usr/sbin/pct set 100 --dev0 /dev/sda",
	} {
		if alias := allowed(rules, strings.Fields(cmd)); alias != "" {
			t.Errorf("%s allows %q", alias, cmd)
		}
	}
}
