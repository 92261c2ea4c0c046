package pvesim

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"
)

// TestZFSRollbackOnlyToNewest: the seed has no ZFS storage, so this test
// moves CT 110 onto one and checks Proxmox's ZFS rule: rollback only to
// the most recent snapshot, by creation also within one second of
// snaptime (zfs list -s creation keeps their order).
func TestZFSRollbackOnlyToNewest(t *testing.T) {
	t.Parallel()
	s, err := New(Options{TaskDuration: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	s.mu.Lock()
	zfs := &storage{ID: "local-zfs", Type: "zfspool", Pool: "rpool/data", Content: []string{"images", "rootdir"},
		Total: 100 << 30, Volumes: map[string]*volume{}}
	s.st.Storages = append(s.st.Storages, zfs)
	zfs.Volumes["local-zfs:subvol-110-disk-0"] = &volume{VolID: "local-zfs:subvol-110-disk-0", Content: "rootdir", Format: "subvol", Size: 4 << 30, VMID: 110}
	s.st.Guests[110].Conf["rootfs"] = "local-zfs:subvol-110-disk-0,size=4G"
	s.mu.Unlock()

	do := func(method, path string, form url.Values) map[string]any {
		t.Helper()
		req := httptest.NewRequest(method, "/api2/json"+path, strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Authorization", "PVEAPIToken="+s.Token("converge"))
		w := httptest.NewRecorder()
		s.Handler().ServeHTTP(w, req)
		if w.Code != http.StatusOK {
			t.Fatalf("%s %s: %d %s", method, path, w.Code, w.Body)
		}
		var body map[string]any
		json.Unmarshal(w.Body.Bytes(), &body)
		return body
	}
	exit := func(upid any) string {
		t.Helper()
		if !s.WaitIdle(5 * time.Second) {
			t.Fatal("tasks did not finish")
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		return s.st.task(upid.(string)).ExitStatus
	}
	for _, name := range []string{"older", "newer"} {
		if st := exit(do("POST", "/nodes/pve/lxc/110/snapshot", url.Values{"snapname": {name}})["data"]); st != "OK" {
			t.Fatalf("snapshot %s: %s", name, st)
		}
	}
	st := exit(do("POST", "/nodes/pve/lxc/110/snapshot/older/rollback", nil)["data"])
	if st != "can't rollback, 'older' is not most recent snapshot on 'rpool/data/subvol-110-disk-0'" {
		t.Errorf("rollback to the older ZFS snapshot: %q", st)
	}
	if st := exit(do("POST", "/nodes/pve/lxc/110/snapshot/newer/rollback", nil)["data"]); st != "OK" {
		t.Errorf("rollback to the newest ZFS snapshot: %q", st)
	}
}

// TestBackupPermissionFailsInTask: vzdump checks VM.Backup inside the
// worker, so a token that may write to the storage but not back up the
// guest gets a UPID, and the task fails.
func TestBackupPermissionFailsInTask(t *testing.T) {
	t.Parallel()
	s, err := New(Options{TaskDuration: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	s.mu.Lock()
	var role []string
	for _, p := range minimalRole {
		if p != "VM.Backup" {
			role = append(role, p)
		}
	}
	s.st.Tokens["felhom@pve!nobackup"] = &token{Secret: "s3cret", Privsep: true, ACL: map[string][]string{"/": role}}
	s.mu.Unlock()

	req := httptest.NewRequest("POST", "/api2/json/nodes/pve/vzdump", strings.NewReader("vmid=100&remove=0"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Authorization", "PVEAPIToken=felhom@pve!nobackup=s3cret")
	w := httptest.NewRecorder()
	s.Handler().ServeHTTP(w, req)
	if w.Code != http.StatusOK {
		t.Fatalf("POST vzdump: %d %s, want a UPID", w.Code, w.Body)
	}
	var body struct{ Data string }
	json.Unmarshal(w.Body.Bytes(), &body)
	if !s.WaitIdle(5 * time.Second) {
		t.Fatal("task did not finish")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	tk := s.st.task(body.Data)
	if tk == nil || tk.ExitStatus != "Permission check failed (/vms/100, VM.Backup)" {
		t.Fatalf("task %+v", tk)
	}
	if l := s.st.Guests[100].Conf["lock"]; l != "" {
		t.Errorf("guest left locked (%s)", l)
	}
}

// TestTaskVisibility: without Sys.Audit on the node a token sees only its
// own tasks (pve-manager Tasks.pm check_task_user): another token's task
// status and log are a 403 naming the privilege, and the task list leaves
// them out.
func TestTaskVisibility(t *testing.T) {
	t.Parallel()
	s, err := New(Options{TaskDuration: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	s.mu.Lock()
	s.st.Tokens["felhom@pve!nosys"] = &token{Secret: "s3cret", Privsep: true, ACL: map[string][]string{"/": {"VM.Audit", "VM.PowerMgmt"}}}
	s.mu.Unlock()
	call := func(token, method, path string) (int, map[string]any) {
		t.Helper()
		req := httptest.NewRequest(method, "/api2/json"+path, nil)
		req.Header.Set("Authorization", "PVEAPIToken="+token)
		w := httptest.NewRecorder()
		s.Handler().ServeHTTP(w, req)
		var body map[string]any
		json.Unmarshal(w.Body.Bytes(), &body)
		return w.Code, body
	}
	converge, nosys := s.Token("converge"), "felhom@pve!nosys=s3cret"
	_, b := call(converge, "POST", "/nodes/pve/lxc/110/status/start")
	theirs := b["data"].(string)
	_, b = call(nosys, "POST", "/nodes/pve/lxc/100/status/stop")
	mine := b["data"].(string)
	if !s.WaitIdle(5 * time.Second) {
		t.Fatal("tasks did not finish")
	}
	if code, _ := call(nosys, "GET", "/nodes/pve/tasks/"+url.PathEscape(mine)+"/status"); code != 200 {
		t.Errorf("own task status: %d", code)
	}
	for _, sub := range []string{"status", "log"} {
		code, b := call(nosys, "GET", "/nodes/pve/tasks/"+url.PathEscape(theirs)+"/"+sub)
		if code != 403 || b["message"] != "Permission check failed (/nodes/pve, Sys.Audit)\n" {
			t.Errorf("another token's task %s: %d %v, want 403 naming Sys.Audit", sub, code, b["message"])
		}
	}
	_, b = call(nosys, "GET", "/nodes/pve/tasks")
	if l, _ := b["data"].([]any); len(l) != 1 || l[0].(map[string]any)["upid"] != mine {
		t.Errorf("task list of the token without Sys.Audit: %v, want only its own task", b["data"])
	}
	if code, _ := call(converge, "GET", "/nodes/pve/tasks/"+url.PathEscape(mine)+"/log"); code != 200 {
		t.Errorf("a token with Sys.Audit reads any task's log: %d", code)
	}
}

// withoutPriv is the tool's role minus some privileges.
func withoutPriv(drop ...string) []string {
	var role []string
	for _, p := range minimalRole {
		if !contains(drop, p) {
			role = append(role, p)
		}
	}
	return role
}

// callAs does one form request through the handler and waits for the
// task it started, if any.
func callAs(t *testing.T, s *Sim, token, method, path, form string) (int, map[string]any) {
	t.Helper()
	req := httptest.NewRequest(method, "/api2/json"+path, strings.NewReader(form))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Authorization", "PVEAPIToken="+token)
	w := httptest.NewRecorder()
	s.Handler().ServeHTTP(w, req)
	var body map[string]any
	json.Unmarshal(w.Body.Bytes(), &body)
	if !s.WaitIdle(5 * time.Second) {
		t.Fatal("tasks did not finish")
	}
	return w.Code, body
}

func taskExit(s *Sim, upid any) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	u, _ := upid.(string)
	if tk := s.st.task(u); tk != nil {
		return tk.ExitStatus
	}
	return "(no task)"
}

// prune-backups on vzdump needs Datastore.Allocate on the storage.
func TestVzdumpPruneNeedsDatastoreAllocate(t *testing.T) {
	t.Parallel()
	s, err := New(Options{TaskDuration: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	s.mu.Lock()
	s.st.Tokens["felhom@pve!noalloc"] = &token{Secret: "s3cret", Privsep: true, ACL: map[string][]string{"/": withoutPriv("Datastore.Allocate")}}
	s.mu.Unlock()
	code, b := callAs(t, s, "felhom@pve!noalloc=s3cret", "POST", "/nodes/pve/vzdump", "vmid=100&remove=0&prune-backups=keep-all%3D1")
	if code != 403 || b["message"] != "Permission check failed (/storage/local, Datastore.Allocate)\n" {
		t.Errorf("vzdump with prune-backups, no Datastore.Allocate: %d %v", code, b["message"])
	}
	code, b = callAs(t, s, s.Token("converge"), "POST", "/nodes/pve/vzdump", "vmid=100&remove=0&prune-backups=keep-all%3D1")
	if code != 200 || taskExit(s, b["data"]) != "OK" {
		t.Errorf("vzdump with keep-all=1 and the tool's role: %d %v", code, taskExit(s, b["data"]))
	}
}

// Restoring over an unprivileged CT as privileged needs VM.Allocate, not
// Sys.Modify: refused at once when asked for explicitly, in the worker
// when the archive is privileged. The old CT survives both.
func TestRestoreToPrivilegedNeedsVMAllocate(t *testing.T) {
	t.Parallel()
	s, err := New(Options{TaskDuration: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	s.mu.Lock()
	s.st.Tokens["felhom@pve!backuponly"] = &token{Secret: "s3cret", Privsep: true, ACL: map[string][]string{"/": withoutPriv("VM.Allocate")}}
	s.mu.Unlock()
	conv, bo := s.Token("converge"), "felhom@pve!backuponly=s3cret"
	// A privileged archive: a backup of CT 110.
	if code, b := callAs(t, s, conv, "POST", "/nodes/pve/vzdump", "vmid=110&remove=0&prune-backups=keep-all%3D1"); code != 200 || taskExit(s, b["data"]) != "OK" {
		t.Fatalf("backup of 110: %d %v", code, b)
	}
	var archive string
	s.mu.Lock()
	for id, v := range s.st.storage("local").Volumes {
		if v.VMID == 110 {
			archive = id
		}
	}
	s.mu.Unlock()
	callAs(t, s, conv, "POST", "/nodes/pve/lxc/101/status/stop", "")

	code, b := callAs(t, s, bo, "POST", "/nodes/pve/lxc", "vmid=101&restore=1&force=1&unprivileged=0&ostemplate="+url.QueryEscape(goldenArchive))
	if code != 403 || b["message"] != "Permission check failed (cannot change from unprivileged to privileged without VM.Allocate)\n" {
		t.Errorf("explicit change to privileged: %d %v", code, b["message"])
	}
	code, b = callAs(t, s, bo, "POST", "/nodes/pve/lxc", "vmid=101&restore=1&force=1&storage=local-lvm&ostemplate="+url.QueryEscape(archive))
	if code != 200 || taskExit(s, b["data"]) != "unable to restore CT 101 - Permission check failed (/vms/101, VM.Allocate)" {
		t.Errorf("restore of a privileged archive: %d %v", code, taskExit(s, b["data"]))
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if g := s.st.Guests[101]; g == nil || g.Conf["lock"] != "" || g.Conf["unprivileged"] != "1" {
		t.Errorf("CT 101 after the refused restores: %+v", g)
	}
}
