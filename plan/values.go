package plan

import (
	"fmt"
	"maps"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/felhom/felhom-converge/proxmox"
	"github.com/felhom/felhom-converge/schema"
)

// This file turns desired values into Proxmox's config format and parses
// live config values into comparable form. Comparison is always in
// canonical form: MiB for memory, bytes for sizes, sorted lower-case tags,
// upper-case MACs, descriptions as Proxmox stores them.

var (
	mpKeyRe     = regexp.MustCompile(`^mp(\d+)$`)
	volumeKeyRe = regexp.MustCompile(`^(rootfs|mp\d+|unused\d+)$`)
	netKeyRe    = regexp.MustCompile(`^net(\d+)$`)
	unusedKeyRe = regexp.MustCompile(`^unused(\d+)$`)
)

func boolText(b bool) string {
	if b {
		return "1"
	}
	return "0"
}

// liveBool reads a Proxmox boolean; unset is def.
func liveBool(conf map[string]string, key string, def bool) bool {
	v, ok := conf[key]
	if !ok {
		return def
	}
	return v == "1" || v == "true" || v == "yes" || v == "on"
}

// liveTags returns the live tags in canonical form.
func liveTags(s string) []string {
	f := strings.FieldsFunc(strings.ToLower(s), func(r rune) bool { return r == ';' || r == ',' || r == ' ' })
	sort.Strings(f)
	out := f[:0]
	for i, t := range f {
		if i == 0 || t != f[i-1] {
			out = append(out, t)
		}
	}
	return out
}

// parseSizeBytes parses a Proxmox size ("8G", "512M", "4096") as bytes; a
// bare number is bytes, as in a config's size= option.
func parseSizeBytes(s string) (int64, bool) {
	if s == "" {
		return 0, false
	}
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		return n, true
	}
	r, err := schema.ParseSize(s)
	if err != nil || !r.IsInt() {
		return 0, false
	}
	return r.Num().Int64(), true
}

// gib renders bytes as the GiB number of Proxmox's STORAGE:SIZE_IN_GiB
// allocation syntax ("8", "0.5").
func gib(bytes int64) string {
	return strconv.FormatFloat(float64(bytes)/float64(schema.GiB), 'f', -1, 64)
}

// Mount is one parsed rootfs or mpN value.
type Mount struct {
	Slot   string
	Props  map[string]string
	Volume string // volume id, or the host path of a bind mount
	Path   string
	Size   int64
	Bind   bool
}

// volumeOf is the volume of a rootfs or mpN value.
func volumeOf(value string) string {
	m, err := ParseMount("", value)
	if err != nil {
		return value
	}
	return m.Volume
}

// ParseMount parses the value of rootfs or an mpN.
func ParseMount(slot, value string) (Mount, error) {
	ps, err := proxmox.ParsePropertyString(value, "volume")
	if err != nil {
		return Mount{}, err
	}
	m := Mount{Slot: slot, Props: ps, Volume: ps["volume"], Path: ps["mp"]}
	m.Size, _ = parseSizeBytes(ps["size"])
	m.Bind = strings.HasPrefix(m.Volume, "/")
	return m, nil
}

// mounts returns the guest's mount points by path.
func (lg *LiveGuest) mounts() map[string]Mount {
	out := map[string]Mount{}
	for _, k := range sortedSlots(lg.Effective, mpKeyRe) {
		if m, err := ParseMount(k, lg.Effective[k]); err == nil && m.Path != "" {
			if _, dup := out[m.Path]; !dup { // the lowest slot wins, deterministically
				out[m.Path] = m
			}
		}
	}
	return out
}

// liveNet is one parsed netN.
type liveNet struct {
	Slot  string
	Props map[string]string
}

// nets returns the guest's interfaces by name.
func (lg *LiveGuest) nets() map[string]liveNet {
	out := map[string]liveNet{}
	for _, k := range sortedSlots(lg.Effective, netKeyRe) {
		if ps, err := proxmox.ParsePropertyString(lg.Effective[k], ""); err == nil && ps["name"] != "" {
			if _, dup := out[ps["name"]]; !dup {
				out[ps["name"]] = liveNet{Slot: k, Props: ps}
			}
		}
	}
	return out
}

