package schema

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// slowFile returns a file within every bound of limits.go that still takes
// a while to load: as many tokens as the bound allows (half a second
// without -race), far over the tiny budgets the tests give it.
func slowFile(t *testing.T) string {
	t.Helper()
	var b strings.Builder
	b.WriteString(hostBlock + "locals {\n  x = [")
	for b.Len() < maxTokens-64 {
		b.WriteString("1,")
	}
	b.WriteString("1]\n}\n")
	path := filepath.Join(t.TempDir(), "slow.hcl")
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestBudgetHelper is not a test: TestBudgetEndsTheProcess runs the test
// binary with it, to load a file under a budget in a process of its own.
func TestBudgetHelper(t *testing.T) {
	path := os.Getenv("SCHEMA_BUDGET_FILE")
	if path == "" {
		t.Skip("run by TestBudgetEndsTheProcess")
	}
	b := Budget{CPU: time.Hour, Wall: time.Hour, Heap: 1 << 40}
	switch os.Getenv("SCHEMA_BUDGET_KIND") {
	case "CPU time":
		b.CPU = 5 * time.Millisecond
	case "time":
		b.Wall = 5 * time.Millisecond
	case "memory":
		b.Heap = 4 << 20
	}
	_, _, diags, err := LoadBudgeted(context.Background(), path, b)
	t.Fatalf("the load finished within its budget: %v %s", err, describe(diags))
}

// TestBudgetEndsTheProcess loads a file built to be slow under a small
// time and a small heap budget, in a child process: the watchdog must end
// it with exit status 1 and one error naming the file and the budget,
// long before the load would have finished on its own.
func TestBudgetEndsTheProcess(t *testing.T) {
	path := slowFile(t)
	for _, kind := range []string{"CPU time", "time", "memory"} {
		t.Run(kind, func(t *testing.T) {
			cmd := exec.Command(os.Args[0], "-test.run=^TestBudgetHelper$")
			cmd.Env = append(os.Environ(), "SCHEMA_BUDGET_FILE="+path, "SCHEMA_BUDGET_KIND="+kind)
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			err := cmd.Run()
			var exit *exec.ExitError
			if !errors.As(err, &exit) || exit.ExitCode() != 1 {
				t.Fatalf("exit: %v\n%s", err, stderr.String())
			}
			want := "felhom-converge: error: " + path + ": loading the desired state went over its " + kind + " budget"
			if !strings.HasPrefix(stderr.String(), want) {
				t.Errorf("stderr = %q, want it to start with %q", stderr.String(), want)
			}
		})
	}
}

// TestBudgetReturnsWhenCancelled cancels the context during a slow load:
// LoadBudgeted returns at once, without waiting for the parser.
func TestBudgetReturnsWhenCancelled(t *testing.T) {
	path := slowFile(t)
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(10*time.Millisecond, cancel)
	_, _, _, err := LoadBudgeted(ctx, path, Budget{Exceeded: func(e *BudgetError) { t.Errorf("over budget: %v", e) }})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
}

// TestBudgetedLoadAndFormat checks the ordinary path: an example loads
// (by name and from memory) and formats under the default budget.
func TestBudgetedLoadAndFormat(t *testing.T) {
	path := "../examples/demo.hcl"
	h, src, diags, err := LoadBudgeted(context.Background(), path, DefaultBudget)
	if err != nil || diags.HasErrors() || h == nil || len(src) == 0 {
		t.Fatalf("load: %v %s", err, describe(diags))
	}
	h2, diags, err := LoadSourceBudgeted(context.Background(), src, path, DefaultBudget)
	if err != nil || diags.HasErrors() || h2 == nil || h2.Name != h.Name {
		t.Fatalf("load source: %v %s", err, describe(diags))
	}
	src2, formatted, diags, err := FormatBudgeted(context.Background(), path, DefaultBudget)
	if err != nil || diags.HasErrors() || !bytes.Equal(src, src2) || !bytes.Equal(formatted, src) {
		t.Fatalf("format: %v %s", err, describe(diags))
	}
}

// TestReadFileRefusesWhatIsNotAFile checks that a FIFO or a directory
// where a desired-state file is expected is refused at once, naming what
// it is, instead of blocking on it.
func TestReadFileRefusesWhatIsNotAFile(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "fifo.hcl")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Skipf("mkfifo: %v", err)
	}
	for path, want := range map[string]string{fifo: "is not a regular file (a FIFO)", dir: "is not a regular file (a directory)"} {
		if _, err := ReadFile(path); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("ReadFile(%s) = %v, want %q", path, err, want)
		}
	}
}
