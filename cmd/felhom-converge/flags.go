package main

import (
	"strings"

	"github.com/alecthomas/kong"
)

// singleDashLongFlags rewrites Terraform's single-dash long flags (-out,
// -json, -detailed-exitcode, -lock-timeout, ...) to the double-dash form
// kong parses, for every long flag the command line declares. Short flags
// (-h) and everything after "--" stay as they are.
func singleDashLongFlags(app *kong.Application, args []string) []string {
	long := map[string]bool{}
	var walk func(n *kong.Node)
	walk = func(n *kong.Node) {
		for _, f := range n.Flags {
			long[f.Name] = true
		}
		for _, c := range n.Children {
			walk(c)
		}
	}
	walk(app.Node)
	out := make([]string, len(args))
	copy(out, args)
	for i, a := range out {
		if a == "--" {
			break
		}
		if len(a) < 3 || a[0] != '-' || a[1] == '-' {
			continue
		}
		name, _, _ := strings.Cut(a[1:], "=")
		if len(name) > 1 && long[name] {
			out[i] = "-" + a
		}
	}
	return out
}
