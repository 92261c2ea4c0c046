package plan

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/felhom/felhom-converge/proxmox"
	"github.com/felhom/felhom-converge/proxmox/pvesim"
)

const golden = "local:backup/vzdump-lxc-9000-2026_10_01-12_00_00.tar.zst"

// pve9 is a PVE 9 host whose token lacks Sys.Modify on "/".
func pve9(l *Live, archives map[string]bool) *Live {
	l.Privileged = &Privileged{Release: "9.1", PVE9: true, ArchiveUnprivileged: archives}
	return l
}

func wiki(extra string) string {
	return `
guest "wiki" {
  vmid        = 102
  from_backup = "` + golden + `"
  ` + extra + `
  rootfs {
    storage = "local-lvm"
    size    = "8G"
  }
}`
}

// On PVE 9 a restore that makes a privileged container on a new VMID is
// a plan error naming Sys.Modify, whether the file asks for it or the
// archive holds one; with Sys.Modify, or on PVE 8, it is planned.
func TestPVE9PrivilegedCreateIsAPlanError(t *testing.T) {
	archives := func(l *Live) *Live {
		l.Archives = map[string]proxmox.StorageItem{golden: {}}
		return l
	}
	for _, c := range []struct {
		name, extra string
		live        *Live
		err         string
	}{
		{"asked", "unprivileged = false", pve9(archives(liveWith()), nil), "the file asks for a privileged container (unprivileged = false), and Proxmox VE 9.1 lets an API token make a privileged container only with Sys.Modify on /"},
		{"archive", "", pve9(archives(liveWith()), map[string]bool{golden: false}), "the archive " + golden + " holds a privileged container"},
		{"unprivileged archive", "", pve9(archives(liveWith()), map[string]bool{golden: true}), ""},
		{"asked unprivileged", "unprivileged = true", pve9(archives(liveWith()), nil), ""},
		{"PVE 8", "unprivileged = false", archives(liveWith()), ""},
	} {
		p := diff(t, desired(t, wiki(c.extra)), c.live, nil)
		switch {
		case c.err == "" && (len(p.Errors) > 0 || !strings.HasPrefix(ops_(p), "guest.create:benign")):
			t.Errorf("%s: steps %s, errors %v", c.name, ops_(p), p.Errors)
		case c.err != "" && (len(p.Errors) != 1 || len(p.Steps) != 0 || !strings.Contains(p.Errors[0].String(), c.err) ||
			!strings.Contains(p.Errors[0].String(), "set unprivileged = true")):
			t.Errorf("%s: steps %s, errors %v", c.name, ops_(p), p.Errors)
		}
	}
	l := pve9(archives(liveWith()), nil)
	l.Privileged.SysModify = true
	if p := diff(t, desired(t, wiki("unprivileged = false")), l, nil); len(p.Errors) > 0 {
		t.Errorf("with Sys.Modify: %v", p.Errors)
	}
}

// On PVE 9 a create from a template that leaves unprivileged unset makes
// an unprivileged container: the plan sends it and says so.
func TestPVE9TemplateCreateSaysUnprivileged(t *testing.T) {
	h := desired(t, `
guest "box" {
  vmid          = 120
  from_template = "local:vztmpl/debian-12-standard_12.7-1_amd64.tar.zst"
  rootfs {
    storage = "local-lvm"
    size    = "8G"
  }
}`)
	tmpl := func(l *Live) *Live {
		l.Templates = map[string]bool{"local:vztmpl/debian-12-standard_12.7-1_amd64.tar.zst": true}
		return l
	}
	p := diff(t, h, pve9(tmpl(liveWith()), nil), nil)
	if len(p.Errors) > 0 || len(p.Steps) == 0 {
		t.Fatalf("steps %s errors %v", ops_(p), p.Errors)
	}
	conf, _ := params(t, p.Steps[0])["config"].(map[string]any)
	if conf["unprivileged"] != "1" || !strings.Contains(changeNotes(p.Steps[0]), "Proxmox VE 9's default for a create from a template") {
		t.Errorf("config %v, changes %+v", conf, p.Steps[0].Changes)
	}
	p = diff(t, h, tmpl(liveWith()), nil)
	if conf, _ := params(t, p.Steps[0])["config"].(map[string]any); conf["unprivileged"] != nil {
		t.Errorf("PVE 8: config %v", conf)
	}
}

