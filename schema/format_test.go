package schema

import (
	"strings"
	"testing"
)

func TestFormat(t *testing.T) {
	tests := []struct {
		name, src, want string
	}{
		{"aligns equals signs", "host \"h\" {\nnode=\"pve\"\n}\nguest \"a\" {\nvmid = 100\n  hostname=\"a\"\n}\n",
			"host \"h\" {\n  node = \"pve\"\n}\nguest \"a\" {\n  vmid     = 100\n  hostname = \"a\"\n}\n"},
		{"canonical input is unchanged", hostBlock, hostBlock},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, diags := Format([]byte(tt.src), "f.hcl")
			if diags.HasErrors() {
				t.Fatal(describe(diags))
			}
			if string(got) != tt.want {
				t.Errorf("Format =\n%s\nwant\n%s", got, tt.want)
			}
			again, _ := Format(got, "f.hcl")
			if string(again) != string(got) {
				t.Errorf("Format is not idempotent:\n%s", Diff("f.hcl", got, again))
			}
		})
	}
}

func TestFormatRefusesBrokenInput(t *testing.T) {
	_, diags := Format([]byte("host \"h\" {\n  node = \n"), "f.hcl")
	if !diags.HasErrors() || diags[0].Subject == nil || diags[0].Subject.Filename != "f.hcl" {
		t.Fatalf("diags = %s", describe(diags))
	}
}

func TestDiff(t *testing.T) {
	tests := []struct {
		name, a, b, want string
	}{
		{"equal", "x\n", "x\n", ""},
		{"one line changed", "a\nb\nc\n", "a\nB\nc\n",
			"--- f\n+++ f (formatted)\n@@ -1,3 +1,3 @@\n a\n-b\n+B\n c\n"},
		{"distant changes make two hunks",
			"1\n2\n3\n4\n5\n6\n7\n8\n9\n10\n11\n12\n", "one\n2\n3\n4\n5\n6\n7\n8\n9\n10\n11\ntwelve\n",
			"--- f\n+++ f (formatted)\n@@ -1,4 +1,4 @@\n-1\n+one\n 2\n 3\n 4\n@@ -9,4 +9,4 @@\n 9\n 10\n 11\n-12\n+twelve\n"},
		{"added line", "a\nc\n", "a\nb\nc\n",
			"--- f\n+++ f (formatted)\n@@ -1,2 +1,3 @@\n a\n+b\n c\n"},
		{"missing final newline", "a", "a\n",
			"--- f\n+++ f (formatted)\n@@ -1,1 +1,1 @@\n-a\n\\ No newline at end of file\n+a\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Diff("f", []byte(tt.a), []byte(tt.b)); got != tt.want {
				t.Errorf("Diff =\n%s\nwant\n%s", got, tt.want)
			}
		})
	}
}

// TestDiffAppliesBack checks the diff's line bookkeeping on a real
// formatting change: the kept and added lines rebuild the new text.
func TestDiffAppliesBack(t *testing.T) {
	a := "host \"h\" {\nnode=\"pve\"\n}\n"
	b, _ := Format([]byte(a), "f")
	var rebuilt strings.Builder
	for _, l := range strings.SplitAfter(Diff("f", []byte(a), b), "\n")[3:] {
		if strings.HasPrefix(l, " ") || strings.HasPrefix(l, "+") {
			rebuilt.WriteString(l[1:])
		}
	}
	if rebuilt.String() != string(b) {
		t.Errorf("rebuilt %q, want %q", rebuilt.String(), b)
	}
}
