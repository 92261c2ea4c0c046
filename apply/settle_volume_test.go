package apply_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/felhom/felhom-converge/apply"
	"github.com/felhom/felhom-converge/journal"
	"github.com/felhom/felhom-converge/ops"
)

// A volume.free left in flight is settled by its volume, not its slot: a
// tenant who attached the detached volume again as a mount point (its
// unusedN slot now gone) has not had it freed, and recovery says so
// instead of recording the free as done.
func TestRecoverSettlesAVolumeFreeByItsVolume(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	outcome(t, e.run(step("guest.stop-101-a", ops.GuestStop, 101, `{}`)), "guest.stop-101-a", apply.OutcomeDone)
	vol := "local-lvm:vm-101-disk-1"
	if err := e.client.SetConfig(ctx, 101, nil, []string{"mp0"}, ""); err != nil {
		t.Fatal(err)
	}
	e.append(journal.TxnBegin{Txn: "txn-crashed", Host: "pve-demo"})
	e.append(journal.Intent{Txn: "txn-crashed", Call: "volume.free-101-a", Op: ops.VolumeFree, Guest: 101,
		Params: json.RawMessage(`{"size":"64G","slot":"unused0","unprotected":["` + vol + `"],"volume":"` + vol + `"}`),
		Class:  "destructive", Decision: "accepted", Nonce: "0123456789abcdef0123456789abcdef", Time: time.Now()})
	if err := e.client.SetConfig(ctx, 101, map[string]string{"mp1": vol + ",mp=/srv/again"}, nil, ""); err != nil {
		t.Fatal(err)
	}
	rec, err := apply.Recover(ctx, e.opts)
	if err != nil {
		t.Fatal(err)
	}
	if len(rec) != 1 || rec[0].Result != apply.ResultAborted || !strings.Contains(rec[0].Message, vol+" is still in guest 101's config (mp1): not freed") {
		t.Fatalf("recovered %+v", rec)
	}
}
