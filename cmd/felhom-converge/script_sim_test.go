package main

import (
	"bufio"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rogpeppe/go-internal/testscript"
)

// simScriptCmds are the script commands of the simulator work:
//
//	waitfile FILE                          wait (up to 20s) until FILE exists
//	simapi ENVFILE METHOD PATH [k=v ...]   call the API of the simulator that
//	                                       wrote ENVFILE; prints the status line
//	                                       and the body; fails on non-200
//	                                       unless negated
//	simidle ENVFILE                        wait (up to 20s) until the simulator
//	                                       runs no task
//	simadmin ENVFILE METHOD PATH [JSON]    call the fault-injection API under
//	                                       /_sim/ (sim serve --admin); prints
//	                                       the status line and the body
//	simheld ENVFILE ID                     wait (up to 20s) until the simulator's
//	                                       hold ID (POST /_sim/hold) has caught
//	                                       a request
//	simstate STATEFILE OUTFILE             write what the simulated host holds
//	                                       to OUTFILE, one sorted fact a line:
//	                                       each guest's status, config (lock
//	                                       aside), pending values and deletions,
//	                                       snapshots (name, snaptime), and every
//	                                       volume of every storage (owner,
//	                                       content, size, ctime, protected);
//	                                       cmp two to see what changed
//	simarchive STATEFILE VOLID VMID CTIME SIZE
//	                                       put a backup archive on its storage in
//	                                       the simulator state, as a file copied
//	                                       there by other means would be (one of
//	                                       that name is replaced); no simulator
//	                                       may be running on STATEFILE
func simScriptCmds() map[string]func(ts *testscript.TestScript, neg bool, args []string) {
	m := map[string]func(ts *testscript.TestScript, neg bool, args []string){
		"waitfile":   cmdWaitFile,
		"simapi":     cmdSimAPI,
		"simadmin":   cmdSimAdmin,
		"simidle":    cmdSimIdle,
		"simheld":    cmdSimHeld,
		"simstate":   cmdSimState,
		"simarchive": cmdSimArchive,
	}
	for name, fn := range applyScriptCmds() {
		m[name] = fn
	}
	return m
}

func cmdWaitFile(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: waitfile FILE")
	}
	path := ts.MkAbs(args[0])
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if fi, err := os.Stat(path); err == nil && fi.Size() > 0 {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	ts.Fatalf("%s did not appear", args[0])
}

// readSimEnv parses the KEY=VALUE lines 'sim serve' writes.
func readSimEnv(path string) (map[string]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	env := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), "="); ok {
			env[k] = v
		}
	}
	return env, sc.Err()
}

func cmdSimAPI(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) < 3 {
		ts.Fatalf("usage: simapi ENVFILE METHOD PATH [key=value ...]")
	}
	env, err := readSimEnv(ts.MkAbs(args[0]))
	ts.Check(err)
	status, body, err := simRequest(env, args[1], args[2], args[3:])
	ts.Check(err)
	fmt.Fprintf(ts.Stdout(), "%s\n%s\n", status, body)
	ok := strings.HasPrefix(status, "200 ")
	if ok == neg {
		ts.Fatalf("simapi %s %s: %s", args[1], args[2], status)
	}
}

func cmdSimIdle(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: simidle ENVFILE")
	}
	env, err := readSimEnv(ts.MkAbs(args[0]))
	ts.Check(err)
	path := "/nodes/" + env["FELHOM_CONVERGE_PROXMOX_NODE"] + "/tasks"
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		status, body, err := simRequest(env, "GET", path, []string{"source=active"})
		ts.Check(err)
		if !strings.HasPrefix(status, "200 ") {
			ts.Fatalf("simidle: %s", status)
		}
		if strings.Contains(body, `"data":[]`) {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	ts.Fatalf("simidle: tasks still running")
}

