package pvesim

import (
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func newSim(t *testing.T, opts Options) *Sim {
	t.Helper()
	if opts.TaskDuration == 0 {
		opts.TaskDuration = -1
	}
	s, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func getAs(t *testing.T, s *Sim, token, path string) map[string]any {
	t.Helper()
	req := path
	code, b := callAs(t, s, token, "GET", req, "")
	if code != 200 {
		t.Fatalf("GET %s: %d %v", path, code, b["message"])
	}
	m, _ := b["data"].(map[string]any)
	return m
}

// The release is kept with the state: a new state is seeded with the one
// asked for, a later start keeps it unless told otherwise (an upgrade),
// and an unknown release is refused before any state is written.
func TestPVEVersionIsKeptWithTheState(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "host.json")
	if _, err := New(Options{StatePath: path, PVEVersion: "9.0"}); err == nil || !strings.Contains(err.Error(), "8.4 or 9.1") {
		t.Fatalf("PVE 9.0: %v", err)
	}
	if _, err := os.Stat(path); err == nil {
		t.Fatal("a refused release wrote the state")
	}
	for _, step := range []struct{ opt, version, release, repoid, kernel string }{
		{"9.1", "9.1.1", "9.1", "f4d3f125ffae50e9", "6.17.2-1-pve"},
		{"", "9.1.1", "9.1", "f4d3f125ffae50e9", "6.17.2-1-pve"},
		{"8.4.1", "8.4.1", "8.4", "2a5fa54a8503f96d", "6.8.12-9-pve"},
	} {
		s, err := New(Options{StatePath: path, PVEVersion: step.opt, TaskDuration: -1})
		if err != nil {
			t.Fatal(err)
		}
		tok := s.Token("converge")
		v := getAs(t, s, tok, "/version")
		if v["version"] != step.version || v["release"] != step.release || v["repoid"] != step.repoid || s.PVEVersion() != step.version {
			t.Errorf("option %q: /version %v", step.opt, v)
		}
		st := getAs(t, s, tok, "/nodes/pve/status")
		mem, _ := st["memory"].(map[string]any)
		_, available := mem["available"]
		ck, _ := st["current-kernel"].(map[string]any)
		if st["pveversion"] != "pve-manager/"+step.version+"/"+step.repoid || ck["release"] != step.kernel || available != (step.release == "9.1") {
			t.Errorf("option %q: node status %v", step.opt, st)
		}
		s.Close()
	}
}

// PVE 9 creates from a template unprivileged unless told otherwise, and a
// privileged create needs Sys.Modify on "/"; 8.4 leaves the key out
// (privileged) and asks nothing more.
func TestPVE9CreateDefaultsToUnprivileged(t *testing.T) {
	t.Parallel()
	for _, pve := range []string{"8.4", "9.1"} {
		s := newSim(t, Options{PVEVersion: pve})
		tok := s.Token("converge")
		tmpl := "ostemplate=" + url.QueryEscape(debianTemplate)
		// Without nesting, a systemd CT's create and start warn on PVE 9.
		want := map[string]string{"8.4": "OK", "9.1": "WARNINGS: 1"}[pve]
		code, b := callAs(t, s, tok, "POST", "/nodes/pve/lxc", "vmid=200&storage=local-lvm&"+tmpl)
		if code != 200 || taskExit(s, b["data"]) != want {
			t.Fatalf("%s: create: %d %v %v", pve, code, b["message"], taskExit(s, b["data"]))
		}
		conf := getAs(t, s, tok, "/nodes/pve/lxc/200/config")
		if unpriv := conf["unprivileged"]; (pve == "9.1") != (unpriv != nil) {
			t.Errorf("%s: unprivileged %v", pve, unpriv)
		}
		code, b = callAs(t, s, tok, "POST", "/nodes/pve/lxc", "vmid=201&storage=local-lvm&unprivileged=0&"+tmpl)
		if pve == "9.1" && (code != 403 || b["message"] != "Permission check failed (/, Sys.Modify)\n") {
			t.Errorf("9.1: privileged create: %d %v", code, b["message"])
		}
		if pve == "8.4" && (code != 200 || taskExit(s, b["data"]) != "OK") {
			t.Errorf("8.4: privileged create: %d %v", code, b["message"])
		}
		code, b = callAs(t, s, tok, "POST", "/nodes/pve/lxc/200/status/start", "")
		if code != 200 || taskExit(s, b["data"]) != want {
			t.Errorf("%s: start without nesting: %d %v", pve, code, taskExit(s, b["data"]))
		}
		if log := taskLogOf(s, b["data"]); (pve == "9.1") != strings.Contains(log, "WARN: Systemd 252 detected. You may need to enable nesting.\n") {
			t.Errorf("%s: start log:\n%s", pve, log)
		}
	}
}

// PVE 9 asks Sys.Modify on "/" of a restore that makes a privileged CT on
// a new vmid or over an unprivileged one, in the worker before any disk
// is made; the VM.Backup-only path refuses an explicit change at once.
func TestPVE9PrivilegedRestoreNeedsSysModify(t *testing.T) {
	t.Parallel()
	s := newSim(t, Options{PVEVersion: "9.1"})
	s.mu.Lock()
	s.st.Tokens["felhom@pve!backuponly"] = &token{Secret: "s3cret", Privsep: true, ACL: map[string][]string{"/": withoutPriv("VM.Allocate")}}
	s.mu.Unlock()
	conv, bo := s.Token("converge"), "felhom@pve!backuponly=s3cret"
	golden := "ostemplate=" + url.QueryEscape(goldenArchive)
	code, b := callAs(t, s, conv, "POST", "/nodes/pve/lxc", "vmid=300&restore=1&storage=local-lvm&unprivileged=0&"+golden)
	if code != 200 || taskExit(s, b["data"]) != "unable to restore CT 300 - Permission check failed (/, Sys.Modify)" {
		t.Errorf("privileged restore to a new vmid: %d %v", code, taskExit(s, b["data"]))
	}
	callAs(t, s, conv, "POST", "/nodes/pve/lxc/101/status/stop", "")
	code, b = callAs(t, s, conv, "POST", "/nodes/pve/lxc", "vmid=101&restore=1&force=1&storage=local-lvm&unprivileged=0&"+golden)
	if code != 200 || taskExit(s, b["data"]) != "unable to restore CT 101 - Permission check failed (/, Sys.Modify)" {
		t.Errorf("privileged restore over an unprivileged CT: %d %v", code, taskExit(s, b["data"]))
	}
	code, b = callAs(t, s, bo, "POST", "/nodes/pve/lxc", "vmid=101&restore=1&force=1&unprivileged=0&"+golden)
	if code != 403 || b["message"] != "Permission check failed (/, Sys.Modify)\n" {
		t.Errorf("explicit change to privileged with VM.Backup only: %d %v", code, b["message"])
	}
	code, b = callAs(t, s, conv, "POST", "/nodes/pve/lxc", "vmid=301&restore=1&storage=local-lvm&"+golden)
	if code != 200 || taskExit(s, b["data"]) != "OK" {
		t.Errorf("unprivileged restore: %d %v", code, taskExit(s, b["data"]))
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if g := s.st.Guests[101]; g == nil || g.Conf["lock"] != "" || g.Conf["unprivileged"] != "1" {
		t.Errorf("CT 101 after the refused restores: %+v", g)
	}
	if s.st.Guests[300] != nil {
		t.Error("the refused restore left CT 300")
	}
}

// Texts PVE 9 words differently: the schema's "requires", and the log of
// a task the node does not know (a list of one line).
func TestPVE9Texts(t *testing.T) {
	t.Parallel()
	for _, pve := range []string{"8.4", "9.1"} {
		s := newSim(t, Options{PVEVersion: pve})
		tok := s.Token("converge")
		requires := map[string]string{"8.4": "missing property - '%s' requires this property", "9.1": "missing property required by '%s'"}[pve]
		code, b := callAs(t, s, tok, "POST", "/nodes/pve/vzdump", "vmid=100&protected=1")
		if errs, _ := b["errors"].(map[string]any); code != 400 || errs["storage"] != strings.Replace(requires, "%s", "protected", 1) {
			t.Errorf("%s: protected without storage: %d %v", pve, code, b)
		}
		code, b = callAs(t, s, tok, "POST", "/nodes/pve/lxc", "vmid=400&unique=1&ostemplate="+url.QueryEscape(goldenArchive))
		if errs, _ := b["errors"].(map[string]any); code != 400 || errs["restore"] != strings.Replace(requires, "%s", "unique", 1) {
			t.Errorf("%s: unique without restore: %d %v", pve, code, b)
		}
		code, b = callAs(t, s, tok, "POST", "/nodes/pve/vzdump", "vmid=100&storage=local&bwlimit=1000")
		if code != 403 || b["message"] != "Permission check failed (/, Sys.Modify)\n" {
			t.Errorf("%s: vzdump with bwlimit: %d %v", pve, code, b["message"])
		}
		code, b = callAs(t, s, tok, "GET", "/nodes/pve/tasks/"+url.PathEscape("UPID:pve:00001092:00000063:00000000:vzdump:100:felhom@pve!converge:")+"/log", "")
		_, isList := b["data"].([]any)
		if code != 200 || isList != (pve == "9.1") {
			t.Errorf("%s: log of an unknown task: %d %v", pve, code, b["data"])
		}
	}
}

// PVE 9's env is read-restricted: a caller without VM.Config.Options does
// not see it. 8.4 has no such key.
func TestPVE9Env(t *testing.T) {
	t.Parallel()
	for _, pve := range []string{"8.4", "9.1"} {
		s := newSim(t, Options{PVEVersion: pve})
		tok := s.Token("converge")
		code, b := callAs(t, s, tok, "PUT", "/nodes/pve/lxc/100/config", "env="+url.QueryEscape("A=1\x00B=2")+"&entrypoint=%2Fsbin%2Finit")
		if pve == "8.4" {
			if errs, _ := b["errors"].(map[string]any); code != 400 || errs["env"] == nil || errs["entrypoint"] == nil {
				t.Errorf("8.4: env: %d %v", code, b)
			}
			continue
		}
		if code != 200 {
			t.Fatalf("9.1: env: %d %v", code, b)
		}
		if conf := getAs(t, s, tok, "/nodes/pve/lxc/100/config"); conf["env"] != "A=1\x00B=2" {
			t.Errorf("9.1: env read with VM.Config.Options: %v", conf["env"])
		}
		if conf := getAs(t, s, s.Token("readonly"), "/nodes/pve/lxc/100/config"); conf["env"] != nil || conf["entrypoint"] != "/sbin/init" {
			t.Errorf("9.1: config read with VM.Audit only: %v", conf)
		}
		s.mu.Lock()
		pending := s.st.Guests[100].Pending
		s.mu.Unlock()
		if pending["env"] == "" || pending["entrypoint"] == "" {
			t.Errorf("9.1: env and entrypoint on a running CT: pending %v", pending)
		}
	}
}

func taskLogOf(s *Sim, upid any) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	u, _ := upid.(string)
	if tk := s.st.task(u); tk != nil {
		return strings.Join(tk.Log, "\n") + "\n"
	}
	return ""
}

// The config file is rendered as write_pct_config writes it: description
// lines encoded as comments, and every section's keys sorted, a pending
// delete and a snapshot's snaptime among them.
func TestRenderConfIsWritePctConfig(t *testing.T) {
	g := &guest{VMID: 100,
		Conf:          map[string]string{"hostname": "web", "description": "a: 100%\nb\n", "parent": "s1"},
		Pending:       map[string]string{"memory": "1024", "cores": "2"},
		PendingDelete: []string{"tags"},
		Snapshots:     map[string]*snapshot{"s1": {Conf: map[string]string{"hostname": "web", "unprivileged": "1"}, Snaptime: 1700000000}},
	}
	want := "#a%3A 100%25\n#b\nhostname: web\nparent: s1\n" +
		"\n[pve:pending]\ncores: 2\ndelete: tags\nmemory: 1024\n" +
		"\n[s1]\nhostname: web\nsnaptime: 1700000000\nunprivileged: 1\n"
	if got := renderConf(g); got != want {
		t.Errorf("rendered\n%s\nwant\n%s", got, want)
	}
}

// A backup's notes and protection change through PUT .../content/VOLID,
// with the access a removal needs; a protected backup cannot be removed
// until it is unprotected. extractconfig gives the archive's config file.
func TestContentAttributes(t *testing.T) {
	t.Parallel()
	s := newSim(t, Options{})
	tok := s.Token("converge")
	path := "/nodes/pve/storage/local/content/" + url.PathEscape(goldenArchive)
	code, b := callAs(t, s, tok, "DELETE", path, "")
	if code != 200 || !strings.Contains(taskExit(s, b["data"]), "cannot remove protected volume") {
		t.Fatalf("removing the protected golden image: %d %v", code, taskExit(s, b["data"]))
	}
	if code, b = callAs(t, s, s.Token("readonly"), "PUT", path, "protected=0"); code != 403 {
		t.Errorf("unprotect with the read-only token: %d %v", code, b["message"])
	}
	if code, b = callAs(t, s, tok, "PUT", path, "protected=0&notes=old+golden"); code != 200 || b["data"] != nil {
		t.Fatalf("unprotect: %d %v", code, b)
	}
	s.mu.Lock()
	v := *s.st.storage("local").Volumes[goldenArchive]
	s.mu.Unlock()
	if v.Protected || v.Notes != "old golden" {
		t.Errorf("after the update: %+v", v)
	}
	code, b = callAs(t, s, tok, "GET", "/nodes/pve/vzdump/extractconfig?volume="+url.QueryEscape(goldenArchive), "")
	if text, _ := b["data"].(string); code != 200 || !strings.HasPrefix(text, "#felhom golden image (Debian 12)\narch: amd64\n") {
		t.Errorf("extractconfig: %d %q", code, b["data"])
	}
	if code, b = callAs(t, s, tok, "DELETE", path, ""); code != 200 || taskExit(s, b["data"]) != "OK" {
		t.Errorf("removing it unprotected: %d %v", code, taskExit(s, b["data"]))
	}
}
