package main

import "github.com/rogpeppe/go-internal/testscript"

// simScriptCmds are the script commands of the simulator work.
func simScriptCmds() map[string]func(ts *testscript.TestScript, neg bool, args []string) {
	return nil
}
