package selftest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/felhom/felhom-converge/proxmox"
)

func check(name string, err error, flags ...string) Check {
	c := Check{Name: name, Run: func(context.Context) (string, error) { return name + " detail", err }}
	for _, f := range flags {
		c.Gate = c.Gate || f == "gate"
		c.Cleanup = c.Cleanup || f == "cleanup"
	}
	return c
}

// A report runs checks in order: a failed gate check, or a host that does
// not answer, skips the rest of its section; with stopOnFailure only the
// cleanup checks run after a failure.
func TestReportRunsChecksAsData(t *testing.T) {
	var live bytes.Buffer
	rep := NewReport(time.Date(2026, 12, 1, 10, 0, 0, 5, time.UTC), 0, &live)
	failed := rep.Run(context.Background(), "host", []Check{
		check("version", nil),
		check("trust", Warning("no operational key")),
		check("token", ErrSkipped),
		check("node", Finding("node pve is offline"), "gate"),
		check("guests", nil),
	}, false)
	failed += rep.Run(context.Background(), "task", []Check{
		check("snapshot", &proxmox.APIError{Status: 403, Privilege: "VM.Snapshot", ACLPath: "/vms/100"}),
		check("rollback", nil),
		check("delete", nil, "cleanup"),
	}, true)
	rep.Run(context.Background(), "other", []Check{check("connect", errors.New("dial tcp: refused")), check("after", nil)}, false)
	want := []Line{
		{"host", "version", "ok", "version detail"},
		{"host", "trust", "warn", "no operational key"},
		{"host", "token", "skip", "token detail"},
		{"host", "node", "fail", "node pve is offline"},
		{"host", "guests", "skip", "an earlier check failed"},
		{"task", "snapshot", "fail", "permission denied: the token lacks VM.Snapshot on /vms/100"},
		{"task", "rollback", "skip", "an earlier check failed"},
		{"task", "delete", "ok", "delete detail"},
		{"other", "connect", "fail", "dial tcp: refused"},
		{"other", "after", "skip", "an earlier check failed"}, // a host that does not answer fails every check alike
	}
	if len(rep.Checks) != len(want) {
		t.Fatalf("got %d lines, want %d: %+v", len(rep.Checks), len(want), rep.Checks)
	}
	for i, l := range rep.Checks {
		if l != want[i] {
			t.Errorf("line %d: got %+v, want %+v", i, l, want[i])
		}
	}
	if failed != 2 || rep.Failed != 3 || rep.Warnings != 1 || rep.Passed {
		t.Errorf("failed %d, report failed %d warnings %d passed %v", failed, rep.Failed, rep.Warnings, rep.Passed)
	}
	if got := live.String(); !bytes.Contains([]byte(got), []byte("  FAIL  node         node pve is offline\n")) {
		t.Errorf("live text:\n%s", got)
	}
	var out bytes.Buffer
	if err := rep.WriteJSON(&out); err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(out.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	if doc["format_version"] != "1" || doc["time"] != "2026-12-01T10:00:00Z" || doc["passed"] != false || doc["warnings"] != 1.0 {
		t.Errorf("JSON: %s", out.String())
	}
	out.Reset()
	rep.WriteSummary(&out)
	if got := out.String(); got != "3 check(s) failed, 1 warning\n" {
		t.Errorf("summary: %q", got)
	}
}
