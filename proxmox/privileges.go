package proxmox

// ToolPrivileges is the tool's minimal token role: every privilege the
// API calls of felhom-converge need (reference §6), and nothing more. The
// install guide's `pveum role add` line (docs/operating.md), the
// simulator's seeded role and the selftest's role check all use exactly
// this list.
//
// Datastore.Allocate is there for vzdump's prune-backups parameter: the
// backups the tool takes on its own pass prune-backups=keep-all=1 so that
// they neither prune archives nor fail on a full retention.
var ToolPrivileges = []string{
	"VM.Audit", "VM.Allocate", "VM.Config.CPU", "VM.Config.Memory", "VM.Config.Disk",
	"VM.Config.Network", "VM.Config.Options", "VM.PowerMgmt", "VM.Snapshot",
	"VM.Snapshot.Rollback", "VM.Backup", "Datastore.Audit", "Datastore.AllocateSpace",
	"Datastore.Allocate", "Sys.Audit", "SDN.Use",
}

// KeepAllBackups is the prune-backups value of a backup that must not
// prune any archive and must not count against the storage's retention
// (see [VzdumpOptions.PruneBackups]).
const KeepAllBackups = "keep-all=1"
