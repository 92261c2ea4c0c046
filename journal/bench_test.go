package journal

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// BenchmarkAppend is one Append of a step intent: encode, checksum, write,
// fsync. Its cost is the disk's fsync latency.
func BenchmarkAppend(b *testing.B) {
	j := openJournal(b, b.TempDir(), Options{CompactAt: -1})
	mustAppend(b, j, TxnBegin{Txn: "T", Host: "pve-demo"})
	params := json.RawMessage(`{"memory":2048,"cores":2,"net0":"name=eth0,bridge=vmbr0,ip=dhcp"}`)
	b.ReportAllocs()
	n := 0
	for b.Loop() {
		n++
		if err := j.Append(Intent{Txn: "T", Call: fmt.Sprint("a", n), Op: "guest.set_config", Guest: 100 + n%50, Params: params, Class: "benign", Decision: "allowed_benign"}); err != nil {
			b.Fatal(err)
		}
	}
}

// benchJournal writes a journal of about size bytes: closed transactions
// of a few steps each, the shape a long-running host accumulates.
func benchJournal(b *testing.B, size int64) string {
	b.Helper()
	var buf []byte
	params := json.RawMessage(`{"memory":2048,"cores":2}`)
	for n := 0; int64(len(buf)) < size; n++ {
		txn := fmt.Sprint("20261128T030000Z-", n)
		for _, r := range []Record{
			TxnBegin{Time: t0, Txn: txn, Host: "pve-demo", DesiredDigest: "7d793037a0760186574b0282f2f435e7", PlanID: "plan"},
			Intent{Time: t0, Txn: txn, Call: "config", Op: "guest.set_config", Guest: 100 + n%500, Params: params, Class: "benign", Decision: "allowed_benign"},
			TaskStarted{Time: t0, Txn: txn, Call: "config", UPID: "UPID:pve:00001A4E:0003C508:6747DD94:vzset:105:converge@pve!tool:"},
			Result{Time: t0, Txn: txn, Call: "config", Status: StatusOK},
			GuestDigest{Time: t0, Txn: txn, Guest: 100 + n%500, Digest: "e3b0c44298fc1c149afbf4c8996fb924"},
			JobDone{Time: t0, Txn: txn, Job: fmt.Sprint("job-", n)},
			TxnEnd{Time: t0, Txn: txn, Result: TxnConverged},
		} {
			line, err := encodeLine(r)
			if err != nil {
				b.Fatal(err)
			}
			buf = append(buf, line...)
		}
	}
	dir := b.TempDir()
	if err := os.WriteFile(filepath.Join(dir, LogFile), buf, 0o600); err != nil {
		b.Fatal(err)
	}
	return dir
}

// BenchmarkOpen10MB reads, checks and indexes a 10 MB journal (Read: the
// same work as Open without the lock and without compaction).
func BenchmarkOpen10MB(b *testing.B) {
	dir := benchJournal(b, 10<<20)
	d, err := InspectStateDir(dir)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(10 << 20)
	b.ReportAllocs()
	for b.Loop() {
		j, err := Read(d, Options{})
		if err != nil {
			b.Fatal(err)
		}
		if !j.JobDone("job-0") {
			b.Fatal("job-0 not done")
		}
	}
}