func cmdSimHeld(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: simheld ENVFILE ID")
	}
	env, err := readSimEnv(ts.MkAbs(args[0]))
	ts.Check(err)
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		req, err := http.NewRequest("GET", env["FELHOM_CONVERGE_PROXMOX_ENDPOINT"]+"/_sim/hold/"+args[1], nil)
		ts.Check(err)
		req.Header.Set("Authorization", "PVEAPIToken="+env["FELHOM_CONVERGE_PROXMOX_TOKEN"])
		resp, err := simHTTPClient(env).Do(req)
		ts.Check(err)
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		ts.Check(err)
		if resp.StatusCode != 200 {
			ts.Fatalf("simheld: %s %s", resp.Status, b)
		}
		if strings.Contains(string(b), `"reached":1`) {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	ts.Fatalf("simheld: hold %s caught no request", args[1])
}

func cmdSimAdmin(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) < 3 || len(args) > 4 || !strings.HasPrefix(args[2], "/_sim/") {
		ts.Fatalf("usage: simadmin ENVFILE METHOD /_sim/PATH [JSON]")
	}
	env, err := readSimEnv(ts.MkAbs(args[0]))
	ts.Check(err)
	body := ""
	if len(args) == 4 {
		body = args[3]
	}
	req, err := http.NewRequest(args[1], env["FELHOM_CONVERGE_PROXMOX_ENDPOINT"]+args[2], strings.NewReader(body))
	ts.Check(err)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "PVEAPIToken="+env["FELHOM_CONVERGE_PROXMOX_TOKEN"])
	resp, err := simHTTPClient(env).Do(req)
	ts.Check(err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	ts.Check(err)
	fmt.Fprintf(ts.Stdout(), "%s\n%s", resp.Status, b)
	if (resp.StatusCode == 200) == neg {
		ts.Fatalf("simadmin %s %s: %s", args[1], args[2], resp.Status)
	}
}

// simRequest does one raw API request with the token, pinning the
// certificate fingerprint when the simulator serves TLS.
func simRequest(env map[string]string, method, path string, kv []string) (string, string, error) {
	hc := simHTTPClient(env)
	params := url.Values{}
	for _, p := range kv {
		k, v, _ := strings.Cut(p, "=")
		params.Set(k, v)
	}
	u := env["FELHOM_CONVERGE_PROXMOX_ENDPOINT"] + "/api2/json" + path
	var body io.Reader
	if method == "GET" || method == "DELETE" {
		if len(params) > 0 {
			u += "?" + params.Encode()
		}
	} else {
		body = strings.NewReader(params.Encode())
	}
	req, err := http.NewRequest(method, u, body)
	if err != nil {
		return "", "", err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	req.Header.Set("Authorization", "PVEAPIToken="+env["FELHOM_CONVERGE_PROXMOX_TOKEN"])
	resp, err := hc.Do(req)
	if err != nil {
		return "", "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.Status, string(b), err
}

// simHTTPClient pins the simulator's certificate by its fingerprint.
func simHTTPClient(env map[string]string) *http.Client {
	want := env["FELHOM_CONVERGE_PROXMOX_TLS_FINGERPRINT"]
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{
		InsecureSkipVerify: true, // the fingerprint is pinned below
		VerifyPeerCertificate: func(raw [][]byte, _ [][]*x509.Certificate) error {
			sum := sha256.Sum256(raw[0])
			parts := make([]string, len(sum))
			for i, b := range sum {
				parts[i] = fmt.Sprintf("%02X", b)
			}
			if got := strings.Join(parts, ":"); got != want {
				return fmt.Errorf("certificate fingerprint %s, want %s", got, want)
			}
			return nil
		},
	}}}
}

// TestSimServeHints: the loopback refusal explains why; a port already in
// use says how to pick a free one instead.
func TestSimServeHints(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	for _, tc := range []struct {
		listen, hint string
	}{
		{"0.0.0.0:8006", "throwaway secret"},
		{busy.Addr().String(), "--listen 127.0.0.1:0 picks a free port"},
	} {
		var out strings.Builder
		cmd := &SimServeCmd{Listen: tc.listen, Workers: 1, TaskDuration: time.Millisecond}
		err := cmd.Run(context.Background(), &globals{stdout: &out, stderr: &out, getenv: func(string) string { return "" }})
		var h interface{ Hint() string }
		if !errors.As(err, &h) || !strings.Contains(h.Hint(), tc.hint) {
			t.Errorf("sim serve --listen %s: %v, want a hint containing %q", tc.listen, err, tc.hint)
		}
	}
}

