package apply

import (
	"context"
	"fmt"
	"strings"

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
		// Proxmox stops a locked guest for a reboot, then refuses to start
		// it (pve-container's prestart hook): wait out someone else's lock
		// first, so a reboot never leaves a guest down.
		if err := x.waitUnlocked(ctx); err != nil {
			return fmt.Errorf("not rebooted: %w", err)
		}
		c.post = func(ctx context.Context) (proxmox.UPID, error) { return x.o.Client.Reboot(ctx, v, x.o.ShutdownTimeout) }
	}
	_, err := x.do(ctx, c)
	if err != nil && e.op == ops.GuestReboot && strings.Contains(err.Error(), "startup for container") {
		return fmt.Errorf("%w; guest %d is down: the reboot stopped it and Proxmox refused to start it again (a lock was taken meanwhile); start it once the lock is gone", err, v)
	}
	return err
}
