package journal

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

var t0 = time.Date(2026, 11, 28, 3, 0, 0, 0, time.UTC)

// clock returns a clock that ticks one second per call.
func clock() func() time.Time {
	n := 0
	return func() time.Time {
		n++
		return t0.Add(time.Duration(n) * time.Second)
	}
}

func openJournal(t testing.TB, dir string, opts Options) *Journal {
	t.Helper()
	l := lockOf(t, dir)
	j, err := Open(l, opts)
	if err != nil {
		l.Unlock()
		t.Fatal(err)
	}
	t.Cleanup(func() { j.Close() })
	return j
}

// reopen closes j, releases its lock and opens the journal again.
func reopen(t testing.TB, j *Journal, opts Options) (*Journal, error) {
	t.Helper()
	j.Close()
	j.lock.Unlock()
	l, err := j.dir.Lock(context.Background(), 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Unlock() })
	j2, err := Open(l, opts)
	if j2 != nil {
		t.Cleanup(func() { j2.Close() })
	}
	return j2, err
}

// lockOf takes the run lock of dir, released when the test ends.
func lockOf(t testing.TB, dir string) *Lock {
	t.Helper()
	d, err := OpenStateDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	l, err := d.Lock(context.Background(), 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Unlock() })
	return l
}

func mustAppend(t testing.TB, j *Journal, recs ...Record) {
	t.Helper()
	for _, r := range recs {
		if err := j.Append(r); err != nil {
			t.Fatalf("Append(%#v): %v", r, err)
		}
	}
}

// story is two transactions of a realistic run: T1 restored guest 105,
// configured it, took a safety snapshot and backup of 101 and destroyed
// 102 with a signature; it ended. T2 is open: it restored 106, and a
// config step on 106 is in flight with its UPID, another before its UPID.
func story() []Record { return storyRecords() }

func storyRecords() []Record {
	backupTime := t0.Add(-time.Hour)
	return []Record{
		TxnBegin{Txn: "T1", Host: "pve-demo", DesiredDigest: "dd1", PlanID: "p1"},
		Intent{Txn: "T1", Call: "restore-105", Op: "guest.restore", Guest: 105, Params: json.RawMessage(`{"archive":"local:backup/x.tar.zst"}`), Class: "benign", Decision: "allowed_benign"},
		TaskStarted{Txn: "T1", Call: "restore-105", UPID: "UPID:pve:0000A:00B:00C:vzrestore:105:converge@pve!tool:"},
		Result{Txn: "T1", Call: "restore-105", Status: StatusOK},
		GuestCreated{Txn: "T1", Guest: 105, Call: "restore-105"},
		GuestDigest{Txn: "T1", Guest: 105, Digest: "a1", Call: "restore-105"},
		Intent{Txn: "T1", Call: "snap-101", Op: "snapshot.create", Guest: 101, Class: "benign", Decision: "allowed_benign", Provenance: ProvenanceSafetySnapshot},
		Result{Txn: "T1", Call: "snap-101", Status: StatusOK},
		SnapshotCreated{Txn: "T1", Guest: 101, Name: "felhom-safety-1", Call: "snap-101"},
		SnapshotCreated{Txn: "T1", Guest: 101, Name: "felhom-safety-0"},
		BackupCreated{Txn: "T1", Guest: 102, VolID: "local:backup/vzdump-lxc-102.tar.zst", Created: backupTime},
		BackupCreated{Txn: "T1", Guest: 103, VolID: "local:backup/vzdump-lxc-103.tar.zst", Created: backupTime.Add(time.Minute)},
		Intent{Txn: "T1", Call: "destroy-102", Op: "guest.destroy", Guest: 102, Params: json.RawMessage(`{"purge":true}`), Class: "destructive", Decision: "accepted", Nonce: "3b9f0c3c8c1e4f6a9d2e7b5a1c0d4e8f"},
		TaskStarted{Txn: "T1", Call: "destroy-102", UPID: "UPID:pve:0000A:00B:00D:vzdestroy:102:converge@pve!tool:"},
		Result{Txn: "T1", Call: "destroy-102", Status: StatusFailed, Error: "task failed", ExitStatus: "permission check failed"},
		SnapshotRemoved{Txn: "T1", Guest: 101, Name: "felhom-safety-0"},
		BackupRemoved{Txn: "T1", VolID: "local:backup/vzdump-lxc-103.tar.zst"},
		GuestDigest{Txn: "T1", Guest: 101, Digest: "b1"},
		GuestDigest{Txn: "T1", Guest: 101, Digest: "b2"},
		JobDone{Txn: "T1", Job: "nightly-1"},
		TxnEnd{Txn: "T1", Result: TxnFailed, Error: "1 step failed"},
		TxnBegin{Txn: "T2", Host: "pve-demo", DesiredDigest: "dd2", PlanID: "p2"},
		Intent{Txn: "T2", Call: "restore-106", Op: "guest.restore", Guest: 106, Class: "benign", Decision: "allowed_benign"},
		Result{Txn: "T2", Call: "restore-106", Status: StatusOK},
		GuestCreated{Txn: "T2", Guest: 106, Call: "restore-106"},
		Intent{Txn: "T2", Call: "config-106", Op: "guest.set_config", Guest: 106, Params: json.RawMessage(`{"memory":1024}`), Class: "benign", Decision: "allowed_benign"},
		TaskStarted{Txn: "T2", Call: "config-106", UPID: "UPID:pve:0000A:00B:00E:vzset:106:converge@pve!tool:"},
		Intent{Txn: "T2", Call: "start-106", Op: "guest.start", Guest: 106, Class: "benign", Decision: "allowed_benign"},
		JobDone{Txn: "T2", Job: "nightly-2"},
	}
}

