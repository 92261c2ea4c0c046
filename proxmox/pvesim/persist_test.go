package pvesim_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/felhom/felhom-converge/proxmox/pvesim"
)

func TestPersistenceAcrossRestarts(t *testing.T) {
	t.Parallel()
	path := statePath(t)
	s1, err := pvesim.New(pvesim.Options{StatePath: path, TaskDuration: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ep, err := s1.Start("127.0.0.1:0", true)
	if err != nil {
		t.Fatal(err)
	}
	a := newRawAPI(t, s1, ep, s1.Token("converge"))
	a.ok("PUT", "/nodes/pve/lxc/110/config", form("memory", "2048"))
	_, st := a.task("POST", "/nodes/pve/lxc/110/status/start", nil)
	if st["exitstatus"] != "OK" {
		t.Fatal(st)
	}
	token, fp := s1.Token("converge"), s1.Fingerprint()
	if err := s1.Close(); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("state file: %v %v, want mode 0600", fi, err)
	}

	s2, err := pvesim.New(pvesim.Options{StatePath: path})
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	if s2.Token("converge") != token || s2.Fingerprint() != fp {
		t.Fatal("token or certificate changed across a restart of the same state")
	}
	ep, err = s2.Start("127.0.0.1:0", true)
	if err != nil {
		t.Fatal(err)
	}
	b := newRawAPI(t, s2, ep, token)
	if c := b.config(110); c["memory"] != json.Number("2048") {
		t.Errorf("memory after restart: %v", c["memory"])
	}
	if s := b.ok("GET", "/nodes/pve/lxc/110/status/current", nil).dataMap(t); s["status"] != "running" {
		t.Errorf("status after restart: %v", s["status"])
	}
	// The finished task is still known.
	if len(b.ok("GET", "/nodes/pve/tasks", form("vmid", "110")).dataList(t)) != 1 {
		t.Error("task history lost across restart")
	}
}

// TestRunningTaskFinishesAfterRestart: a task that was running when the
// simulator stopped completes when the state is loaded again, with its
// lock held until then.
func TestRunningTaskFinishesAfterRestart(t *testing.T) {
	t.Parallel()
	path := statePath(t)
	s1, err := pvesim.New(pvesim.Options{StatePath: path, TaskDuration: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	ep, _ := s1.Start("127.0.0.1:0", false)
	a := newRawAPI(t, s1, ep, s1.Token("converge"))
	upid := a.ok("POST", "/nodes/pve/vzdump", form("vmid", "101", "remove", "0")).data().(string)
	if err := s1.Close(); err != nil {
		t.Fatal(err)
	}
	s2, err := pvesim.New(pvesim.Options{StatePath: path, TaskDuration: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	ep, _ = s2.Start("127.0.0.1:0", false)
	b := newRawAPI(t, s2, ep, s2.Token("converge"))
	if st := b.wait(upid); st["exitstatus"] != "OK" {
		t.Fatalf("resumed task: %v", st)
	}
	if _, locked := b.config(101)["lock"]; locked {
		t.Error("lock left after the resumed task")
	}
}

func TestFailNthAndCounters(t *testing.T) {
	t.Parallel()
	a := startSim(t, pvesim.Options{})
	if err := a.sim.FailNth("GET", "/nodes/{node}/lxc/{vmid}/config", 2, 500, "injected failure"); err != nil {
		t.Fatal(err)
	}
	if err := a.sim.FailNth("GET", "/nodes/{node}/nope", 1, 500, "x"); err == nil {
		t.Error("FailNth accepted an unknown path template")
	}
	// A status line "HTTP/1.1 0 x" or a "failure" with 200 is no fault.
	for _, status := range []int{0, 200, 600} {
		if err := a.sim.FailNth("GET", "/version", 1, status, "x"); err == nil {
			t.Errorf("FailNth accepted status %d", status)
		}
	}
	a.ok("GET", "/nodes/pve/lxc/100/config", nil)
	wantError(t, a.do("GET", "/nodes/pve/lxc/101/config", nil), 500, "injected failure")
	a.ok("GET", "/nodes/pve/lxc/101/config", nil)
	if n := a.sim.Counters()["GET /nodes/{node}/lxc/{vmid}/config"]; n != 3 {
		t.Errorf("counter %d, want 3", n)
	}
}

func TestFailTask(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, exit string
		running    bool // the CT's state after the task
	}{
		{"an error fails the task without its effect", "startup for container '110' failed", false},
		{"warnings are success with the effect", "WARNINGS: 2", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := startSim(t, pvesim.Options{})
			a.sim.FailTask("vzstart", "110", tc.exit)
			upid, st := a.task("POST", "/nodes/pve/lxc/110/status/start", nil)
			if st["exitstatus"] != tc.exit {
				t.Errorf("exitstatus %v, want %q", st["exitstatus"], tc.exit)
			}
			lines := a.ok("GET", "/nodes/pve/tasks/"+upid+"/log", form("limit", "0")).dataList(t)
			last := lines[len(lines)-1]["t"]
			want := "TASK ERROR: " + tc.exit
			if tc.running {
				want = "TASK " + tc.exit
			}
			if last != want {
				t.Errorf("last log line %q, want %q", last, want)
			}
			s := a.ok("GET", "/nodes/pve/lxc/110/status/current", nil).dataMap(t)
			if (s["status"] == "running") != tc.running {
				t.Errorf("status %v, want running=%v", s["status"], tc.running)
			}
		})
	}
}

// TestHoldAfterEffect: the held request has taken effect before its
// answer leaves, so a client killed in between missed only the UPID.
func TestHoldAfterEffect(t *testing.T) {
	t.Parallel()
	a := startSim(t, pvesim.Options{TaskDuration: 10 * time.Millisecond})
	h, err := a.sim.Hold("POST", "/nodes/{node}/lxc/{vmid}/status/start")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan response)
	go func() { done <- a.do("POST", "/nodes/pve/lxc/110/status/start", nil) }()
	select {
	case <-h.Reached():
	case <-time.After(5 * time.Second):
		t.Fatal("hold never reached")
	}
	// The task exists (and runs) although the caller has no UPID yet.
	found := false
	for _, e := range a.ok("GET", "/nodes/pve/tasks", form("source", "all", "vmid", "110")).dataList(t) {
		found = found || e["type"] == "vzstart"
	}
	if !found {
		t.Fatal("held request had no effect yet")
	}
	select {
	case <-done:
		t.Fatal("held response was delivered before release")
	case <-time.After(50 * time.Millisecond):
	}
	h.Release()
	if r := <-done; r.Code != 200 {
		t.Fatalf("released response %s", r.Status)
	}
}

// TestWorkersBoundConcurrency: with one worker and 30ms latency, four
// concurrent requests cannot finish faster than four latencies.
func TestWorkersBoundConcurrency(t *testing.T) {
	t.Parallel()
	a := startSim(t, pvesim.Options{Workers: 1, Latency: 30 * time.Millisecond})
	start := time.Now()
	var wg sync.WaitGroup
	for i := 0; i < 4; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			a.ok("GET", "/version", nil)
		}()
	}
	wg.Wait()
	if d := time.Since(start); d < 120*time.Millisecond {
		t.Errorf("4 requests with 1 worker and 30ms latency took %v, want >= 120ms", d)
	}
}

