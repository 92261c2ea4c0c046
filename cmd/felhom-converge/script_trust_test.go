package main

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"github.com/rogpeppe/go-internal/testscript"
)

// trustScriptCmds are the script commands of the signature work:
//
//	signerline FILE PRINCIPALS OPTIONS PUBFILE   append an allowed_signers line
//	                                             for the key in PUBFILE (OPTIONS
//	                                             "-" for none); FILE gets mode 0644
//	                                             and its directory is created
//	reqpath DIR VAR                              set $VAR to the one <id>.req in DIR
//	replace FILE OLD NEW                         replace the first OLD in FILE by NEW
//	opensshvectors DIR                           copy OpenSSH's SSHSIG test vectors
//	                                             (trust/testdata/openssh) into DIR
//	mkfifo FILE                                  make a FIFO
//	touchq DIR NAME                              create an empty file in DIR whose
//	                                             name is the Go string literal NAME
//	                                             (so it may hold a newline)
func trustScriptCmds() map[string]func(ts *testscript.TestScript, neg bool, args []string) {
	return map[string]func(ts *testscript.TestScript, neg bool, args []string){
		"signerline": func(ts *testscript.TestScript, neg bool, args []string) {
			if neg || len(args) != 4 {
				ts.Fatalf("usage: signerline FILE PRINCIPALS OPTIONS PUBFILE")
			}
			fields := strings.Fields(ts.ReadFile(args[3]))
			if len(fields) < 2 {
				ts.Fatalf("%s is not a public key", args[3])
			}
			line := args[1]
			if args[2] != "-" {
				line += " " + args[2]
			}
			line += " " + fields[0] + " " + fields[1] + "\n"
			ts.Check(os.MkdirAll(filepath.Dir(ts.MkAbs(args[0])), 0o755))
			f, err := os.OpenFile(ts.MkAbs(args[0]), os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
			ts.Check(err)
			_, err = f.WriteString(line)
			ts.Check(err)
			ts.Check(f.Close())
			ts.Check(os.Chmod(ts.MkAbs(args[0]), 0o644))
		},
		"reqpath": func(ts *testscript.TestScript, neg bool, args []string) {
			if neg || len(args) != 2 {
				ts.Fatalf("usage: reqpath DIR VAR")
			}
			matches, err := filepath.Glob(filepath.Join(ts.MkAbs(args[0]), "*.req"))
			ts.Check(err)
			if len(matches) != 1 {
				ts.Fatalf("want one .req in %s, found %d", args[0], len(matches))
			}
			ts.Setenv(args[1], matches[0])
		},
		"opensshvectors": func(ts *testscript.TestScript, neg bool, args []string) {
			if neg || len(args) != 1 {
				ts.Fatalf("usage: opensshvectors DIR")
			}
			src, err := filepath.Abs(filepath.Join("..", "..", "trust", "testdata", "openssh"))
			ts.Check(err)
			entries, err := os.ReadDir(src)
			ts.Check(err)
			dst := ts.MkAbs(args[0])
			ts.Check(os.MkdirAll(dst, 0o755))
			for _, e := range entries {
				data, err := os.ReadFile(filepath.Join(src, e.Name()))
				ts.Check(err)
				ts.Check(os.WriteFile(filepath.Join(dst, e.Name()), data, 0o644))
			}
		},
		"mkfifo": func(ts *testscript.TestScript, neg bool, args []string) {
			if neg || len(args) != 1 {
				ts.Fatalf("usage: mkfifo FILE")
			}
			ts.Check(syscall.Mkfifo(ts.MkAbs(args[0]), 0o644))
		},
		"touchq": func(ts *testscript.TestScript, neg bool, args []string) {
			if neg || len(args) != 2 {
				ts.Fatalf("usage: touchq DIR NAME")
			}
			name, err := strconv.Unquote(args[1])
			ts.Check(err)
			ts.Check(os.WriteFile(filepath.Join(ts.MkAbs(args[0]), name), nil, 0o644))
		},
		"replace": func(ts *testscript.TestScript, neg bool, args []string) {
			if neg || len(args) != 3 {
				ts.Fatalf("usage: replace FILE OLD NEW")
			}
			path := ts.MkAbs(args[0])
			data := ts.ReadFile(args[0])
			if !strings.Contains(data, args[1]) {
				ts.Fatalf("%s does not contain %q", args[0], args[1])
			}
			ts.Check(os.WriteFile(path, []byte(strings.Replace(data, args[1], args[2], 1)), 0o644))
		},
	}
}
