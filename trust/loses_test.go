package trust

import (
	"strings"
	"testing"

	"github.com/felhom/felhom-converge/ops"
)

func TestLossOfSaysWhatEachSignedStepLoses(t *testing.T) {
	for _, c := range []struct{ op, params, want string }{
		{ops.GuestDestroy, `{"purge":true,"volumes":[]}`, "destroys the guest"},
		{ops.GuestSet, `{"set":{"mp0":"local-lvm:vm-110-disk-1,mp=/srv/x,backup=0,size=1G","memory":"512"}}`, "turns backup off for mp0 (local-lvm:vm-110-disk-1): every later backup"},
		{ops.GuestSet, `{"set":{"mp1":"volume=local-lvm:vm-110-disk-2,mp=/srv/y,backup=no"}}`, "mp1 (local-lvm:vm-110-disk-2)"},
		{ops.GuestSet, `{"set":{"mp2":"local-lvm:vm-110-disk-3,mp=/srv/z,size=1G"}}`, "turns backup off for mp2 (local-lvm:vm-110-disk-3)"},
		{ops.GuestStop, `{}`, "no data by itself; held for a signature by the host's local policy"},
		{ops.GuestSet, `{"set":{"memory":"256"}}`, "local policy"},
	} {
		if got := LossOf(c.op, []byte(c.params)); !strings.Contains(got, c.want) {
			t.Errorf("LossOf(%s, %s) = %q, want it to say %q", c.op, c.params, got, c.want)
		}
	}
}
