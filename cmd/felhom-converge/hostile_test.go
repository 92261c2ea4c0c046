package main

import (
	"bufio"
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/felhom/felhom-converge/schema"
)

// hostileCommands are the commands every hostile desired state goes
// through, each keyed by the header line of the file that says what it
// must report ("# validate: Number out of range", or "ok" for exit 0).
// plan --sim reports what validate reports, before it touches the host.
var hostileCommands = []struct {
	key  string
	args func(path string) []string
}{
	{"validate", func(p string) []string { return []string{"validate", p} }},
	{"fmt", func(p string) []string { return []string{"fmt", "--check", p} }},
	// plan loads the file before it touches the host (or the simulator in
	// SIM beside the file), so it reports what validate reports.
	{"plan", func(p string) []string { return []string{"plan", "--sim", filepath.Join(filepath.Dir(p), "sim"), p} }},
}

// TestHostileDesiredStates runs each file of testdata/hostile (numbers,
// format, templates, nesting, heredocs, control bytes, non-UTF-8; the
// first lines say what each is and what each command must report) through
// the real command line in a child process: each must finish within the
// load budget, with exit 1 and the named problem at a position in the
// file, and print no control character. fmt does not evaluate, so a file
// that is hostile only when evaluated formats normally ("ok").
func TestHostileDesiredStates(t *testing.T) {
	files, err := filepath.Glob("../../testdata/hostile/*.hcl")
	if err != nil || len(files) < 10 {
		t.Fatalf("hostile files: %v %v", files, err)
	}
	for _, file := range files {
		want := hostileHeader(t, file)
		for _, c := range hostileCommands {
			t.Run(filepath.Base(file)+"/"+c.key, func(t *testing.T) {
				key := c.key
				if key == "plan" {
					key = "validate"
				}
				w, ok := want[key]
				if !ok {
					t.Fatalf("%s has no '# %s:' line", file, c.key)
				}
				// fmt --check must not rewrite: work on a copy all the same.
				src, err := os.ReadFile(file)
				if err != nil {
					t.Fatal(err)
				}
				path := filepath.Join(t.TempDir(), filepath.Base(file))
				if err := os.WriteFile(path, src, 0o644); err != nil {
					t.Fatal(err)
				}
				code, out := runHostile(t, c.args(path)...)
				switch {
				case w == "ok" && code != exitOK:
					t.Errorf("exit %d, want 0\n%s", code, out)
				case w != "ok" && (code != exitError || !strings.Contains(out, filepath.Base(file)+":") || !strings.Contains(out, ": "+w+"\n")):
					t.Errorf("exit %d, want 1 and a positioned %q\n%s", code, w, out)
				}
			})
		}
	}
}

// TestHostileFilesThatAreNotFiles puts a FIFO, a directory, a device and
// a file of too many tokens where desired-state files are expected, by
// name and as entries of a directory beside a valid file: each is its
// own problem, reported at once, and the valid file is still checked.
func TestHostileFilesThatAreNotFiles(t *testing.T) {
	dir := t.TempDir()
	if err := syscall.Mkfifo(filepath.Join(dir, "fifo.hcl"), 0o644); err != nil {
		t.Skipf("mkfifo: %v", err)
	}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.Mkdir(filepath.Join(dir, "dir.hcl"), 0o755))
	must(os.Symlink("/dev/zero", filepath.Join(dir, "zero.hcl")))
	must(os.WriteFile(filepath.Join(dir, "tokens.hcl"), bytes.Repeat([]byte("\n"), 600_000), 0o644))
	valid, err := os.ReadFile("../../examples/demo.hcl")
	must(err)
	must(os.WriteFile(filepath.Join(dir, "valid.hcl"), valid, 0o644))
	wants := []string{
		"fifo.hcl is not a regular file (a FIFO)",
		"dir.hcl is not a regular file (a directory)",
		"zero.hcl is not a regular file (a device)",
		"tokens.hcl:",
		": Too many tokens\n",
	}
	for _, c := range hostileCommands {
		if c.key == "plan" {
			// plan takes one file: a FIFO in its place is refused at once.
			code, out := runHostile(t, c.args(filepath.Join(dir, "fifo.hcl"))...)
			if code != exitError || !strings.Contains(out, wants[0]) {
				t.Errorf("plan of a FIFO: exit %d, want 1 and %q\n%s", code, wants[0], out)
			}
			continue
		}
		for _, run := range []struct {
			args []string
			want []string
		}{
			{c.args(dir), wants},
			{append(c.args(filepath.Join(dir, "fifo.hcl")), filepath.Join(dir, "valid.hcl")), wants[:1]},
		} {
			code, out := runHostile(t, run.args...)
			if code != exitError {
				t.Errorf("%v: exit %d, want 1\n%s", run.args, code, out)
			}
			for _, w := range run.want {
				if !strings.Contains(out, w) {
					t.Errorf("%v: output lacks %q\n%s", run.args, w, out)
				}
			}
			if c.key == "validate" && !strings.Contains(out, "valid.hcl: valid") {
				t.Errorf("%v: the valid file was not checked\n%s", run.args, out)
			}
		}
	}
}

// runHostile runs the command line in a child process and returns its
// exit code and output. It fails the test if the run takes longer than
// the load budget or prints a control character.
func runHostile(t *testing.T, args ...string) (int, string) {
	t.Helper()
	bin, err := exec.LookPath("felhom-converge")
	if err != nil {
		t.Fatalf("the test binary is not on PATH as felhom-converge: %v", err)
	}
	cmd := exec.Command(bin, args...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	start := time.Now()
	err = cmd.Run()
	if took := time.Since(start); took > schema.DefaultBudget.Wall {
		t.Errorf("%v took %s, over the load budget", args, took)
	}
	code := 0
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		code = exit.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	for _, b := range out.Bytes() {
		if (b < 0x20 && b != '\n' && b != '\t') || b == 0x7f {
			t.Errorf("%v printed control byte %#x:\n%q", args, b, out.String())
			break
		}
	}
	return code, out.String()
}

// hostileHeader reads the "# KEY: VALUE" lines at the top of a file.
func hostileHeader(t *testing.T, file string) map[string]string {
	t.Helper()
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	want := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() && strings.HasPrefix(sc.Text(), "# ") {
		if k, v, ok := strings.Cut(strings.TrimPrefix(sc.Text(), "# "), ": "); ok && !strings.Contains(k, " ") {
			want[k] = v
		}
	}
	return want
}
