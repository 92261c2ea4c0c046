// Package bench measures felhom-converge against the bundled simulator at
// realistic Proxmox latency and worker counts. Run:
//
//	go test -run '^$' -bench . -benchtime 3x -count 5 ./bench/
//
// The floor for observing N guests is (N+1) × latency / workers: one list
// call, then one config call per guest (Proxmox has no batched config read).
package bench

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/felhom/felhom-converge/proxmox"
	"github.com/felhom/felhom-converge/proxmox/pvesim"
)

// BenchmarkObserveGuests reads the guest list and every guest's config the
// way observing the host does, through the real client over HTTPS: against
// a simulator with 10ms latency and 3 workers (pveproxy's default pool),
// where the floor above applies, and with neither, which measures the CPU
// cost of client and simulator per guest.
func BenchmarkObserveGuests(b *testing.B) {
	for _, bc := range []struct {
		guests  int
		latency time.Duration
		workers int
	}{
		{100, 10 * time.Millisecond, 3},
		{500, 10 * time.Millisecond, 3},
		{500, 0, 0},
	} {
		n := bc.guests
		b.Run(fmt.Sprintf("guests=%d/latency=%s/workers=%d", n, bc.latency, bc.workers), func(b *testing.B) {
			client := simClient(b, pvesim.Options{ExtraGuests: n - 3, Latency: bc.latency, Workers: bc.workers})
			ctx := context.Background()
			b.ResetTimer()
			for b.Loop() {
				if got := observe(ctx, b, client); got != n {
					b.Fatalf("observed %d guests, want %d", got, n)
				}
			}
			if bc.workers > 0 {
				floor := time.Duration(n+1) * bc.latency / time.Duration(bc.workers)
				b.ReportMetric(float64(floor.Milliseconds()), "ms-floor")
			}
		})
	}
}

func observe(ctx context.Context, b *testing.B, client *proxmox.Client) int {
	guests, err := client.ListLXC(ctx)
	if err != nil {
		b.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make(chan error, len(guests))
	for _, g := range guests {
		wg.Add(1)
		go func(vmid int) {
			defer wg.Done()
			if _, err := client.GuestConfig(ctx, vmid); err != nil {
				errs <- err
			}
		}(int(g.VMID))
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		b.Fatal(err)
	}
	return len(guests)
}

// simClient starts a simulator with o and returns a client of it over
// HTTPS with its certificate pinned; the simulator stops with the test.
func simClient(b *testing.B, o pvesim.Options) *proxmox.Client {
	b.Helper()
	sim, err := pvesim.New(o)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { sim.Close() })
	endpoint, err := sim.Start("127.0.0.1:0", true)
	if err != nil {
		b.Fatal(err)
	}
	token, err := proxmox.ParseToken(sim.Token("converge"))
	if err != nil {
		b.Fatal(err)
	}
	client, err := proxmox.New(proxmox.Options{Endpoint: endpoint, Node: sim.Node(), Token: token, Fingerprint: sim.Fingerprint(), Concurrency: 4})
	if err != nil {
		b.Fatal(err)
	}
	return client
}
