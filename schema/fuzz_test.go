package schema

import (
	"math"
	"os"
	"path/filepath"
	"runtime/metrics"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
)

// What loading may cost, as a fixed multiple of the input and of what the
// value bounds admitted (decoder.spent): measured, a load allocates 15-30
// KiB to start and 100-800 bytes per input byte, and about three bytes per
// byte of admitted value, in well under a millisecond of CPU per KiB. Each
// class of issue 9 (number literals, indexed format verbs, template parts)
// cost thousands of times that.
const (
	allocBase     = 256 << 10
	allocPerByte  = 2 << 10
	allocPerSpent = 8
	cpuBase       = 500 * time.Millisecond
	cpuPerByte    = 50 * time.Microsecond
	cpuPerSpent   = 100 * time.Nanosecond
)

// costOf runs f once and returns the bytes it allocated (runtime/metrics'
// count is MemStats.TotalAlloc without stopping the world) and the CPU
// time the process spent meanwhile.
func costOf(f func()) (alloc uint64, cpu time.Duration) {
	sample := []metrics.Sample{{Name: "/gc/heap/allocs:bytes"}}
	metrics.Read(sample)
	before, start := sample[0].Value.Uint64(), cpuTime()
	f()
	cpu = cpuTime() - start
	metrics.Read(sample)
	return sample[0].Value.Uint64() - before, cpu
}

// checkProportional fails when run costs more than the fixed multiple of
// the input's size (and of spent) that the constants above allow, in the
// least of three runs.
func checkProportional(t *testing.T, what string, size int, run func() (spent int64)) {
	t.Helper()
	var spent int64
	alloc, cpu := costOf(func() { spent = run() })
	maxAlloc := allocBase + allocPerByte*uint64(size) + allocPerSpent*uint64(spent)
	maxCPU := cpuBase + cpuPerByte*time.Duration(size) + cpuPerSpent*time.Duration(spent)
	for i := 0; i < 2 && (alloc > maxAlloc || cpu > maxCPU); i++ {
		// Once more: a first call may set up what the package keeps
		// (tables, compiled patterns), and the engine shares the process.
		a, c := costOf(func() { run() })
		alloc, cpu = min(alloc, a), min(cpu, c)
	}
	if alloc > maxAlloc {
		t.Fatalf("%s of %d bytes (values admitted: %d bytes) allocated %d bytes, over %d", what, size, spent, alloc, maxAlloc)
	}
	if cpu > maxCPU {
		t.Fatalf("%s of %d bytes (values admitted: %d bytes) took %s of CPU, over %s", what, size, spent, cpu, maxCPU)
	}
}

// checkTokenBound fails when the lexer makes more tokens of src than the
// scan that bounds them before parsing counts.
func checkTokenBound(t *testing.T, src []byte) {
	t.Helper()
	counted, _ := countTokens(src, math.MaxInt)
	if tokens, _ := hclsyntax.LexConfig(src, "fuzz.hcl", hcl.InitialPos); len(tokens) > counted {
		t.Fatalf("the lexer made %d tokens, the bounding scan counted %d", len(tokens), counted)
	}
}

// FuzzLoad feeds arbitrary bytes to Load. Properties: it never panics;
// loading costs no more than a fixed multiple of the input's size and of
// the values the bounds admitted, in allocated bytes and in time; the scan
// that bounds tokens counts at least as many as the lexer makes; the
// scanner the bounds walk makes the lexer's tokens, the plain parser
// builds the parser's trees, and loading in parts gives what loading the
// whole file gives; every
// error names a place in the file (a Subject with the filename); and a
// file that loads without errors still loads, to the same guests, after
// Format, which is idempotent. The committed corpus in
// testdata/fuzz/FuzzLoad holds the examples and the bad cases.
func FuzzLoad(f *testing.F) {
	examples, _ := filepath.Glob("../examples/*.hcl")
	for _, e := range examples {
		if src, err := os.ReadFile(e); err == nil {
			f.Add(src)
		}
	}
	f.Fuzz(func(t *testing.T, src []byte) {
		const name = "fuzz.hcl"
		var h *Host
		var diags hcl.Diagnostics
		checkProportional(t, "loading", len(src), func() (spent int64) {
			h, diags, spent = load(src, name)
			return spent
		})
		checkTokenBound(t, src)
		if utf8.Valid(src) {
			checkScannerIsTheLexer(t, src)
			checkPlainIsTheParser(t, src)
			checkPartsAreTheWhole(t, src)
		}
		checkSubjects(t, diags, name)
		if diags.HasErrors() {
			if h != nil {
				t.Fatal("Load returned a host together with errors")
			}
			return
		}
		formatted, fdiags := Format(src, name)
		if fdiags.HasErrors() {
			t.Fatalf("Format refused a file Load accepted: %s", describe(fdiags))
		}
		again, _ := Format(formatted, name)
		if string(again) != string(formatted) {
			t.Fatalf("Format is not idempotent:\n%s", Diff(name, formatted, again))
		}
		h2, diags2 := Load(formatted, name)
		if diags2.HasErrors() {
			t.Fatalf("the formatted file no longer loads: %s\n%s", describe(diags2), formatted)
		}
		if len(h2.Guests) != len(h.Guests) || len(h2.Jobs) != len(h.Jobs) || h2.Name != h.Name {
			t.Fatalf("formatting changed the meaning: %d/%d guests, %d/%d jobs", len(h.Guests), len(h2.Guests), len(h.Jobs), len(h2.Jobs))
		}
		for i := range h.Guests {
			a, b := h.Guests[i], h2.Guests[i]
			if a.Name != b.Name || a.VMID != b.VMID || a.Memory != b.Memory || a.Hostname != b.Hostname {
				t.Fatalf("formatting changed guest %q", a.Name)
			}
		}
	})
}

// FuzzFormat feeds arbitrary bytes to Format. Properties: it never
// panics; it costs no more than a fixed multiple of the input's size; an
// error names a place in the file; formatted output is canonical (Format
// of it is itself) and still parses.
func FuzzFormat(f *testing.F) {
	examples, _ := filepath.Glob("../examples/*.hcl")
	for _, e := range examples {
		if src, err := os.ReadFile(e); err == nil {
			f.Add(src)
		}
	}
	f.Fuzz(func(t *testing.T, src []byte) {
		const name = "fuzz.hcl"
		var formatted []byte
		var diags hcl.Diagnostics
		checkProportional(t, "formatting", len(src), func() int64 {
			formatted, diags = Format(src, name)
			return 0
		})
		checkSubjects(t, diags, name)
		if diags.HasErrors() {
			return
		}
		again, diags := Format(formatted, name)
		if diags.HasErrors() {
			t.Fatalf("the formatted file no longer parses: %s\n%s", describe(diags), formatted)
		}
		if string(again) != string(formatted) {
			t.Fatalf("Format is not idempotent:\n%s", Diff(name, formatted, again))
		}
	})
}

func checkSubjects(t *testing.T, diags hcl.Diagnostics, name string) {
	t.Helper()
	for _, d := range diags {
		if d.Severity == hcl.DiagError && (d.Subject == nil || d.Subject.Filename != name) {
			t.Fatalf("error %q (%s) has no subject in %s", d.Summary, d.Detail, name)
		}
	}
}
