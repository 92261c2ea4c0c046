package status

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/felhom/felhom-converge/hub"
)

// What status says about steps in flight depends on who will act on them:
// the run holding the lock, the next run, or nobody until the journal is
// repaired.
func TestStatusSaysWhoActsOnStepsInFlight(t *testing.T) {
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	uid := 107
	inFlight := JournalHealth{Path: "/s/journal.log", Exists: true, InFlight: 2, Healthy: true}
	corrupt := inFlight
	corrupt.Healthy, corrupt.Corrupt = false, "journal.log: record at byte 812 is damaged"
	for _, c := range []struct {
		name string
		h    JournalHealth
		lock LockState
		want []string
	}{
		{"held", inFlight, LockState{Held: true, PID: 4242, UID: &uid, Host: "pve1", Since: now.Add(-90 * time.Second)},
			[]string{"lock:           held by pid 4242 (uid 107 on pve1) since 2026-12-01T11:58:30Z (1m ago): a run is in progress\n",
				"  2 steps in flight: the run holding the lock settles them\n"}},
		{"free", inFlight, LockState{},
			[]string{"lock:           free (no run in progress)\n", "  2 steps in flight: the next run recovers them first\n"}},
		{"corrupt", corrupt, LockState{},
			[]string{"CORRUPT\n", "  2 steps in flight: the next run refuses to start until the journal is repaired\n",
				"  apply and recover refuse to change the host until the journal is repaired\n"}},
		{"unknown", inFlight, LockState{Error: "lock: open /proc/locks: permission denied"},
			[]string{"lock:           unknown: lock: open /proc/locks: permission denied\n"}},
	} {
		var b bytes.Buffer
		writeJournalHealthText(&b, now, c.h, c.lock)
		for _, w := range c.want {
			if !strings.Contains(b.String(), w) {
				t.Errorf("%s: no %q in\n%s", c.name, w, b.String())
			}
		}
	}
	// The line of a run that did not finish says the same.
	for _, c := range []struct {
		h    JournalHealth
		lock LockState
		want string
	}{
		{inFlight, LockState{Held: true, PID: 4243}, "; the run holding the lock settles what it left ("},
		{inFlight, LockState{}, "; the next run recovers what it left first ("},
		{corrupt, LockState{}, "; the next run refuses to start until the journal is repaired ("},
	} {
		var b bytes.Buffer
		writeUnfinishedText(&b, now, &Unfinished{PID: 4242, Since: now.Add(-time.Hour)}, c.h, c.lock)
		if !strings.Contains(b.String(), c.want) {
			t.Errorf("no %q in\n%s", c.want, b.String())
		}
	}
}

// A pull error is printed escaped, also from a state an older version
// wrote raw; an interrupted pull is not called a failure of the hub.
func TestStatusPullLines(t *testing.T) {
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	var b bytes.Buffer
	writeDesiredText(&b, now, &DesiredState{Path: "/d/host.hcl", Exists: true, Modified: now,
		Pull: &hub.State{LastAttempt: now, LastError: "hub answered 500 \x1b[2J\u202e", LastReason: hub.HTTPStatus,
			Signatures: &hub.SourceState{LastAttempt: now, LastError: "interrupted", LastReason: hub.Interrupted}}})
	out := b.String()
	if strings.ContainsAny(out, "\x1b\u202e") || !strings.Contains(out, `hub answered 500 \x1b[2J\u202e`) {
		t.Errorf("not escaped:\n%s", out)
	}
	if !strings.Contains(out, "signatures pull: INTERRUPTED ") {
		t.Errorf("interrupted signatures pull:\n%s", out)
	}
}

// A failed step says its outcome once: an interrupted step's error, which
// begins with "interrupted", is not prefixed with it again.
func TestFailedStepsSayTheOutcomeOnce(t *testing.T) {
	r := &Run{Failed: []FailedStep{
		{Op: "guest.start", Guest: 100, GuestName: "web", Outcome: "interrupted", Error: "interrupted: waiting for task UPID:pve:1: context canceled"},
		{Op: "guest.set", Guest: 101, Outcome: "interrupted", Error: "interrupted (context canceled); 'felhom-converge recover' settles it"},
		{Op: "guest.stop", Guest: 102, Outcome: "interrupted", Error: "the run was stopped"},
		{Op: "disk.grow", Guest: 103, Outcome: "failed", Error: "403 Permission check failed"},
	}}
	var b bytes.Buffer
	writeStepsText(&b, time.Now(), r)
	for _, want := range []string{
		"  guest.start 100 (web) interrupted: waiting for task UPID:pve:1: context canceled\n",
		"  guest.set 101 interrupted (context canceled); 'felhom-converge recover' settles it\n",
		"  guest.stop 102 interrupted: the run was stopped\n",
		"  disk.grow 103: 403 Permission check failed\n",
	} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("missing %q in:\n%s", want, b.String())
		}
	}
}
