package apply_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/felhom/felhom-converge/apply"
)

// auditLines reads an audit file and fails unless every line is one JSON
// entry; it returns their steps.
func auditLines(t *testing.T, path string) []string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var steps []string
	for i, l := range strings.SplitAfter(string(b), "\n") {
		if l == "" {
			continue
		}
		var e apply.AuditEntry
		if !strings.HasSuffix(l, "\n") || json.Unmarshal([]byte(l), &e) != nil {
			t.Fatalf("%s line %d is no whole entry: %q", path, i+1, l)
		}
		steps = append(steps, e.Step)
	}
	return steps
}

// A last line torn by a crash (no final newline, or not one JSON object)
// is cut off and kept aside before the next entry is appended, instead of
// having the entry glued onto it; a whole last line is left alone.
func TestAuditRepairsATornLastLine(t *testing.T) {
	good := `{"time":"2026-12-01T10:00:00Z","host":"pve","txn":"t1","step":"s1","op":"guest.set","guest":null,"class":"benign","decision":"allowed_benign"}` + "\n"
	for _, c := range []struct {
		name, tail string
		keep       []string // the steps left before the new entry
	}{
		{"whole", "", []string{"s1"}},
		{"no final newline", `{"time":"2026-12-01T10:00:01Z","host":"pve","txn":"t1","step":"s2","op`, []string{"s1"}},
		{"whole entry but its newline", strings.Replace(good, "s1", "s2", 1)[:len(good)-1], []string{"s1"}},
		{"zeros of an unwritten sector", "\x00\x00\x00\x00\n", []string{"s1"}},
		{"half an entry and its newline", `{"time":"2026-12-01T10:00:01Z","host"` + "\n", []string{"s1"}},
		{"a long torn line", `{"reason":"` + strings.Repeat("x", 10000), []string{"s1"}},
		{"only a torn line", "", nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, apply.AuditFile)
			content := good + c.tail
			if c.keep == nil {
				content = `{"time":"2026`
			}
			if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
				t.Fatal(err)
			}
			var log bytes.Buffer
			a := apply.OpenAudit(path, slog.New(slog.NewTextHandler(&log, nil)))
			for _, step := range []string{"new", "newer"} {
				if err := a.Write(apply.AuditEntry{Txn: "t2", Step: step, Op: "guest.set", Class: "benign", Decision: apply.DecisionBenign}); err != nil {
					t.Fatal(err)
				}
			}
			want := append(append([]string{}, c.keep...), "new", "newer")
			if got := auditLines(t, path); strings.Join(got, ",") != strings.Join(want, ",") {
				t.Errorf("entries %v, want %v", got, want)
			}
			torn, err := os.ReadFile(filepath.Join(dir, apply.AuditTornFile))
			switch {
			case c.name == "whole":
				if err == nil || strings.Contains(log.String(), "torn") {
					t.Errorf("a whole file was repaired: %q %s", torn, log.String())
				}
			case string(torn) != strings.TrimPrefix(content, good) || !strings.Contains(log.String(), "cut a torn last line off"):
				t.Errorf("kept %q (%v), want %q; log %s", torn, err, strings.TrimPrefix(content, good), log.String())
			}
		})
	}
}

// Past RotateAt the file moves to .1 (older ones up to .Keep, the oldest
// beyond is removed): the files kept hold the latest entries, in order,
// none lost between them, and each stays within the bound.
func TestAuditRotates(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, apply.AuditFile)
	a := apply.OpenAudit(path, nil)
	a.RotateAt, a.Keep = 1000, 2
	const n = 40
	for i := range n {
		if err := a.Write(apply.AuditEntry{Txn: "t", Step: fmt.Sprint("s", i), Op: "guest.set", Class: "benign", Decision: apply.DecisionBenign}); err != nil {
			t.Fatal(err)
		}
	}
	var all []string
	for _, f := range []string{path + ".2", path + ".1", path} {
		if fi, err := os.Stat(f); err != nil || fi.Size() > a.RotateAt {
			t.Fatalf("%s: %v, %v", f, fi, err)
		}
		all = append(all, auditLines(t, f)...)
	}
	if _, err := os.Stat(path + ".3"); !os.IsNotExist(err) {
		t.Errorf("a third rotated file with Keep 2: %v", err)
	}
	if len(all) == 0 || len(all) == n || all[len(all)-1] != fmt.Sprint("s", n-1) {
		t.Fatalf("entries kept %v", all)
	}
	first := n - len(all)
	for i, s := range all {
		if s != fmt.Sprint("s", first+i) {
			t.Fatalf("entry %d is %s, want s%d: %v", i, s, first+i, all)
		}
	}
}
