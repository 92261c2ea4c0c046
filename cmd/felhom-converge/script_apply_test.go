package main

import (
	"encoding/json"
	"fmt"
	"os"
	"strconv"

	"github.com/rogpeppe/go-internal/testscript"
)

// applyScriptCmds are the script commands of the apply work:
//
//	simtasks STATEFILE TYPE ID N   the simulator state in STATEFILE holds
//	                               exactly N tasks of TYPE for guest ID
//	                               (each POST that took effect started one)
//	simguest STATEFILE VMID        guest VMID exists (negate: it does not)
//	chop FILE N                    cut the last N bytes off FILE (a torn write)
//	simbackup STATEFILE VMID VAR   set $VAR to the newest backup archive of
//	                               guest VMID in the simulator state
func applyScriptCmds() map[string]func(ts *testscript.TestScript, neg bool, args []string) {
	return map[string]func(ts *testscript.TestScript, neg bool, args []string){
		"simtasks":  cmdSimTasks,
		"simguest":  cmdSimGuest,
		"chop":      cmdChop,
		"simbackup": cmdSimBackup,
	}
}

// simState reads the parts of a simulator state file the commands need.
func simState(ts *testscript.TestScript, path string) (tasks []struct{ Type, ID, Status, ExitStatus string }, guests map[string]json.RawMessage) {
	var st struct {
		Tasks []struct {
			Type       string `json:"type"`
			ID         string `json:"id"`
			Status     string `json:"status"`
			ExitStatus string `json:"exitstatus"`
		} `json:"tasks"`
		Guests map[string]json.RawMessage `json:"guests"`
	}
	b, err := os.ReadFile(ts.MkAbs(path))
	ts.Check(err)
	ts.Check(json.Unmarshal(b, &st))
	for _, t := range st.Tasks {
		tasks = append(tasks, struct{ Type, ID, Status, ExitStatus string }{t.Type, t.ID, t.Status, t.ExitStatus})
	}
	return tasks, st.Guests
}

func cmdSimTasks(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 4 {
		ts.Fatalf("usage: simtasks STATEFILE TYPE ID N")
	}
	want, err := strconv.Atoi(args[3])
	ts.Check(err)
	tasks, _ := simState(ts, args[0])
	n := 0
	for _, t := range tasks {
		if t.Type == args[1] && t.ID == args[2] {
			n++
			fmt.Fprintf(ts.Stdout(), "%s %s %s %s\n", t.Type, t.ID, t.Status, t.ExitStatus)
		}
	}
	if n != want {
		ts.Fatalf("%d %s tasks for %s, want %d", n, args[1], args[2], want)
	}
}

func cmdSimGuest(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 2 {
		ts.Fatalf("usage: simguest STATEFILE VMID")
	}
	_, guests := simState(ts, args[0])
	_, ok := guests[args[1]]
	if ok == neg {
		ts.Fatalf("guest %s exists: %v", args[1], ok)
	}
}

func cmdChop(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: chop FILE N")
	}
	n, err := strconv.Atoi(args[1])
	ts.Check(err)
	path := ts.MkAbs(args[0])
	fi, err := os.Stat(path)
	ts.Check(err)
	if int64(n) > fi.Size() {
		ts.Fatalf("%s has only %d bytes", args[0], fi.Size())
	}
	ts.Check(os.Truncate(path, fi.Size()-int64(n)))
}

func cmdSimBackup(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 3 {
		ts.Fatalf("usage: simbackup STATEFILE VMID VAR")
	}
	var st struct {
		Storages []struct {
			Volumes map[string]struct {
				Content string `json:"content"`
				VMID    int    `json:"vmid"`
				CTime   int64  `json:"ctime"`
			} `json:"volumes"`
		} `json:"storages"`
	}
	b, err := os.ReadFile(ts.MkAbs(args[0]))
	ts.Check(err)
	ts.Check(json.Unmarshal(b, &st))
	vmid, err := strconv.Atoi(args[1])
	ts.Check(err)
	best, bestT := "", int64(-1)
	for _, s := range st.Storages {
		for id, v := range s.Volumes {
			if v.Content == "backup" && v.VMID == vmid && (v.CTime > bestT || v.CTime == bestT && id > best) {
				best, bestT = id, v.CTime
			}
		}
	}
	if best == "" {
		ts.Fatalf("no backup of guest %d", vmid)
	}
	ts.Setenv(args[2], best)
}
