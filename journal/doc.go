// Package journal owns the state directory: the run lock, the append-only
// crash-safe log, provenance and consumed nonces. It never uses the network.
package journal
