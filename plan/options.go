package plan

import (
	"slices"
	"strconv"
	"strings"

	"github.com/felhom/felhom-converge/proxmox"
	"github.com/felhom/felhom-converge/schema"
)

// plainOption is one plain config key the file sets: the value written to
// Proxmox ("" removes the key) and how a live value is compared with it,
// in canonical form, so that Proxmox's own spelling of an equal value
// never shows as a change.
type plainOption struct {
	key   string
	value string
	same  func(live string) bool
	// pending: on a running guest the change waits for its next start.
	pending bool
}

// plainOptions lists the options of g that the file sets, in a fixed
// order: DNS, CPU weights, the time zone, the boot order.
func plainOptions(g *schema.Guest) []plainOption {
	var out []plainOption
	list := func(key string, want []string) {
		if want != nil {
			out = append(out, plainOption{key: key, value: strings.Join(want, " "), pending: true,
				same: func(live string) bool { return slices.Equal(splitList(live), want) }})
		}
	}
	list("nameserver", g.Nameservers)
	list("searchdomain", g.SearchDomains)
	if g.CPULimit != nil {
		want := *g.CPULimit
		out = append(out, plainOption{key: "cpulimit", value: strconv.FormatFloat(want, 'f', -1, 64),
			same: func(live string) bool { return liveFloat(live) == want }})
	}
	if g.CPUUnits != nil {
		want := strconv.Itoa(*g.CPUUnits)
		out = append(out, plainOption{key: "cpuunits", value: want,
			same: func(live string) bool { return live == want }})
	}
	if g.Timezone != "" {
		want := g.Timezone
		out = append(out, plainOption{key: "timezone", value: want, pending: true,
			same: func(live string) bool { return live == want }})
	}
	if g.Startup != nil {
		want := g.Startup.String()
		out = append(out, plainOption{key: "startup", value: want,
			same: func(live string) bool { return canonicalStartup(live) == want }})
	}
	return out
}

// splitList splits a list Proxmox stores joined by spaces (and accepts
// joined by commas and semicolons).
func splitList(s string) []string {
	return strings.FieldsFunc(s, func(r rune) bool { return r == ' ' || r == ',' || r == ';' })
}

// liveFloat reads a live number; unset or unreadable is 0 (cpulimit's
// default: no limit).
func liveFloat(s string) float64 {
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return 0
	}
	return f
}

// canonicalStartup renders a live startup value (order=N,up=N,down=N, the
// order key possibly bare) as schema.Startup does; an unreadable one is
// returned as it is, which differs from any desired value.
func canonicalStartup(s string) string {
	ps, err := proxmox.ParsePropertyString(s, "order")
	if err != nil {
		return s
	}
	st := schema.Startup{}
	for k, v := range ps {
		n, err := strconv.Atoi(v)
		if err != nil {
			return s
		}
		switch k {
		case "order":
			st.Order = &n
		case "up":
			st.Up = &n
		case "down":
			st.Down = &n
		default:
			return s
		}
	}
	return st.String()
}

// optionChanges compares the plain options with the live config.
func (d *guestDiff) optionChanges(set map[string]string, del *[]string, changes *[]Change, restart *[]string) {
	eff := d.lg.Effective
	for _, o := range plainOptions(d.g) {
		have, had := eff[o.key]
		if o.same(have) || (o.value == "" && !had) {
			continue
		}
		c := Change{Field: o.key, Old: orUnset(have), New: o.value}
		if o.value == "" {
			*del = append(*del, o.key)
			c = Change{Field: o.key, Old: have, Note: "removed"}
		} else {
			set[o.key] = o.value
		}
		if o.pending && d.lg.Running {
			c.Note = strings.TrimPrefix(c.Note+"; takes effect at next restart", "; ")
			*restart = append(*restart, o.key)
		}
		*changes = append(*changes, c)
	}
}
