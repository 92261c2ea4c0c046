package trust

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

func TestParseNotAfter(t *testing.T) {
	now := time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)
	for in, want := range map[string]time.Time{
		"24h":                  now.Add(24 * time.Hour),
		"90m":                  now.Add(90 * time.Minute),
		"1d":                   now.Add(24 * time.Hour),
		"7d":                   now.Add(7 * 24 * time.Hour),
		"2026-12-24T12:00:00Z": time.Date(2026, 12, 24, 12, 0, 0, 0, time.UTC),
	} {
		if got, err := ParseNotAfter(in, now); err != nil || !got.Equal(want) {
			t.Errorf("%s: %v %v, want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"tomorrow", "1w", "-1h", "2026-12-01T00:00:00Z", "0d"} {
		if _, err := ParseNotAfter(in, now); err == nil || !strings.HasPrefix(err.Error(), fmt.Sprintf("%q", in)) {
			t.Errorf("%s: %v, want an error that quotes it first", in, err)
		}
	}
}
