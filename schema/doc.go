// Package schema turns a host's desired-state HCL into typed, canonical
// values for the planner, with diagnostics that name file, line and column.
// It never talks to Proxmox and imports none of the project's other
// packages; it reads the file system only in [ReadFile] and the functions
// that load a file by name.
//
// Commands load a desired-state file with [LoadBudgeted] (and format one
// with [FormatBudgeted]): it reads the file and runs [Load] under a load
// budget ([DefaultBudget]: 10 s of CPU, 30 s, 256 MiB of heap) that ends
// the process when a file goes over it. [Load] itself works on bytes;
// [Format] and [Diff] serve the fmt command. [DesiredFiles] expands the
// directories a command is given to their *.hcl files. Diagnostics are
// rendered here too: as text with a bounded source snippet
// ([DiagPrinter]) or as validate's JSON document ([WriteDiagsJSON]).
// A file looks like this:
//
//	host "pve-demo" {
//	  node = "pve"
//	}
//
//	locals {
//	  golden = "local:backup/vzdump-lxc-9000-2026_10_01-12_00_00.tar.zst"
//	}
//
//	guest "wiki" {
//	  vmid        = 102
//	  from_backup = local.golden
//	  memory      = "1G"
//	  tags        = ["prod", "wiki"]
//
//	  rootfs {
//	    storage = "local-lvm"
//	    size    = "8G"
//	  }
//
//	  network "eth0" {
//	    bridge = "vmbr0"
//	    ip     = "dhcp"
//	  }
//	}
//
//	job "rollback-web" {
//	  op       = "snapshot.rollback"
//	  guest    = "web"
//	  snapshot = "pre-upgrade"
//	}
//
// # Untrusted input
//
// The file comes from the hub, so it is treated as untrusted: input over
// [MaxFileSize] or not UTF-8, with too many tokens, number literals out of
// range or strings the parser would take quadratic time over is refused
// before parsing (limits.go), unknown blocks and
// attributes are errors (with "did you mean" suggestions), every value is
// type-checked without silent conversion, and every expression is bounded
// in what it may build before it is evaluated (locals that double a string
// or a list at each step would otherwise ask for terabytes). Nothing in the
// file can mark a guest, snapshot or volume as created by the tool or as
// scratch; tags are data only. The signers block states the desired trust
// root; the live one changes only through a signed step elsewhere.
//
// # Canonical values
//
// Memory and swap are whole MiB: a number is MiB, a string carries a binary
// unit (512M, 2G, 2GiB, 2147483648B); a value that is not MiB-aligned is
// rounded up once with a warning, so plans converge in one pass. Disk sizes
// need a unit and are bytes ([Size]), rendered as Proxmox writes them.
// Tags are lower-cased, sorted and de-duplicated, MAC addresses upper-cased.
// Unset optional fields stay unset and mean "leave the live value alone".
package schema
