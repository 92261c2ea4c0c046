package bench

import (
	"fmt"
	"runtime"
	"syscall"
	"testing"
	"time"

	"github.com/felhom/felhom-converge/proxmox/pvesim"
	"github.com/felhom/felhom-converge/schema"
)

// BenchmarkLoad is loading the desired state alone, a file of N guests
// that matches the simulated host (what plan reads first). Besides the
// wall time it reports the process's CPU time per guest (the garbage
// collector's included), which a machine shared with other work inflates
// less than the wall time.
func BenchmarkLoad(b *testing.B) {
	for _, n := range []int{100, 1000} {
		b.Run(fmt.Sprintf("guests=%d", n), func(b *testing.B) {
			src := matchingState(b, simClient(b, pvesim.Options{ExtraGuests: n - 3})).Bytes()
			runtime.GC()
			b.SetBytes(int64(len(src)))
			b.ReportAllocs()
			b.ResetTimer()
			cpu := cpuTime()
			for b.Loop() {
				if _, diags := schema.Load(src, "desired.hcl"); diags.HasErrors() {
					b.Fatal(diags)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N)/float64(n)/1000, "ms/guest")
			b.ReportMetric(float64((cpuTime()-cpu).Microseconds())/float64(b.N)/float64(n)/1000, "ms-cpu/guest")
		})
	}
}

// cpuTime returns the CPU time the process has used, user and system.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
