package plan

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/felhom/felhom-converge/proxmox"
	"github.com/felhom/felhom-converge/proxmox/pvesim"
	"github.com/felhom/felhom-converge/schema"
	"github.com/felhom/felhom-converge/trust"
)

// simClient starts a simulator with extra guests and returns a client of it.
func simClient(t *testing.T, extra int) (*pvesim.Sim, *proxmox.Client) {
	t.Helper()
	sim, err := pvesim.New(pvesim.Options{ExtraGuests: extra, TaskDuration: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sim.Close() })
	endpoint, err := sim.Start("127.0.0.1:0", true)
	if err != nil {
		t.Fatal(err)
	}
	token, err := proxmox.ParseToken(sim.Token("converge"))
	if err != nil {
		t.Fatal(err)
	}
	c, err := proxmox.New(proxmox.Options{Endpoint: endpoint, Node: sim.Node(), Token: token, Fingerprint: sim.Fingerprint(), Concurrency: 4})
	if err != nil {
		t.Fatal(err)
	}
	return sim, c
}

func totalRequests(sim *pvesim.Sim) int {
	n := 0
	for _, v := range sim.Counters() {
		n += v
	}
	return n
}

// Observing N managed guests costs at most N + 5 requests: one list, one
// config read per guest, and snapshot or storage reads only where a step
// needs them.
func TestObserveCostsAtMostNPlus5Requests(t *testing.T) {
	sim, c := simClient(t, 40)
	var b strings.Builder
	b.WriteString("host \"pve-demo\" {\n  node = \"pve\"\n}\n")
	for vmid := 1000; vmid < 1040; vmid++ {
		fmt.Fprintf(&b, "guest \"g%d\" {\n  vmid = %d\n}\n", vmid, vmid)
	}
	b.WriteString(`guest "wiki" {
  vmid        = 102
  from_backup = "local:backup/vzdump-lxc-9000-2026_10_01-12_00_00.tar.zst"
  rootfs {
    storage = "local-lvm"
    size    = "8G"
  }
}
guest "web" {
  vmid = 100
  snapshot "pre-upgrade" {}
}
`)
	h := desired(t, strings.TrimPrefix(b.String(), "host \"pve-demo\" {\n  node = \"pve\"\n}\n"))
	before := totalRequests(sim)
	live, err := Observe(context.Background(), c, h, 4, nil)
	if err != nil {
		t.Fatal(err)
	}
	used := totalRequests(sim) - before
	managed := 41 // 40 extra guests and web; wiki does not exist yet
	if used > managed+5 || live.Requests != used {
		t.Errorf("observing %d managed guests took %d requests (observe counted %d), want at most %d", managed, used, live.Requests, managed+5)
	}
	if !live.Guests[100].SnapshotsRead || live.Guests[101].Observed {
		t.Error("snapshots only for guests that declare them; unmanaged guests are not read")
	}
	if _, ok := live.Archives["local:backup/vzdump-lxc-9000-2026_10_01-12_00_00.tar.zst"]; !ok {
		t.Error("the archive of a guest to create is looked up")
	}
	p := Diff(h, live, Inputs{DesiredFile: "host.hcl", Now: testNow})
	if len(p.Errors) != 0 {
		t.Fatalf("errors %v", p.Errors)
	}
}

// The JSON document is stable: a golden file of the demo's steps against
// the seed (ids, params, classes, dependencies). Now is fixed, and what
// differs per run (config digests, nonces) is masked.
func TestJSONGoldenFile(t *testing.T) {
	_, c := simClient(t, 0)
	h := loadFile(t, "../examples/demo.hcl")
	live, err := Observe(context.Background(), c, h, 4, nil)
	if err != nil {
		t.Fatal(err)
	}
	p := Diff(h, live, Inputs{DesiredFile: "examples/demo.hcl", DesiredDigest: "0123", Now: testNow})
	for i := range p.Steps {
		p.Steps[i].ObservedDigest = "" // the simulator's digests include per-run MACs
	}
	for v := range p.Observed {
		p.Observed[v] = "DIGEST"
	}
	dir := t.TempDir()
	if err := p.AttachRequests(RequestOptions{Dir: trust.NewRequestDir(dir, nil), Host: "pve-demo", HostID: testHostID, Now: testNow, DryRun: true}); err != nil {
		t.Fatal(err)
	}
	for i := range p.Steps {
		if p.Steps[i].Nonce != "" {
			p.Steps[i].ID, p.Steps[i].Request, p.Steps[i].Nonce = "REQUEST-ID", "REQUEST", "NONCE"
		}
	}
	got, err := p.JSON()
	if err != nil {
		t.Fatal(err)
	}
	golden := filepath.Join("testdata", "demo.plan.json")
	if os.Getenv("UPDATE_GOLDEN") != "" {
		if err := os.WriteFile(golden, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (UPDATE_GOLDEN=1 writes it)", err)
	}
	if string(got) != string(want) {
		t.Errorf("plan JSON differs from %s (UPDATE_GOLDEN=1 rewrites it):\n%s", golden, got)
	}
}

func loadFile(t *testing.T, path string) *schema.Host {
	t.Helper()
	src, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	h, diags := schema.Load(src, filepath.Base(path))
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	return h
}
