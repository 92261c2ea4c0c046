package pvesim_test

import (
	"context"
	"sync"
	"testing"

	"github.com/felhom/felhom-converge/proxmox/pvesim"
)

// BenchmarkObserve500 reads what an observe pass reads from a host with
// 500 guests: the list, then every config, four at a time, through the
// real client over TLS. It measures the simulator's own cost per guest.
func BenchmarkObserve500(b *testing.B) {
	a := startSimB(b, pvesim.Options{ExtraGuests: 497})
	c := clientFor(b, a, "converge")
	ctx := context.Background()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		list, err := c.ListLXC(ctx)
		if err != nil || len(list) != 500 {
			b.Fatalf("list: %d %v", len(list), err)
		}
		var wg sync.WaitGroup
		sem := make(chan struct{}, 4)
		for _, g := range list {
			wg.Add(1)
			sem <- struct{}{}
			go func(vmid int) {
				defer wg.Done()
				defer func() { <-sem }()
				if _, err := c.GuestConfig(ctx, vmid); err != nil {
					b.Error(err)
				}
			}(int(g.VMID))
		}
		wg.Wait()
	}
}

func startSimB(b *testing.B, opts pvesim.Options) *rawAPI {
	s, err := pvesim.New(opts)
	if err != nil {
		b.Fatal(err)
	}
	endpoint, err := s.Start("127.0.0.1:0", true)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	return newRawAPI(b, s, endpoint, s.Token("converge"))
}
