package apply

import (
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
)

// CrashHook is a test hook, for SessionOptions.Hook: FELHOM_CONVERGE_TEST_CRASH_AT=POINT[:OP[:N]]
// (POINT one of accepted, intent, upid, wait, terminal) kills the
// process with SIGKILL right after the first (or Nth) journal record of
// that kind (for accepted: once the gate spent a signature's nonce, before
// the intent; for wait: while the task is running), for the op OP when
// given (the Nth in the order records were written, whichever worker
// wrote it). Crash tests use it to stop a run at exactly that point; it is never set
// in production.
func CrashHook(spec string) func(point, op string) {
	if spec == "" {
		return nil
	}
	point, op, _ := strings.Cut(spec, ":")
	op, nth, _ := strings.Cut(op, ":")
	n, err := strconv.Atoi(nth)
	if err != nil || n < 1 {
		n = 1
	}
	var seen atomic.Int64 // parallel workers reach points at once
	return func(p, o string) {
		if p == point && (op == "" || op == o) {
			if seen.Add(1) < int64(n) {
				return
			}
			syscall.Kill(os.Getpid(), syscall.SIGKILL)
			select {} // the signal is on its way
		}
	}
}