// checkStory asserts every query over the story's records.
func checkStory(t *testing.T, j *Journal) {
	t.Helper()
	fl := j.InFlight()
	if len(fl) != 2 || fl[0].Intent.Call != "config-106" || fl[0].UPID == "" || fl[0].TaskTime.IsZero() ||
		fl[1].Intent.Call != "start-106" || fl[1].UPID != "" {
		t.Errorf("InFlight = %+v", fl)
	}
	if !j.JobDone("nightly-1") || !j.JobDone("nightly-2") || j.JobDone("nightly-3") {
		t.Error("JobDone")
	}
	if d, ok := j.LastDigest(101); !ok || d.Digest != "b2" || d.Txn != "T1" || d.Time.IsZero() {
		t.Errorf("LastDigest(101) = %+v, %v", d, ok)
	}
	if d, ok := j.LastDigest(105); !ok || d.Digest != "a1" {
		t.Errorf("LastDigest(105) = %+v, %v", d, ok)
	}
	if _, ok := j.LastDigest(999); ok {
		t.Error("LastDigest of an unknown guest")
	}
	if txn, ok := j.CreatedInTxn(106); !ok || txn != "T2" {
		t.Errorf("CreatedInTxn(106) = %q, %v", txn, ok)
	}
	if txn, ok := j.CreatedInTxn(105); ok {
		t.Errorf("CreatedInTxn(105) = %q: T1 has ended, so 105 is an ordinary guest now", txn)
	}
	if !j.CreatedIn(106, "T2") || j.CreatedIn(106, "T1") {
		t.Error("CreatedIn(106)")
	}
	if !j.ToolSnapshot(101, "felhom-safety-1") || j.ToolSnapshot(101, "felhom-safety-0") || j.ToolSnapshot(102, "felhom-safety-1") {
		t.Error("ToolSnapshot")
	}
	if s := j.ToolSnapshots(); len(s) != 1 || s[0].Name != "felhom-safety-1" || s[0].Guest != 101 || s[0].Txn != "T1" {
		t.Errorf("ToolSnapshots = %+v", s)
	}
	if b := j.ToolBackups(); len(b) != 1 || b[0].VolID != "local:backup/vzdump-lxc-102.tar.zst" || b[0].Guest != 102 ||
		!b[0].Created.Equal(t0.Add(-time.Hour)) {
		t.Errorf("ToolBackups = %+v", b)
	}
	if o := j.OpenTxns(); len(o) != 1 || o[0].Txn != "T2" || o[0].PlanID != "p2" {
		t.Errorf("OpenTxns = %+v", o)
	}
}

