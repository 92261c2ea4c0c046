package conformance_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
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
					if ck.Expected == "" || ck.Source == "" || ck.Actual == "" {
						t.Errorf("%s: a check says what was expected, from which source, and what the host did: %+v", ck.Name, ck)
					}
				}
				if !rep.Passed || len(rep.Checks) < 30 || rep.PVE.Release != release || !rep.PVE.Supported || rep.PVE.Expects != release ||
					!strings.Contains(rep.PVE.Support, "supported (checked against Proxmox VE 8.4 and 9.1)") {
					t.Errorf("report: passed %v, %d checks, pve %+v", rep.Passed, len(rep.Checks), rep.PVE)
				}
				if want := []conformance.StorageUse{{"local-lvm", "lvmthin", "guest volumes"}, {"local", "dir", "backups"}}; len(rep.Storages) != 3 ||
					rep.Storages[0] != want[0] || rep.Storages[1] != want[1] || rep.Storages[2].Type != "dir" {
					t.Errorf("storages %+v", rep.Storages)
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
	// The JSON report (what an operator attaches to a bug report) names
	// it, with what was expected, from which source, and what happened.
	var doc bytes.Buffer
	if err := rep.WriteJSON(&doc); err != nil {
		t.Fatal(err)
	}
	var got struct {
		PVE struct {
			Version string `json:"version"`
		} `json:"pve"`
		Storages []conformance.StorageUse `json:"storages"`
		Checks   []conformance.Check      `json:"checks"`
		Diverged []string                 `json:"diverged"`
		Passed   *bool                    `json:"passed"`
	}
	if err := json.Unmarshal(doc.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	i := slices.IndexFunc(got.Checks, func(c conformance.Check) bool { return c.Name == "resize grows" })
	if got.PVE.Version != "8.4.1" || len(got.Storages) != 3 || got.Passed == nil || *got.Passed || !slices.Equal(got.Diverged, []string{"resize grows"}) || i < 0 ||
		got.Checks[i].Result != conformance.Diverged || !strings.Contains(got.Checks[i].Actual, "500 simulated fault") ||
		!strings.HasPrefix(got.Checks[i].Expected, "PUT resize rootfs +1G") || !strings.Contains(got.Checks[i].Source, "pve-container") {
		t.Errorf("JSON report:\n%s", doc.String())
	}
	_, secret, _ := strings.Cut(sim.Token("converge"), "=")
	if secret == "" || strings.Contains(doc.String(), secret) {
		t.Errorf("the JSON report holds the token's secret (%q)", secret)
	}
	requireClean(t, c)
}

// On a release of a major version felhom-converge does not support, the
// table opens with a warning naming what it was checked against and
// which release's behaviour the checks expect.
func TestUnsupportedReleaseWarns(t *testing.T) {
	var rep conformance.Report
	rep.PVE.Version, rep.PVE.Release, rep.PVE.Expects = "10.0.2", "10.0", "9.1"
	rep.PVE.Support, rep.PVE.Supported = proxmox.Version{Version: "10.0.2", Release: "10.0"}.Support()
	var out bytes.Buffer
	rep.WriteHeader(&out)
	if want := "\nwarning: Proxmox VE 10.0.2 (release 10.0) is not a supported release: felhom-converge supports 8.x and 9.x and is checked against Proxmox VE 8.4 and 9.1; "; !strings.Contains(out.String(), want) ||
		!strings.HasSuffix(out.String(), "; the checks expect what Proxmox VE 9.1 does\n") {
		t.Errorf("header:\n%s", out.String())
	}
	rep.PVE.Support, rep.PVE.Supported = proxmox.Version{Version: "9.1.1", Release: "9.1"}.Support()
	out.Reset()
	rep.WriteHeader(&out)
	if strings.Contains(out.String(), "warning") {
		t.Errorf("a supported release warns:\n%s", out.String())
	}
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
