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
	"github.com/felhom/felhom-converge/trust"
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
		for _, s := range tx.Calls {
			if s.Result == nil {
				t.Fatalf("call %s has no result", s.Intent.Call)
			}
			out[s.Intent.Call] = [2]time.Time{s.Intent.Time, s.Result.Time}
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

// A config write that fails on a running guest may have written part of
// it (Proxmox's interface hotplug writes as it goes): the step fails and
// the journal says exactly what took effect.
func TestAFailedConfigWriteRecordsWhatItWrote(t *testing.T) {
	e := newEnv(t)
	const net0 = "name=eth0,bridge=vmbr0,firewall=0,hwaddr=BC:24:11:5E:7A:01,ip=dhcp,type=veth"
	s := step("guest.set-100-a", ops.GuestSet, 100, `{"set":{"net0":"`+net0+`","net1":"name=eth1,bridge=vmbr9,ip=dhcp"}}`)
	outcome(t, e.run(s), s.ID, apply.OutcomeFailed)
	cfg, _ := e.client.GuestConfig(context.Background(), 100)
	if !strings.Contains(cfg.Values["net0"], "firewall=0") {
		t.Fatalf("the hotplug of net0 did not stay written: %q", cfg.Values["net0"])
	}
	tm, _ := e.result(s.ID)
	if tm.Result != apply.ResultFailed || !strings.Contains(tm.Message, "took effect in part:") || !strings.Contains(tm.Message, "net1") {
		t.Errorf("journal %+v", tm)
	}
}

// A detached volume a snapshot still uses is only dereferenced by a
// volume free (Proxmox keeps it for the snapshot): the step says so
// instead of reporting its data gone.
func TestFreeingAVolumeASnapshotUsesSaysItStays(t *testing.T) {
	e := newEnv(t)
	sign := e.signer("alice@ops", trust.RoleOperational)
	ctx := context.Background()
	outcome(t, e.run(step("mount.add-110-a", ops.MountAdd, 110, `{"slot":"mp1","value":"local-lvm:2,mp=/srv/x,backup=1"}`)), "mount.add-110-a", apply.OutcomeDone)
	outcome(t, e.run(step("snapshot.create-110-a", ops.SnapshotCreate, 110, `{"snapshot":"keep"}`)), "snapshot.create-110-a", apply.OutcomeDone)
	cfg, _ := e.client.GuestConfig(ctx, 110)
	vol, _, _ := strings.Cut(cfg.Values["mp1"], ",")
	outcome(t, e.run(step("mount.detach-110-a", ops.MountDetach, 110, `{"path":"/srv/x","slot":"mp1","volume":"`+vol+`"}`)), "mount.detach-110-a", apply.OutcomeDone)
	cfg, _ = e.client.GuestConfig(ctx, 110)
	slot := ""
	for k, v := range cfg.Unused() {
		if v == vol {
			slot = fmt.Sprintf("unused%d", k)
		}
	}
	if slot == "" {
		t.Fatalf("%s is not an unusedN: %v", vol, cfg.Values)
	}
	free := step("volume.free-110-a", ops.VolumeFree, 110, `{"size":"2G","slot":"`+slot+`","unprotected":["`+vol+`"],"volume":"`+vol+`"}`)
	sign(outcome(t, e.run(free), free.ID, apply.OutcomePending).Request)
	r := outcome(t, e.run(free), free.ID, apply.OutcomeDone)
	if !strings.Contains(r.Message, "stays on its storage while a snapshot of guest 110 uses it") {
		t.Errorf("message %q", r.Message)
	}
}

// Proxmox stops a locked guest for a reboot and then refuses to start it:
// a reboot waits out someone else's lock first, so the guest is not left
// down.
func TestARebootWaitsForTheLock(t *testing.T) {
	e := newEnvWith(t, 1500*time.Millisecond)
	e.opts.LockWait = time.Minute
	ctx := context.Background()
	if _, err := e.client.Vzdump(ctx, 100, proxmox.VzdumpOptions{Storage: "local", Mode: "snapshot"}); err != nil {
		t.Fatal(err)
	}
	if cfg, _ := e.client.GuestConfig(ctx, 100); cfg.Lock() == "" {
		t.Fatal("the backup holds no lock on guest 100")
	}
	s := step("guest.reboot-100-a", ops.GuestReboot, 100, `{"reason":["cores"]}`)
	outcome(t, e.run(s), s.ID, apply.OutcomeDone)
	if st, err := e.client.GuestStatus(ctx, 100); err != nil || st.Status != "running" {
		t.Errorf("guest 100 after the reboot: %v %v", st.Status, err)
	}
}