func TestAppendQueriesAndReopen(t *testing.T) {
	dir := t.TempDir()
	j := openJournal(t, dir, Options{Now: clock()})
	mustAppend(t, j, story()...)
	checkStory(t, j)
	want := j.Records()
	for i, r := range want {
		if r.When().IsZero() || r.When().Location() != time.UTC {
			t.Fatalf("record %d has time %v", i, r.When())
		}
	}

	j2, err := reopen(t, j, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if j2.TornTail() != nil {
		t.Errorf("torn tail on a clean journal: %v", j2.TornTail())
	}
	checkStory(t, j2)
	if got := j2.Records(); !reflect.DeepEqual(got, want) {
		t.Errorf("records after reopen differ:\n got %v\nwant %v", got, want)
	}
	txns := j2.Transactions()
	if len(txns) != 2 || txns[0].Open() || !txns[1].Open() || len(txns[0].Calls) != 3 || len(txns[1].Calls) != 3 {
		t.Fatalf("Transactions = %+v", txns)
	}
	s := txns[0].Calls[2]
	if s.Intent.Call != "destroy-102" || s.UPID == "" || s.Result == nil || s.Result.Status != StatusFailed || s.Result.ExitStatus == "" {
		t.Errorf("step %+v", s)
	}
	if txns[1].Calls[2].Result != nil || txns[0].End.Result != TxnFailed {
		t.Errorf("transactions %+v", txns)
	}
	// Read sees the same, without the lock.
	d, err := InspectStateDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	r, err := Read(d, Options{})
	if err != nil {
		t.Fatal(err)
	}
	checkStory(t, r)
	if err := r.Append(JobDone{Job: "x"}); !errors.Is(err, ErrReadOnly) {
		t.Errorf("Append on a read-only journal: %v", err)
	}
}

func TestAppendRefusesWhatDoesNotFit(t *testing.T) {
	j := openJournal(t, t.TempDir(), Options{})
	mustAppend(t, j,
		TxnBegin{Txn: "T", Host: "h"},
		Intent{Txn: "T", Call: "a", Op: "guest.start", Guest: 100, Class: "benign"},
		Result{Txn: "T", Call: "a", Status: StatusOK},
	)
	size := j.Size()
	for _, r := range []Record{
		TxnBegin{Txn: "T", Host: "h"}, // began already
		TxnBegin{Txn: "U"},            // no host
		Intent{Txn: "X", Call: "b", Op: "guest.start", Class: "benign"},                       // no such transaction
		Intent{Txn: "T", Call: "a", Op: "guest.start", Class: "benign"},                       // intent twice
		Intent{Txn: "T", Call: "b", Op: "guest.start"},                                        // no class
		Intent{Txn: "T", Call: "b", Op: "x", Class: "b", Params: []byte("{")},                 // bad params
		TaskStarted{Txn: "T", Call: "a", UPID: "UPID:x"},                                      // not in flight
		Result{Txn: "T", Call: "a", Status: StatusOK},                                         // terminal twice
		Result{Txn: "T", Call: "zz", Status: StatusOK},                                        // no intent
		Result{Txn: "T", Call: "a", Status: "maybe"},                                          // unknown status
		TxnEnd{Txn: "T", Result: "fine"},                                                      // unknown result
		TxnEnd{Txn: "X", Result: TxnConverged},                                                // not open
		GuestCreated{Txn: "X", Guest: 100},                                                    // not open
		BackupCreated{Guest: 100, VolID: "v"},                                                 // no created time
		JobDone{},                                                                             // no job
		Intent{Txn: "T", Call: "d", Op: "guest.destroy", Guest: 100, Class: ClassDestructive}, // destructive without its nonce
		Intent{Txn: "T", Call: "big", Op: "x", Class: "benign", Params: json.RawMessage(`"` + strings.Repeat("x", MaxRecordSize) + `"`)},
	} {
		if err := j.Append(r); err == nil {
			t.Errorf("Append(%+v) accepted", r)
		}
	}
	if j.Size() != size {
		t.Errorf("refused appends wrote %d bytes", j.Size()-size)
	}
	mustAppend(t, j, TxnEnd{Txn: "T", Result: TxnConverged})
	if err := j.Append(Intent{Txn: "T", Call: "late", Op: "guest.start", Class: "benign"}); err == nil {
		t.Error("an intent after the transaction ended was accepted")
	}
}

func TestDigestGoneAndCreatedInTxnAfterEnd(t *testing.T) {
	j := openJournal(t, t.TempDir(), Options{})
	mustAppend(t, j,
		TxnBegin{Txn: "T", Host: "h"},
		GuestCreated{Txn: "T", Guest: 200},
		GuestDigest{Txn: "T", Guest: 200, Digest: "x"},
	)
	if txn, ok := j.CreatedInTxn(200); !ok || txn != "T" {
		t.Fatalf("CreatedInTxn = %q, %v", txn, ok)
	}
	mustAppend(t, j, GuestDigest{Txn: "T", Guest: 200, Digest: ""}, TxnEnd{Txn: "T", Result: TxnFailed})
	if _, ok := j.LastDigest(200); ok {
		t.Error("LastDigest of a guest recorded as gone")
	}
	if _, ok := j.CreatedInTxn(200); ok {
		t.Error("CreatedInTxn after the transaction ended")
	}
	if !j.CreatedIn(200, "T") {
		t.Error("CreatedIn(200, T)")
	}
}

// writeStory writes the story to a fresh journal in dir and returns the
// file's bytes and the offset where each line begins.
func writeStory(t *testing.T, dir string) ([]byte, []int) {
	t.Helper()
	j := openJournal(t, dir, Options{Now: clock()})
	mustAppend(t, j, story()...)
	j.Close()
	j.lock.Unlock()
	data, err := os.ReadFile(filepath.Join(dir, LogFile))
	if err != nil {
		t.Fatal(err)
	}
	var starts []int
	for off := 0; off < len(data); {
		starts = append(starts, off)
		off += bytes.IndexByte(data[off:], '\n') + 1
	}
	return data, starts
}

// withLog writes data as the journal of a fresh state directory.
func withLog(t *testing.T, data []byte) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, LogFile), data, 0o600); err != nil {
		t.Fatal(err)
	}
	return dir
}

