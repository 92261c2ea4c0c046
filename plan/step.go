package plan

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"time"

	"github.com/felhom/felhom-converge/ops"
)

// FormatVersion is the version of the JSON plan document and saved plans.
const FormatVersion = "1"

// Plan is the ordered list of steps that bring one host to its desired
// state, with everything a person or apply needs to judge them.
type Plan struct {
	FormatVersion string    `json:"format_version"`
	Host          string    `json:"host"`
	Node          string    `json:"node"`
	DesiredFile   string    `json:"desired_file"`
	DesiredDigest string    `json:"desired_digest"` // SHA-256 of the desired file, hex
	Created       time.Time `json:"created"`
	Steps         []Step    `json:"steps"`
	Unmanaged     []int     `json:"unmanaged"` // live guests the file does not name
	Errors        []Error   `json:"errors"`    // problems that keep steps out of the plan
	// Warnings are things an administrator should know that keep nothing
	// out of the plan (a step Proxmox may refuse for a reason the plan
	// cannot read, a request the file makes that has no effect).
	Warnings []Error `json:"warnings"`
	// Outstanding lists changes already written that take effect only at
	// the guest's next start, on guests that may not be rebooted.
	Outstanding []Outstanding `json:"outstanding"`
	// Drift lists managed guests changed outside felhom-converge since the
	// last apply.
	Drift []Drift `json:"drift"`
	// Notes are things a reviewer should know that change nothing (a job
	// whose not_after passed, a state directory without a journal).
	Notes []string `json:"notes,omitempty"`
	// Observed is each managed guest's config digest at observe time, by
	// vmid: apply records it for guests it leaves alone, so a change seen
	// once is not reported as drift forever.
	Observed map[int]string `json:"observed_digests"`
}

// Step is one action on the host. Params carry everything the executor
// needs and, for a destructive step, every piece of data it would
// destroy: a signature covers exactly the params.
type Step struct {
	ID        string          `json:"id"` // the action id; for a destructive step, its request's id
	Op        string          `json:"op"`
	Guest     *int            `json:"guest"` // vmid; nil for host-level ops
	GuestName string          `json:"guest_name,omitempty"`
	Params    json.RawMessage `json:"params"` // canonical JSON
	Class     ops.Class       `json:"class"`
	Reason    string          `json:"reason"`
	// ObservedDigest is the guest's config digest at observe time; apply
	// passes it with config writes so Proxmox refuses a lost update.
	ObservedDigest string   `json:"observed_digest,omitempty"`
	DependsOn      []string `json:"depends_on"`
	// RestartNeeded says the step's change takes effect only at the
	// guest's next start.
	RestartNeeded bool `json:"restart_needed"`
	// Changes are the field-level differences, for people.
	Changes []Change `json:"changes,omitempty"`
	// Safety describes the safety step apply takes first (a snapshot or a
	// backup), for destructive steps.
	Safety string `json:"safety,omitempty"`
	// Provenance names the journal record that makes a removal benign.
	Provenance string `json:"provenance,omitempty"`
	// Kinds are the kinds of change a benign step makes that a local
	// policy may name (memory.shrink, network.change).
	Kinds []string `json:"kinds,omitempty"`
	// Policy is the entry of the local policy (gate.sign) that makes this
	// benign step need a signature.
	Policy string `json:"policy,omitempty"`
	// Job is the id of the desired-state job this step runs, if any.
	Job string `json:"job,omitempty"`
	// Source is where in the desired file the step comes from
	// (FILE:LINE:COL), for people.
	Source string `json:"source,omitempty"`

	// For destructive steps: the signature request to sign.
	Request  string     `json:"request,omitempty"`
	Nonce    string     `json:"nonce,omitempty"`
	NotAfter *time.Time `json:"not_after,omitempty"`
}

// Change is one field that differs.
type Change struct {
	Field string `json:"field"`
	Old   string `json:"old,omitempty"`
	New   string `json:"new,omitempty"`
	Note  string `json:"note,omitempty"`
}

// Error is a problem that keeps a guest's (or the host's) steps out of
// the plan. Range is FILE:LINE:COL when the problem has a place.
type Error struct {
	Guest   *int   `json:"guest"`
	Range   string `json:"range,omitempty"`
	Message string `json:"message"`
}

func (e Error) String() string {
	if e.Range != "" {
		return e.Range + ": " + e.Message
	}
	return e.Message
}

// Outstanding is a change written to the guest's config that waits for the
// next start.
type Outstanding struct {
	Guest  int      `json:"guest"`
	Keys   []string `json:"keys"`
	Reboot string   `json:"reboot"` // RebootPlanned, or why not ("reboot_after_update is false")
}

// RebootPlanned is Outstanding.Reboot when the plan has the reboot step.
const RebootPlanned = "planned"

// VMID returns the step's guest, or 0 for a host-level step.
func (s Step) VMID() int {
	if s.Guest == nil {
		return 0
	}
	return *s.Guest
}

// Destructive reports whether the step needs a signature (or provenance).
func (s Step) Destructive() bool { return s.Class == ops.Destructive }

// benignID is the action id of a benign step: op, guest and the first 8
// hex digits of the SHA-256 of its binding, stable across runs.
func benignID(op string, vmid int, params []byte) string {
	h := sha256.New()
	fmt.Fprintf(h, "%s\n%d\n%s\n", op, vmid, params)
	d := hex.EncodeToString(h.Sum(nil)[:4])
	if vmid == 0 {
		return op + "-" + d
	}
	return fmt.Sprintf("%s-%d-%s", op, vmid, d)
}

// Counts summarises a plan for its last line.
type Counts struct {
	Create, Change, Remove, Destructive, Pending int
}