func changeNotes(s Step) string {
	var out []string
	for _, c := range s.Changes {
		out = append(out, c.Field+": "+c.Note)
	}
	return strings.Join(out, "; ")
}

// On PVE 9 turning a guest privileged (a rebuild) and restoring a
// privileged archive over an unprivileged guest are plan errors.
func TestPVE9PrivilegedRebuildAndRestoreOverArePlanErrors(t *testing.T) {
	h := desired(t, strings.Replace(strings.Replace(webHCL, "%s", "", 1), "unprivileged = true", "unprivileged = false", 1))
	p := diff(t, h, pve9(liveWith(running(100, "web", web())), nil), nil)
	if len(p.Steps) != 0 || len(p.Errors) != 1 || !strings.Contains(p.Errors[0].String(), "turning unprivileged off rebuilds it as a privileged container") {
		t.Errorf("rebuild: steps %s errors %v", ops_(p), p.Errors)
	}
	h = desired(t, strings.Replace(webHCL, "%s", "", 1)+`
job "back" {
  op     = "guest.restore_over"
  guest  = 100
  backup = "`+golden+`"
}`)
	l := pve9(liveWith(running(100, "web", web())), map[string]bool{golden: false})
	l.Archives = map[string]proxmox.StorageItem{golden: {}}
	p = diff(t, h, l, nil)
	if len(p.Errors) != 1 || !strings.Contains(p.Errors[0].String(), "holds a privileged container, guest 100 is unprivileged") {
		t.Errorf("restore over: steps %s errors %v", ops_(p), p.Errors)
	}
}

// Observing reads the release, the token's Sys.Modify and the archive
// only when the plan may make a privileged container, and nothing more
// otherwise.
func TestObservePrivileged(t *testing.T) {
	for _, release := range []string{"8.4", "9.1"} {
		sim, err := pvesim.New(pvesim.Options{StatePath: filepath.Join(t.TempDir(), "host.json"), TaskDuration: -1, PVEVersion: release})
		if err != nil {
			t.Fatal(err)
		}
		defer sim.Close()
		endpoint, err := sim.Start("127.0.0.1:0", true)
		if err != nil {
			t.Fatal(err)
		}
		token, _ := proxmox.ParseToken(sim.Token("converge"))
		c, err := proxmox.New(proxmox.Options{Endpoint: endpoint, Node: sim.Node(), Token: token, Fingerprint: sim.Fingerprint()})
		if err != nil {
			t.Fatal(err)
		}
		ctx := context.Background()
		live, err := Observe(ctx, c, desired(t, wiki("")), 2, nil)
		if err != nil {
			t.Fatal(err)
		}
		p := live.Privileged
		if p == nil || p.Release != release || p.PVE9 != (release == "9.1") || p.SysModify {
			t.Fatalf("%s: %+v", release, p)
		}
		if u, read := p.ArchiveUnprivileged[golden]; (release == "9.1") != read || read && !u {
			t.Errorf("%s: archives %v", release, p.ArchiveUnprivileged)
		}
		before := totalRequests(sim)
		live, err = Observe(ctx, c, desired(t, wiki("unprivileged = true")), 2, nil)
		if err != nil {
			t.Fatal(err)
		}
		if live.Privileged != nil || live.Requests != totalRequests(sim)-before {
			t.Errorf("%s: an unprivileged restore read %+v (%d requests)", release, live.Privileged, live.Requests)
		}
	}
}
