package pvesim_test

// The real proxmox.Client against the simulator: the proof that both
// sides agree on shapes, errors and task semantics.

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/felhom/felhom-converge/proxmox"
	"github.com/felhom/felhom-converge/proxmox/pvesim"
)

// startClient runs a simulator over TLS and returns a client pinned to its
// fingerprint, authenticated with the named token.
func startClient(t *testing.T, opts pvesim.Options, tokenName string) (*pvesim.Sim, *proxmox.Client) {
	t.Helper()
	a := startSim(t, opts)
	return a.sim, clientFor(t, a, tokenName)
}

func clientFor(t testing.TB, a *rawAPI, tokenName string) *proxmox.Client {
	t.Helper()
	tok, err := proxmox.ParseToken(a.sim.Token(tokenName))
	if err != nil {
		t.Fatal(err)
	}
	c, err := proxmox.New(proxmox.Options{
		Endpoint:    strings.TrimSuffix(a.base, "/api2/json"),
		Node:        a.sim.Node(),
		Token:       tok,
		Fingerprint: a.sim.Fingerprint(),
	})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

var fastWait = proxmox.WaitOptions{MinInterval: 5 * time.Millisecond, MaxInterval: 20 * time.Millisecond, Timeout: 10 * time.Second}

func waitOK(t *testing.T, c *proxmox.Client, u proxmox.UPID, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("start task: %v", err)
	}
	if err := c.WaitTask(context.Background(), u, fastWait); err != nil {
		t.Fatalf("task %s: %v", u, err)
	}
}

