package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"
)

// TestReadmeGuidedDemo runs the README's guided demo command for command,
// in a fresh directory with the examples, each through sh as a user would
// type it, and checks each command's exit status (0, or the "# exit N" at
// the end of its line). The README cannot rot.
func TestReadmeGuidedDemo(t *testing.T) {
	if _, err := exec.LookPath("ssh-keygen"); err != nil {
		t.Skip("ssh-keygen (openssh-client) is not installed")
	}
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(readme), "### Guided demo\n")
	if !ok {
		t.Fatal("README.md has no guided demo")
	}
	m := regexp.MustCompile("(?s)```sh\n(.*?)```").FindStringSubmatch(section)
	if m == nil {
		t.Fatal("the guided demo has no sh block")
	}
	exitRe := regexp.MustCompile(`\s+# exit (\d+)$`)
	var script strings.Builder
	commands := 0
	for _, line := range strings.Split(m[1], "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		code := "0"
		if e := exitRe.FindStringSubmatch(line); e != nil {
			code = e[1]
			line = strings.TrimSpace(exitRe.ReplaceAllString(line, ""))
		}
		script.WriteString("exits " + code + " sh -c '" + strings.ReplaceAll(line, "'", "''") + "'\n")
		commands++
	}
	if commands < 8 {
		t.Fatalf("the guided demo has %d commands; the parser found too few", commands)
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "guided_demo.txtar"), []byte(script.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	demo, err := os.ReadFile("../../examples/demo.hcl")
	if err != nil {
		t.Fatal(err)
	}
	testscript.Run(t, testscript.Params{
		Dir:  dir,
		Cmds: scriptCmds(),
		Setup: func(env *testscript.Env) error {
			isolateEnv(env)
			if err := os.MkdirAll(filepath.Join(env.WorkDir, "examples"), 0o755); err != nil {
				return err
			}
			return os.WriteFile(filepath.Join(env.WorkDir, "examples", "demo.hcl"), demo, 0o644)
		},
	})
}
