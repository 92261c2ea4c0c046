// Package ops is the one home of the operation names felhom-converge
// plans, signs, executes and audits, and of what each one does to data.
//
// The names are stable: signature requests, audit lines, saved plans and
// JSON plans carry them. schema (job ops), trust (requests and roles) and
// plan (steps) all take them from here, so a new op cannot be planned
// without a class, and an op nobody classified is destructive.
package ops

import (
	"sort"
)

// Class says whether a step may destroy or overwrite customer data.
type Class string

// The two classes. A destructive step runs only with an operator's
// signature (or with journal provenance proving the tool made the data).
const (
	Benign      Class = "benign"
	Destructive Class = "destructive"
)

// The op names.
const (
	GuestCreate      = "guest.create"
	GuestSet         = "guest.set"
	GuestStart       = "guest.start"
	GuestStop        = "guest.stop"
	GuestReboot      = "guest.reboot"
	GuestDestroy     = "guest.destroy"
	GuestRestoreOver = "guest.restore_over"
	GuestRebuild     = "guest.rebuild"
	DiskGrow         = "disk.grow"
	MountAdd         = "mount.add"
	MountDetach      = "mount.detach"
	VolumeFree       = "volume.free"
	SnapshotCreate   = "snapshot.create"
	SnapshotDelete   = "snapshot.delete"
	SnapshotRollback = "snapshot.rollback"
	BackupCreate     = "backup.create"
	BackupPrune      = "backup.prune"
	StorageMount     = "storage.mount"
	SignersRotate    = "signers.rotate"
)

// Kind is the JSON type of one parameter.
type Kind int

// The parameter kinds.
const (
	String  Kind = iota // a JSON string
	Bool                // true or false
	Strings             // an array of strings
	Object              // a JSON object
	Any                 // any JSON value (structured lists such as signers)
)

func (k Kind) String() string {
	switch k {
	case String:
		return "a string"
	case Bool:
		return "true or false"
	case Strings:
		return "an array of strings"
	case Object:
		return "a JSON object"
	default:
		return "a JSON value"
	}
}

// Param is one key an op's params may carry.
type Param struct {
	Name     string
	Kind     Kind
	Required bool
}

// Spec is everything the tool knows about one op.
type Spec struct {
	Name      string
	Class     Class
	HostLevel bool    // acts on the host, not one guest (the request says "guest: -")
	Params    []Param // every key its params may carry
	// Loses says, for a destructive op, what it destroys, in the words a
	// plan shows next to the step.
	Loses string
}

func p(name string, k Kind) Param   { return Param{Name: name, Kind: k} }
func req(name string, k Kind) Param { return Param{Name: name, Kind: k, Required: true} }

// specs is the table. Its order is the order Names lists.
var specs = []Spec{
	{Name: GuestCreate, Class: Benign, Params: []Param{req("archive", String), p("storage", String), p("config", Object), p("start", Bool)}},
	{Name: GuestSet, Class: Benign, Params: []Param{p("set", Object), p("delete", Strings), p("pending", Strings)}},
	{Name: GuestStart, Class: Benign},
	{Name: GuestStop, Class: Benign},
	{Name: GuestReboot, Class: Benign, Params: []Param{p("reason", Strings), p("job", String)}},
	{Name: GuestDestroy, Class: Destructive, Params: []Param{req("purge", Bool), req("volumes", Strings), p("snapshots", Strings)},
		Loses: "destroys the guest and frees every volume it owns"},
	{Name: GuestRestoreOver, Class: Destructive, Params: []Param{req("archive", String), req("volumes", Strings), p("snapshots", Strings), p("job", String)},
		Loses: "replaces the guest's volumes with the archive's contents"},
	{Name: GuestRebuild, Class: Destructive, Params: []Param{req("change", Object), req("volumes", Strings), p("snapshots", Strings), p("backup_storage", String)},
		Loses: "backs the guest up and restores it with the new setting, replacing its volumes"},
	{Name: DiskGrow, Class: Benign, Params: []Param{req("disk", String), req("from", String), req("to", String)}},
	{Name: MountAdd, Class: Benign, Params: []Param{req("slot", String), req("value", String)}},
	{Name: MountDetach, Class: Benign, Params: []Param{req("slot", String), req("path", String), p("volume", String)}},
	{Name: VolumeFree, Class: Destructive, Params: []Param{req("volume", String), req("size", String), p("slot", String)},
		Loses: "deletes the volume and its data"},
	{Name: SnapshotCreate, Class: Benign, Params: []Param{req("snapshot", String), p("description", String)}},
	{Name: SnapshotDelete, Class: Destructive, Params: []Param{req("snapshot", String), p("job", String)},
		Loses: "deletes the snapshot, a recovery point"},
	{Name: SnapshotRollback, Class: Destructive, Params: []Param{req("snapshot", String), p("job", String)},
		Loses: "throws away every write since the snapshot"},
	{Name: BackupCreate, Class: Benign, Params: []Param{p("storage", String), p("mode", String), p("job", String)}},
	{Name: BackupPrune, Class: Destructive, Params: []Param{req("storage", String), req("archives", Strings), p("mode", String), p("job", String)},
		Loses: "backs the guest up and prunes old archives by the storage's retention"},
	{Name: StorageMount, Class: Benign, HostLevel: true, Params: []Param{req("name", String), req("uuid", String), req("mountpoint", String)}},
	{Name: SignersRotate, Class: Destructive, HostLevel: true, Params: []Param{req("sha256", String), req("signers", Any)},
		Loses: "replaces the operators' trust root"},
}

var byName = func() map[string]*Spec {
	m := make(map[string]*Spec, len(specs))
	for i := range specs {
		m[specs[i].Name] = &specs[i]
	}
	return m
}()

// Names lists every op, in a stable order.
func Names() []string {
	out := make([]string, len(specs))
	for i, s := range specs {
		out[i] = s.Name
	}
	return out
}

// Destructives lists the destructive ops, sorted.
func Destructives() []string {
	var out []string
	for _, s := range specs {
		if s.Class == Destructive {
			out = append(out, s.Name)
		}
	}
	sort.Strings(out)
	return out
}

// Lookup returns the spec of op, if it is known.
func Lookup(op string) (Spec, bool) {
	s, ok := byName[op]
	if !ok {
		return Spec{}, false
	}
	return *s, true
}

// Known reports whether op is one of the ops.
func Known(op string) bool { _, ok := byName[op]; return ok }

// ClassOf returns op's class. An op the table does not know is
// destructive: nothing unclassified ever runs unsigned.
func ClassOf(op string) Class {
	if s, ok := byName[op]; ok {
		return s.Class
	}
	return Destructive
}

// HostLevel reports whether op acts on the host rather than one guest.
func HostLevel(op string) bool {
	s, ok := byName[op]
	return ok && s.HostLevel
}
