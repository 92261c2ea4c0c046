package plan

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/felhom/felhom-converge/ops"
)

// A host's local policy makes benign but disruptive steps need a
// signature: by op (a stop) or by kind of change (less memory, an
// interface changed). Steps it does not name stay benign.
func TestLocalPolicyNeedsSignaturesForDisruptiveSteps(t *testing.T) {
	h := desired(t, strings.Replace(webHCL, "%s", "", 1))
	h.Guests[0].Memory = 512 // live 1024: a shrink
	h.Guests[0].State = "stopped"
	live := liveWith(running(100, "web", web()))
	plan := func(policy ...string) *Plan {
		return Diff(h, live, Inputs{DesiredFile: "host.hcl", Provenance: NoProvenance{}, Now: testNow, SignPolicy: policy})
	}
	find := func(p *Plan, op string) Step {
		for _, s := range p.Steps {
			if s.Op == op {
				return s
			}
		}
		t.Fatalf("no %s in %s", op, ops_(p))
		return Step{}
	}
	p := plan()
	if s := find(p, ops.GuestSet); s.Destructive() || !strings.Contains(strings.Join(s.Kinds, ","), ops.MemoryShrink) {
		t.Errorf("without a policy: %s %v", s.Class, s.Kinds)
	}
	if s := find(p, ops.GuestStop); s.Destructive() {
		t.Errorf("without a policy the stop is %s", s.Class)
	}
	p = plan(ops.GuestStop, ops.MemoryShrink)
	for _, op := range []string{ops.GuestStop, ops.GuestSet} {
		s := find(p, op)
		if !s.Destructive() || s.Policy == "" || !strings.Contains(s.Reason, "needs a signature by local policy") {
			t.Errorf("%s under the policy: class %s, policy %q, reason %q", op, s.Class, s.Policy, s.Reason)
		}
	}
	if s := find(plan(ops.NetworkChange), ops.GuestSet); s.Destructive() {
		t.Errorf("a memory change is not a network change: %s", s.Class)
	}
}

// A job whose not_after passed is never planned; the plan notes it.
func TestAJobPastItsNotAfterIsNotPlanned(t *testing.T) {
	body := strings.Replace(webHCL, "%s", "", 1) + `
job "window" {
  op        = "guest.reboot"
  guest     = "web"
  not_after = "%s"
}`
	live := liveWith(running(100, "web", web()))
	past := diff(t, desired(t, fmt.Sprintf(body, testNow.Add(-time.Hour).Format(time.RFC3339))), live, nil)
	if strings.Contains(ops_(past), ops.GuestReboot) || len(past.Notes) != 1 || !strings.Contains(past.Notes[0], `job "window" (guest.reboot) is not planned: its not_after passed`) {
		t.Errorf("past: steps %s, notes %q", ops_(past), past.Notes)
	}
	future := diff(t, desired(t, fmt.Sprintf(body, testNow.Add(time.Hour).Format(time.RFC3339))), live, nil)
	if !strings.Contains(ops_(future), ops.GuestReboot) || len(future.Notes) != 0 {
		t.Errorf("future: steps %s, notes %q", ops_(future), future.Notes)
	}
}

// Changing a guest's DNS servers or search domain redirects its name
// resolution: a network change for a local policy.
func TestDNSChangesAreNetworkChanges(t *testing.T) {
	h := desired(t, strings.Replace(webHCL, "%s", "", 1))
	h.Guests[0].Nameservers = []string{"192.0.2.53"}
	live := liveWith(running(100, "web", web()))
	p := Diff(h, live, Inputs{DesiredFile: "host.hcl", Provenance: NoProvenance{}, Now: testNow, SignPolicy: []string{ops.NetworkChange}})
	for _, s := range p.Steps {
		if s.Op == ops.GuestSet {
			if !s.Destructive() || s.Policy != ops.NetworkChange {
				t.Errorf("a nameserver change under network.change: class %s, policy %q", s.Class, s.Policy)
			}
			return
		}
	}
	t.Fatalf("no guest.set in %s", ops_(p))
}
