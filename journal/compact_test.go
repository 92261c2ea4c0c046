package journal

import (
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestCompactKeepsExactlyWhatIsStillNeeded(t *testing.T) {
	dir := t.TempDir()
	j := openJournal(t, dir, Options{Now: clock(), CompactAt: -1})
	mustAppend(t, j, story()...)
	all := j.Records()
	before := j.Size()
	if err := j.Compact(); err != nil {
		t.Fatal(err)
	}
	// By position in story(): from the ended T1 only the live facts, and
	// all of the open T2.
	var want []Record
	for _, i := range []int{
		5,  // digest of 105 (its last)
		8,  // safety snapshot felhom-safety-1 (felhom-safety-0 was removed)
		10, // safety backup of 102 (103's was removed)
		18, // digest b2 of 101 (b1 is older)
		19, // job nightly-1
	} {
		want = append(want, all[i])
	}
	want = append(want, all[21:]...) // T2, open, with steps in flight
	// First a checkpoint that continues the sequence numbers and names the
	// checksum of the last record compacted away.
	lastLine, err := encodeLine(all[len(all)-1])
	if err != nil {
		t.Fatal(err)
	}
	cp, ok := j.Records()[0].(Checkpoint)
	if !ok || cp.Seq != int64(len(all))+1 || cp.Prev != string(lastLine[:8]) || cp.Dropped != len(all)-len(want) || cp.Time.IsZero() {
		t.Fatalf("first record after compaction %#v, want a checkpoint at %d after %s", j.Records()[0], len(all)+1, lastLine[:8])
	}
	want = append([]Record{cp}, want...)
	if got := j.Records(); !reflect.DeepEqual(got, want) {
		t.Fatalf("kept:\n%s\nwant:\n%s", describe(got), describe(want))
	}
	if j.Size() >= before {
		t.Errorf("size %d after compaction, %d before", j.Size(), before)
	}
	checkStory(t, j)
	if txns := j.Transactions(); len(txns) != 1 || txns[0].Begin.Txn != "T2" || len(txns[0].Calls) != 3 {
		t.Errorf("transactions after compaction: %+v", txns)
	}
	// What is on disk is what is in memory, and appends continue.
	j2, err := reopen(t, j, Options{CompactAt: -1})
	if err != nil {
		t.Fatal(err)
	}
	if got := j2.Records(); !reflect.DeepEqual(got, want) {
		t.Fatalf("after reopen:\n%s", describe(got))
	}
	checkStory(t, j2)
	mustAppend(t, j2, Result{Txn: "T2", Call: "config-106", Status: StatusOK})
	if fi, err := os.Stat(filepath.Join(dir, LogFile)); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("compacted journal: %v, %v", fi.Mode(), err)
	}
	// A second compaction of a compacted journal keeps the same, under a
	// new checkpoint.
	cpLen := func(r Record) int64 {
		line, err := encodeLine(r)
		if err != nil {
			t.Fatal(err)
		}
		return int64(len(line))
	}
	before = j2.Size() - cpLen(j2.Records()[0])
	kept := j2.Records()[1:]
	if err := j2.Compact(); err != nil {
		t.Fatal(err)
	}
	got := j2.Records()
	if !reflect.DeepEqual(got[1:], kept) || got[0].(Checkpoint).Seq != cp.Seq+int64(len(kept))+1 {
		t.Errorf("compacting a compacted journal:\n%s", describe(got))
	}
	if after := j2.Size() - cpLen(got[0]); after != before {
		t.Errorf("compacting a compacted journal changed the size of its records %d -> %d", before, after)
	}
}

func describe(recs []Record) string {
	var b strings.Builder
	for _, r := range recs {
		fmt.Fprintf(&b, "  %s %s %+v\n", r.Type(), r.TxnID(), r)
	}
	return b.String()
}

