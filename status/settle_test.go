package status

import (
	"testing"
	"time"
)

// After recovery, the last run no longer lists its interrupted steps as
// failed; a step that really failed stays.
func TestSettleInterrupted(t *testing.T) {
	dir := t.TempDir()
	now := time.Now()
	if err := WriteLastRun(dir, Run{Started: now, Finished: now, Result: ResultFailed, Planned: true, Failed: []FailedStep{
		{ID: "guest.create-102-a", Outcome: "interrupted", Error: "interrupted"},
		{ID: "guest.start-102-b", Outcome: "interrupted", Error: "interrupted"},
		{ID: "snapshot.create-100-c", Outcome: "interrupted", Error: "interrupted"},
		{ID: "guest.set-100-b", Outcome: "failed", Error: "403"},
	}}); err != nil {
		t.Fatal(err)
	}
	// create settled ok; start's task failed; the snapshot's call was not
	// settled by this recovery.
	if err := SettleInterrupted(dir, map[string]string{"guest.create-102-a": "", "guest.start-102-b": "startup failed"}); err != nil {
		t.Fatal(err)
	}
	r, err := ReadLastRun(dir)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, f := range r.Failed {
		got[f.ID] = f.Outcome + ": " + f.Error
	}
	want := map[string]string{"guest.start-102-b": "failed: startup failed", "snapshot.create-100-c": "interrupted: interrupted", "guest.set-100-b": "failed: 403"}
	if len(got) != len(want) {
		t.Errorf("failed steps after recovery: %v", got)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s: %q, want %q", k, got[k], v)
		}
	}
	if err := SettleInterrupted(t.TempDir(), nil); err != nil {
		t.Errorf("no record: %v", err)
	}
}
