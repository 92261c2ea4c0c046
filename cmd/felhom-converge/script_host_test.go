package main

import (
	"github.com/rogpeppe/go-internal/testscript"
)

// hostScriptCmds are the script commands for config and host access:
//
//	loadenv FILE   set every KEY=VALUE line of FILE (as 'sim serve
//	               --env-file' writes it) in the script's environment
func hostScriptCmds() map[string]func(ts *testscript.TestScript, neg bool, args []string) {
	return map[string]func(ts *testscript.TestScript, neg bool, args []string){
		"loadenv": func(ts *testscript.TestScript, neg bool, args []string) {
			if neg || len(args) != 1 {
				ts.Fatalf("usage: loadenv FILE")
			}
			env, err := readSimEnv(ts.MkAbs(args[0]))
			ts.Check(err)
			for k, v := range env {
				ts.Setenv(k, v)
			}
		},
	}
}
