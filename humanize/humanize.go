// Package humanize writes counts, times, sizes and guests the way every
// report of the tool words them for people: "3 transactions", "5m ago",
// "1.2 MiB", " 105 (web)". One home, so the reports agree.
package humanize

import (
	"fmt"
	"os/user"
	"strconv"
	"time"
)

// Plural is n and word, with an s for any n but 1: "1 step", "3 steps".
func Plural(n int, word string) string {
	if n == 1 {
		return "1 " + word
	}
	return fmt.Sprintf("%d %ss", n, word)
}

// Stamp is t in UTC as RFC 3339, or "-" for the zero time.
func Stamp(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format(time.RFC3339)
}

// Dash is s, or "-" when it is empty.
func Dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// Ago renders how long before now t was, coarsely.
func Ago(now, t time.Time) string {
	d := now.Sub(t)
	if d < 0 {
		return "in the future: check the clock"
	}
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds ago", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm ago", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh%02dm ago", int(d.Hours()), int(d.Minutes())%60)
	}
	return fmt.Sprintf("%dd ago", int(d.Hours()/24))
}

// ByteSize is n bytes in bytes, KiB, MiB, GiB or TiB.
func ByteSize(n int64) string {
	switch {
	case n < 1<<10:
		return fmt.Sprintf("%d bytes", n)
	case n < 1<<20:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	case n < 1<<30:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n < 1<<40:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	}
	return fmt.Sprintf("%.1f TiB", float64(n)/(1<<40))
}

// GuestLabel is a guest after an op: " 105", " 105 (web)" with its name,
// or "" for a host-level op (vmid 0).
func GuestLabel(vmid int, name string) string {
	switch {
	case vmid == 0:
		return ""
	case name == "":
		return fmt.Sprintf(" %d", vmid)
	}
	return fmt.Sprintf(" %d (%s)", vmid, name)
}

// GuestText is a guest on a line of its own: "105", "105 (web)", or
// "- (the host)" for a host-level op.
func GuestText(vmid int, name string) string {
	switch {
	case vmid == 0:
		return "- (the host)"
	case name == "":
		return strconv.Itoa(vmid)
	}
	return fmt.Sprintf("%d (%s)", vmid, name)
}

// UserName is the name of the user uid, or "uid N" without a passwd entry.
func UserName(uid int) string {
	if u, err := user.LookupId(strconv.Itoa(uid)); err == nil {
		return u.Username
	}
	return fmt.Sprintf("uid %d", uid)
}