// Past CompactAt, Append compacts on its own: the journal stays small
// while every job id and the open transaction survive.
func TestAppendCompactsPastTheBound(t *testing.T) {
	dir := t.TempDir()
	const txns = 100
	opts := Options{CompactAt: 2048}
	j := openJournal(t, dir, opts)
	mustAppend(t, j, TxnBegin{Txn: "open", Host: "h"}, Intent{Txn: "open", Call: "s", Op: "guest.start", Guest: 100, Class: "benign"})
	wantDigest := map[int]string{}
	for n := range txns {
		txn := fmt.Sprint("t", n)
		wantDigest[100+n%3] = strconv.Itoa(n)
		mustAppend(t, j,
			TxnBegin{Txn: txn, Host: "h"},
			Intent{Txn: txn, Call: "a", Op: "guest.set_config", Guest: 100 + n%3, Class: "benign"},
			Result{Txn: txn, Call: "a", Status: StatusOK},
			GuestDigest{Txn: txn, Guest: 100 + n%3, Digest: strconv.Itoa(n)},
			JobDone{Txn: txn, Job: fmt.Sprint("job-", n)},
			TxnEnd{Txn: txn, Result: TxnConverged},
		)
		// Compaction keeps about 100 bytes a job; it runs again once the
		// journal doubled what it kept, so the size follows the live part,
		// not the history (about 600 bytes a transaction).
		if live := 100*int64(n+1) + 2000; j.Size() > max(2048, 2*live)+2000 {
			t.Fatalf("after %d transactions the journal is %d bytes", n+1, j.Size())
		}
	}
	j2, err := reopen(t, j, opts)
	if err != nil {
		t.Fatal(err)
	}
	if j2.Size() > 100*txns+2000 {
		t.Errorf("journal of %d bytes after compaction keeps more than the live part", j2.Size())
	}
	for n := range txns {
		if !j2.JobDone(fmt.Sprint("job-", n)) {
			t.Fatalf("job-%d forgotten by compaction", n)
		}
	}
	for g := range 3 {
		if d, ok := j2.LastDigest(100 + g); !ok || d.Digest != wantDigest[100+g] {
			t.Errorf("LastDigest(%d) = %+v, %v", 100+g, d, ok)
		}
	}
	if fl := j2.InFlight(); len(fl) != 1 || fl[0].Intent.Txn != "open" {
		t.Errorf("InFlight = %+v", fl)
	}
	if o := j2.OpenTxns(); len(o) != 1 || o[0].Txn != "open" {
		t.Errorf("OpenTxns = %+v", o)
	}
}

// A torn tail is saved and dropped by a compaction at Open, and a crash
// mid-compaction's temporary file is removed.
func TestOpenCompactsAndCleansUp(t *testing.T) {
	full, starts := writeStory(t, t.TempDir())
	last := starts[len(starts)-1]
	dir := withLog(t, full[:last+7])
	stale := filepath.Join(dir, "."+LogFile+".tmp123")
	if err := os.WriteFile(stale, []byte("half a compaction"), 0o600); err != nil {
		t.Fatal(err)
	}
	j := openJournal(t, dir, Options{CompactAt: 100})
	if tt := j.TornTail(); tt == nil || tt.Offset != int64(last) {
		t.Fatalf("torn tail %+v", tt)
	}
	if _, err := os.Stat(stale); !os.IsNotExist(err) {
		t.Errorf("stale temporary file left: %v", err)
	}
	if saved, err := os.ReadFile(filepath.Join(dir, TornFile)); err != nil || string(saved) != string(full[last:last+7]) {
		t.Errorf("torn bytes %q, %v", saved, err)
	}
	data, _ := os.ReadFile(filepath.Join(dir, LogFile))
	if recs, valid, torn, cerr := parse(data); torn != nil || cerr != nil || valid != int64(len(data)) || len(recs) != len(j.Records()) {
		t.Fatalf("compacted file: %d records, torn %v, corrupt %v", len(recs), torn, cerr)
	}
	checkStoryWithout(t, j, "nightly-2") // the torn record was the last job
}

// checkStoryWithout checks the story's queries where the job's record was
// lost to a torn tail.
func checkStoryWithout(t *testing.T, j *Journal, job string) {
	t.Helper()
	if j.JobDone(job) {
		t.Errorf("JobDone(%s) from a torn record", job)
	}
	if _, ok := j.CreatedInTxn(106); !ok || len(j.InFlight()) != 2 || !j.JobDone("nightly-1") || len(j.ToolBackups()) != 1 {
		t.Errorf("story queries after compaction")
	}
}

