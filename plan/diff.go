package plan

import (
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/felhom/felhom-converge/ops"
	"github.com/felhom/felhom-converge/schema"
	"github.com/felhom/felhom-converge/trust"
	"github.com/hashicorp/hcl/v2"
)

// Inputs is everything Diff compares besides the two states.
type Inputs struct {
	DesiredFile   string
	DesiredDigest string // SHA-256 of the desired file, hex
	Provenance    Provenance
	Now           time.Time
	// AllowedSigners is the live trust root's content, for signers.rotate;
	// nil when the desired file has no signers block.
	AllowedSigners []byte
	// GoldenVMIDs are the guests whose archives the local config names
	// as golden images: when set, restoring any other archive into a new
	// guest needs a signature.
	GoldenVMIDs []int
	// SignPolicy is the local config's gate.sign: benign ops and change
	// kinds that need a signature on this host.
	SignPolicy []string
	// NoSafetyBackup says the local config turned safety backups off: a
	// destructive step's params then name every volume it frees as
	// unprotected.
	NoSafetyBackup bool
	// BindMountDirs are the host directories the local config lets
	// guests bind-mount (privileged.bind_mount_dirs), exactly.
	BindMountDirs []string
	// RootPassword says the local config names a root password file for
	// guests created from a template (the plan says so, never the value).
	RootPassword bool
	// Mounts maps a mountpoint to the file-system UUID mounted there, for
	// storage blocks; nil when the host's mounts were not read, in which
	// case every storage block is planned as a (idempotent) mount.
	Mounts map[string]string
}

// Diff computes the plan that brings live to desired. It is pure: the same
// inputs give the same plan, byte for byte (Created aside).
func Diff(desired *schema.Host, live *Live, in Inputs) *Plan {
	if in.Provenance == nil {
		in.Provenance = NoProvenance{}
	}
	b := &builder{
		plan: &Plan{
			FormatVersion: FormatVersion,
			Host:          desired.Name,
			Node:          live.Node,
			DesiredFile:   in.DesiredFile,
			DesiredDigest: in.DesiredDigest,
			Created:       in.Now.UTC().Truncate(time.Second),
			Steps:         []Step{},
			Unmanaged:     []int{},
			Errors:        []Error{},
			Warnings:      []Error{},
			Outstanding:   []Outstanding{},
			Drift:         []Drift{},
			Observed:      map[int]string{},
		},
		desired: desired,
		live:    live,
		in:      in,
	}
	b.storageMounts()
	b.goldens()
	managed := map[int]bool{}
	jobsByGuest := map[int][]schema.Job{}
	for _, j := range desired.Jobs {
		if j.Op != schema.OpGoldenRebuild { // goldens plans those
			jobsByGuest[j.VMID] = append(jobsByGuest[j.VMID], j)
		}
	}
	for i := range desired.Guests {
		g := &desired.Guests[i]
		managed[g.VMID] = true
		if lg := live.Guests[g.VMID]; lg != nil && lg.Observed {
			b.plan.Observed[g.VMID] = lg.Digest
		}
		gd := &guestDiff{b: b, g: g, lg: live.Guests[g.VMID]}
		gd.run()
		for _, j := range jobsByGuest[g.VMID] {
			gd.job(j)
		}
		gd.finish()
	}
	// Jobs on guests the file does not declare.
	var orphanVMIDs []int
	for vmid := range jobsByGuest {
		if !managed[vmid] {
			orphanVMIDs = append(orphanVMIDs, vmid)
		}
	}
	sort.Ints(orphanVMIDs)
	for _, vmid := range orphanVMIDs {
		gd := &guestDiff{b: b, lg: live.Guests[vmid], vmid: vmid}
		for _, j := range jobsByGuest[vmid] {
			gd.job(j)
		}
		gd.finish()
	}
	b.signers()
	for vmid := range live.Guests {
		if !managed[vmid] {
			b.plan.Unmanaged = append(b.plan.Unmanaged, vmid)
		}
	}
	sort.Ints(b.plan.Unmanaged)
	b.applyPolicy()
	return b.plan
}