func TestClientReads(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	_, c := startClient(t, pvesim.Options{}, "converge")
	v, err := c.Version(ctx)
	if err != nil || v.Version != "8.4.1" {
		t.Fatalf("version %+v %v", v, err)
	}
	if _, err := c.Nodes(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := c.NodeStatus(ctx); err != nil {
		t.Fatal(err)
	}
	list, err := c.ListLXC(ctx)
	if err != nil || len(list) != 3 {
		t.Fatalf("ListLXC: %d %v", len(list), err)
	}
	res, err := c.ClusterResources(ctx)
	if err != nil || len(res) != 3 {
		t.Fatalf("ClusterResources: %d %v", len(res), err)
	}
	cfg, err := c.GuestConfig(ctx, 100)
	if err != nil {
		t.Fatal(err)
	}
	if m, ok := cfg.Memory(); !ok || m != 1024 || len(cfg.Digest) != 40 {
		t.Errorf("config memory %d digest %q", m, cfg.Digest)
	}
	if _, err := c.GuestStatus(ctx, 100); err != nil {
		t.Fatal(err)
	}
	if _, err := c.GuestConfig(ctx, 999); !proxmox.IsNotFound(err) {
		t.Errorf("missing CT: %v, want IsNotFound", err)
	}
	snaps, err := c.ListSnapshots(ctx, 100)
	if err != nil || len(snaps) != 2 {
		t.Fatalf("snapshots %+v %v", snaps, err)
	}
	if _, err := c.ListStorage(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := c.NodeStorage(ctx); err != nil {
		t.Fatal(err)
	}
	items, err := c.StorageContent(ctx, "local", "backup", 0)
	if err != nil || len(items) != 4 {
		t.Fatalf("backups %d %v", len(items), err)
	}
	nets, err := c.Network(ctx, "bridge")
	if err != nil || len(nets) != 2 {
		t.Fatalf("network %d %v", len(nets), err)
	}
}

func TestClientSetConfigDigest(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	_, c := startClient(t, pvesim.Options{}, "converge")
	cfg, err := c.GuestConfig(ctx, 110)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.SetConfig(ctx, 110, map[string]string{"memory": "768"}, nil, cfg.Digest); err != nil {
		t.Fatal(err)
	}
	// The digest read before the write is stale now: a lost update is refused.
	err = c.SetConfig(ctx, 110, map[string]string{"memory": "1024"}, nil, cfg.Digest)
	if !proxmox.IsDigestMismatch(err) {
		t.Fatalf("stale digest: %v, want a digest mismatch", err)
	}
	var api *proxmox.APIError
	if !errors.As(err, &api) || api.Status != 500 {
		t.Fatalf("stale digest: %#v", err)
	}
}

func TestClientPermissionErrors(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	_, c := startClient(t, pvesim.Options{}, "readonly")
	err := c.SetConfig(ctx, 100, map[string]string{"memory": "2048"}, nil, "")
	var api *proxmox.APIError
	if !errors.As(err, &api) || api.Status != 403 || api.ACLPath != "/vms/100" || !strings.Contains(api.Privilege, "VM.Config.Memory") {
		t.Fatalf("403: %#v", err)
	}
	if _, err := c.Start(ctx, 110); !proxmox.IsPermissionDenied(err) {
		t.Fatalf("start with the read-only token: %v", err)
	}
}

func TestClientLifecycle(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	_, c := startClient(t, pvesim.Options{}, "converge")
	golden := "local:backup/vzdump-lxc-9000-2026_10_01-12_00_00.tar.zst"

	u, err := c.RestoreLXC(ctx, 150, golden, proxmox.RestoreOptions{Storage: "local-lvm", Config: map[string]string{"hostname": "blog"}})
	waitOK(t, c, u, err)
	u, err = c.Start(ctx, 150)
	waitOK(t, c, u, err)
	u, err = c.Snapshot(ctx, 150, "first", "before anything")
	waitOK(t, c, u, err)
	cfg, _ := c.GuestConfig(ctx, 150)
	u, err = c.Resize(ctx, 150, "rootfs", "+1G", cfg.Digest)
	waitOK(t, c, u, err)
	if _, err := c.Resize(ctx, 150, "rootfs", "1G", ""); err == nil || !strings.Contains(err.Error(), "unable to shrink disk size") {
		t.Errorf("shrink: %v", err)
	}
	u, err = c.Rollback(ctx, 150, "first", false)
	waitOK(t, c, u, err)
	u, err = c.DeleteSnapshot(ctx, 150, "first")
	waitOK(t, c, u, err)
	u, err = c.Vzdump(ctx, 150, proxmox.VzdumpOptions{Storage: "local", Compress: "zstd"})
	waitOK(t, c, u, err)
	items, err := c.StorageContent(ctx, "local", "backup", 150)
	if err != nil || len(items) != 1 || !strings.HasSuffix(items[0].VolID, ".tar.zst") {
		t.Fatalf("backup of 150: %+v %v", items, err)
	}
	u, err = c.Start(ctx, 150)
	waitOK(t, c, u, err)
	u, err = c.Shutdown(ctx, 150, proxmox.ShutdownOptions{Timeout: 30 * time.Second})
	waitOK(t, c, u, err)
	u, err = c.DestroyLXC(ctx, 150, proxmox.DestroyOptions{Purge: true, DestroyUnreferencedDisks: true})
	waitOK(t, c, u, err)
	if _, err := c.GuestConfig(ctx, 150); !proxmox.IsNotFound(err) {
		t.Fatalf("after destroy: %v", err)
	}
	tasks, err := c.ListTasks(ctx, proxmox.TaskFilter{VMID: 150})
	if err != nil || len(tasks) < 9 {
		t.Fatalf("tasks of 150: %d %v", len(tasks), err)
	}
}

func TestClientWaitTaskOutcomes(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	// Tasks run long enough for a second call to meet the first one's lock.
	sim, c := startClient(t, pvesim.Options{TaskDuration: time.Second}, "converge")

	sim.FailTask("vzstart", "110", "WARNINGS: 1")
	u, err := c.Start(ctx, 110)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.WaitTask(ctx, u, fastWait); !proxmox.IsTaskWarnings(err) {
		t.Fatalf("warnings: %v", err)
	}

	// A lock seen inside the worker fails the task, not the POST.
	long, err := c.Vzdump(ctx, 101, proxmox.VzdumpOptions{})
	if err != nil {
		t.Fatal(err)
	}
	u, err = c.Snapshot(ctx, 101, "racing", "")
	if err != nil {
		t.Fatalf("snapshot POST must succeed and fail in the task: %v", err)
	}
	err = c.WaitTask(ctx, u, fastWait)
	var te *proxmox.TaskError
	if !errors.As(err, &te) {
		t.Fatalf("snapshot during backup: %v", err)
	}
	if lock, ok := proxmox.IsLocked(err); !ok || lock != "backup" || te.ExitStatus != "CT is locked (backup)" {
		t.Errorf("task error %+v", te)
	}
	// PUT config sees the same lock synchronously.
	if lock, ok := proxmox.IsLocked(c.SetConfig(ctx, 101, map[string]string{"cores": "4"}, nil, "")); !ok || lock != "backup" {
		t.Errorf("set config during backup: lock %q %v", lock, ok)
	}
	waitOK(t, c, long, nil)

	// Authorization can fail inside the worker, after a successful POST.
	sim.FailTask("vzstop", "", "Permission check failed (/vms/100, VM.PowerMgmt)")
	u, err = c.Stop(ctx, 100)
	if err != nil {
		t.Fatal(err)
	}
	err = c.WaitTask(ctx, u, fastWait)
	if !errors.As(err, &te) || te.ACLPath != "/vms/100" || te.Privilege != "VM.PowerMgmt" {
		t.Fatalf("permission failure at task time: %v", err)
	}
}

// Permissions reports the effective privileges on a path, propagated from
// "/" and intersected with the user's for a privilege-separated token.
func TestClientPermissions(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		token string
		path  string
		has   []string
		lacks []string
	}{
		{"converge", "/vms", []string{"VM.Allocate", "VM.Snapshot", "VM.Audit"}, []string{"Sys.Modify"}},
		{"converge", "/nodes/pve", []string{"Sys.Audit"}, nil},
		{"readonly", "/vms", []string{"VM.Audit"}, []string{"VM.Snapshot", "VM.Allocate"}},
	} {
		_, c := startClient(t, pvesim.Options{}, tc.token)
		privs, err := c.Permissions(ctx, tc.path)
		if err != nil {
			t.Fatalf("%s %s: %v", tc.token, tc.path, err)
		}
		for _, p := range tc.has {
			if !privs[p] {
				t.Errorf("token %s on %s: %s missing from %v", tc.token, tc.path, p, privs)
			}
		}
		for _, p := range tc.lacks {
			if privs[p] {
				t.Errorf("token %s on %s: has %s", tc.token, tc.path, p)
			}
		}
	}
}

// TestClientGuestInterfaces reads a running guest's interfaces and a
// stopped one's (none).
func TestClientGuestInterfaces(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	_, c := startClient(t, pvesim.Options{}, "converge")
	ifs, err := c.GuestInterfaces(ctx, 101)
	if err != nil || len(ifs) != 2 {
		t.Fatalf("interfaces of 101: %+v %v", ifs, err)
	}
	eth0 := ifs[1]
	if eth0.Name != "eth0" || eth0.HardwareAddress != "bc:24:11:5e:7a:02" || len(eth0.IPAddresses) != 2 ||
		eth0.IPAddresses[0].Address != "192.168.1.21" || eth0.IPAddresses[0].Prefix != 24 || eth0.IPAddresses[0].Type != "inet" {
		t.Errorf("eth0 %+v", eth0)
	}
	if ifs, err := c.GuestInterfaces(ctx, 110); err != nil || len(ifs) != 0 {
		t.Errorf("interfaces of the stopped 110: %+v %v", ifs, err)
	}
}

// A snapshot's config names the volumes it keeps; an unknown snapshot is
// Proxmox's error.
func TestClientSnapshotConfig(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	_, c := startClient(t, pvesim.Options{}, "converge")
	conf, err := c.SnapshotConfig(ctx, 100, "pre-upgrade")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(conf.Values["rootfs"], "local-lvm:vm-100-disk-0,") {
		t.Errorf("snapshot config rootfs %q", conf.Values["rootfs"])
	}
	if _, err := c.SnapshotConfig(ctx, 100, "nosuch"); err == nil || !strings.Contains(err.Error(), "snapshot 'nosuch' does not exist") {
		t.Errorf("unknown snapshot: %v", err)
	}
	if _, err := c.SnapshotConfig(ctx, 100, "current"); err == nil {
		t.Error("the current pseudo-snapshot is not a snapshot name")
	}
}