// Kill a real writer at random moments, over and over, while it appends
// and compacts every few records: every acknowledged record survives and
// the journal never reads as corrupt.
func TestCompactionSurvivesKill(t *testing.T) {
	if testing.Short() {
		t.Skip("kills a writer process repeatedly")
	}
	dir := t.TempDir()
	rng := rand.New(rand.NewPCG(1, 2))
	acked := -1
	for round := range 8 {
		cmd, _, out := helper(t, "appender", dir)
		line := expectLine(t, out, "start ")
		start, _ := strconv.Atoi(strings.TrimPrefix(line, "start "))
		// A job may be durable without its ack (killed in between), so
		// the next round may start one later, never earlier.
		if start <= acked {
			t.Fatalf("round %d starts at job %d, but job %d was acknowledged", round, start, acked)
		}
		acked = start - 1
		for range 1 + rng.IntN(40) {
			line := expectLine(t, out, "ack ")
			acked, _ = strconv.Atoi(strings.TrimPrefix(line, "ack "))
		}
		// Some rounds die at once, others after writing on for a while.
		if rng.IntN(2) == 0 {
			for range rng.IntN(200) {
				if !out.Scan() {
					break
				}
				if a, ok := strings.CutPrefix(out.Text(), "ack "); ok {
					acked, _ = strconv.Atoi(a)
				}
			}
		}
		cmd.Process.Kill()
		cmd.Wait()
		// Whatever it printed after its last scanned ack may also be
		// durable: read on to the end of its output.
		for out.Scan() {
			if a, ok := strings.CutPrefix(out.Text(), "ack "); ok {
				acked, _ = strconv.Atoi(a)
			}
		}
	}
	j := openJournal(t, dir, Options{})
	for n := 0; n <= acked; n++ {
		if !j.JobDone(fmt.Sprint("job-", n)) {
			t.Fatalf("acknowledged job-%d lost", n)
		}
	}
	if acked < 8 {
		t.Fatalf("only %d jobs acknowledged", acked+1)
	}
}

// A compaction that fails after an Append leaves the record written and
// the journal usable; the error is kept for CompactErr.
func TestFailedCompactionDoesNotFailTheAppend(t *testing.T) {
	dir := t.TempDir()
	j := openJournal(t, dir, Options{CompactAt: 600})
	boom := errors.New("disk full")
	writeCompacted = func(string, []byte, fs.FileMode) error { return boom }
	t.Cleanup(func() { writeCompacted = atomicfileWriteFile })
	for n := range 20 {
		if err := j.Append(JobDone{Job: fmt.Sprint("job-", n)}); err != nil {
			t.Fatalf("append %d: %v", n, err)
		}
	}
	if err := j.CompactErr(); !errors.Is(err, boom) {
		t.Fatalf("CompactErr = %v", err)
	}
	writeCompacted = atomicfileWriteFile
	for n := 20; n < 60; n++ {
		mustAppend(t, j, JobDone{Job: fmt.Sprint("job-", n)})
	}
	if err := j.CompactErr(); err != nil {
		t.Fatalf("CompactErr after a compaction succeeded: %v", err)
	}
	j2, err := reopen(t, j, Options{CompactAt: -1})
	if err != nil {
		t.Fatal(err)
	}
	for n := range 60 {
		if !j2.JobDone(fmt.Sprint("job-", n)) {
			t.Fatalf("job-%d lost", n)
		}
	}
}

var atomicfileWriteFile = writeCompacted

