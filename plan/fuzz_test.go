package plan

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"testing"

	"github.com/felhom/felhom-converge/ops"
	"github.com/felhom/felhom-converge/schema"
)

// FuzzDiff plans random desired guests against random live ones. Diff
// never panics, is deterministic, and converges: once its benign steps
// are applied the way Proxmox applies them, a second plan has no benign
// step left (destructive ones wait for a signature and stay).
func FuzzDiff(f *testing.F) {
	f.Add(uint16(1024), uint16(2048), "prod;web", "web,prod,docs", "nesting=1", true, false, uint8(8), uint8(12), true, "/srv/a", "/srv/b", uint8(4), "vmbr0", "vmbr1", true)
	f.Add(uint16(512), uint16(512), "", "", "", false, true, uint8(8), uint8(4), false, "/data", "/data", uint8(2), "vmbr0", "vmbr0", false)
	f.Fuzz(func(t *testing.T, memLive, memWant uint16, tagsLive, tagsWant, featLive string, nesting, keyctl bool,
		rootLive, rootWant uint8, running bool, mpLive, mpWant string, mpSize uint8, brLive, brWant string, stateRunning bool) {
		live := map[string]string{
			"hostname": "ct", "memory": strconv.Itoa(int(memLive)), "tags": tagsLive, "features": featLive,
			"rootfs": fmt.Sprintf("local-lvm:vm-100-disk-0,size=%dG", int(rootLive)+1),
			"net0":   "name=eth0,bridge=" + brLive + ",hwaddr=BC:24:11:00:00:01,ip=dhcp,type=veth",
		}
		if strings.HasPrefix(mpLive, "/") {
			live["mp0"] = fmt.Sprintf("local-lvm:vm-100-disk-1,mp=%s,size=%dG", mpLive, int(mpSize)+1)
		}
		state := "stopped"
		if stateRunning {
			state = "running"
		}
		src := fmt.Sprintf(`host "pve-demo" {
  node = "pve"
}
guest "ct" {
  vmid   = 100
  state  = %q
  memory = %d
  tags   = %s
  features {
    nesting = %t
    keyctl  = %t
  }
  rootfs {
    storage = "local-lvm"
    size    = "%dG"
  }
  mount "m" {
    path    = %s
    storage = "local-lvm"
    size    = "%dG"
  }
  network "eth0" {
    bridge = %s
    ip     = "dhcp"
  }
}
`, state, memWant, strconv.Quote(tagsWant), nesting, keyctl, int(rootWant)+1, strconv.Quote(mpWant), int(mpSize)+1, strconv.Quote(brWant))
		h, diags := schema.Load([]byte(src), "host.hcl")
		if diags.HasErrors() {
			return // not a valid desired state: the schema's job
		}
		lg := &LiveGuest{VMID: 100, Name: "ct", Running: running, Observed: true, Digest: "d1",
			Current: copyMap(live), Effective: copyMap(live), SnapshotsRead: true}
		l := liveWith(lg)
		p1 := Diff(h, l, Inputs{Now: testNow})
		p2 := Diff(h, l, Inputs{Now: testNow})
		j1, _ := p1.JSON()
		j2, _ := p2.JSON()
		if !bytes.Equal(j1, j2) {
			t.Fatalf("Diff is not deterministic:\n%s\n%s", j1, j2)
		}
		for _, s := range p1.Steps {
			if err := ops.CheckParams(s.Op, s.Params); err != nil {
				t.Fatalf("step %s has params its op refuses: %v", s.ID, err)
			}
			if !s.Destructive() {
				applyLikeProxmox(t, lg, s)
			}
		}
		p3 := Diff(h, l, Inputs{Now: testNow})
		for _, s := range p3.Steps {
			if !s.Destructive() {
				j, _ := p3.JSON()
				t.Fatalf("after applying the benign steps, %s is planned again:\n%s\nfirst plan:\n%s", s.Op, j, j1)
			}
		}
	})
}

func copyMap(m map[string]string) map[string]string {
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// applyLikeProxmox changes the live model as Proxmox would for a benign
// step: a config write stores its values (allocating new volumes), a grow
// resizes, a detach leaves the volume as unusedN, power flips state.
func applyLikeProxmox(t *testing.T, lg *LiveGuest, s Step) {
	var p struct {
		Set    map[string]string
		Delete []string
		Disk   string
		To     string
		Slot   string
		Value  string
		Volume string
	}
	if err := json.Unmarshal(s.Params, &p); err != nil {
		t.Fatal(err)
	}
	conf := lg.Effective
	switch s.Op {
	case ops.GuestSet:
		for k, v := range p.Set {
			conf[k] = allocate(k, v)
		}
		for _, k := range p.Delete {
			delete(conf, k)
		}
	case ops.DiskGrow:
		m, err := ParseMount(p.Disk, conf[p.Disk])
		if err != nil {
			t.Fatal(err)
		}
		m.Props["size"] = p.To
		conf[p.Disk] = PropertyString("volume", m.Props)
	case ops.MountAdd:
		conf[p.Slot] = allocate(p.Slot, p.Value)
	case ops.MountDetach:
		delete(conf, p.Slot)
		if p.Volume != "" {
			conf[lg.freeSlot("unused", map[string]bool{})] = p.Volume
		}
	case ops.GuestStart:
		lg.Running = true
	case ops.GuestStop:
		lg.Running = false
	}
	lg.Current = conf
}

// allocate turns STORAGE:GiB into an allocated volume with its size, as
// Proxmox does when it writes a new mount point.
func allocate(key, value string) string {
	if !mpKeyRe.MatchString(key) {
		return value
	}
	m, err := ParseMount(key, value)
	if err != nil {
		return value
	}
	st, gibs, ok := strings.Cut(m.Volume, ":")
	if n, err := strconv.ParseFloat(gibs, 64); ok && err == nil && !strings.Contains(gibs, "vm-") {
		m.Props["volume"] = st + ":vm-100-disk-" + strings.TrimPrefix(key, "mp") + "9"
		m.Props["size"] = schema.Size(int64(n * float64(schema.GiB))).String()
	}
	return PropertyString("volume", m.Props)
}