// simHost is the part of the simulator's state file (proxmox/pvesim's
// state.go) that simstate shows and simarchive edits.
type simHost struct {
	Guests map[string]struct {
		Conf          map[string]string `json:"conf"`
		Pending       map[string]string `json:"pending"`
		PendingDelete []string          `json:"pending_delete"`
		Running       bool              `json:"running"`
		Snapshots     map[string]struct {
			Snaptime int64 `json:"snaptime"`
		} `json:"snapshots"`
	} `json:"guests"`
	Storages []struct {
		ID      string `json:"id"`
		Volumes map[string]struct {
			Content   string `json:"content"`
			VMID      int    `json:"vmid"`
			Size      int64  `json:"size"`
			CTime     int64  `json:"ctime"`
			Protected bool   `json:"protected"`
		} `json:"volumes"`
	} `json:"storages"`
}

func cmdSimState(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: simstate STATEFILE OUTFILE")
	}
	var st simHost
	ts.Check(json.Unmarshal([]byte(ts.ReadFile(args[0])), &st))
	var lines []string
	add := func(format string, a ...any) { lines = append(lines, fmt.Sprintf(format, a...)) }
	for id, g := range st.Guests {
		status := "stopped"
		if g.Running {
			status = "running"
		}
		add("guest %s status %s", id, status)
		for k, v := range g.Conf {
			if k != "lock" {
				add("guest %s conf %s %q", id, k, v)
			}
		}
		for k, v := range g.Pending {
			add("guest %s pending %s %q", id, k, v)
		}
		for _, k := range g.PendingDelete {
			add("guest %s pending-delete %s", id, k)
		}
		for name, sn := range g.Snapshots {
			add("guest %s snapshot %s %d", id, name, sn.Snaptime)
		}
	}
	for _, s := range st.Storages {
		for id, v := range s.Volumes {
			line := fmt.Sprintf("volume %s vmid=%d content=%s size=%d ctime=%d", id, v.VMID, v.Content, v.Size, v.CTime)
			if v.Protected {
				line += " protected"
			}
			lines = append(lines, line)
		}
	}
	sort.Strings(lines)
	ts.Check(os.WriteFile(ts.MkAbs(args[1]), []byte(strings.Join(lines, "\n")+"\n"), 0o644))
}

func cmdSimArchive(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 5 {
		ts.Fatalf("usage: simarchive STATEFILE VOLID VMID CTIME SIZE")
	}
	var nums [3]int64
	for i, a := range args[2:] {
		n, err := strconv.ParseInt(a, 10, 64)
		ts.Check(err)
		nums[i] = n
	}
	storage, name, ok := strings.Cut(args[1], ":")
	if !ok || !strings.HasPrefix(name, "backup/") {
		ts.Fatalf("%s is not a backup volume id (STORAGE:backup/NAME)", args[1])
	}
	file := ts.MkAbs(args[0])
	var st map[string]json.RawMessage
	ts.Check(json.Unmarshal([]byte(ts.ReadFile(args[0])), &st))
	var storages []map[string]json.RawMessage
	ts.Check(json.Unmarshal(st["storages"], &storages))
	found := false
	for _, s := range storages {
		var id string
		ts.Check(json.Unmarshal(s["id"], &id))
		if id != storage {
			continue
		}
		vols := map[string]json.RawMessage{}
		ts.Check(json.Unmarshal(s["volumes"], &vols))
		format := strings.TrimPrefix(filepath.Ext(name), ".")
		if strings.HasSuffix(name, ".tar.zst") {
			format = "tar.zst"
		}
		v, err := json.Marshal(map[string]any{"volid": args[1], "content": "backup", "format": format, "vmid": nums[0],
			"ctime": nums[1], "size": nums[2], "subtype": "lxc"})
		ts.Check(err)
		vols[args[1]] = v
		if s["volumes"], err = json.Marshal(vols); err != nil {
			ts.Fatalf("%v", err)
		}
		found = true
	}
	if !found {
		ts.Fatalf("no storage %s in %s", storage, args[0])
	}
	b, err := json.Marshal(storages)
	ts.Check(err)
	st["storages"] = b
	out, err := json.MarshalIndent(st, "", "  ")
	ts.Check(err)
	ts.Check(os.WriteFile(file, out, 0o600))
}