// Read takes no lock: while a writer appends and compacts, every Read
// succeeds (at worst with a torn tail, the write in progress), and the
// jobs it sees done never go back.
func TestReadWhileWriting(t *testing.T) {
	dir := t.TempDir()
	j := openJournal(t, dir, Options{CompactAt: 1500})
	d, err := InspectStateDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	const jobs = 150
	done := make(chan struct{})
	go func() {
		defer close(done)
		for n := range jobs {
			txn := fmt.Sprint("t", n)
			for _, r := range []Record{
				TxnBegin{Txn: txn, Host: "h"},
				Intent{Txn: txn, Call: "a", Op: "guest.start", Guest: 100, Class: ClassBenign},
				Result{Txn: txn, Call: "a", Status: StatusOK},
				JobDone{Txn: txn, Job: fmt.Sprint("job-", n)},
				TxnEnd{Txn: txn, Result: TxnConverged},
			} {
				if err := j.Append(r); err != nil {
					t.Error(err)
					return
				}
			}
		}
	}()
	seen, reads := 0, 0
	for running := true; running; reads++ {
		select {
		case <-done:
			running = false
		default:
		}
		r, err := Read(d, Options{})
		if err != nil {
			t.Fatalf("Read while writing: %v", err)
		}
		if l := r.Lost(); l != nil {
			t.Fatalf("Read while writing and compacting: %v", l)
		}
		n := 0
		for n < jobs && r.JobDone(fmt.Sprint("job-", n)) {
			n++
		}
		if n < seen {
			t.Fatalf("a Read saw %d jobs done after one saw %d", n, seen)
		}
		seen = n
	}
	if seen != jobs {
		t.Fatalf("the last Read saw %d jobs done, want %d", seen, jobs)
	}
	t.Logf("%d reads", reads)
}

// The lists a desired file owns ride on a guest's last digest, which
// compaction keeps: they survive compaction and reopening.
func TestCompactKeepsListOwnership(t *testing.T) {
	dir := t.TempDir()
	j2 := compacted(t, dir,
		TxnBegin{Txn: "T1", Host: "h"},
		GuestDigest{Txn: "T1", Guest: 101, Digest: "d1", Owns: "mounts"},
		GuestDigest{Txn: "T1", Guest: 101, Digest: "d2", Owns: "mounts,networks"},
		TxnEnd{Txn: "T1", Result: TxnConverged})
	if d, ok := j2.LastDigest(101); !ok || d.Digest != "d2" || d.Owns != "mounts,networks" {
		t.Fatalf("LastDigest(101) = %+v %v, want d2 owning mounts,networks", d, ok)
	}
}

// A golden image's archive is recorded like a safety backup, kept by
// compaction, and never listed among the safety backups housekeeping
// removes.
func TestGoldenArchivesAreNotSafetyBackups(t *testing.T) {
	dir := t.TempDir()
	at := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	j2 := compacted(t, dir,
		TxnBegin{Txn: "T1", Host: "h"},
		BackupCreated{Txn: "T1", Guest: 100, VolID: "local:backup/vzdump-lxc-100-a.tar.zst", Created: at, Size: 1},
		BackupCreated{Txn: "T1", Guest: 9000, VolID: "local:backup/vzdump-lxc-9000-a.tar.zst", Created: at, Size: 2, Golden: "debian-base"},
		BackupCreated{Txn: "T1", Guest: 9000, VolID: "local:backup/vzdump-lxc-9000-b.tar.zst", Created: at.Add(time.Hour), Size: 3, Golden: "debian-base"},
		TxnEnd{Txn: "T1", Result: TxnConverged})
	if b := j2.ToolBackups(); len(b) != 1 || b[0].Guest != 100 {
		t.Errorf("safety backups %+v", b)
	}
	g := j2.GoldenArchives("debian-base")
	if len(g) != 2 || g[1].VolID != "local:backup/vzdump-lxc-9000-b.tar.zst" || g[1].Golden != "debian-base" || g[1].Size != 3 {
		t.Errorf("golden archives %+v", g)
	}
	if g := j2.GoldenArchives("other"); len(g) != 0 {
		t.Errorf("another golden image's archives %+v", g)
	}
}

// compacted appends recs to a new journal in dir, compacts it and
// reopens it.
func compacted(t *testing.T, dir string, recs ...Record) *Journal {
	t.Helper()
	j := openJournal(t, dir, Options{Now: clock(), CompactAt: -1})
	mustAppend(t, j, recs...)
	if err := j.Compact(); err != nil {
		t.Fatal(err)
	}
	j2, err := reopen(t, j, Options{CompactAt: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { j2.Close() })
	return j2
}