func openAt(t *testing.T, dir string) (*Journal, error) {
	t.Helper()
	j, err := Open(lockOf(t, dir), Options{})
	if j != nil {
		t.Cleanup(func() { j.Close() })
	}
	return j, err
}

// A crash mid-write leaves the last line cut at any byte: each is a torn
// tail, reported, ignored, saved and cut off by the next append.
func TestTornTailAtEveryOffsetOfTheLastRecord(t *testing.T) {
	full, starts := writeStory(t, t.TempDir())
	last := starts[len(starts)-1]
	nrec := len(starts)
	for cut := last; cut < len(full); cut++ {
		dir := withLog(t, full[:cut])
		// A reader sees the same and changes nothing.
		d, err := InspectStateDir(dir)
		if err != nil {
			t.Fatal(err)
		}
		r, err := Read(d, Options{})
		if err != nil {
			t.Fatalf("cut %d: Read: %v", cut, err)
		}
		if got := len(r.Records()); got != nrec-1 {
			t.Fatalf("cut %d: Read gave %d records, want %d", cut, got, nrec-1)
		}
		if rt := r.TornTail(); (rt != nil) != (cut > last) || rt != nil && !rt.Unlocked {
			t.Fatalf("cut %d: Read torn tail %+v", cut, rt)
		}

		j, err := openAt(t, dir)
		if err != nil {
			t.Fatalf("cut %d: %v", cut, err)
		}
		if got := len(j.Records()); got != nrec-1 {
			t.Fatalf("cut %d: %d records, want %d", cut, got, nrec-1)
		}
		torn := j.TornTail()
		if cut == last {
			if torn != nil {
				t.Fatalf("cut %d at a record boundary: torn tail %v", cut, torn)
			}
		} else if torn == nil || torn.Offset != int64(last) || torn.Length != int64(cut-last) || torn.Unlocked ||
			!strings.Contains(torn.String(), fmt.Sprintf("at byte %d", last)) {
			t.Fatalf("cut %d: torn tail %+v", cut, torn)
		}
		if got, _ := os.ReadFile(filepath.Join(dir, LogFile)); len(got) != cut {
			t.Fatalf("cut %d: Open changed the file before any append", cut)
		}
		mustAppend(t, j, JobDone{Txn: "T2", Job: "after-crash"})
		got, _ := os.ReadFile(filepath.Join(dir, LogFile))
		if !bytes.HasPrefix(got, full[:last]) || bytes.Count(got[last:], []byte("\n")) != 1 || !bytes.Contains(got[last:], []byte("after-crash")) {
			t.Fatalf("cut %d: after the append the file is %q", cut, got[last:])
		}
		if cut > last {
			saved, err := os.ReadFile(filepath.Join(dir, TornFile))
			if err != nil || !bytes.Equal(saved, full[last:cut]) {
				t.Fatalf("cut %d: saved torn bytes %q, %v", cut, saved, err)
			}
		}
		j2, err := reopen(t, j, Options{})
		if err != nil || j2.TornTail() != nil || len(j2.Records()) != nrec || !j2.JobDone("after-crash") {
			t.Fatalf("cut %d: reopen after repair: %v, torn %v", cut, err, j2.TornTail())
		}
	}
}

