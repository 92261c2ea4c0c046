package apply_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/felhom/felhom-converge/apply"
	"github.com/felhom/felhom-converge/journal"
	"github.com/felhom/felhom-converge/ops"
	"github.com/felhom/felhom-converge/plan"
	"github.com/felhom/felhom-converge/proxmox"
)

// createSteps plans three new guests, each created and then started.
func createSteps() []plan.Step {
	var steps []plan.Step
	for v := 120; v < 123; v++ {
		create := step(fmt.Sprintf("guest.create-%d-a", v), ops.GuestCreate, v,
			strings.Replace(createParams, `"hostname":"wiki"`, fmt.Sprintf(`"hostname":"g%d"`, v), 1))
		start := step(fmt.Sprintf("guest.start-%d-a", v), ops.GuestStart, v, `{}`, create.ID)
		steps = append(steps, create, start)
	}
	return steps
}

// callSpans reads each call's intent and result times from the journal.
func callSpans(t *testing.T, j *journal.Journal) map[string][2]time.Time {
	t.Helper()
	out := map[string][2]time.Time{}
	for _, tx := range j.Transactions() {
		for _, s := range tx.Steps {
			if s.Result == nil {
				t.Fatalf("call %s has no result", s.Intent.Action)
			}
			out[s.Intent.Action] = [2]time.Time{s.Intent.Time, s.Result.Time}
		}
	}
	return out
}

// Steps of different guests run at once; one guest's steps keep their
// order (a start never begins before its guest's create ended).
func TestGuestsRunInParallelAndEachInOrder(t *testing.T) {
	for _, parallel := range []int{1, 3} {
		t.Run(fmt.Sprint(parallel), func(t *testing.T) {
			e := newEnvWith(t, 150*time.Millisecond)
			e.opts.Parallel = parallel
			res := e.run(createSteps()...)
			if res.Failed() || res.Count(apply.OutcomeDone) != 6 {
				t.Fatalf("%s", res.Summary())
			}
			for i, s := range res.Steps { // reported in plan order
				if want := createSteps()[i].ID; s.ID != want {
					t.Errorf("result %d is %s, want %s", i, s.ID, want)
				}
			}
			spans := callSpans(t, e.journal)
			overlap := false
			for v := 120; v < 123; v++ {
				create, start := spans[fmt.Sprintf("guest.create-%d-a", v)], spans[fmt.Sprintf("guest.start-%d-a", v)]
				if start[0].Before(create[1]) {
					t.Errorf("guest %d started before its create ended", v)
				}
				for w := v + 1; w < 123; w++ {
					other := spans[fmt.Sprintf("guest.create-%d-a", w)]
					overlap = overlap || (other[0].Before(create[1]) && create[0].Before(other[1]))
				}
			}
			if overlap != (parallel > 1) {
				t.Errorf("parallel %d: creates of different guests overlapped: %v", parallel, overlap)
			}
			for v := 120; v < 123; v++ {
				if st, err := e.client.GuestStatus(context.Background(), v); err != nil || st.Status != "running" {
					t.Errorf("guest %d: %v %v", v, st.Status, err)
				}
			}
		})
	}
}

// A config write refused because someone else's backup holds the guest's
// lock waits for the lock, then is made again: the step succeeds, and the
// refused call is journaled as never having taken effect.
func TestALockedGuestIsWaitedFor(t *testing.T) {
	e := newEnvWith(t, 1500*time.Millisecond)
	e.opts.LockWait = time.Minute
	ctx := context.Background()
	if _, err := e.client.Vzdump(ctx, 100, proxmox.VzdumpOptions{Storage: "local", Mode: "snapshot"}); err != nil {
		t.Fatal(err)
	}
	cfg, err := e.client.GuestConfig(ctx, 100)
	if err != nil || cfg.Lock() == "" {
		t.Skipf("the simulator shows no backup lock (%q, %v)", cfg.Lock(), err)
	}
	s := step("guest.set-100-a", ops.GuestSet, 100, `{"set":{"cores":"3"}}`)
	res := e.run(s)
	outcome(t, res, s.ID, apply.OutcomeDone)
	if cfg, _ := e.client.GuestConfig(ctx, 100); cfg.Values["cores"] != "3" {
		t.Errorf("cores %q", cfg.Values["cores"])
	}
	first, _ := e.result(s.ID)
	again, ok := e.result(s.ID + "#retry1")
	if first.Result != apply.ResultAborted || !ok || again.Result != apply.ResultOK {
		t.Errorf("journal: first %+v, again %+v", first, again)
	}
}
