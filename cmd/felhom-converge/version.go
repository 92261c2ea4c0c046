package main

import (
	"fmt"
	"runtime/debug"

	"github.com/felhom/felhom-converge/buildinfo"
)

// version is set for a release with -ldflags "-X main.version=v1.2.3";
// otherwise it comes from the module's build information.
var version = ""

type VersionCmd struct{}

// Run prints "felhom-converge VERSION", then the commit the binary was
// built from when the build recorded one.
func (c *VersionCmd) Run(g *globals) error {
	bi, _ := debug.ReadBuildInfo()
	fmt.Fprintf(g.stdout, "felhom-converge %s\n", buildinfo.Version(version, bi))
	return nil
}
