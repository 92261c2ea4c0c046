package schema

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const (
	uglyHost  = "host \"pve-demo\" {\nnode=\"pve\"\n}\n"
	canonHost = "host \"pve-demo\" {\n  node = \"pve\"\n}\n"
)

// fileReport records what ValidateFiles and FormatFiles report.
func fileReport() (*FileReport, *bytes.Buffer, *[]string) {
	var out, diags bytes.Buffer
	var errs []string
	return &FileReport{Out: &out, Diags: NewDiagPrinter(&diags, 80, false), Error: func(m string) { errs = append(errs, m) }}, &out, &errs
}

func TestValidateFilesReportsEachFile(t *testing.T) {
	dir := t.TempDir()
	good, bad := filepath.Join(dir, "a.hcl"), filepath.Join(dir, "b.hcl")
	os.WriteFile(good, []byte(canonHost), 0o644)
	os.WriteFile(bad, []byte("host {\n"), 0o644)
	r, out, errs := fileReport()
	all, failed, err := ValidateFiles(context.Background(), []string{dir, filepath.Join(dir, "missing.hcl")}, r)
	if err != nil || !failed {
		t.Fatalf("failed %v, err %v; want a failure", failed, err)
	}
	if got := out.String(); got != DisplayName(good)+": valid\n" {
		t.Errorf("stdout %q", got)
	}
	if len(*errs) != 2 || !strings.HasPrefix((*errs)[0], DisplayName(bad)+": ") || !strings.Contains((*errs)[1], "missing.hcl") {
		t.Errorf("errors %q; want b.hcl's count, then missing.hcl's read error", *errs)
	}
	if !all.HasErrors() {
		t.Error("the diagnostics have no error")
	}
	if _, failed, _ := ValidateFiles(context.Background(), []string{good}, nil); failed {
		t.Error("a valid file failed without a report")
	}
}

func TestFormatFilesChecksThenRewrites(t *testing.T) {
	dir := t.TempDir()
	name := filepath.Join(dir, "host.hcl")
	os.WriteFile(name, []byte(uglyHost), 0o640)
	r, out, errs := fileReport()
	n, failed, err := FormatFiles(context.Background(), []string{name}, FormatOptions{Check: true}, r)
	if n != 1 || failed || err != nil || out.String() != DisplayName(name)+"\n" || len(*errs) > 0 {
		t.Fatalf("check: %d unformatted, failed %v, err %v, stdout %q, errors %q", n, failed, err, out, *errs)
	}
	if b, _ := os.ReadFile(name); string(b) != uglyHost {
		t.Fatal("--check wrote the file")
	}
	if n, failed, err := FormatFiles(context.Background(), []string{name}, FormatOptions{}, r); n != 0 || failed || err != nil {
		t.Fatalf("rewrite: %d unformatted, failed %v, err %v", n, failed, err)
	}
	b, _ := os.ReadFile(name)
	info, _ := os.Stat(name)
	if string(b) != canonHost || info.Mode().Perm() != 0o640 {
		t.Errorf("rewritten to %q with mode %v; want the canonical form, mode 0640", b, info.Mode().Perm())
	}
}
