// Package pvesim simulates the Proxmox VE 8 HTTP API of one node, for the
// demo and for every end-to-end test. It shares only wire types (UPID)
// with the client in package proxmox.
//
// Fidelity comes first: shapes, errors and the order of checks follow
// pve-manager, pve-container and pve-http-server (see the project's
// reference notes), so that code which works against the simulator works
// against a real PVE 8 node:
//
//   - HTTP/1.1 only, TLS with a self-signed certificate made once per state
//     (so its fingerprint stays stable), loopback addresses only.
//   - Envelopes {"data": ...}; errors carry Proxmox's message in the status
//     line's reason phrase ("HTTP/1.1 500 CT is locked (backup)") and in the
//     8.4 body {"data":null,"message":"...\n"}, plus "errors" for 400. A 401
//     has an empty body.
//   - Checks run in Proxmox's order: 501 unknown method, 401 token, 403
//     declarative permission, 400 schema (unknown parameters refused, form
//     booleans 0/1), then the handler with its own per-key 403s and 500s.
//   - Privileges come from per-token ACLs on "/", "/vms/ID", "/storage/ID",
//     "/nodes/NODE" and "/sdn/zones/localnetwork/BRIDGE"; the most specific
//     entry applies, and a privilege-separated token gets the intersection
//     with its user's privileges.
//   - Mutations are worker tasks with real UPIDs, logs and exit statuses
//     ("OK", an error text, "WARNINGS: N"). Checks Proxmox makes before
//     forking fail the HTTP call; checks inside the worker fail the task.
//     Guest locks (create, backup, snapshot, snapshot-delete, rollback,
//     destroyed, disk) are held while a task runs. The task list has
//     Tasks.pm's two shapes: running tasks with status "RUNNING" and the
//     user as "user@realm!token", finished ones with user and tokenid
//     split, an endtime and the exit status.
//   - A config change Proxmox cannot apply (a new volume the storage
//     cannot hold) stays in the pending section and the PUT answers 400
//     naming the key, as vmconfig_apply_pending does.
//   - Config digests are the SHA-1 of the rendered config file (snapshots
//     and pending section included) and change on every write.
//
// # State
//
// With Options.StatePath the host lives in a JSON file, written atomically
// after every change. Several simulators may share one file (two CLI
// processes with the same --sim DIR, or sim serve and a --sim run): a lock
// file beside it serialises their requests, each reloads the file when
// another has changed it, and a task whose process went away is finished
// by the next one that loads it, as a real worker would have finished
// while nobody was watching.
//
// # Default seed
//
// A new state is seeded with node "pve" (PVE 8.4.1); storage "local" (dir,
// /var/lib/vz, backup/iso/vztmpl, 100 GiB, prune-backups keep-last=2) with
// the Debian 12 template, vzdump archives of guests 100 and 101 and the
// protected golden image local:backup/vzdump-lxc-9000-2026_10_01-12_00_00.tar.zst;
// storage "local-lvm" (lvmthin pve/data, images/rootdir, 400 GiB); bridges
// vmbr0 and vmbr1; guests 100 "web" (running, snapshot "pre-upgrade"),
// 101 "files" (running, mp0 /srv/share) and 110 "legacy" (stopped,
// privileged); user felhom@pve with the tool's minimal role on "/", token
// felhom@pve!converge (same role) and felhom@pve!readonly (VM.Audit,
// Datastore.Audit, Sys.Audit), both with privilege separation and random
// secrets persisted with the state. Options.ExtraGuests adds guests from
// vmid 1000 for scale tests.
//
// # Example
//
//	sim, err := pvesim.New(pvesim.Options{StatePath: "host.json", TaskDuration: 50 * time.Millisecond})
//	if err != nil { ... }
//	defer sim.Close()
//	endpoint, err := sim.Start("127.0.0.1:0", true) // "https://127.0.0.1:PORT"
//	token := sim.Token("converge")                  // "felhom@pve!converge=SECRET"
//	pin := sim.Fingerprint()                        // "AB:CD:..."
//
// # Fault injection
//
// [Sim.FailNth] fails the nth matching request before it has any effect;
// [Sim.FailTask] makes the next task of a type end with a given exit
// status; [Sim.Hold] lets a request take effect and then holds its
// response until released, so a test can kill a client between the
// server's effect and the client seeing the answer; [Sim.Counters] counts
// requests per method and path template. With Options.EnableAdmin the same
// is available over HTTP under /_sim/ (a path real Proxmox does not have).
package pvesim
