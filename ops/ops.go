// Package ops is the one home of the operation names felhom-converge
// plans, signs, executes and audits, and of what each one does to data.
//
// The names are stable: signature requests, audit lines, saved plans and
// JSON plans carry them. schema (job ops), trust (requests and roles) and
// plan (steps) all take them from here, so a new op cannot be planned
// without a class, and an op nobody classified is destructive.
package ops

import (
	"reflect"
	"sort"
	"strings"
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
	HostLevel bool // acts on the host, not one guest (the request says "guest: -")
	// Params is every key its params may carry, from the op's params
	// struct (paramsType).
	Params []Param
	// Loses says, for a destructive op, what it destroys, in the words a
	// plan shows next to the step.
	Loses string

	paramsType reflect.Type
}

func spec[P any](name string, class Class, loses string) Spec {
	t := reflect.TypeFor[P]()
	return Spec{Name: name, Class: class, Loses: loses, Params: paramsOf(t), paramsType: t}
}

func hostSpec[P any](name string, class Class, loses string) Spec {
	s := spec[P](name, class, loses)
	s.HostLevel = true
	return s
}

// specs is the table. Its order is the order Names lists.
var specs = []Spec{
	spec[GuestCreateParams](GuestCreate, Benign, ""),
	spec[GuestSetParams](GuestSet, Benign, ""),
	spec[GuestStartParams](GuestStart, Benign, ""),
	spec[GuestStopParams](GuestStop, Benign, ""),
	spec[GuestRebootParams](GuestReboot, Benign, ""),
	spec[GuestDestroyParams](GuestDestroy, Destructive, "destroys the guest and frees every volume it owns"),
	spec[GuestRestoreOverParams](GuestRestoreOver, Destructive, "replaces the guest's volumes with the archive's contents"),
	spec[GuestRebuildParams](GuestRebuild, Destructive, "backs the guest up and restores it with the new setting, replacing its volumes"),
	spec[DiskGrowParams](DiskGrow, Benign, ""),
	spec[MountAddParams](MountAdd, Benign, ""),
	spec[MountDetachParams](MountDetach, Benign, ""),
	spec[VolumeFreeParams](VolumeFree, Destructive, "deletes the volume and its data"),
	spec[SnapshotCreateParams](SnapshotCreate, Benign, ""),
	spec[SnapshotParams](SnapshotDelete, Destructive, "deletes the snapshot, a recovery point"),
	spec[SnapshotRollbackParams](SnapshotRollback, Destructive, "throws away every write since the snapshot"),
	spec[BackupCreateParams](BackupCreate, Benign, ""),
	spec[BackupPruneParams](BackupPrune, Destructive, "backs the guest up and prunes old archives by the storage's retention"),
	hostSpec[StorageMountParams](StorageMount, Benign, ""),
	hostSpec[SignersRotateParams](SignersRotate, Destructive, "replaces the operators' trust root"),
}

// paramsOf lists the JSON keys of a params struct, flattening embedded
// structs as encoding/json does.
func paramsOf(t reflect.Type) []Param {
	var out []Param
	for i := range t.NumField() {
		f := t.Field(i)
		if f.Anonymous && f.Type.Kind() == reflect.Struct {
			out = append(out, paramsOf(f.Type)...)
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		out = append(out, Param{Name: name, Kind: kindOf(f.Type), Required: f.Tag.Get("ops") == "required"})
	}
	return out
}

func kindOf(t reflect.Type) Kind {
	switch {
	case t.Kind() == reflect.String:
		return String
	case t.Kind() == reflect.Bool:
		return Bool
	case t.Kind() == reflect.Slice && t.Elem().Kind() == reflect.String:
		return Strings
	case t.Kind() == reflect.Map:
		return Object
	}
	return Any
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
