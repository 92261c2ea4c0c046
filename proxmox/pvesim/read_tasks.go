package pvesim

// Task reads: the node's task list, a task's status and log (pve-manager API2/Tasks.pm).

import (
	"sort"
	"strconv"
	"strings"

	"github.com/felhom/felhom-converge/proxmox"
)

// visibleTask reports whether the caller may see t: its own task, or any
// task with Sys.Audit on the node.
func (r *request) visibleTask(t *task) bool {
	return t.User == r.tokenID || r.has("/nodes/"+r.s.st.Node, "Sys.Audit")
}

// hTaskList is GET /nodes/{node}/tasks as pve-manager's Tasks.pm builds
// it: with source=active|all the running tasks come first, listed as
// Proxmox's active-worker file has them (status "RUNNING", the user still
// "user@realm!token"); the finished tasks follow, newest first, as read
// back from the task index (user and tokenid split, endtime and the exit
// status as status). Filters count towards "total" before start and limit
// apply; limit=0 lists nothing.
func hTaskList(r *request) (any, error) {
	p := r.params
	source := p["source"]
	if source == "" {
		source = "archive"
	}
	start, _ := strconv.Atoi(p["start"])
	limit := 50
	if v, ok := p["limit"]; ok {
		limit, _ = strconv.Atoi(v)
	}
	statuses := map[string]bool{"ok": true, "warning": true, "error": true, "unknown": true}
	if v, ok := p["statusfilter"]; ok && p["errors"] != "1" {
		statuses = map[string]bool{}
		for _, f := range splitList(v) {
			statuses[strings.ToLower(f)] = true
		}
	} else if p["errors"] == "1" {
		statuses["ok"] = false
	}
	var active, archived []*task
	for i := len(r.s.st.Tasks) - 1; i >= 0; i-- {
		if t := r.s.st.Tasks[i]; t.Status == "running" {
			active = append(active, t)
		} else {
			archived = append(archived, t)
		}
	}
	// The index is appended to as tasks end.
	sort.SliceStable(archived, func(i, j int) bool { return archived[i].EndTime > archived[j].EndTime })
	var tasks []*task
	if source != "archive" {
		tasks = append(tasks, active...)
	}
	if source != "active" {
		tasks = append(tasks, archived...)
	}
	count := 0
	out := []any{}
	for _, t := range tasks {
		if at, ok := r.s.unlisted[t.UPID]; ok {
			if r.now.Before(at) {
				continue // not listed yet (Options.TaskListLag)
			}
			delete(r.s.unlisted, t.UPID)
		}
		running := t.Status == "running"
		e := map[string]any{"upid": t.UPID, "node": r.s.st.Node, "pid": t.PID, "pstart": t.PStart,
			"starttime": t.StartTime, "type": t.Type, "id": t.ID, "user": t.User}
		status := ""
		if !running {
			user, tok, ok := strings.Cut(t.User, "!")
			e["user"] = user
			if ok {
				e["tokenid"] = tok
			}
			e["endtime"] = t.EndTime
			e["status"] = t.ExitStatus
			status = t.ExitStatus
		}
		switch {
		case p["userfilter"] != "" && !strings.Contains(strings.ToLower(e["user"].(string)), strings.ToLower(p["userfilter"])),
			!r.visibleTask(t),
			p["typefilter"] != "" && t.Type != p["typefilter"],
			p["vmid"] != "" && t.ID != p["vmid"],
			p["since"] != "" && t.StartTime < atoi64(p["since"]),
			p["until"] != "" && t.StartTime > atoi64(p["until"]),
			!statuses[statusType(status)]:
			continue
		}
		count++
		if count <= start || len(out) >= limit {
			continue
		}
		if running {
			e["status"] = "RUNNING"
		}
		out = append(out, e)
	}
	r.total = &count
	return out, nil
}

func atoi64(s string) int64 {
	n, _ := strconv.ParseInt(s, 10, 64)
	return n
}

// statusType is pve-common's upid_normalize_status_type.
func statusType(status string) string {
	switch {
	case status == "" || status == "unexpected status":
		return "unknown"
	case status == "OK":
		return "ok"
	case warningsPattern.MatchString(status):
		return "warning"
	}
	return "error"
}

// taskFor resolves the {upid} path parameter and checks access.
func (r *request) taskFor() (*task, error) {
	raw := r.vars["upid"]
	if _, err := proxmox.ParseUPID(raw); err != nil {
		return nil, param1Error("upid", "unable to parse worker upid")
	}
	t := r.s.st.task(raw)
	if t == nil {
		return nil, param1Error("upid", "no such task")
	}
	if !r.visibleTask(t) {
		return nil, permError("/nodes/"+r.s.st.Node, "Sys.Audit")
	}
	return t, nil
}

func hTaskStatus(r *request) (any, error) {
	t, err := r.taskFor()
	if err != nil {
		return nil, err
	}
	e := map[string]any{"upid": t.UPID, "node": r.s.st.Node, "pid": t.PID, "pstart": t.PStart,
		"starttime": t.StartTime, "type": t.Type, "id": t.ID, "status": t.Status}
	user, tok, ok := strings.Cut(t.User, "!")
	e["user"] = user
	if ok {
		e["tokenid"] = tok
	}
	if t.Status == "stopped" {
		e["exitstatus"] = t.ExitStatus
	}
	return e, nil
}

// hTaskLog is read_task_log: the caller must own the task its UPID names
// or hold Sys.Audit on the node; the log of a task the node does not know
// is one line saying its file cannot be opened (PVE 8.4's dump_logfile
// returns it as a single object, PVE 9's as a list of one, pve-common
// 9.0.6).
func hTaskLog(r *request) (any, error) {
	raw := r.vars["upid"]
	u, err := proxmox.ParseUPID(raw)
	if err != nil {
		return nil, param1Error("upid", "unable to parse worker upid")
	}
	if u.User != r.tokenID && !r.has("/nodes/"+r.s.st.Node, "Sys.Audit") {
		return nil, permError("/nodes/"+r.s.st.Node, "Sys.Audit")
	}
	t := r.s.st.task(raw)
	if t == nil {
		if r.params["download"] == "1" {
			return nil, failf("Could not open file '/var/log/pve/tasks/%X/%s' - No such file or directory", u.StartTime.Unix()&0xf, raw)
		}
		one := 1
		r.total = &one
		line := map[string]any{"n": 1, "t": "unable to open file - No such file or directory"}
		if r.s.st.pve9() {
			return []any{line}, nil
		}
		return line, nil
	}
	if r.params["download"] == "1" && (r.params["start"] != "" || r.params["limit"] != "") {
		return nil, param1Error("download", "option conflicts with option 'start'")
	}
	start, _ := strconv.Atoi(r.params["start"])
	limit := 50
	if v, ok := r.params["limit"]; ok {
		limit, _ = strconv.Atoi(v)
	}
	total := len(t.Log)
	if total == 0 {
		one := 1
		r.total = &one
		return []any{map[string]any{"n": 1, "t": "no content"}}, nil
	}
	r.total = &total
	out := []any{}
	for i := start; i < total && (limit == 0 || len(out) < limit); i++ {
		out = append(out, map[string]any{"n": i + 1, "t": t.Log[i]})
	}
	return out, nil
}

// hVMDirIndex is GET /nodes/{node}/lxc/{vmid}: the subdirectories, after