func wantCorrupt(t *testing.T, what string, err error, offset, line int) {
	t.Helper()
	var ce *CorruptError
	if !errors.As(err, &ce) {
		t.Fatalf("%s: got %v, want *CorruptError", what, err)
	}
	if ce.Offset != int64(offset) || ce.Line != line {
		t.Fatalf("%s: corrupt at byte %d line %d, want byte %d line %d (%v)", what, ce.Offset, ce.Line, offset, line, err)
	}
	if !strings.Contains(err.Error(), fmt.Sprintf("at byte %d", offset)) {
		t.Fatalf("%s: message %q does not name the offset", what, err)
	}
	if ce.Partial == nil || len(ce.Partial.Records()) != line-1 {
		t.Fatalf("%s: partial journal %v", what, ce.Partial)
	}
	if aerr := ce.Partial.Append(JobDone{Job: "x"}); aerr == nil {
		t.Fatalf("%s: a corrupt journal accepted an append", what)
	}
}

// Damage before the last record is never a crash: a hard error naming the
// offset, for every byte of a middle record.
func TestFlippedByteInAMiddleRecordIsCorrupt(t *testing.T) {
	full, starts := writeStory(t, t.TempDir())
	for _, k := range []int{0, 3, len(starts) - 2} {
		start, end := starts[k], starts[k+1]
		for i := start; i < end; i++ {
			for _, mask := range []byte{0x01, 0x80} {
				data := bytes.Clone(full)
				data[i] ^= mask
				what := fmt.Sprintf("record %d byte %d ^%#x", k, i-start, mask)
				if (i-start)%16 == 0 {
					// The whole Open path for some; parse alone for the rest.
					_, err := openAt(t, withLog(t, data))
					wantCorrupt(t, what, err, start, k+1)
					continue
				}
				recs, _, torn, cerr := parse(data)
				if cerr == nil || torn != nil || cerr.Offset != int64(start) || cerr.Line != k+1 || len(recs) != k {
					t.Fatalf("%s: parse gave %d records, torn %v, corrupt %+v", what, len(recs), torn, cerr)
				}
			}
		}
	}
	// The same through Read.
	data := bytes.Clone(full)
	data[starts[1]+20] ^= 0x01
	d, _ := InspectStateDir(withLog(t, data))
	_, err := Read(d, Options{})
	wantCorrupt(t, "Read", err, starts[1], 2)
}

// A flipped byte in the last record cannot be told from a torn write: it
// is a torn tail.
func TestFlippedByteInTheLastRecordIsATornTail(t *testing.T) {
	full, starts := writeStory(t, t.TempDir())
	last := starts[len(starts)-1]
	for i := last; i < len(full); i++ {
		data := bytes.Clone(full)
		data[i] ^= 0x80
		j, err := openAt(t, withLog(t, data))
		if err != nil {
			t.Fatalf("byte %d: %v", i-last, err)
		}
		if tt := j.TornTail(); tt == nil || tt.Offset != int64(last) || len(j.Records()) != len(starts)-1 {
			t.Fatalf("byte %d: torn tail %+v", i-last, tt)
		}
	}
}

