package bench

import (
	"bytes"
	"context"
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/felhom/felhom-converge/bench/internal/matching"
	"github.com/felhom/felhom-converge/plan"
	"github.com/felhom/felhom-converge/proxmox"
	"github.com/felhom/felhom-converge/proxmox/pvesim"
	"github.com/felhom/felhom-converge/schema"
)

// BenchmarkPlan is one whole plan of a host whose desired state matches it
// exactly: load the file, observe every guest through the real client over
// HTTPS, diff and render. With no latency it measures the CPU cost per
// guest (client, simulator and planner in one process); bench/plan.sh
// measures the plan process alone at Proxmox-like latency.
func BenchmarkPlan(b *testing.B) {
	for _, n := range []int{100, 1000} {
		b.Run(fmt.Sprintf("guests=%d", n), func(b *testing.B) {
			sim, err := pvesim.New(pvesim.Options{ExtraGuests: n - 3})
			if err != nil {
				b.Fatal(err)
			}
			defer sim.Close()
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
			ctx := context.Background()
			var src bytes.Buffer
			if err := matching.Write(ctx, &src, client, "pve-demo"); err != nil {
				b.Fatal(err)
			}
			b.ResetTimer()
			for b.Loop() {
				h, diags := schema.Load(src.Bytes(), "desired.hcl")
				if diags.HasErrors() {
					b.Fatal(diags)
				}
				live, err := plan.Observe(ctx, client, h, 4, nil)
				if err != nil {
					b.Fatal(err)
				}
				p := plan.Diff(h, live, plan.Inputs{DesiredFile: "desired.hcl", Now: time.Now()})
				if !p.Empty() {
					b.Fatalf("a matching host has %d steps, %v", len(p.Steps), p.Errors)
				}
				if err := p.Render(&bytes.Buffer{}, plan.RenderOptions{}); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N)/float64(n)/1000, "ms/guest")
		})
	}
}

// BenchmarkDiff is the planner's own share: diff and render of N matching
// guests, without the API.
func BenchmarkDiff(b *testing.B) {
	const n = 1000
	sim, err := pvesim.New(pvesim.Options{ExtraGuests: n - 3})
	if err != nil {
		b.Fatal(err)
	}
	defer sim.Close()
	endpoint, err := sim.Start("127.0.0.1:0", true)
	if err != nil {
		b.Fatal(err)
	}
	token, _ := proxmox.ParseToken(sim.Token("converge"))
	client, err := proxmox.New(proxmox.Options{Endpoint: endpoint, Node: sim.Node(), Token: token, Fingerprint: sim.Fingerprint(), Concurrency: 4})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	var src bytes.Buffer
	if err := matching.Write(ctx, &src, client, "pve-demo"); err != nil {
		b.Fatal(err)
	}
	h, diags := schema.Load(src.Bytes(), "desired.hcl")
	if diags.HasErrors() {
		b.Fatal(diags)
	}
	live, err := plan.Observe(ctx, client, h, 4, nil)
	if err != nil {
		b.Fatal(err)
	}
	runtime.GC()
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		p := plan.Diff(h, live, plan.Inputs{DesiredFile: "desired.hcl", Now: time.Now()})
		if err := p.Render(&bytes.Buffer{}, plan.RenderOptions{}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N)/n/1000, "ms/guest")
}
