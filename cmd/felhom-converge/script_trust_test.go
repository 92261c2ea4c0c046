package main

import "github.com/rogpeppe/go-internal/testscript"

// trustScriptCmds are the script commands of the trust work.
func trustScriptCmds() map[string]func(ts *testscript.TestScript, neg bool, args []string) {
	return nil
}
