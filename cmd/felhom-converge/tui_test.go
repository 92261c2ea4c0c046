package main

import (
	"testing"
)

// Colour is off with --no-color (or -no-color), NO_COLOR or TERM=dumb.
func TestColorsOff(t *testing.T) {
	env := func(kv map[string]string) func(string) string { return func(k string) string { return kv[k] } }
	for _, c := range []struct {
		g    globals
		want bool
	}{
		{globals{getenv: env(nil)}, true},
		{globals{getenv: env(nil), noColor: true}, false},
		{globals{getenv: env(map[string]string{"NO_COLOR": "1"})}, false},
		{globals{getenv: env(map[string]string{"TERM": "dumb"})}, false},
	} {
		if got := c.g.colors(); got != c.want {
			t.Errorf("%+v: colors %v, want %v", c.g, got, c.want)
		}
	}
}
