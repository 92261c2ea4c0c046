// Package conformance owns the conformance run (selftest --conformance):
// on a disposable guest it makes, it exercises every behaviour of Proxmox
// VE that plan and apply rely on, compares what the host did with what
// Proxmox's source says it does (for the host's release, 8.x or 9.x), and
// removes everything it made, even after a failed check or an interrupt.
//
// Each check is data (name, what was expected and from which Proxmox
// source function, what the host did, the result), rendered as a table on
// a terminal or as a JSON report for a bug report. The same expectations
// are what the simulator (proxmox/pvesim) models: the run passes against
// it completely, and CI runs it on every release the simulator plays.
//
// What the run made is recorded before it is made, in a small file in the
// state directory (conformance.json), so the next run removes what a
// killed one left. It only ever touches the guest it created, by the
// VMID it was given, and the backup archives it made of it, which carry
// its run id in their notes.
package conformance
