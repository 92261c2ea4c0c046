package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"github.com/felhom/felhom-converge/proxmox/pvesim"
	"github.com/rogpeppe/go-internal/testscript"
)

// TestMain lets the test binary play felhom-converge, so scripts exec the
// real command line in a child process.
func TestMain(m *testing.M) {
	if filepath.Base(os.Args[0]) != "felhom-converge" {
		moreParallel()
	}
	testscript.Main(m, map[string]func(){
		"felhom-converge": func() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) },
	})
}

// moreParallel runs up to 4 parallel tests (the scripts) at once unless
// -test.parallel says otherwise: they mostly wait on the simulator's
// tasks, so more than one per CPU finishes the suite sooner.
func moreParallel() {
	for _, a := range os.Args[1:] {
		if strings.HasPrefix(a, "-test.parallel") || strings.HasPrefix(a, "--test.parallel") {
			return
		}
	}
	flag.Set("test.parallel", strconv.Itoa(max(4, runtime.GOMAXPROCS(0))))
}

// TestScript runs testdata/script/*.txtar: one behaviour of the real binary
// per script. UPDATE_SCRIPTS=1 rewrites cmp targets inside the scripts.
func TestScript(t *testing.T) {
	testscript.Run(t, testscript.Params{
		Dir:                 "../../testdata/script",
		RequireExplicitExec: true,
		RequireUniqueNames:  true,
		UpdateScripts:       os.Getenv("UPDATE_SCRIPTS") != "",
		Cmds:                scriptCmds(),
		Setup: func(env *testscript.Env) error {
			isolateEnv(env)
			// FELHOM_CONVERGE_TEST_PVE_VERSION runs every script against
			// that Proxmox VE release of the simulator (CI runs 9.1 too);
			// PVE_VERSION is the version the simulator reports.
			v := os.Getenv("FELHOM_CONVERGE_TEST_PVE_VERSION")
			full, err := pvesim.ResolvePVEVersion(v)
			if err != nil {
				return fmt.Errorf("FELHOM_CONVERGE_TEST_PVE_VERSION: %w", err)
			}
			env.Setenv("FELHOM_CONVERGE_SIM_PVE_VERSION", v)
			env.Setenv("PVE_VERSION", full)
			examples, err := filepath.Abs("../../examples")
			if err != nil {
				return err
			}
			env.Setenv("EXAMPLES", examples)
			return nil
		},
	})
}

// scriptCmds gathers the custom script commands each area contributes.
func scriptCmds() map[string]func(ts *testscript.TestScript, neg bool, args []string) {
	all := map[string]func(ts *testscript.TestScript, neg bool, args []string){}
	for _, cmds := range []map[string]func(ts *testscript.TestScript, neg bool, args []string){
		hostScriptCmds(),
		simScriptCmds(),
		trustScriptCmds(),
		hubScriptCmds(),
		statusScriptCmds(),
	} {
		for name, fn := range cmds {
			all[name] = fn
		}
	}
	return all
}

// isolateEnv makes a script see only the settings it makes itself: it
// drops any FELHOM_CONVERGE_* and systemd credentials from the caller.
func isolateEnv(env *testscript.Env) {
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(k, "FELHOM_CONVERGE_") || k == "CREDENTIALS_DIRECTORY" {
			env.Setenv(k, "")
		}
	}
}
