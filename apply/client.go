package apply

import (
	"context"
	"time"

	"github.com/felhom/felhom-converge/proxmox"
)

// Client is the part of *proxmox.Client apply uses; tests run it against
// the simulator.
type Client interface {
	Node() string
	RestoreLXC(ctx context.Context, vmid int, archive string, o proxmox.RestoreOptions) (proxmox.UPID, error)
	CreateLXC(ctx context.Context, vmid int, template string, o proxmox.CreateOptions) (proxmox.UPID, error)
	SetConfig(ctx context.Context, vmid int, set map[string]string, delete []string, digest string) error
	Resize(ctx context.Context, vmid int, disk, size, digest string) (proxmox.UPID, error)
	Start(ctx context.Context, vmid int) (proxmox.UPID, error)
	Shutdown(ctx context.Context, vmid int, o proxmox.ShutdownOptions) (proxmox.UPID, error)
	Reboot(ctx context.Context, vmid int, timeout time.Duration) (proxmox.UPID, error)
	Snapshot(ctx context.Context, vmid int, name, description string) (proxmox.UPID, error)
	Rollback(ctx context.Context, vmid int, name string, start bool) (proxmox.UPID, error)
	DeleteSnapshot(ctx context.Context, vmid int, name string) (proxmox.UPID, error)
	DestroyLXC(ctx context.Context, vmid int, o proxmox.DestroyOptions) (proxmox.UPID, error)
	Vzdump(ctx context.Context, vmid int, o proxmox.VzdumpOptions) (proxmox.UPID, error)

	WaitTask(ctx context.Context, upid proxmox.UPID, o proxmox.WaitOptions) error
	TaskStatusOnce(ctx context.Context, upid proxmox.UPID) (proxmox.TaskStatus, error)
	TaskLogTail(ctx context.Context, upid proxmox.UPID, n int) ([]string, error)
	ListTasks(ctx context.Context, f proxmox.TaskFilter) ([]proxmox.Task, error)

	DeleteVolume(ctx context.Context, volid string) (proxmox.UPID, error)

	GuestConfig(ctx context.Context, vmid int) (proxmox.GuestConfig, error)
	GuestPending(ctx context.Context, vmid int) ([]proxmox.PendingEntry, error)
	StorageContent(ctx context.Context, storage, content string, vmid int) ([]proxmox.StorageItem, error)
	ExtractConfig(ctx context.Context, volid string) (map[string]string, error)
	ListStorage(ctx context.Context) ([]proxmox.Storage, error)
	NodeStorage(ctx context.Context) ([]proxmox.NodeStorage, error)
	GuestStatus(ctx context.Context, vmid int) (proxmox.GuestStatus, error)
	ListSnapshots(ctx context.Context, vmid int) ([]proxmox.Snapshot, error)
}

var _ Client = (*proxmox.Client)(nil)

// Mounter mounts host storage by filesystem UUID: *proxmox.Privileged, or
// a simulated stand-in under --sim.
type Mounter interface {
	MountUSBByUUID(ctx context.Context, uuid, mountpoint string) error
}

var _ Mounter = (*proxmox.Privileged)(nil)

// Root is what apply runs as root on the host through the fenced path
// (*proxmox.Privileged; under --sim its runner is the simulated host):
// mounting host storage, creating the container of a golden image with
// features no API token may set, and adding bind mounts.
type Root interface {
	Mounter
	CreateGoldenLXC(ctx context.Context, g proxmox.GoldenLXC) error
	SetBindMount(ctx context.Context, b proxmox.BindMount) error
}

var _ Root = (*proxmox.Privileged)(nil)

// HostFS is the host's own file system as storage.mount checks it: what
// is mounted where, and how many entries a directory holds.
type HostFS interface {
	MountPoints() ([]string, error)
	DirEntries(path string) (int, error)
}

var _ HostFS = proxmox.LocalFS{}