func TestAdminEndpoint(t *testing.T) {
	t.Parallel()
	a := startSim(t, pvesim.Options{EnableAdmin: true})
	post := func(path, body string) *http.Response {
		req, _ := http.NewRequest("POST", strings.TrimSuffix(a.base, "/api2/json")+path, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "PVEAPIToken="+a.token)
		resp, err := a.hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	if r := post("/_sim/fail", `{"method":"GET","path":"/version","status":503,"message":"injected over HTTP"}`); r.StatusCode != 200 {
		t.Fatalf("admin fail: %s", r.Status)
	}
	wantError(t, a.do("GET", "/version", nil), 503, "injected over HTTP")
	if r := post("/_sim/fail", `{"method":"GET","path":"/nope","status":500}`); r.StatusCode != 400 {
		t.Errorf("unknown template accepted: %s", r.Status)
	}
	// A rule for a task type that never runs would silently never fire.
	if r := post("/_sim/fail-task", `{"type":"qmstart","exitstatus":"boom"}`); r.StatusCode != 400 {
		t.Errorf("unknown task type accepted: %s", r.Status)
	}
	if r := post("/_sim/fail-task", `{"type":"vzstart","id":110,"exitstatus":"startup for container '110' failed"}`); r.StatusCode != 200 {
		t.Fatalf("admin fail-task: %s", r.Status)
	}
	if _, st := a.task("POST", "/nodes/pve/lxc/110/status/start", nil); st["exitstatus"] != "startup for container '110' failed" {
		t.Errorf("task after fail-task: %v", st["exitstatus"])
	}
	// Without a token, with a token the simulator does not know, from
	// another Host or from a web page's Origin: refused, no effect.
	admin := strings.TrimSuffix(a.base, "/api2/json") + "/_sim/fail"
	for _, tc := range []struct {
		name   string
		header map[string]string
		host   string
		status int
	}{
		{"no token", map[string]string{}, "", 401},
		{"unknown token", map[string]string{"Authorization": "PVEAPIToken=felhom@pve!converge=00000000-0000-0000-0000-000000000000"}, "", 401},
		{"foreign Host", map[string]string{"Authorization": "PVEAPIToken=" + a.token}, "evil.example:80", 403},
		{"loopback on another port", map[string]string{"Authorization": "PVEAPIToken=" + a.token}, "127.0.0.1:1", 403},
		{"web page Origin", map[string]string{"Authorization": "PVEAPIToken=" + a.token, "Origin": "https://evil.example"}, "", 403},
	} {
		req, _ := http.NewRequest("POST", admin, strings.NewReader(`{"method":"GET","path":"/version","status":500,"message":"should not be"}`))
		for k, v := range tc.header {
			req.Header.Set(k, v)
		}
		if tc.host != "" {
			req.Host = tc.host
		}
		resp, err := a.hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tc.status {
			t.Errorf("%s: %s, want %d", tc.name, resp.Status, tc.status)
		}
	}
	a.ok("GET", "/version", nil) // no refused request injected a fault

	// A full pool, over HTTP: a new volume is refused with LVM's error.
	if r := post("/_sim/fill-storage", `{"storage":"local-lvm"}`); r.StatusCode != 200 {
		t.Fatalf("fill-storage: %s", r.Status)
	}
	r := a.do("PUT", "/nodes/pve/lxc/110/config", form("mp0", "local-lvm:1,mp=/x"))
	if e, _ := r.Body["errors"].(map[string]any); r.Code != 400 || !strings.Contains(fmt.Sprint(e["mp0"]), "free space in thin pool pve/data reached threshold") {
		t.Errorf("new volume on a full pool: %s %v", r.Status, r.Body)
	}
	if r := post("/_sim/fill-storage", `{"storage":"local-lvm","full":false}`); r.StatusCode != 200 {
		t.Fatalf("fill-storage full=false: %s", r.Status)
	}
	a.ok("PUT", "/nodes/pve/lxc/110/config", form("mp0", "local-lvm:1,mp=/x"))
	if r := post("/_sim/fill-storage", `{"storage":"nope"}`); r.StatusCode != 400 {
		t.Errorf("fill-storage of an unknown storage: %s", r.Status)
	}

	// Without EnableAdmin the path does not exist.
	b := startSim(t, pvesim.Options{})
	req, _ := http.NewRequest("GET", strings.TrimSuffix(b.base, "/api2/json")+"/_sim/counters", nil)
	resp, err := b.hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 501 {
		t.Errorf("/_sim/ without admin: %s, want 501", resp.Status)
	}
}

func TestExtraGuests(t *testing.T) {
	t.Parallel()
	a := startSim(t, pvesim.Options{ExtraGuests: 300})
	list := a.ok("GET", "/nodes/pve/lxc", nil).dataList(t)
	if len(list) != 303 {
		t.Fatalf("%d guests, want 303", len(list))
	}
	running := 0
	for _, e := range list {
		if e["status"] == "running" {
			running++
		}
	}
	if running < 100 || running > 250 {
		t.Errorf("%d of 303 running: want variety", running)
	}
	storage := a.ok("GET", "/nodes/pve/storage", nil).dataList(t)
	for _, s := range storage {
		if avail, _ := s["avail"].(json.Number).Int64(); avail <= 0 {
			t.Errorf("storage %v has no room left after seeding", s["storage"])
		}
	}
}

// TestResourcesLag: /cluster/resources shows a brand-new guest as
// "unknown" until the RRD cache has caught up; the node's lxc list does not lag.
func TestResourcesLag(t *testing.T) {
	t.Parallel()
	a := startSim(t, pvesim.Options{ResourcesLag: 1500 * time.Millisecond, TaskDuration: -1})
	a.task("POST", "/nodes/pve/lxc", form("vmid", "140", "ostemplate", "local:vztmpl/debian-12-standard_12.7-1_amd64.tar.zst", "storage", "local-lvm"))
	find := func() map[string]any {
		for _, e := range a.ok("GET", "/cluster/resources", form("type", "vm")).dataList(t) {
			if e["vmid"] == json.Number("140") {
				return e
			}
		}
		t.Fatal("CT 140 missing from /cluster/resources")
		return nil
	}
	if e := find(); e["status"] != "unknown" || e["name"] != nil || e["maxmem"] != nil {
		t.Errorf("fresh guest in resources: %v, want status unknown without name or stats", e)
	}
	if s := a.ok("GET", "/nodes/pve/lxc/140/status/current", nil).dataMap(t); s["status"] != "stopped" {
		t.Errorf("status/current %v", s["status"])
	}
	time.Sleep(1600 * time.Millisecond)
	if e := find(); e["status"] != "stopped" || e["name"] != "CT140" {
		t.Errorf("after the lag: %v", e)
	}
	// A start shows up late as well.
	a.task("POST", "/nodes/pve/lxc/140/status/start", nil)
	if e := find(); e["status"] != "stopped" {
		t.Errorf("resources right after the start: %v, want the old status", e["status"])
	}
	if s := a.ok("GET", "/nodes/pve/lxc/140/status/current", nil).dataMap(t); s["status"] != "running" {
		t.Errorf("status/current %v, want running at once", s["status"])
	}
	time.Sleep(1600 * time.Millisecond)
	if e := find(); e["status"] != "running" {
		t.Errorf("resources after the lag: %v", e["status"])
	}
}

// TestSharedStateFile: two simulators on one state file (two CLI
// processes with the same --sim DIR) act on one host: each sees the
// other's writes, and a task started by one is finished by the other when
// the first goes away.
func TestSharedStateFile(t *testing.T) {
	t.Parallel()
	path := statePath(t)
	start := func(d time.Duration) *rawAPI {
		s, err := pvesim.New(pvesim.Options{StatePath: path, TaskDuration: d})
		if err != nil {
			t.Fatal(err)
		}
		ep, err := s.Start("127.0.0.1:0", false)
		if err != nil {
			t.Fatal(err)
		}
		return newRawAPI(t, s, ep, s.Token("converge"))
	}
	a := start(time.Hour)
	b := start(20 * time.Millisecond)
	defer b.sim.Close()
	if a.sim.Token("converge") != b.sim.Token("converge") {
		t.Fatal("the second simulator seeded its own host")
	}
	a.ok("PUT", "/nodes/pve/lxc/110/config", form("memory", "3072"))
	if c := b.config(110); c["memory"] != json.Number("3072") {
		t.Errorf("b sees memory %v after a's write", c["memory"])
	}
	b.ok("PUT", "/nodes/pve/lxc/110/config", form("cores", "3"))
	if c := a.config(110); c["cores"] != json.Number("3") || c["memory"] != json.Number("3072") {
		t.Errorf("a sees %v after b's write", c)
	}
	// a starts a task that would run for an hour, then dies.
	upid := a.ok("POST", "/nodes/pve/lxc/110/status/start", nil).data().(string)
	if err := a.sim.Close(); err != nil {
		t.Fatal(err)
	}
	// b learns of it at its next request and finishes it.
	if st := b.wait(upid); st["exitstatus"] != "OK" {
		t.Fatalf("task left by the other process: %v", st)
	}
	if s := b.ok("GET", "/nodes/pve/lxc/110/status/current", nil).dataMap(t); s["status"] != "running" {
		t.Errorf("status %v", s["status"])
	}
}

// TestBadStateFileSaysWhatToDo: a state file the simulator cannot use is
// an error naming the file and the way out, never a silent reseed.
func TestBadStateFileSaysWhatToDo(t *testing.T) {
	t.Parallel()
	for _, body := range []string{`{"version":`, `{"version":99}`} {
		path := statePath(t)
		if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		_, err := pvesim.New(pvesim.Options{StatePath: path})
		if err == nil || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "delete it to start again from the default seed") {
			t.Errorf("state %q: %v", body, err)
		}
		if b, _ := os.ReadFile(path); string(b) != body {
			t.Errorf("state %q was overwritten", body)
		}
	}
}

