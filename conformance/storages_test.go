package conformance_test

import (
	"context"
	"testing"

	"github.com/felhom/felhom-converge/conformance"
	"github.com/felhom/felhom-converge/proxmox"
	"github.com/felhom/felhom-converge/proxmox/pvesim"
)

// On other storages the run takes the branches their Proxmox plugins
// call for: on ZFS a rollback only to the newest snapshot, on a Proxmox
// Backup Server datastore archives named ct/VMID/TIME, on a directory
// storage no snapshots (those checks say so and are skipped). Each
// passes against the simulator and leaves nothing behind.
func TestSimulatorConformsOnStorageKinds(t *testing.T) {
	cases := []struct {
		name, storage, backups string
		skipped                []string
	}{
		{name: "zfs and pbs", storage: "tank", backups: "pbs"},
		{name: "dir", storage: "vols", backups: "local",
			skipped: []string{"rollback", "detach under a snapshot", "snapshot delete", "snapshot volume comes back"}},
	}
	for _, tc := range cases {
		for _, release := range pvesim.PVEVersions() {
			t.Run(tc.name+" "+release, func(t *testing.T) {
				t.Parallel()
				sim, c := simHost(t, release)
				for _, s := range []pvesim.StorageSpec{
					{ID: "tank", Type: "zfspool", Pool: "rpool/data", Content: "images,rootdir"},
					{ID: "pbs", Type: "pbs", Server: "192.0.2.10", Datastore: "store1", Username: "felhom@pbs", Content: "backup"},
					{ID: "vols", Type: "dir", Path: "/srv/vols", Content: "images,rootdir"},
				} {
					if err := sim.AddStorage(s); err != nil {
						t.Fatal(err)
					}
				}
				rep, err := runOn(t, c, conformance.Options{Storage: tc.storage, BackupStorage: tc.backups})
				if err != nil {
					t.Fatal(err)
				}
				skipped := map[string]bool{}
				for _, ck := range rep.Checks {
					switch {
					case ck.Result == conformance.Skipped:
						skipped[ck.Name] = true
					case ck.Result != conformance.Pass:
						t.Errorf("%s: %s: %s\n  expected: %s", ck.Name, ck.Result, ck.Actual, ck.Expected)
					}
				}
				for _, name := range tc.skipped {
					if !skipped[name] {
						t.Errorf("%s was not skipped", name)
					}
					delete(skipped, name)
				}
				for name := range skipped {
					t.Errorf("%s was skipped", name)
				}
				if !rep.Passed || rep.Storages[0].Storage != tc.storage || rep.Storages[1].Storage != tc.backups {
					t.Errorf("report: passed %v, storages %+v", rep.Passed, rep.Storages)
				}
				for _, s := range []string{tc.storage, tc.backups} {
					items, err := c.StorageContent(context.Background(), s, "", 990)
					if err != nil {
						t.Fatal(err)
					}
					for _, it := range items {
						t.Errorf("left on %s: %s", s, it.VolID)
					}
				}
				if _, err := c.GuestStatus(context.Background(), 990); !proxmox.IsNotFound(err) {
					t.Errorf("guest 990 is still there: %v", err)
				}
			})
		}
	}
}