// freeSlot returns the lowest prefixN key used neither in the current nor
// in the effective config, nor taken already.
func (lg *LiveGuest) freeSlot(prefix string, taken map[string]bool) string {
	for i := 0; ; i++ {
		k := prefix + strconv.Itoa(i)
		if taken[k] {
			continue
		}
		if lg != nil {
			if _, ok := lg.Current[k]; ok {
				continue
			}
			if _, ok := lg.Effective[k]; ok {
				continue
			}
		}
		taken[k] = true
		return k
	}
}

// netValue renders a desired interface as a netN value, keeping the live
// options the file does not manage (hwaddr when unset, type, mtu, rate).
func netValue(n schema.Network, live map[string]string) string {
	ps := map[string]string{}
	for k, v := range live {
		ps[k] = v
	}
	ps["name"] = n.Name
	set := func(k, v string) {
		if v != "" {
			ps[k] = v
		}
	}
	set("bridge", n.Bridge)
	set("ip", n.IP)
	set("gw", n.Gateway)
	set("ip6", n.IP6)
	set("gw6", n.Gateway6)
	set("hwaddr", n.Hwaddr)
	if n.VLAN != 0 {
		ps["tag"] = strconv.Itoa(n.VLAN)
	}
	if n.Firewall != nil {
		ps["firewall"] = boolText(*n.Firewall)
	}
	if n.MTU != 0 {
		ps["mtu"] = strconv.Itoa(n.MTU)
	}
	if n.Rate != nil {
		if *n.Rate == 0 {
			delete(ps, "rate") // no limit
		} else {
			ps["rate"] = strconv.FormatFloat(*n.Rate, 'f', -1, 64)
		}
	}
	if ps["type"] == "" {
		ps["type"] = "veth"
	}
	return PropertyString("name", ps)
}

// PropertyString renders options in Proxmox's order: the first key (for a
// mount point its volume, bare, then mp=), then the rest sorted, as LXC
// configs read back.
func PropertyString(first string, ps map[string]string) string {
	var parts []string
	if v, ok := ps[first]; ok {
		if first == "volume" {
			parts = append(parts, v)
		} else {
			parts = append(parts, first+"="+v)
		}
	}
	second := ""
	if first == "volume" {
		second = "mp" // Proxmox writes a mount point's path right after its volume
		if v, ok := ps[second]; ok {
			parts = append(parts, second+"="+v)
		}
	}
	for _, k := range slices.Sorted(maps.Keys(ps)) {
		if k != first && k != second {
			parts = append(parts, k+"="+ps[k])
		}
	}
	return strings.Join(parts, ",")
}

// netDiffers reports the fields of a desired interface that differ from
// the live one.
func netDiffers(n schema.Network, live map[string]string) []Change {
	var out []Change
	cmp := func(field, key, want string) {
		if want != "" && !strings.EqualFold(live[key], want) {
			out = append(out, Change{Field: field, Old: live[key], New: want})
		}
	}
	cmp("bridge", "bridge", n.Bridge)
	cmp("ip", "ip", n.IP)
	cmp("gw", "gw", n.Gateway)
	cmp("ip6", "ip6", n.IP6)
	cmp("gw6", "gw6", n.Gateway6)
	cmp("hwaddr", "hwaddr", n.Hwaddr)
	if n.VLAN != 0 { // left out: the live tag stays
		cmp("vlan", "tag", strconv.Itoa(n.VLAN))
	}
	if n.Firewall != nil && liveBool(live, "firewall", false) != *n.Firewall {
		out = append(out, Change{Field: "firewall", Old: boolText(liveBool(live, "firewall", false)), New: boolText(*n.Firewall)})
	}
	if n.MTU != 0 && live["mtu"] != strconv.Itoa(n.MTU) {
		out = append(out, Change{Field: "mtu", Old: orUnset(live["mtu"]), New: strconv.Itoa(n.MTU)})
	}
	if n.Rate != nil && liveFloat(live["rate"]) != *n.Rate {
		out = append(out, Change{Field: "rate", Old: orUnset(live["rate"]), New: orUnlimited(*n.Rate)})
	}
	return out
}

