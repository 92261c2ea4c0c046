package journal

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// The test binary doubles as a second process: with JOURNAL_TEST_HELPER
// set it runs one helper and exits, so lock and crash tests use a real
// other process (its own pid, its own open files, killed for real).
func TestMain(m *testing.M) {
	if h := os.Getenv("JOURNAL_TEST_HELPER"); h != "" {
		os.Exit(runHelper(h, os.Getenv("JOURNAL_TEST_DIR")))
	}
	os.Exit(m.Run())
}

func runHelper(name, dir string) int {
	switch name {
	case "lock":
		// Take the lock, say so, hold it until stdin closes.
		d, err := OpenStateDir(dir)
		if err != nil {
			fmt.Println("error", err)
			return 1
		}
		l, err := d.Lock(context.Background(), 10*time.Second)
		if err != nil {
			fmt.Println("error", err)
			return 1
		}
		fmt.Println("locked", os.Getpid())
		io.Copy(io.Discard, os.Stdin)
		if err := l.Unlock(); err != nil {
			fmt.Println("error", err)
			return 1
		}
		return 0
	case "statedir":
		// Report how OpenStateDir judges dir for this process's uid.
		_, err := OpenStateDir(dir)
		if os.Getenv("JOURNAL_TEST_INSPECT") != "" {
			_, err = InspectStateDir(dir)
		}
		var ue *UnsafeError
		switch {
		case err == nil:
			fmt.Println("accepted")
		case errors.As(err, &ue):
			fmt.Println("unsafe:", ue.Reason)
		default:
			fmt.Println("error:", err)
		}
		return 0
	case "appender":
		return appender(dir)
	}
	fmt.Println("unknown helper", name)
	return 2
}

// appender runs transactions until killed, compacting often, and prints
// "ack N" after the Append of job N returned (so it is durable).
func appender(dir string) int {
	d, err := OpenStateDir(dir)
	if err != nil {
		fmt.Println("error", err)
		return 1
	}
	l, err := d.Lock(context.Background(), 10*time.Second)
	if err != nil {
		fmt.Println("error", err)
		return 1
	}
	j, err := Open(l, Options{CompactAt: 2048})
	if err != nil {
		fmt.Println("error", err)
		return 1
	}
	start := 0
	for n := 0; ; n++ {
		if !j.JobDone(fmt.Sprint("job-", n)) {
			start = n
			break
		}
	}
	fmt.Println("start", start)
	for n := start; ; n++ {
		txn := fmt.Sprintf("t%d-%d", os.Getpid(), n)
		steps := []Record{
			TxnBegin{Txn: txn, Host: "pve-demo"},
			Intent{Txn: txn, Call: "a", Op: "guest.set_config", Guest: 100 + n%5, Class: "benign", Params: []byte(`{"memory":512}`)},
			TaskStarted{Txn: txn, Call: "a", UPID: "UPID:pve:00001:00002:00003:vzset:100:root@pam:"},
			Result{Txn: txn, Call: "a", Status: StatusOK},
			GuestDigest{Txn: txn, Guest: 100 + n%5, Digest: fmt.Sprintf("d%d", n)},
			JobDone{Txn: txn, Job: fmt.Sprint("job-", n)},
		}
		for _, r := range steps {
			if err := j.Append(r); err != nil {
				fmt.Println("error", err)
				return 1
			}
		}
		fmt.Println("ack", n)
		if err := j.Append(TxnEnd{Txn: txn, Result: TxnConverged}); err != nil {
			fmt.Println("error", err)
			return 1
		}
	}
}

// helper starts the test binary as helper name on dir. It returns the
// command, a writer to its stdin and a reader of its stdout lines.
func helper(t *testing.T, name, dir string) (*exec.Cmd, io.WriteCloser, *bufio.Scanner) {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe, "-test.run=^$")
	cmd.Env = append(os.Environ(), "JOURNAL_TEST_HELPER="+name, "JOURNAL_TEST_DIR="+dir, helperGorace)
	cmd.Stderr = os.Stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		in.Close()
		cmd.Process.Kill()
		cmd.Wait()
	})
	return cmd, in, bufio.NewScanner(out)
}

// expectLine reads the helper's next line and fails unless it starts with
// prefix.
func expectLine(t *testing.T, sc *bufio.Scanner, prefix string) string {
	t.Helper()
	if !sc.Scan() {
		t.Fatalf("helper ended before %q: %v", prefix, sc.Err())
	}
	line := sc.Text()
	if !strings.HasPrefix(line, prefix) {
		t.Fatalf("helper said %q, want %q", line, prefix)
	}
	return line
}

// helperGorace keeps a race-enabled helper from sleeping a second at exit.
const helperGorace = "GORACE=atexit_sleep_ms=0"
