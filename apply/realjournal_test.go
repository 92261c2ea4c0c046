package apply_test

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/felhom/felhom-converge/apply"
	"github.com/felhom/felhom-converge/journal"
	"github.com/felhom/felhom-converge/ops"
	"github.com/felhom/felhom-converge/plan"
)

// openJournal opens the state directory's journal under its lock.
func (e *env) openJournal(o journal.Options) *journal.Journal {
	e.t.Helper()
	sd, err := journal.OpenStateDir(filepath.Join(e.dir, "state"))
	if err != nil {
		e.t.Fatal(err)
	}
	lock, err := sd.Lock(context.Background(), 0)
	if err != nil {
		e.t.Fatal(err)
	}
	j, err := journal.Open(lock, o)
	if err != nil {
		lock.Unlock()
		e.t.Fatal(err)
	}
	e.unlock = func() { j.Close(); lock.Unlock() }
	e.t.Cleanup(e.unlock)
	return j
}

// closeJournal closes the journal and releases its lock.
func (e *env) closeJournal() { e.unlock() }

// withJournal is the env's journal.
func (e *env) withJournal() *journal.Journal { return e.journal }

// append writes a record a crashed run would have left.
func (e *env) append(r journal.Record) {
	e.t.Helper()
	if err := e.journal.Append(r); err != nil {
		e.t.Fatal(err)
	}
}

// terminal is a call's terminal record, in the audit's words.
type terminal struct{ Result, ExitStatus, Message string }

// result is the terminal record of the last call with this id.
func (e *env) result(call string) (terminal, bool) {
	var out terminal
	found := false
	for _, t := range e.journal.Transactions() {
		for _, s := range t.Calls {
			if s.Intent.Call == call && s.Result != nil {
				out, found = terminal{Result: string(s.Result.Status), ExitStatus: s.Result.ExitStatus, Message: s.Result.Error}, true
			}
		}
	}
	return out, found
}

// txn is one transaction of the journal.
func (e *env) txn(id string) journal.Transaction {
	for _, t := range e.journal.Transactions() {
		if t.Begin.Txn == id {
			return t
		}
	}
	e.t.Fatalf("no transaction %s", id)
	return journal.Transaction{}
}

// steps lists the journal's calls of the last transaction: call → status.
func lastTxn(t *testing.T, j *journal.Journal) journal.Transaction {
	t.Helper()
	txns := j.Transactions()
	if len(txns) == 0 {
		t.Fatal("no transaction in the journal")
	}
	return txns[len(txns)-1]
}

func callStatus(tx journal.Transaction, call string) (journal.Status, string) {
	for _, s := range tx.Calls {
		if s.Intent.Call == call {
			if s.Result == nil {
				return "in flight", s.UPID
			}
			return s.Result.Status, s.Result.Error
		}
	}
	return "missing", ""
}