// applyPolicy makes the benign steps the local policy names need a
// signature, saying so.
func (b *builder) applyPolicy() {
	for i := range b.plan.Steps {
		s := &b.plan.Steps[i]
		if s.Class != ops.Benign {
			continue
		}
		if hit := ops.PolicyHit(b.in.SignPolicy, s.Op, s.Kinds); hit != "" {
			s.Class, s.Policy = ops.Destructive, hit
			s.Reason = strings.TrimPrefix(s.Reason+"; ", "; ") + "needs a signature by local policy (gate.sign: " + hit + ")"
		}
	}
}

// Drift is a managed guest whose config changed outside felhom-converge
// since the last apply recorded its digest.
type Drift struct {
	Guest int       `json:"guest"`
	Since time.Time `json:"since"`
}

// String says what drifted, as Terraform reports drift.
func (d Drift) String() string {
	return fmt.Sprintf("guest %d changed outside felhom-converge since the last apply (%s)", d.Guest, d.Since.UTC().Format(time.RFC3339))
}

type builder struct {
	plan    *Plan
	desired *schema.Host
	live    *Live
	in      Inputs
	golden  map[string]*goldenImage // the golden images, by name (golden.go)
}

// newStep makes a step with canonical params, its class and action id.
func (b *builder) newStep(vmid int, name, op string, params any) Step {
	canon, err := trust.ParamsOf(op, params)
	if err != nil {
		panic(fmt.Sprintf("plan: %v", err)) // a params struct the planner filled wrongly
	}
	s := Step{Op: op, GuestName: name, Params: canon, Class: ops.ClassOf(op), DependsOn: []string{}}
	if vmid != 0 {
		v := vmid
		s.Guest = &v
	}
	s.ID = benignID(op, vmid, canon)
	if spec, ok := ops.Lookup(op); ok && spec.Class == ops.Destructive {
		s.Reason = spec.Loses
	}
	return s
}

// foreignArchive says why restoring archive into guest vmid needs a
// signature: the archive is a backup of another live guest (restoring it
// hands that tenant's data to another), or the local config names its
// golden images and this is none of them. "" when it restores unsigned.
func (b *builder) foreignArchive(vmid int, archive string) string {
	it, ok := b.live.Archives[archive]
	if !ok {
		return ""
	}
	owner := int(it.VMID)
	if len(b.in.GoldenVMIDs) > 0 && !slices.Contains(b.in.GoldenVMIDs, owner) {
		return fmt.Sprintf("restores %s, a backup of guest %d, which is not one of the golden images the local config names: hands that data to guest %d", archive, owner, vmid)
	}
	if lg := b.live.Guests[owner]; lg != nil && owner != vmid {
		return fmt.Sprintf("restores %s, a backup of the live guest %d (%s): hands that guest's data to guest %d", archive, owner, lg.Name, vmid)
	}
	return ""
}

func (b *builder) errorf(vmid int, rng *hcl.Range, format string, args ...any) {
	e := Error{Message: fmt.Sprintf(format, args...)}
	if vmid != 0 {
		v := vmid
		e.Guest = &v
	}
	if rng != nil && rng.Filename != "" {
		e.Range = fmt.Sprintf("%s:%d:%d", rng.Filename, rng.Start.Line, rng.Start.Column)
	}
	b.plan.Errors = append(b.plan.Errors, e)
}

func (b *builder) warnf(vmid int, rng *hcl.Range, format string, args ...any) {
	e := Error{Message: fmt.Sprintf(format, args...)}
	if vmid != 0 {
		v := vmid
		e.Guest = &v
	}
	e.Range = source(rng)
	b.plan.Warnings = append(b.plan.Warnings, e)
}

func rangeOf(rngs map[string]hcl.Range, attr string, fallback hcl.Range) *hcl.Range {
	if r, ok := rngs[attr]; ok {
		return &r
	}
	return &fallback
}

func source(r *hcl.Range) string {
	if r == nil || r.Filename == "" {
		return ""
	}
	return fmt.Sprintf("%s:%d:%d", r.Filename, r.Start.Line, r.Start.Column)
}

type hclRange = hcl.Range
