package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"
)

// TestMain lets the test binary play felhom-converge, so scripts exec the
// real command line in a child process.
func TestMain(m *testing.M) {
	testscript.Main(m, map[string]func(){
		"felhom-converge": func() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) },
	})
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
