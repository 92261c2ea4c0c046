package conformance_test

import (
	"bytes"
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/felhom/felhom-converge/conformance"
	"github.com/felhom/felhom-converge/proxmox"
	"github.com/felhom/felhom-converge/proxmox/pvesim"
)

// simHost is a simulator of the release on loopback and a client of the
// service's token.
func simHost(t *testing.T, release string) (*pvesim.Sim, *proxmox.Client) {
	t.Helper()
	sim, err := pvesim.New(pvesim.Options{StatePath: filepath.Join(t.TempDir(), "host.json"), TaskDuration: 100 * time.Millisecond,
		PVEVersion: release, EnableAdmin: true})
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
	c, err := proxmox.New(proxmox.Options{Endpoint: endpoint, Node: sim.Node(), Token: token, Fingerprint: sim.Fingerprint()})
	if err != nil {
		t.Fatal(err)
	}
	return sim, c
}

func runOn(t *testing.T, c *proxmox.Client, o conformance.Options) (*conformance.Report, error) {
	t.Helper()
	o.Client, o.Poll = c, 20*time.Millisecond
	if o.VMID == 0 {
		o.VMID = 990
	}
	if o.StateDir == "" {
		o.StateDir = filepath.Join(t.TempDir(), "state")
	}
	return conformance.Run(context.Background(), o)
}

// requireClean fails unless the simulated host holds nothing of the run:
// no guest 990, no archive of it.
func requireClean(t *testing.T, c *proxmox.Client) {
	t.Helper()
	ctx := context.Background()
	if _, err := c.GuestStatus(ctx, 990); !proxmox.IsNotFound(err) {
		t.Errorf("guest 990 is still there: %v", err)
	}
	for _, s := range []string{"local", "local-lvm"} {
		items, err := c.StorageContent(ctx, s, "", 990)
		if err != nil {
			t.Fatal(err)
		}
		for _, it := range items {
			t.Errorf("left on %s: %s", s, it.VolID)
		}
	}
}

// Against the simulator, on each release it plays, every check passes,
// from a template and from an archive, and the run leaves nothing behind.
func TestSimulatorConforms(t *testing.T) {
	for _, release := range pvesim.PVEVersions() {
		for _, from := range []string{"", "local:backup/vzdump-lxc-9000-2026_10_01-12_00_00.tar.zst"} {
			name := release + " template"
			if from != "" {
				name = release + " archive"
			}
			t.Run(name, func(t *testing.T) {
				t.Parallel()
				_, c := simHost(t, release)
				rep, err := runOn(t, c, conformance.Options{From: from})
				if err != nil {
					t.Fatal(err)
				}
				for _, ck := range rep.Checks {
					if ck.Result != conformance.Pass {
						t.Errorf("%s: %s: %s\n  expected: %s", ck.Name, ck.Result, ck.Actual, ck.Expected)
					}
				}
				if !rep.Passed || len(rep.Checks) < 30 || rep.PVE.Release != release || !rep.PVE.Supported {
					t.Errorf("report: passed %v, %d checks, release %s", rep.Passed, len(rep.Checks), rep.PVE.Release)
				}
				requireClean(t, c)
			})
		}
	}
}

// A guest with the VMID is refused before anything is made.
func TestRefusesAnExistingGuest(t *testing.T) {
	t.Parallel()
	_, c := simHost(t, "")
	_, err := runOn(t, c, conformance.Options{VMID: 101})
	if err == nil || !strings.Contains(err.Error(), "guest 101 (files) exists on node pve") {
		t.Fatalf("VMID 101: %v", err)
	}
}

