package pvesim_test

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/felhom/felhom-converge/proxmox"
	"github.com/felhom/felhom-converge/proxmox/pvesim"
)

// A simulator on a free loopback port, and the real client pinned to its
// certificate: start CT 110 and wait for the task.
func Example() {
	sim, err := pvesim.New(pvesim.Options{TaskDuration: 10 * time.Millisecond})
	if err != nil {
		panic(err)
	}
	defer sim.Close()
	endpoint, err := sim.Start("127.0.0.1:0", true)
	if err != nil {
		panic(err)
	}
	token, _ := proxmox.ParseToken(sim.Token("converge"))
	c, err := proxmox.New(proxmox.Options{Endpoint: endpoint, Node: sim.Node(), Token: token, Fingerprint: sim.Fingerprint()})
	if err != nil {
		panic(err)
	}
	ctx := context.Background()
	upid, err := c.Start(ctx, 110)
	if err != nil {
		panic(err)
	}
	err = c.WaitTask(ctx, upid, proxmox.WaitOptions{MinInterval: 5 * time.Millisecond})
	fmt.Println(upid.Type, upid.ID, strings.HasPrefix(upid.String(), "UPID:pve:"), err)
	st, _ := c.GuestStatus(ctx, 110)
	fmt.Println(st.Status)
	// Output:
	// vzstart 110 true <nil>
	// running
}
