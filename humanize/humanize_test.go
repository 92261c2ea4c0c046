package humanize

import (
	"testing"
	"time"
)

func TestWords(t *testing.T) {
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	for _, c := range []struct{ got, want string }{
		{Plural(1, "step"), "1 step"},
		{Plural(0, "step"), "0 steps"},
		{Plural(3, "transaction"), "3 transactions"},
		{Stamp(time.Time{}), "-"},
		{Stamp(now.In(time.FixedZone("X", 3600))), "2026-12-01T12:00:00Z"},
		{Dash(""), "-"},
		{Dash("x"), "x"},
		{Ago(now, now.Add(-42*time.Second)), "42s ago"},
		{Ago(now, now.Add(-5*time.Minute)), "5m ago"},
		{Ago(now, now.Add(-(26*time.Hour + 7*time.Minute))), "26h07m ago"},
		{Ago(now, now.Add(-72*time.Hour)), "3d ago"},
		{Ago(now, now.Add(time.Minute)), "in the future: check the clock"}, // a clock behind the record's
		{ByteSize(512), "512 bytes"},
		{ByteSize(1536), "1.5 KiB"},
		{ByteSize(3 << 20), "3.0 MiB"},
		{ByteSize(40 << 30), "40.0 GiB"},
		{ByteSize(3 << 40), "3.0 TiB"},
		{GuestLabel(0, "x"), ""},
		{GuestLabel(105, ""), " 105"},
		{GuestLabel(105, "web"), " 105 (web)"},
		{GuestText(0, ""), "- (the host)"},
		{GuestText(105, ""), "105"},
		{GuestText(105, "web"), "105 (web)"},
	} {
		if c.got != c.want {
			t.Errorf("got %q, want %q", c.got, c.want)
		}
	}
}