// mountValue renders a desired mount as an mpN value. For a new volume it
// uses the STORAGE:GiB allocation form; for an existing one it keeps the
// live volume and options.
func mountValue(m schema.Mount, live *Mount) string {
	ps := map[string]string{}
	if live != nil {
		for k, v := range live.Props {
			ps[k] = v
		}
	} else if m.HostPath != "" {
		ps["volume"] = m.HostPath
	} else {
		ps["volume"] = m.Storage + ":" + gib(int64(m.Size))
	}
	ps["mp"] = m.Path
	if m.Backup != nil && m.HostPath == "" {
		ps["backup"] = boolText(*m.Backup)
	}
	if m.ReadOnly != nil {
		ps["ro"] = boolText(*m.ReadOnly)
	}
	if m.MountOptions != nil {
		ps["mountoptions"] = strings.Join(m.MountOptions, ";")
	}
	return PropertyString("volume", withoutDefaults(ps))
}

// withoutDefaults drops mount options set to their default (backup and ro
// are off unless set, no mount options), and sorts the mount options, so
// an explicit default neither differs from an absent one nor costs a
// config write, and neither does their order.
func withoutDefaults(ps map[string]string) map[string]string {
	for _, k := range []string{"backup", "ro", "quota", "shared"} {
		if v, ok := ps[k]; ok && (v == "0" || v == "false") {
			delete(ps, k)
		}
	}
	if v, ok := ps["mountoptions"]; ok {
		opts := strings.Split(v, ";")
		slices.Sort(opts)
		ps["mountoptions"] = strings.Join(slices.Compact(opts), ";")
		if v == "" {
			delete(ps, "mountoptions")
		}
	}
	return ps
}

// orUnlimited shows a rate: 0 is no limit.
func orUnlimited(rate float64) string {
	if rate == 0 {
		return "(unlimited)"
	}
	return strconv.FormatFloat(rate, 'f', -1, 64)
}

// featuresOf parses a features property string into flag → value.
func featuresOf(s string) map[string]string {
	out := map[string]string{}
	ps, err := proxmox.ParsePropertyString(s, "")
	if err != nil {
		return out
	}
	for k, v := range ps {
		if k == "mount" {
			parts := strings.Split(v, ";")
			sort.Strings(parts)
			v = strings.Join(parts, ";")
		} else {
			v = boolText(v == "1" || v == "true")
		}
		out[k] = v
	}
	return out
}

// wantFeatures merges the desired flags over the live ones and renders the
// result; flags the file does not set keep their live value.
func wantFeatures(f *schema.Features, live string) string {
	m := featuresOf(live)
	for k, v := range featuresOf(f.String()) {
		m[k] = v
	}
	return canonicalFeatures(m)
}

// canonicalFeatures renders flags without the ones that are off (every
// feature defaults to off), so "keyctl = false" equals an absent keyctl.
func canonicalFeatures(m map[string]string) string {
	for k, v := range m {
		if v == "0" || v == "" {
			delete(m, k)
		}
	}
	return PropertyString("", m)
}

func humanMiB(mib int64) string {
	if mib%1024 == 0 && mib >= 1024 {
		return fmt.Sprintf("%d GiB", mib/1024)
	}
	return fmt.Sprintf("%d MiB", mib)
}

// sortedSlots returns the keys of conf matching re (prefixN), by N.
func sortedSlots(conf map[string]string, re *regexp.Regexp) []string {
	var keys []string
	for k := range conf {
		if re.MatchString(k) {
			keys = append(keys, k)
		}
	}
	sort.Slice(keys, func(i, j int) bool {
		a, _ := strconv.Atoi(re.FindStringSubmatch(keys[i])[1])
		b, _ := strconv.Atoi(re.FindStringSubmatch(keys[j])[1])
		return a < b
	})
	return keys
}
