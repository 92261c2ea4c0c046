// Package schema turns a host's desired-state HCL into typed values, with
// diagnostics that name file, line and column. It never talks to Proxmox.
package schema
