package main

import (
	"fmt"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/alecthomas/kong"
)

// The Debian package's man page lists every command and every exit code.
func TestManPageListsCommandsAndExitCodes(t *testing.T) {
	b, err := os.ReadFile("../../packaging/deb/felhom-converge.1")
	if err != nil {
		t.Fatal(err)
	}
	page := string(b)
	section := func(name string) string {
		_, rest, ok := strings.Cut(page, "\n.SH "+name+"\n")
		if !ok {
			t.Fatalf("the man page has no %s section", name)
		}
		body, _, _ := strings.Cut(rest, "\n.SH ")
		return body
	}
	items := map[string]bool{}
	for _, s := range []string{"COMMANDS", "EXIT STATUS"} {
		for _, m := range regexp.MustCompile(`(?m)^\.TP\n\.B (\S+)$`).FindAllStringSubmatch(section(s), -1) {
			items[s+" "+m[1]] = true
		}
	}
	parser, err := kong.New(&CLI{}, kong.Name("felhom-converge"))
	if err != nil {
		t.Fatal(err)
	}
	for _, cmd := range parser.Model.Children {
		if !cmd.Hidden && !items["COMMANDS "+cmd.Name] {
			t.Errorf("the man page's COMMANDS do not list %q", cmd.Name)
		}
	}
	for _, code := range []int{exitOK, exitError, exitPending, exitLocked, exitPulled, exitInterrupted} {
		if !items[fmt.Sprintf("EXIT STATUS %d", code)] {
			t.Errorf("the man page's EXIT STATUS does not list %d", code)
		}
	}
}
