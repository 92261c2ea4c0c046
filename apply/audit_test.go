package apply_test

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/felhom/felhom-converge/apply"
)

// TestAuditLogsOneRecordPerEntry: each audit entry is one slog record
// ("gate decision" before a step, "step outcome" after a call) carrying
// only the fields that are set, at a level that says how bad it is; the
// audit.jsonl line is written as before.
func TestAuditLogsOneRecordPerEntry(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug})).With("run", "r1")
	path := filepath.Join(t.TempDir(), apply.AuditFile)
	a := apply.OpenAudit(path, log)
	var observed []string
	a.Observe = func(e apply.AuditEntry) { observed = append(observed, e.Step) }
	guest := 100
	at := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	entries := []apply.AuditEntry{
		{Time: at, Host: "pve", Txn: "t1", Step: "guest.create-100-a", Op: "guest.create", Guest: &guest, Class: "benign", Decision: apply.DecisionBenign},
		{Time: at, Host: "pve", Txn: "t1", Step: "guest.create-100-a", Op: "guest.create", Guest: &guest, Class: "benign", Decision: apply.DecisionBenign,
			UPID: "UPID:pve:1:2:3:vzrestore:100:u@pve!t:", Result: apply.ResultOK},
		{Time: at, Host: "pve", Txn: "t1", Step: "guest.destroy-100-b", Op: "guest.destroy", Guest: &guest, Class: "destructive",
			Decision: "replayed", Signer: "alice", Fingerprint: "SHA256:abc", Nonce: "n1", Reason: "x.req: nonce already used"},
		{Time: at, Host: "pve", Txn: "t1", Step: "guest.set-100-c", Op: "guest.set", Class: "benign", Decision: apply.DecisionBenign,
			Result: apply.ResultFailed, Reason: "exit status 1"},
	}
	for _, e := range entries {
		if err := a.Write(e); err != nil {
			t.Fatal(err)
		}
	}
	want := []map[string]any{
		{"level": "INFO", "msg": apply.LogGateDecision, "run": "r1", "txn": "t1", "step": "guest.create-100-a", "op": "guest.create", "guest": 100.0, "class": "benign", "decision": "allowed_benign"},
		{"level": "INFO", "msg": apply.LogStepOutcome, "run": "r1", "txn": "t1", "step": "guest.create-100-a", "op": "guest.create", "guest": 100.0, "class": "benign", "decision": "allowed_benign",
			"upid": "UPID:pve:1:2:3:vzrestore:100:u@pve!t:", "result": "ok"},
		{"level": "WARN", "msg": apply.LogGateDecision, "run": "r1", "txn": "t1", "step": "guest.destroy-100-b", "op": "guest.destroy", "guest": 100.0, "class": "destructive",
			"decision": "replayed", "signer": "alice", "fingerprint": "SHA256:abc", "nonce": "n1", "reason": "x.req: nonce already used"},
		{"level": "ERROR", "msg": apply.LogStepOutcome, "run": "r1", "txn": "t1", "step": "guest.set-100-c", "op": "guest.set", "class": "benign", "decision": "allowed_benign",
			"result": "failed", "reason": "exit status 1"},
	}
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != len(want) {
		t.Fatalf("%d records, want %d:\n%s", len(lines), len(want), buf.String())
	}
	for i, l := range lines {
		var got map[string]any
		if err := json.Unmarshal([]byte(l), &got); err != nil {
			t.Fatalf("record %d: %v: %s", i, err, l)
		}
		if _, ok := got["time"]; !ok {
			t.Errorf("record %d has no time: %s", i, l)
		}
		delete(got, "time")
		if !reflect.DeepEqual(got, want[i]) {
			t.Errorf("record %d:\n got %v\nwant %v", i, got, want[i])
		}
	}
	if strings.Join(observed, ",") != "guest.create-100-a,guest.create-100-a,guest.destroy-100-b,guest.set-100-c" {
		t.Errorf("observed %v", observed)
	}

	// The file keeps its format: every entry, all its JSON fields.
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	flines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(flines) != len(entries) {
		t.Fatalf("%d audit lines, want %d", len(flines), len(entries))
	}
	if want := `{"time":"2026-12-01T10:00:00Z","host":"pve","txn":"t1","step":"guest.set-100-c","op":"guest.set","guest":null,"class":"benign","decision":"allowed_benign","result":"failed","reason":"exit status 1"}`; flines[3] != want {
		t.Errorf("audit line\n got %s\nwant %s", flines[3], want)
	}
}

// TestAuditLogLevel: a logger at error shows only the failed outcome; a
// nil logger logs nothing and still writes the file.
func TestAuditLogLevel(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelError}))
	dir := t.TempDir()
	a := apply.OpenAudit(filepath.Join(dir, "a.jsonl"), log)
	quiet := apply.OpenAudit(filepath.Join(dir, "b.jsonl"), nil)
	for _, e := range []apply.AuditEntry{
		{Txn: "t1", Step: "s1", Op: "guest.set", Class: "benign", Decision: apply.DecisionBenign},
		{Txn: "t1", Step: "s1", Op: "guest.set", Class: "benign", Decision: apply.DecisionBenign, Result: "unknown", Reason: "interrupted"},
	} {
		if err := a.Write(e); err != nil {
			t.Fatal(err)
		}
		if err := quiet.Write(e); err != nil {
			t.Fatal(err)
		}
	}
	out := buf.String()
	if strings.Count(out, "\n") != 1 || !strings.Contains(out, `level=ERROR msg="step outcome" txn=t1 step=s1 op=guest.set class=benign decision=allowed_benign result=unknown reason=interrupted`) {
		t.Errorf("log at error:\n%s", out)
	}
	for _, f := range []string{"a.jsonl", "b.jsonl"} {
		b, err := os.ReadFile(filepath.Join(dir, f))
		if err != nil || strings.Count(string(b), "\n") != 2 {
			t.Errorf("%s: %v %q", f, err, b)
		}
	}
}
