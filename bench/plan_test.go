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
			client := simClient(b, pvesim.Options{ExtraGuests: n - 3})
			ctx := context.Background()
			src := matchingState(b, client)
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
	client := simClient(b, pvesim.Options{ExtraGuests: n - 3})
	ctx := context.Background()
	src := matchingState(b, client)
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

// matchingState is a desired state that matches the simulated host.
func matchingState(b *testing.B, client *proxmox.Client) *bytes.Buffer {
	b.Helper()
	var src bytes.Buffer
	if err := matching.Write(context.Background(), &src, client, "pve-demo"); err != nil {
		b.Fatal(err)
	}
	return &src
}
