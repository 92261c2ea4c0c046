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
		{ID: "guest.set-100-b", Outcome: "failed", Error: "403"},
	}}); err != nil {
		t.Fatal(err)
	}
	if err := SettleInterrupted(dir); err != nil {
		t.Fatal(err)
	}
	r, err := ReadLastRun(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Failed) != 1 || r.Failed[0].ID != "guest.set-100-b" {
		t.Errorf("failed steps after recovery: %+v", r.Failed)
	}
	if err := SettleInterrupted(t.TempDir()); err != nil {
		t.Errorf("no record: %v", err)
	}
}
