// Package pvesim simulates the Proxmox VE HTTP API of one node, for the
// demo and for every end-to-end test: PVE 8.4, or with Options.PVEVersion
// "9.1" PVE 9.1 where it differs (docs/simulator.md lists how). It shares
// only wire types (UPID) and the tool's role (proxmox.ToolPrivileges) with
// package proxmox. [Serve] runs it on its own ('felhom-converge sim
// serve'); [StartEmbedded] runs it inside a command for --sim DIR, with
// its test hooks.
//
// Fidelity comes first: shapes, errors and the order of checks follow
// pve-manager, pve-container and pve-http-server (see the project's
// reference notes), so that code which works against the simulator works
// against a real node:
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
//     Values are checked against Proxmox's formats: netN (name, bridge,
//     unicast hwaddr, ip/ip6 CIDR or dhcp/manual/auto, gw/gw6, mtu, rate,
//     tag, trunks), rootfs/mpN (no ".." in paths, mount options), unusedN
//     (a volume id), nameserver and searchdomain (stored joined by
//     spaces), prune-backups (keep-all alone), vzdump's notes-template
//     and the options that require storage. Booleans inside property
//     strings may be yes/on/true and no/off/false and are stored as 1/0.
//   - Privileges come from per-token ACLs on "/", "/vms/ID", "/storage/ID",
//     "/nodes/NODE" and "/sdn/zones/localnetwork/BRIDGE"; the most specific
//     entry applies, and a privilege-separated token gets the intersection
//     with its user's privileges.
//   - Mutations are worker tasks with real UPIDs, logs and exit statuses
//     ("OK", an error text, "WARNINGS: N"). Checks Proxmox makes before
//     forking fail the HTTP call; checks inside the worker fail the task.
//     Guest locks (create, backup, snapshot, snapshot-delete, rollback,
//     disk) are held while a task runs. Start, stop, shutdown, reboot,
//     resize, create and destroy hold the guest's config flock for their
//     whole task: a config write waits for it and fails after
//     Settings.ConfigLockTimeout (10 s) with "can't lock file
//     '/run/lock/lxc/pve-config-VMID.lock' - got timeout", and a snapshot,
//     snapshot delete or rollback waits in its task. vzdump takes the
//     node's backup lock: a second job waits, logging "trying to get
//     global lock", up to its lockwait and then ends with "unexpected
//     status". A destroy shows no lock while it frees the volumes. The task list has
//     Tasks.pm's two shapes: running tasks with status "RUNNING" and the
//     user as "user@realm!token", finished ones with user and tokenid
//     split, an endtime and the exit status.
//   - Config writes follow update_pct_config: every change goes to the
//     pending section as sent, pending values equal to the current ones
//     are dropped (cleanup_pending), then a running CT hotplugs what
//     Proxmox hotplugs (the fast-plug keys, memory, swap, CPU limits,
//     interfaces, new mount points) and keeps the rest pending, raw and
//     unallocated, until the next start; a stopped CT applies everything.
//     When any key fails the answer is a 400 naming the key (PVE 8.3 and
//     later) and the API writes nothing, but on a running CT an interface
//     hotplug (update_net) writes the config itself on its way, so what
//     was fast-plugged and the interfaces plugged before the failure stay
//     written (their sent values still pending); a volume allocated for a
//     key that succeeded stays allocated, referenced by nothing. rootfs is stored verbatim: no allocation, no size
//     rescan, no unusedN for the old volume; a guest whose rootfs names no
//     volume fails to start.
//   - Config digests are the SHA-1 of the rendered config file (snapshots
//     and pending section included) and change on every write that
//     changes the file.
//
// # What is modelled
//
// Following Proxmox VE 8.4 (pve-manager stable-8, pve-container 5.3.x on
// stable-bookworm, pve-guest-common 5.2, pve-storage stable-8,
// pve-http-server 5.2), for one node and LXC guests:
//
//   - Reads: version, nodes, node status, network, certificates, next
//     free vmid, permissions, cluster resources (with pvestatd's lag), the
//     LXC list, status/current, config (pending overlaid, current=1,
//     snapshot=NAME with its snaptime), pending (digest row included),
//     snapshots, interfaces of a running CT (PVE 8.1), storage.cfg,
//     storage status and content, prune dry runs, tasks (list, status,
//     log; the log of an unknown task is Proxmox's one line: 8.4's object,
//     9.1's list).
//   - Create from a template and restore from a vzdump archive: the
//     archive's config merged with the given keys (unique=1 takes every
//     interface from the archive with new MACs, ignoring the given ones),
//     volumes allocated in the order rootfs, mp0, mp1, ..., storage-only
//     restores, restore over an existing CT (force=1) that allocates the
//     new volumes before destroying the old ones and deletes the CT's
//     config on a later failure, VM.Allocate for a change to privileged,
//     SDN.Use on the bridge of each interface taken from the archive.
//     Destroy and restore over free the volumes of the current config and
//     the pending section only: a volume only a snapshot references, or
//     one of another guest, stays. Random MACs never repeat one of the
//     node's.
//   - start=1 on create, restore and rollback ends that task and forks a
//     separate vzstart task, which can fail on its own.
//   - Start (pending applied first, bridges and mount volumes checked),
//     stop, shutdown (refused under any lock), reboot (stops whatever the
//     lock, then the prestart hook refuses to start a CT locked other than
//     "mounted": it ends stopped with its pending changes applied),
//     destroy, resize (grow only; VM.Config.Options too), move_volume (stopped CTs, same guest),
//     snapshots (create, delete, rollback with ZFS's newest-only rule by
//     creation order, also within one second, description), vzdump (modes, stop mode for a stopped CT, archive
//     names in local time, notes, protected, retention pruning with
//     pve-storage's marking, and the retention limit a remove=0 or
//     protected=1 backup must stay within; keep-all=1 neither prunes nor
//     counts; a second backup in the same second replaces the first's
//     archive), prune-backups (a retention given or configured), removal
//     of storage content (an imgdel task "OWNER@STORAGE" that frees any
//     volume, used or not, and refuses a protected backup in the task).
//   - Interfaces are checked against the host's bridges (vmbr0, vmbr1,
//     MTU 1500) where Proxmox checks them: an MTU above the bridge's fails
//     the write, an unknown bridge fails a stopped CT's write after it was
//     saved, a running CT's hotplug (nothing written) and the start.
//   - Storage: dir (thick: capacity counts every volume's size), lvmthin
//     (over-provisions; used is the data written, a fixed fraction of each
//     volume's size) and zfspool; Sim.FillStorage makes one full, so that
//     new volumes, growth and thin snapshots (a snapshot task, a
//     snapshot-mode backup) fail in the task with the storage's error. A
//     dir storage with is_mountpoint is active only while its path is
//     mounted (Sim.SetMounted): inactive, it lists with zero sizes, its
//     content cannot be read, and a backup to it fails before it starts.
//     Sim.AddStorage adds storages. The content listing shows each volume
//     only to a caller check_volume_access lets see it.
//   - Proxmox Backup Server storage (pbs, shared): a backup is the
//     snapshot STORAGE:backup/ct/VMID/TIME (UTC, PBSPlugin print_volid),
//     made with proxmox-backup-client's log lines; the server refuses a
//     snapshot no newer than the group's last; the content lists format
//     pbs-ct, notes and protection; vzdump prunes through
//     "proxmox-backup-client prune"; a protected snapshot cannot be
//     forgotten; restores read it without tar.
//   - vzdump's stop mode stops a running CT and starts it again (which
//     applies its pending changes); snapshot mode needs snapshots only of
//     the volumes the backup includes.
//
// # What is not modelled
//
// QEMU VMs, clusters, HA, replication, pools, SDN zones other than
// localnetwork, firewall configs, bind mounts and devices (no API token
// may set them; Sim.Pct plays pct create and set as root@pam for the
// fenced root path), root@pam otherwise, tickets and CSRF, templates made from CTs,
// clone, migration, moving a volume to another CT, suspend/resume,
// bandwidth limits, backup providers, PBS encryption, namespaces and
// verification, the contents of guests (archives hold the config only),
// memory hotplug limits, and real disk usage inside guests. A vzdump job
// of several guests locks them all when it starts (Proxmox locks each in
// turn) and does not wait for a guest's config flock; an interface
// hotplug fails only on a missing bridge (not on an address the guest
// refuses). The LVM and ZFS texts of a full storage and a failed resize,
// and the PBS client's errors, follow the messages' prefixes; their own
// wording varies between versions.
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
// privileged, so without an unprivileged key); user felhom@pve with the
// tool's role (proxmox.ToolPrivileges) on "/", token
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
// [Sim.FailNthAfter] lets it take effect and then answers the error (or
// drops the connection), as a proxy that timed out waiting for pvedaemon;
// [Sim.FailTask] makes the next task of a type end with a given exit
// status (a failed rollback or snapshot delete leaves the locks and
// snapshot state Proxmox leaves); [Sim.Hold] lets a request take effect and then holds its
// response until released, so a test can kill a client between the
// server's effect and the client seeing the answer; [Sim.Counters] counts
// requests per method and path template; [Sim.FillStorage] makes a
// storage full; [Sim.SetSettings] bounds the waits for locks. With
// Options.EnableAdmin the same is available over HTTP
// under /_sim/ (a path real Proxmox does not have), to callers with one of
// the simulator's API tokens whose Host and Origin name the loopback
// address it serves.
package pvesim