// A fault on one call makes that check diverge; the others still run and
// the cleanup removes everything.
func TestFaultDivergesAndCleansUp(t *testing.T) {
	t.Parallel()
	sim, c := simHost(t, "")
	if err := sim.FailNth("PUT", "/nodes/{node}/lxc/{vmid}/resize", 1, 500, "simulated fault"); err != nil {
		t.Fatal(err)
	}
	rep, err := runOn(t, c, conformance.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Passed || len(rep.Diverged) != 1 || rep.Diverged[0] != "resize grows" {
		t.Errorf("diverged %v", rep.Diverged)
	}
	var text bytes.Buffer
	rep.WriteSummary(&text)
	if !strings.Contains(text.String(), "1 diverged, 0 skipped (resize grows)") {
		t.Errorf("summary:\n%s", text.String())
	}
	requireClean(t, c)
}

// An interrupt skips the checks not run yet, removes what the run made
// all the same, and returns the context's error.
func TestInterruptCleansUp(t *testing.T) {
	t.Parallel()
	_, c := simHost(t, "9.1")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	o := conformance.Options{Client: c, VMID: 990, Poll: 20 * time.Millisecond, StateDir: filepath.Join(t.TempDir(), "state"),
		Check: func(ck conformance.Check) {
			if ck.Name == "mount add hot-plugs" {
				cancel()
			}
		}}
	rep, err := conformance.Run(ctx, o)
	if !errors.Is(err, context.Canceled) || rep == nil || !rep.Interrupted || rep.Passed {
		t.Fatalf("interrupted run: %v %+v", err, rep)
	}
	last := rep.Checks[len(rep.Checks)-1]
	if last.Name != "cleanup" || last.Result != conformance.Pass || rep.Checks[len(rep.Checks)-2].Result != conformance.Skipped {
		t.Errorf("the last checks: %+v, %+v", rep.Checks[len(rep.Checks)-2], last)
	}
	requireClean(t, c)
	if _, err := os.Stat(filepath.Join(o.StateDir, conformance.RecordFile)); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("the record stayed: %v", err)
	}
}

// What a killed run left (its record and its guest) is removed by the
// next run before it begins; a guest that does not carry the run's
// description is never touched.
func TestNextRunRemovesWhatAKilledOneLeft(t *testing.T) {
	t.Parallel()
	_, c := simHost(t, "")
	state := filepath.Join(t.TempDir(), "state")
	ctx := context.Background()
	// The killed run: its record, its guest (made from the golden image
	// with the run's description) and an archive with its notes.
	if err := os.MkdirAll(state, 0o700); err != nil {
		t.Fatal(err)
	}
	rec := `{"run":"20261201T000000-deadbeef","vmid":991,"node":"pve","started":"2026-12-01T00:00:00Z","backup_storage":"local"}`
	if err := os.WriteFile(filepath.Join(state, conformance.RecordFile), []byte(rec), 0o600); err != nil {
		t.Fatal(err)
	}
	upid, err := c.RestoreLXC(ctx, 991, "local:backup/vzdump-lxc-9000-2026_10_01-12_00_00.tar.zst", proxmox.RestoreOptions{Storage: "local-lvm",
		Config: map[string]string{"description": "felhom-converge conformance run 20261201T000000-deadbeef: a disposable guest"}})
	if err != nil || c.WaitTask(ctx, upid, proxmox.WaitOptions{}) != nil {
		t.Fatal(err)
	}
	upid, err = c.Vzdump(ctx, 991, proxmox.VzdumpOptions{Storage: "local", PruneBackups: proxmox.KeepAllBackups,
		NotesTemplate: "felhom-converge conformance run 20261201T000000-deadbeef, guest {{vmid}}"})
	if err != nil || c.WaitTask(ctx, upid, proxmox.WaitOptions{}) != nil {
		t.Fatal(err)
	}
	rep, err := runOn(t, c, conformance.Options{StateDir: state})
	if err != nil || !rep.Passed {
		t.Fatalf("the next run: %v", err)
	}
	if len(rep.Earlier) != 2 || rep.Earlier[0] != "guest 991" {
		t.Errorf("removed what the killed run left: %v", rep.Earlier)
	}
	if _, err := c.GuestStatus(ctx, 991); !proxmox.IsNotFound(err) {
		t.Errorf("guest 991 is still there: %v", err)
	}
	// A record whose guest is someone else's: nothing is touched, and
	// the run refuses to begin.
	rec = `{"run":"20261202T000000-feedface","vmid":101,"node":"pve","started":"2026-12-02T00:00:00Z","backup_storage":"local"}`
	if err := os.WriteFile(filepath.Join(state, conformance.RecordFile), []byte(rec), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := runOn(t, c, conformance.Options{StateDir: state}); err == nil || !strings.Contains(err.Error(), "guest 101 does not carry run 20261202T000000-feedface's description, so it is not destroyed") {
		t.Errorf("a record naming another guest: %v", err)
	}
	if _, err := c.GuestStatus(ctx, 101); err != nil {
		t.Errorf("guest 101: %v", err)
	}
}
