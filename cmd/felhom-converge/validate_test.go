package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
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