func TestEmptyAndOddFiles(t *testing.T) {
	full, starts := writeStory(t, t.TempDir())
	last := starts[len(starts)-1]

	j, err := openAt(t, withLog(t, nil))
	if err != nil || len(j.Records()) != 0 || j.TornTail() != nil {
		t.Fatalf("empty file: %v", err)
	}

	j, err = openAt(t, withLog(t, full[:len(full)-1]))
	if err != nil {
		t.Fatal(err)
	}
	if tt := j.TornTail(); tt == nil || tt.Reason != "no final newline" || len(j.Records()) != len(starts)-1 {
		t.Fatalf("missing final newline: torn %+v", tt)
	}

	// A torn write that left zeros where a sector was not written.
	j, err = openAt(t, withLog(t, append(bytes.Clone(full), make([]byte, 512)...)))
	if err != nil || j.TornTail() == nil || len(j.Records()) != len(starts) {
		t.Fatalf("zero-filled tail: %v, torn %v", err, j.TornTail())
	}
	// ... or only where its newline belongs.
	j, err = openAt(t, withLog(t, append(bytes.Clone(full[:len(full)-1]), 0)))
	if err != nil || j.TornTail() == nil || len(j.Records()) != len(starts)-1 {
		t.Fatalf("zero for the final newline: %v, torn %v", err, j.TornTail())
	}
	zeros := bytes.Clone(full)
	copy(zeros[last:], make([]byte, len(full)-last-1))
	j, err = openAt(t, withLog(t, zeros))
	if err != nil || j.TornTail() == nil || len(j.Records()) != len(starts)-1 {
		t.Fatalf("zeroed last record: %v, torn %v", err, j.TornTail())
	}

	// The newline of the second-to-last record damaged: not a torn tail
	// (that would drop two records), with or without the final newline.
	for _, end := range []int{len(full), len(full) - 1} {
		merged := bytes.Clone(full[:end])
		merged[last-1] = 'x'
		_, err = openAt(t, withLog(t, merged))
		wantCorrupt(t, "merged last records", err, starts[len(starts)-2], len(starts)-1)
		if !strings.Contains(err.Error(), "newline is damaged") {
			t.Errorf("message %q", err)
		}
	}

	// An empty line before the last.
	blank := append(append(bytes.Clone(full[:starts[2]]), '\n'), full[starts[2]:]...)
	_, err = openAt(t, withLog(t, blank))
	wantCorrupt(t, "blank line", err, starts[2], 3)

	// A last line whose checksum holds but whose record this version does
	// not know is no torn write: corrupt, not dropped.
	body := []byte(`{"type":"frobnicate","time":"2026-11-28T03:00:00Z"}`)
	line := fmt.Appendf(nil, "%08x %s\n", crc32.Checksum(body, castagnoli), body)
	_, err = openAt(t, withLog(t, append(bytes.Clone(full), line...)))
	wantCorrupt(t, "unknown type", err, len(full), len(starts)+1)
	if !strings.Contains(err.Error(), `unknown record type "frobnicate"`) {
		t.Errorf("message %q", err)
	}

	// Upper-case hex is not the format.
	for k, start := range starts[:len(starts)-1] {
		up := bytes.Clone(full)
		copy(up[start:], bytes.ToUpper(up[start:start+8]))
		if bytes.Equal(up, full) {
			continue // a checksum of digits only
		}
		_, err = openAt(t, withLog(t, up))
		wantCorrupt(t, "upper-case checksum", err, start, k+1)
		break
	}
}

func TestSizeBound(t *testing.T) {
	full, _ := writeStory(t, t.TempDir())
	dir := withLog(t, full)
	l := lockOf(t, dir)
	d := l.Dir()
	_, err := Open(l, Options{MaxSize: int64(len(full) - 1)})
	var te *TooLargeError
	if !errors.As(err, &te) || te.Size != int64(len(full)) || !strings.Contains(err.Error(), "above the bound") {
		t.Fatalf("got %v, want *TooLargeError", err)
	}
	_, err = Read(d, Options{MaxSize: 100})
	if !errors.As(err, &te) {
		t.Fatalf("Read: got %v, want *TooLargeError", err)
	}
	if _, err := Open(l, Options{MaxSize: int64(len(full))}); err != nil {
		t.Fatalf("at the bound: %v", err)
	}
}

