// Package pvesim simulates the Proxmox VE 8 HTTP API of one node for tests
// and the demo: token auth with per-token privileges, async tasks with real
// UPIDs and logs, guest locks, config digests and Proxmox's own refusals.
// It shares only wire types with the client in package proxmox.
package pvesim
