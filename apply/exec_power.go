package apply

import (
	"context"
	"fmt"

	"github.com/felhom/felhom-converge/ops"
	"github.com/felhom/felhom-converge/proxmox"
)

// power starts, stops (a clean shutdown, then a hard stop) or reboots a
// guest. Disruptive, never destructive: no data is lost.
type power struct{ op string }

func (e power) check(ctx context.Context, x *stepRun) error {
	if _, err := x.o.Client.GuestStatus(ctx, x.vmid()); err != nil {
		return fmt.Errorf("read guest %d: %w", x.vmid(), err)
	}
	return nil
}

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
