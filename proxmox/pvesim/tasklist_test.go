package pvesim_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/felhom/felhom-converge/proxmox/pvesim"
)

// TestTaskListShapes pins GET /nodes/{node}/tasks to pve-manager's
// Tasks.pm: running tasks (from the active-worker file) come first with
// status "RUNNING" and the user still "user@realm!token"; finished ones
// (from the task index) have the user split into user and tokenid, an
// endtime and the exit status; errors=1 drops only "OK"; limit=0 lists
// nothing but still counts.
func TestTaskListShapes(t *testing.T) {
	t.Parallel()
	a := startSim(t, pvesim.Options{TaskDuration: 300 * time.Millisecond})
	done, st := a.task("POST", "/nodes/pve/lxc/110/status/start", nil)
	if st["exitstatus"] != "OK" {
		t.Fatal(st)
	}
	a.sim.FailTask("vzdump", "", "WARNINGS: 1")
	warned, _ := a.task("POST", "/nodes/pve/vzdump", form("vmid", "110", "remove", "0"))
	running := a.ok("POST", "/nodes/pve/lxc/110/snapshot", form("snapname", "listed")).data().(string)

	list := func(kv ...string) ([]map[string]any, any) {
		t.Helper()
		r := a.ok("GET", "/nodes/pve/tasks", form(kv...))
		return r.dataList(t), r.Body["total"]
	}
	upids := func(l []map[string]any) []any {
		var out []any
		for _, e := range l {
			out = append(out, e["upid"])
		}
		return out
	}
	all, total := list("source", "all")
	if len(all) != 3 || total != json.Number("3") {
		t.Fatalf("source=all: %d entries, total %v; want 3", len(all), total)
	}
	if got := upids(all); got[0] != running || got[1] != warned || got[2] != done {
		t.Errorf("order %v, want the running task first, then the finished ones newest first", got)
	}
	run := all[0]
	if run["status"] != "RUNNING" || run["user"] != "felhom@pve!converge" || run["tokenid"] != nil || run["endtime"] != nil {
		t.Errorf("running entry %v: want status RUNNING, the full token user, no tokenid, no endtime", run)
	}
	fin := all[2]
	if fin["status"] != "OK" || fin["user"] != "felhom@pve" || fin["tokenid"] != "converge" || fin["endtime"] == nil || fin["id"] != "110" {
		t.Errorf("finished entry %v: want status OK, user felhom@pve, tokenid converge, an endtime, id \"110\"", fin)
	}

	for _, tc := range []struct {
		why   string
		query []string
		want  []any
		total string
	}{
		{"the default source lists finished tasks only", nil, []any{warned, done}, "2"},
		{"errors=1 drops OK only: a running task has no status yet and counts as unknown", []string{"source", "all", "errors", "1"}, []any{running, warned}, "2"},
		{"statusfilter picks status types", []string{"source", "all", "statusfilter", "warning,ok"}, []any{warned, done}, "2"},
		{"limit=0 lists nothing, but total counts every match", []string{"source", "all", "limit", "0"}, nil, "3"},
		{"start skips matches", []string{"source", "all", "start", "1", "limit", "1"}, []any{warned}, "3"},
		{"typefilter", []string{"source", "all", "typefilter", "vzstart"}, []any{done}, "1"},
		{"userfilter matches the listed user", []string{"source", "all", "userfilter", "!converge"}, []any{running}, "1"},
	} {
		l, total := list(tc.query...)
		got := upids(l)
		if len(got) != len(tc.want) || total != json.Number(tc.total) {
			t.Errorf("%s: %v total %v, want %v total %s", tc.why, got, total, tc.want, tc.total)
			continue
		}
		for i := range got {
			if got[i] != tc.want[i] {
				t.Errorf("%s: %v, want %v", tc.why, got, tc.want)
				break
			}
		}
	}
}
