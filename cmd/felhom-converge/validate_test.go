package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/felhom/felhom-converge/schema"
)

// TestExamplesValidateAndFormat runs the real commands on every example,
// as the GitOps CI would: each must validate and already be canonical.
func TestExamplesValidateAndFormat(t *testing.T) {
	files, err := filepath.Glob("../../examples/*.hcl")
	if err != nil || len(files) < 3 {
		t.Fatalf("examples: %v %v", files, err)
	}
	for _, args := range [][]string{
		append([]string{"validate"}, files...),
		append([]string{"fmt", "--check"}, files...),
	} {
		var stdout, stderr bytes.Buffer
		if code := run(args, &stdout, &stderr); code != exitOK || stderr.Len() > 0 {
			t.Errorf("%s: exit %d\n%s%s", args[0], code, stdout.String(), stderr.String())
		}
	}
}

// TestValidateRefusesHostileFiles checks the input bounds through the
// command: a file over 4 MiB and one that is not UTF-8 each give one
// positioned diagnostic and exit 1.
func TestValidateRefusesHostileFiles(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name, content, want string
	}{
		{"big.hcl", "# " + strings.Repeat("x", 5<<20) + "\n", "big.hcl:1:1: File too large\n"},
		{"latin1.hcl", "host \"pve-demo\" {\n  node = \"caf\xe9\"\n}\n", "latin1.hcl:2:14: Invalid UTF-8\n"},
	}
	for _, tt := range tests {
		path := filepath.Join(dir, tt.name)
		if err := os.WriteFile(path, []byte(tt.content), 0o644); err != nil {
			t.Fatal(err)
		}
		var stdout, stderr bytes.Buffer
		code := run([]string{"validate", path}, &stdout, &stderr)
		if code != exitError || stdout.Len() != 0 {
			t.Errorf("%s: exit %d, stdout %q", tt.name, code, stdout.String())
		}
		if want := filepath.Join(dir, tt.want); !strings.HasPrefix(stderr.String(), want) {
			t.Errorf("%s: stderr does not start with %q:\n%s", tt.name, want, stderr.String())
		}
	}
}

// TestSnippetsAreBounded checks that problems deep in a large file do not
// each cost a scan of the whole file: hcl's writer reads from the start for
// every snippet, so past schema.SnippetBudget a diagnostic comes without one (but
// still with its position, summary and detail).
func TestSnippetsAreBounded(t *testing.T) {
	filler := strings.Repeat("# "+strings.Repeat("x", 78)+"\n", (13<<20)/10/81) // about 1.3 MiB
	src := filler + "host \"pve-demo\" {\n  node = \"pve\"\n"
	for i := range 10 {
		src += fmt.Sprintf("  bogus%d = 1\n", i)
	}
	src += "}\n"
	path := filepath.Join(t.TempDir(), "big.hcl")
	if err := os.WriteFile(path, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	if code := run([]string{"validate", path}, &stdout, &stderr); code != exitError {
		t.Fatalf("exit %d", code)
	}
	out := stderr.String()
	if n := strings.Count(out, ": Unsupported argument\n"); n != 10 {
		t.Errorf("%d problems reported, want 10", n)
	}
	if n := len(regexp.MustCompile(`(?m)^ *[0-9]+:   bogus`).FindAllString(out, -1)); n != schema.SnippetBudget/len(src) {
		t.Errorf("%d snippets, want %d (as many as the budget allows)", n, schema.SnippetBudget/len(src))
	}
}

// TestSnippetLinesAreBounded validates a file whose one line is a
// megabyte: the diagnostic shows a bounded part of it.
func TestSnippetLinesAreBounded(t *testing.T) {
	path := filepath.Join(t.TempDir(), "line.hcl")
	src := "host \"pve-demo\" {\n  node = \"pve\"\n}\nguest \"a\" { vmid = 100, bogus = \"" + strings.Repeat("x", 1<<20) + "\" }\n"
	if err := os.WriteFile(path, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	if code := run([]string{"validate", path}, &stdout, &stderr); code != exitError {
		t.Fatalf("exit %d\n%.2000s", code, stderr.String())
	}
	if stderr.Len() > 8<<10 {
		t.Errorf("%d bytes of diagnostics for one problem", stderr.Len())
	}
	if !strings.Contains(stderr.String(), "line.hcl:4:") {
		t.Errorf("no positioned diagnostic:\n%.2000s", stderr.String())
	}
}