// TestAdminHold: the hold over HTTP, as a script drives it: set it, see
// it reached (the effect has happened), release it.
func TestAdminHold(t *testing.T) {
	t.Parallel()
	a := startSim(t, pvesim.Options{EnableAdmin: true, TaskDuration: 10 * time.Millisecond})
	admin := func(method, path, body string) map[string]any {
		t.Helper()
		req, _ := http.NewRequest(method, strings.TrimSuffix(a.base, "/api2/json")+path, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "PVEAPIToken="+a.token)
		resp, err := a.hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out map[string]any
		if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || resp.StatusCode != 200 {
			t.Fatalf("%s %s: %s %v", method, path, resp.Status, err)
		}
		return out
	}
	id := admin("POST", "/_sim/hold", `{"method":"POST","path":"/nodes/{node}/lxc/{vmid}/status/start"}`)["data"].(map[string]any)["id"]
	hold := fmt.Sprintf("/_sim/hold/%v", id)
	if r := admin("GET", hold, ""); r["data"].(map[string]any)["reached"] != float64(0) {
		t.Fatalf("hold reached before any request: %v", r)
	}
	done := make(chan response)
	go func() { done <- a.do("POST", "/nodes/pve/lxc/110/status/start", nil) }()
	deadline := time.Now().Add(5 * time.Second)
	for admin("GET", hold, "")["data"].(map[string]any)["reached"] != float64(1) {
		if time.Now().After(deadline) {
			t.Fatal("hold never reached")
		}
		time.Sleep(5 * time.Millisecond)
	}
	select {
	case r := <-done:
		t.Fatalf("held response delivered before release: %s", r.Status)
	case <-time.After(50 * time.Millisecond):
	}
	admin("POST", "/_sim/release", fmt.Sprintf(`{"id":%v}`, id))
	if r := <-done; r.Code != 200 {
		t.Fatalf("released response %s", r.Status)
	}
}