func TestFaultsLeaveACorrectJournal(t *testing.T) {
	destroy := `{"purge":true,"volumes":["local-lvm:vm-110-disk-0"]}`
	for _, tc := range []struct {
		name   string
		signed bool
		setup  func(e *env)
		steps  func(e *env) []plan.Step
		want   map[string]journal.Status // call → status
		msg    string                    // in the failed step's message
		exists int                       // a guest that must still exist
	}{
		{name: "HTTP 500 on the POST",
			setup: func(e *env) { e.sim.FailNth("POST", "/nodes/{node}/lxc", 1, 500, "storage went away") },
			steps: func(*env) []plan.Step {
				return []plan.Step{step("guest.create-102-a", ops.GuestCreate, 102, createParams)}
			},
			// A 500 may come after Proxmox acted: the task list shows it
			// never started.
			want: map[string]journal.Status{"guest.create-102-a": journal.StatusAborted}, msg: "storage went away"},
		{name: "a task that fails on a missing privilege",
			setup: func(e *env) { e.sim.FailTask("vzdump", "101", "Permission check failed (/vms/101, VM.Backup)") },
			steps: func(*env) []plan.Step {
				return []plan.Step{step("backup.create-101-a", ops.BackupCreate, 101, `{"storage":"local"}`)}
			},
			want: map[string]journal.Status{"backup.create-101-a": journal.StatusFailed}, msg: "VM.Backup", exists: 101},
		{name: "a digest refusal from a concurrent edit",
			steps: func(e *env) []plan.Step {
				s := step("guest.set-100-a", ops.GuestSet, 100, `{"set":{"memory":"2048"}}`)
				s.ObservedDigest = e.digest(100)
				e.client.SetConfig(context.Background(), 100, map[string]string{"onboot": "0"}, nil, "")
				return []plan.Step{s}
			},
			want: map[string]journal.Status{"guest.set-100-a": journal.StatusAborted}, msg: "changed concurrently", exists: 100},
		{name: "a failed safety backup", signed: true,
			setup: func(e *env) {
				e.sim.FailTask("vzdump", "110", "vma_queue_write: write error - No space left on device")
			},
			steps: func(*env) []plan.Step {
				return []plan.Step{step("guest.destroy-110-a", ops.GuestDestroy, 110, destroy)}
			},
			want: map[string]journal.Status{"guest.destroy-110-a#safety-backup": journal.StatusFailed, "guest.destroy-110-a": "missing"},
			msg:  "safety backup failed, so the step did not run", exists: 110},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			var j *journal.Journal
			if tc.signed {
				sign := e.signer("alice@ops", "felhom-operational")
				j = e.withJournal()
				p := outcome(t, e.run(tc.steps(e)...), tc.steps(e)[0].ID, apply.OutcomePending)
				sign(p.Request)
			} else {
				j = e.withJournal()
			}
			if tc.setup != nil {
				tc.setup(e)
			}
			steps := tc.steps(e)
			res := e.run(steps...)
			r := outcome(t, res, steps[0].ID, apply.OutcomeFailed)
			if !strings.Contains(r.Message, tc.msg) {
				t.Errorf("message %q, want %q in it", r.Message, tc.msg)
			}
			tx := lastTxn(t, j)
			for call, want := range tc.want {
				if got, _ := callStatus(tx, call); got != want {
					t.Errorf("journal: %s is %s, want %s", call, got, want)
				}
			}
			if tx.End == nil || tx.End.Result != journal.TxnFailed {
				t.Errorf("transaction end %+v, want failed", tx.End)
			}
			if len(j.InFlight()) != 0 {
				t.Errorf("in flight: %+v", j.InFlight())
			}
			if tc.exists != 0 && !e.exists(tc.exists) {
				t.Errorf("guest %d is gone", tc.exists)
			}
		})
	}
}

// A wait that gives up (the task outlives it) leaves the call in flight:
// the run says so, and recovery settles it later without a second POST.
func TestWaitTimeoutLeavesTheCallForRecovery(t *testing.T) {
	e := newEnv(t)
	j := e.withJournal()
	e.sim.Close()
	sim := e.restartSim(400 * time.Millisecond)
	e.opts.Wait.Timeout = 50 * time.Millisecond
	res := e.run(step("guest.start-110-a", ops.GuestStart, 110, `{}`), step("guest.start-110-b", ops.GuestStart, 110, `{}`, "guest.start-110-a"))
	r := outcome(t, res, "guest.start-110-a", apply.OutcomeInterrupted)
	if !strings.Contains(r.Message, "recover") {
		t.Errorf("message %q", r.Message)
	}
	outcome(t, res, "guest.start-110-b", apply.OutcomeSkipped)
	if st, upid := callStatus(lastTxn(t, j), "guest.start-110-a"); st != "in flight" || upid == "" {
		t.Fatalf("journal: %s %s", st, upid)
	}
	e.opts.Wait.Timeout = 0
	rec, err := apply.Recover(context.Background(), e.opts)
	if err != nil || len(rec) != 1 || rec[0].Result != apply.ResultOK {
		t.Fatalf("recover: %+v %v", rec, err)
	}
	if st, _ := callStatus(lastTxn(t, j), "guest.start-110-a"); st != journal.StatusOK {
		t.Errorf("after recovery: %s", st)
	}
	if n := sim.Counters()["POST /nodes/{node}/lxc/{vmid}/status/start"]; n != 1 {
		t.Errorf("%d start POSTs, want 1", n)
	}
	if len(j.OpenTxns()) != 0 {
		t.Errorf("open transactions: %v", j.OpenTxns())
	}
}

// restartSim replaces the env's simulator by one with slower tasks.
func (e *env) restartSim(d time.Duration) interface{ Counters() map[string]int } {
	e.t.Helper()
	n := newEnvWith(e.t, d)
	e.sim, e.client = n.sim, n.client
	e.opts.Client = n.client
	e.opts.TokenUser = n.opts.TokenUser
	return n.sim
}