func TestOpenNeedsTheLock(t *testing.T) {
	d, err := OpenStateDir(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	l, err := d.Lock(context.Background(), 0)
	if err != nil {
		t.Fatal(err)
	}
	l.Unlock()
	if _, err := Open(l, Options{}); err == nil {
		t.Fatal("Open with a released lock")
	}
	if _, err := Open(nil, Options{}); err == nil {
		t.Fatal("Open without a lock")
	}
	l, err = d.Lock(context.Background(), 0)
	if err != nil {
		t.Fatal(err)
	}
	j, err := Open(l, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	l.Unlock()
	if err := j.Append(TxnBegin{Txn: "T", Host: "h"}); err == nil || !strings.Contains(err.Error(), "lock was released") {
		t.Fatalf("Append after Unlock: %v", err)
	}
}

func TestReadMissingJournalIsEmpty(t *testing.T) {
	dir := t.TempDir()
	d, err := InspectStateDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	j, err := Read(d, Options{})
	if err != nil || len(j.Records()) != 0 || len(j.InFlight()) != 0 {
		t.Fatalf("%v", err)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("Read wrote %v", entries)
	}
}

func TestLineFormat(t *testing.T) {
	line, err := encodeLine(JobDone{Time: t0, Job: "j1"})
	if err != nil {
		t.Fatal(err)
	}
	body := `{"type":"job_done","time":"2026-11-28T03:00:00Z","job":"j1"}`
	want := fmt.Sprintf("%08x %s\n", crc32.Checksum([]byte(body), crc32.MakeTable(crc32.Castagnoli)), body)
	if string(line) != want {
		t.Errorf("line %q, want %q", line, want)
	}
	// The example of the package documentation.
	doc := `aa324079 {"type":"intent","time":"2026-11-28T03:00:01Z","txn":"20261128T030000Z-3f9a0c1e","action":"set-config-105","op":"guest.set_config","guest":105,"params":{"memory":1024},"class":"benign","decision":"allowed_benign"}`
	r, _, err := decodeLine([]byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	if in, ok := r.(Intent); !ok || in.Guest != 105 || string(in.Params) != `{"memory":1024}` {
		t.Fatalf("decoded %#v", r)
	}
	again, err := encodeLine(r)
	if err != nil || string(again) != doc+"\n" {
		t.Errorf("re-encoded %q, %v", again, err)
	}
}

// InFlight follows the journal's order, not the records' times: a clock
// set back between two intents changes nothing.
func TestInFlightInJournalOrder(t *testing.T) {
	j := openJournal(t, t.TempDir(), Options{})
	mustAppend(t, j,
		TxnBegin{Txn: "T", Host: "h"},
		Intent{Time: t0, Txn: "T", Call: "z-first", Op: "guest.start", Guest: 101, Class: ClassBenign},
		Intent{Time: t0.Add(-time.Hour), Txn: "T", Call: "a-second", Op: "guest.start", Guest: 102, Class: ClassBenign},
		Intent{Time: t0.Add(-time.Hour), Txn: "T", Call: "m-third", Op: "guest.destroy", Guest: 103, Class: ClassDestructive, Nonce: "00112233445566778899aabbccddeeff"},
	)
	j2, err := reopen(t, j, Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, jj := range []*Journal{j, j2} {
		fl := jj.InFlight()
		if len(fl) != 3 || fl[0].Intent.Call != "z-first" || fl[1].Intent.Call != "a-second" || fl[2].Intent.Call != "m-third" {
			t.Fatalf("InFlight = %+v", fl)
		}
	}
}

// After a failed fsync nothing more is appended until the journal is
// opened again; the record whose Append failed may be on disk, and reads
// as what it is (here: an intent in flight, never acknowledged).
func TestFailedFsyncRefusesUntilReopened(t *testing.T) {
	j := openJournal(t, t.TempDir(), Options{})
	mustAppend(t, j, TxnBegin{Txn: "T", Host: "h"})
	boom := errors.New("EIO")
	syncFile = func(*os.File) error { return boom }
	err := j.Append(Intent{Txn: "T", Call: "a", Op: "guest.start", Guest: 100, Class: ClassBenign})
	syncFile = (*os.File).Sync
	if !errors.Is(err, boom) {
		t.Fatalf("Append with a failing fsync: %v", err)
	}
	if len(j.InFlight()) != 0 {
		t.Error("an unacknowledged intent is in the view")
	}
	if err := j.Append(JobDone{Txn: "T", Job: "x"}); err == nil || !strings.Contains(err.Error(), "open it again") {
		t.Fatalf("Append after a failed fsync: %v", err)
	}
	j2, err := reopen(t, j, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if fl := j2.InFlight(); len(fl) != 1 || fl[0].Intent.Call != "a" {
		t.Fatalf("after reopen InFlight = %+v", fl)
	}
	mustAppend(t, j2, Result{Txn: "T", Call: "a", Status: StatusAborted})
}
