package main

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/felhom/felhom-converge/journal"
	"github.com/rogpeppe/go-internal/testscript"
)

// applyScriptCmds are the script commands of the apply work:
//
//	simtasks STATEFILE TYPE ID N   the simulator state in STATEFILE holds
//	                               exactly N tasks of TYPE for guest ID
//	                               (each POST that took effect started one)
//	simtasklog STATEFILE TYPE ID   print the log lines of every task of
//	                               TYPE for guest ID in the simulator state
//	simguest STATEFILE VMID        guest VMID exists (negate: it does not)
//	chop FILE N                    cut the last N bytes off FILE (a torn write);
//	                               for a journal.log, its anchor is set back
//	                               to the record before the cut one, as a
//	                               crash during that record's write leaves it
//	simbackup STATEFILE VMID VAR   set $VAR to the newest backup archive of
//	                               guest VMID in the simulator state
//	forgeplan BASE STEPS OUT [MAC] write OUT: the saved plan BASE with its
//	                               steps replaced by the JSON array in STEPS
//	                               (a step without id, class, depends_on or
//	                               observed_digest gets op-guest-forgedN,
//	                               benign, none and BASE's observed digest of
//	                               its guest). MAC: keep (BASE's, which no
//	                               longer holds; the default), none (no mac
//	                               member), bare (the plan member alone, no
//	                               format marker), or a key file as
//	                               STATE_DIR/plan.key holds one: a valid
//	                               authentication, as with a leaked key
func applyScriptCmds() map[string]func(ts *testscript.TestScript, neg bool, args []string) {
	return map[string]func(ts *testscript.TestScript, neg bool, args []string){
		"simtasks":   cmdSimTasks,
		"simtasklog": cmdSimTaskLog,
		"simguest":   cmdSimGuest,
		"chop":       cmdChop,
		"simbackup":  cmdSimBackup,
		"forgeplan":  cmdForgePlan,
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

func cmdSimTaskLog(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 3 {
		ts.Fatalf("usage: simtasklog STATEFILE TYPE ID")
	}
	var st struct {
		Tasks []struct {
			Type string   `json:"type"`
			ID   string   `json:"id"`
			Log  []string `json:"log"`
		} `json:"tasks"`
	}
	ts.Check(json.Unmarshal([]byte(ts.ReadFile(args[0])), &st))
	for _, t := range st.Tasks {
		if t.Type == args[1] && t.ID == args[2] {
			for _, l := range t.Log {
				fmt.Fprintln(ts.Stdout(), l)
			}
		}
	}
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
	if filepath.Base(path) == journal.LogFile {
		tearAnchor(ts, path)
	}
}

// tearAnchor writes the anchor beside the journal at path to name its last
// whole record (the format of package journal's documentation, written
// here from the documentation alone): a record is synced before the anchor
// names it, so a crash that tore a record left the anchor on the one
// before.
func tearAnchor(ts *testscript.TestScript, path string) {
	anchor := filepath.Join(filepath.Dir(path), journal.AnchorFile)
	if _, err := os.Stat(anchor); err != nil {
		return
	}
	data, err := os.ReadFile(path)
	ts.Check(err)
	lines := bytes.SplitAfter(data, []byte("\n"))
	if len(lines[len(lines)-1]) == 0 || lines[len(lines)-1][len(lines[len(lines)-1])-1] != '\n' {
		lines = lines[:len(lines)-1] // the torn one
	}
	var first struct {
		Type string `json:"type"`
		Seq  int64  `json:"seq"`
	}
	seq := int64(len(lines))
	if len(lines) > 0 && json.Unmarshal(lines[0][9:], &first) == nil && first.Type == "checkpoint" {
		seq += first.Seq - 1
	}
	crc := "00000000"
	if len(lines) > 0 {
		crc = string(lines[len(lines)-1][:8])
	}
	var file []byte
	for w := 1; w <= 2; w++ {
		line := fmt.Sprintf("felhom-converge journal anchor v1 write %020d seq %020d crc %s", w, seq, crc)
		line += fmt.Sprintf(" %08x", crc32.Checksum([]byte(line), crc32.MakeTable(crc32.Castagnoli)))
		file = append(file, line+strings.Repeat(" ", 511-len(line))+"\n"...)
	}
	ts.Check(os.WriteFile(anchor, file, 0o600))
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

// cmdForgePlan writes a saved plan in the format plan/planfile.go
// documents (written here from that documentation alone): {"format",
// "version", "mac", "plan"}, the MAC being the hex HMAC-SHA256 of the
// compact JSON of the plan member.
func cmdForgePlan(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 3 || len(args) > 4 {
		ts.Fatalf("usage: forgeplan BASE STEPS OUT [keep|none|bare|KEYFILE]")
	}
	var base map[string]json.RawMessage
	ts.Check(json.Unmarshal([]byte(ts.ReadFile(args[0])), &base))
	var p map[string]json.RawMessage
	ts.Check(json.Unmarshal(base["plan"], &p))
	var observed map[string]string
	ts.Check(json.Unmarshal(p["observed_digests"], &observed))
	var steps []map[string]any
	ts.Check(json.Unmarshal([]byte(ts.ReadFile(args[1])), &steps))
	for i, st := range steps {
		guest := "-"
		if g, ok := st["guest"].(float64); ok {
			guest = strconv.Itoa(int(g))
		}
		defaults := map[string]any{"id": fmt.Sprintf("%v-%s-forged%d", st["op"], guest, i), "class": "benign",
			"depends_on": []string{}, "reason": "", "restart_needed": false}
		if d, ok := observed[guest]; ok {
			defaults["observed_digest"] = d
		}
		for k, v := range defaults {
			if _, ok := st[k]; !ok {
				st[k] = v
			}
		}
	}
	var err error
	if p["steps"], err = json.Marshal(steps); err != nil {
		ts.Fatalf("%v", err)
	}
	body, err := json.Marshal(p)
	ts.Check(err)
	mode := "keep"
	if len(args) == 4 {
		mode = args[3]
	}
	switch mode {
	case "keep":
	case "none":
		delete(base, "mac")
	case "bare":
		ts.Check(os.WriteFile(ts.MkAbs(args[2]), body, 0o644))
		return
	default:
		key, err := hex.DecodeString(strings.TrimSpace(ts.ReadFile(mode)))
		ts.Check(err)
		h := hmac.New(sha256.New, key)
		h.Write(body)
		if base["mac"], err = json.Marshal(hex.EncodeToString(h.Sum(nil))); err != nil {
			ts.Fatalf("%v", err)
		}
	}
	base["plan"] = body
	out, err := json.MarshalIndent(base, "", "  ")
	ts.Check(err)
	ts.Check(os.WriteFile(ts.MkAbs(args[2]), append(out, '\n'), 0o644))
}