// TestFailNthAfter: the request takes effect, then its answer is the
// injected error, or no answer at all (status 0: the connection closes).
func TestFailNthAfter(t *testing.T) {
	t.Parallel()
	a := startSim(t, pvesim.Options{EnableAdmin: true})
	if err := a.sim.FailNthAfter("POST", "/nodes/{node}/lxc/{vmid}/snapshot", 1, 500, "proxy handler failed: got timeout"); err != nil {
		t.Fatal(err)
	}
	if err := a.sim.FailNth("POST", "/version", 1, 0, "x"); err == nil {
		t.Error("FailNth accepted status 0 (only an answer after the effect may be dropped)")
	}
	wantError(t, a.do("POST", "/nodes/pve/lxc/100/snapshot", form("snapname", "after-fault")), 500, "proxy handler failed: got timeout")
	tasks := a.ok("GET", "/nodes/pve/tasks", form("vmid", "100", "typefilter", "vzsnapshot", "source", "all")).dataList(t)
	if len(tasks) != 1 {
		t.Fatalf("%d vzsnapshot tasks after the faulted POST, want 1 (it took effect)", len(tasks))
	}
	a.wait(tasks[0]["upid"].(string))
	found := false
	for _, s := range a.ok("GET", "/nodes/pve/lxc/100/snapshot", nil).dataList(t) {
		found = found || s["name"] == "after-fault"
	}
	if !found {
		t.Error("the snapshot answered 500 was not taken")
	}

	// Over /_sim/fail with "after", status 0: the DELETE takes effect and
	// the connection closes with no answer.
	req, _ := http.NewRequest("POST", strings.TrimSuffix(a.base, "/api2/json")+"/_sim/fail",
		strings.NewReader(`{"method":"DELETE","path":"/nodes/{node}/lxc/{vmid}/snapshot/{snapname}","status":0,"after":true}`))
	req.Header.Set("Authorization", "PVEAPIToken="+a.token)
	resp, err := a.hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("admin fail after: %s", resp.Status)
	}
	del, _ := http.NewRequest("DELETE", a.base+"/nodes/pve/lxc/100/snapshot/after-fault", nil)
	del.Header.Set("Authorization", "PVEAPIToken="+a.token)
	if resp, err := a.hc.Do(del); err == nil {
		resp.Body.Close()
		t.Fatalf("DELETE answered %s, want the connection dropped", resp.Status)
	}
	tasks = a.ok("GET", "/nodes/pve/tasks", form("vmid", "100", "typefilter", "vzdelsnapshot", "source", "all")).dataList(t)
	if len(tasks) != 1 {
		t.Fatalf("%d vzdelsnapshot tasks after the dropped DELETE, want 1", len(tasks))
	}
	if st := a.wait(tasks[0]["upid"].(string)); st["exitstatus"] != "OK" {
		t.Errorf("the dropped delete's task: %v", st["exitstatus"])
	}
}
