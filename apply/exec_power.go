package apply

import (
	"context"

	"github.com/felhom/felhom-converge/ops"
	"github.com/felhom/felhom-converge/proxmox"
)

// power starts, stops (a clean shutdown, then a hard stop) or reboots a
// guest. Disruptive, never destructive: no data is lost.
type power struct{ op string }

// check has nothing to read: a power step loses no data, and Proxmox
// refuses one on a guest that does not exist.
func (e power) check(context.Context, *stepRun) error { return nil }

func (e power) run(ctx context.Context, x *stepRun) error {
	c := x.main(x.st.Params)
	v := x.vmid()
	switch e.op {
	case ops.GuestStart:
		c.post = func(ctx context.Context) (proxmox.UPID, error) { return x.o.Client.Start(ctx, v) }
	case ops.GuestStop:
		c.post = x.shutdown
	default:
		c.post = func(ctx context.Context) (proxmox.UPID, error) { return x.o.Client.Reboot(ctx, v, x.o.ShutdownTimeout) }
	}
	_, err := x.do(ctx, c)
	return err
}
