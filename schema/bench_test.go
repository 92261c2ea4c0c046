package schema

import (
	"fmt"
	"strings"
	"testing"
)

// BenchmarkLoad500 loads a desired state of 500 guests; the design's budget
// for everything but the API is well under 1 ms of CPU per guest.
func BenchmarkLoad500(b *testing.B) {
	var src strings.Builder
	src.WriteString(hostBlock)
	for i := range 500 {
		fmt.Fprintf(&src, `
guest "g%d" {
  vmid     = %d
  hostname = "g%d"
  cores    = 2
  memory   = "2G"
  swap     = 512
  tags     = ["prod", "web"]

  rootfs {
    storage = "local-lvm"
    size    = "8G"
  }

  network "eth0" {
    bridge = "vmbr0"
    ip     = "dhcp"
    hwaddr = "BC:24:11:00:%02X:%02X"
  }
}
`, i, 1000+i, i, i/256, i%256)
	}
	data := []byte(src.String())
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		if _, diags := Load(data, "bench.hcl"); diags.HasErrors() {
			b.Fatal(describe(diags))
		}
	}
}
