package trust

import (
	"bytes"
	"errors"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Tests of the file nonce store as an attacker (or a crash) would treat
// it: the store must never answer "not consumed" for a nonce it holds,
// except in the cases its doc comment names.

// nonceFixture is a store with three consumed nonces.
type nonceFixture struct {
	dir, path string
	store     *FileNonceStore
	now       time.Time
	data      []byte // the file with its three records
	ends      []int  // offset after each record
}

func newNonceFixture(t *testing.T) *nonceFixture {
	t.Helper()
	f := &nonceFixture{dir: t.TempDir(), now: testNow}
	f.path = filepath.Join(f.dir, NonceFile)
	var err error
	f.store, err = OpenFileNonceStore(f.dir, func() time.Time { return f.now })
	if err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= 3; i++ {
		if err := f.store.Consume(nonceN(i), testNow.Add(time.Duration(i)*time.Hour)); err != nil {
			t.Fatal(err)
		}
	}
	f.data, err = os.ReadFile(f.path)
	if err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= 3; i++ {
		f.ends = append(f.ends, headerLen+i*recordLen)
	}
	return f
}

func (f *nonceFixture) write(t *testing.T, data []byte) {
	t.Helper()
	if err := os.WriteFile(f.path, data, 0o600); err != nil {
		t.Fatal(err)
	}
}

// lost lists the fixture's nonces a store holding data would say are
// unused (what Consumed answers, without the file system in between).
func (f *nonceFixture) lost(data []byte) ([]int, error) {
	st, err := f.store.parse(data)
	if err != nil {
		return nil, err
	}
	var out []int
	for i := 1; i <= 3; i++ {
		if !st.has(nonceN(i)) {
			out = append(out, i)
		}
	}
	return out, nil
}

// forgotten lists the fixture's nonces the store says are unused; err is
// the store's error, if any.
func (f *nonceFixture) forgotten() ([]int, error) {
	var out []int
	for i := 1; i <= 3; i++ {
		used, err := f.store.Consumed(nonceN(i))
		if err != nil {
			return nil, err
		}
		if !used {
			out = append(out, i)
		}
	}
	return out, nil
}

func TestFileNonceStoreFormat(t *testing.T) {
	f := newNonceFixture(t)
	want := "felhom-converge consumed-nonces v1 pruned 1970-01-01T00:00:00Z " + fmt.Sprintf("%08x", crc32.Checksum([]byte("felhom-converge consumed-nonces v1 pruned 1970-01-01T00:00:00Z"), castagnoli)) + "\n" +
		nonceN(1) + " 2026-11-27T13:00:00Z 2026-11-27T12:00:00Z "
	if !strings.HasPrefix(string(f.data), want) {
		t.Fatalf("file starts\n%q\nwant\n%q", f.data[:len(want)], want)
	}
	if !bytes.HasSuffix(f.data, []byte("\nend 0000000003 ")[1:]) && !bytes.Contains(f.data, []byte("\nend 0000000003 ")) {
		t.Fatalf("no end record for 3 records:\n%s", f.data)
	}
	if len(f.data) != headerLen+3*recordLen+endLen {
		t.Fatalf("size %d", len(f.data))
	}
	fi, err := os.Stat(f.path)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("mode: %v %v", fi, err)
	}
	// Every line carries the CRC-32C of its bytes: a check by hand.
	for _, line := range strings.SplitAfter(string(f.data[headerLen:]), "\n") {
		if line == "" {
			continue
		}
		if _, ok := checkCRC([]byte(line)); !ok {
			t.Errorf("line %q: checksum does not check", line)
		}
	}
}

// TestFileNonceStoreAttacks are the cases, one by one.
func TestFileNonceStoreAttacks(t *testing.T) {
	f := newNonceFixture(t)
	last := f.ends[2] - recordLen // offset of record 3
	tests := []struct {
		name string
		edit func([]byte) []byte
		want string
	}{
		{"last newline removed", func(b []byte) []byte { return b[:len(b)-1] }, "ends inside its end record"},
		{"newline of the last record removed", func(b []byte) []byte { return cut(b, f.ends[2]-1, 1) }, "record 3 of 3 is damaged"},
		{"newline of a middle record removed", func(b []byte) []byte { return cut(b, f.ends[1]-1, 1) }, "record 2 of 3 is damaged"},
		{"a hex digit of the last nonce changed", func(b []byte) []byte { return set(b, last+31, '7') }, "record 3 of 3 is damaged"},
		{"a hex digit of the first nonce changed", func(b []byte) []byte { return set(b, headerLen+5, 'f') }, "record 1 of 3 is damaged"},
		{"keep-until changed", func(b []byte) []byte { return set(b, last+33+3, '0') }, "record 3 of 3 is damaged"},
		{"emptied", func([]byte) []byte { return nil }, "the file is empty"},
		{"only the header left", func([]byte) []byte { return bytes.Clone(f.data[:headerLen]) }, "ends without its end record"},
		{"cut at a record boundary", func(b []byte) []byte { return b[:f.ends[1]] }, "ends without its end record"},
		{"last record removed", func(b []byte) []byte { return cut(b, last, recordLen) }, "counts 3 records, the file holds 2"},
		{"first record removed", func(b []byte) []byte { return cut(b, headerLen, recordLen) }, "counts 3 records, the file holds 2"},
		{"header changed", func(b []byte) []byte { return set(b, 3, 'X') }, "header"},
		{"pruned-until changed", func(b []byte) []byte { return set(b, headerLen-12, '9') }, "header"},
		{"old format", func([]byte) []byte { return []byte(nonceN(1) + " 1795784400\n") }, "header"},
		{"record duplicated over the end", func(b []byte) []byte {
			return append(append([]byte{}, b[:f.ends[2]]...), append(b[last:f.ends[2]], b[f.ends[2]:]...)...)
		}, "counts 3 records, the file holds 4"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f.write(t, tt.edit(bytes.Clone(f.data)))
			_, err := f.store.Consumed(nonceN(1))
			if !errors.Is(err, ErrNonceStoreCorrupt) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Consumed: %v, want ErrNonceStoreCorrupt with %q", err, tt.want)
			}
			if err := f.store.Consume(nonceN(9), testNow.Add(time.Hour)); !errors.Is(err, ErrNonceStoreCorrupt) {
				t.Fatalf("Consume into a damaged store: %v", err)
			}
			for i := 1; i <= 3; i++ {
				if err := f.store.Consume(nonceN(i), testNow.Add(time.Hour)); err == nil {
					t.Fatalf("nonce %d consumed again", i)
				}
			}
		})
	}
	// And through the gate: a damaged store refuses, never accepts.
	f.write(t, f.data[:len(f.data)-1])
	g := newGateFixture(t)
	g.stateDir = f.dir
	req := mustRequest(t, destroy105, testNow.Add(time.Hour))
	sig := signWith(t, g.op, req, sigOpts{namespace: RoleOperational})
	d, err := g.verifier(t).Decide(destroy105, req, sig)
	if err == nil || d.Accepted() || !errors.Is(err, ErrNonceStoreCorrupt) {
		t.Fatalf("Decide over a damaged store: %v %v", d.Outcome, err)
	}
	if d, err := g.verifier(t).Check("pve-demo", testHostID, req, sig); err == nil || d.Accepted() {
		t.Fatalf("Check over a damaged store: %v %v", d.Outcome, err)
	}
}

// TestFileNonceStoreEveryByte changes, removes and truncates at every
// offset: the store reports damage, or still knows every nonce. The one
// exception is the one its doc names: a cut that leaves what a torn
// append leaves forgets the records wholly cut away.
func TestFileNonceStoreEveryByte(t *testing.T) {
	f := newNonceFixture(t)
	check := func(what string, data []byte, allowed []int) {
		t.Helper()
		lost, err := f.lost(data)
		if err != nil {
			if !errors.Is(err, ErrNonceStoreCorrupt) {
				t.Fatalf("%s: %v is not ErrNonceStoreCorrupt", what, err)
			}
			return
		}
		for _, i := range lost {
			ok := false
			for _, a := range allowed {
				ok = ok || a == i
			}
			if !ok {
				t.Fatalf("%s: nonce %d forgotten\n%q", what, i, data)
			}
		}
	}
	for off := range f.data {
		for _, c := range []byte{'0', 'f', ' ', '\n', 'z'} {
			if f.data[off] != c {
				check(fmt.Sprintf("byte %d set to %q", off, c), set(bytes.Clone(f.data), off, c), nil)
			}
		}
		check(fmt.Sprintf("byte %d removed", off), cut(bytes.Clone(f.data), off, 1), nil)
	}
	for n := range f.data {
		var allowed []int
		// A cut leaving 24 to 108 bytes after record k looks torn.
		for k, end := range append([]int{headerLen}, f.ends...) {
			if d := n - end; d >= endLen && d <= tornMax {
				for i := k + 1; i <= 3; i++ {
					if i > k+1 || d <= 32 { // record k+1 keeps its nonce when 33 bytes of it survive
						allowed = append(allowed, i)
					}
				}
			}
		}
		check(fmt.Sprintf("cut to %d bytes", n), f.data[:n], allowed)
	}
}

// TestFileNonceStoreTornAppend simulates every state a crash during an
// append can leave: the old size or the new, with any prefix of the new
// bytes written and the rest old or zero. None is an error, no earlier
// record is lost, and the new nonce counts as consumed once it is
// written whole; the next Consume repairs the file.
func TestFileNonceStoreTornAppend(t *testing.T) {
	f := newNonceFixture(t)
	oldEnd := f.data[f.ends[2]:]
	newBytes := append(nonceEntry{nonce: nonceN(4), keepUntil: testNow.Add(time.Hour).Unix(), highWater: testNow.Unix()}.record(), endRecord(4)...)
	for written := 0; written < len(newBytes); written++ {
		for _, size := range []int{endLen, len(newBytes)} {
			for _, fill := range []string{"old", "zero"} {
				tail := make([]byte, size)
				if fill == "old" {
					copy(tail, oldEnd)
				}
				copy(tail, newBytes[:min(written, size)])
				data := append(bytes.Clone(f.data[:f.ends[2]]), tail...)
				if bytes.Equal(data, f.data) {
					continue
				}
				name := fmt.Sprintf("%d of %d bytes written, size %d, rest %s", written, len(newBytes), size, fill)
				lost, err := f.lost(data)
				if err != nil || len(lost) != 0 {
					t.Fatalf("%s: forgotten %v, %v", name, lost, err)
				}
				st, _ := f.store.parse(data)
				if used := st.has(nonceN(4)); used != (min(written, size) > 32) {
					t.Fatalf("%s: nonce 4 consumed=%v", name, used)
				}
			}
		}
	}
	// Repair: the next Consume rewrites the file, keeping the torn nonce.
	f.write(t, append(bytes.Clone(f.data[:f.ends[2]]), newBytes[:50]...))
	if err := f.store.Consume(nonceN(5), testNow.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= 5; i++ {
		if err := f.store.Consume(nonceN(i), testNow.Add(time.Hour)); !errors.Is(err, ErrNonceConsumed) {
			t.Fatalf("nonce %d after repair: %v", i, err)
		}
	}
	data, _ := os.ReadFile(f.path)
	if _, err := f.store.parse(data); err != nil || !bytes.HasSuffix(data, endRecord(5)) {
		t.Fatalf("repaired file: %v\n%s", err, data)
	}
}

// TestFileNonceStoreSizeBound: a huge file is refused at once, not read.
func TestFileNonceStoreSizeBound(t *testing.T) {
	f := newNonceFixture(t)
	file, err := os.OpenFile(f.path, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := file.Truncate(176 << 20); err != nil { // sparse: costs nothing to make
		t.Fatal(err)
	}
	file.Close()
	start := time.Now()
	_, err = f.store.Consumed(nonceN(1))
	if !errors.Is(err, ErrNonceStoreCorrupt) || !errors.Is(err, ErrTooLarge) {
		t.Fatalf("176 MB store: %v", err)
	}
	if err := f.store.Consume(nonceN(9), testNow); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("Consume: %v", err)
	}
	if d := time.Since(start); d > 2*time.Second { // it is a stat, not a read: milliseconds
		t.Fatalf("refusing a 176 MB store took %v", d)
	}
}

// TestFileNonceStoreFull: Consume never writes a store it could not read.
func TestFileNonceStoreFull(t *testing.T) {
	f := newNonceFixture(t)
	f.store.max = int64(headerLen + 100*recordLen + endLen)
	n := 100
	entries := make([]nonceEntry, n)
	for i := range entries {
		entries[i] = nonceEntry{nonce: fmt.Sprintf("%032x", 1000+i), keepUntil: testNow.Add(time.Hour).Unix(), highWater: testNow.Unix()}
	}
	if err := f.store.rewrite(minStoreTime, entries); err != nil {
		t.Fatal(err)
	}
	if used, err := f.store.Consumed(fmt.Sprintf("%032x", 1000+n-1)); err != nil || !used {
		t.Fatalf("full store: %v %v", used, err)
	}
	if err := f.store.Consume(nonceN(1), testNow.Add(time.Hour)); err == nil || !strings.Contains(err.Error(), "is full") {
		t.Fatalf("Consume into a full store: %v", err)
	}
	// Once the entries are PruneMargin past their keep-until, it prunes.
	f.now = testNow.Add(2*time.Hour + PruneMargin)
	if err := f.store.Consume(nonceN(1), f.now.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if fi, _ := os.Stat(f.path); fi.Size() != int64(headerLen+recordLen+endLen) {
		t.Fatalf("after pruning: %d bytes", fi.Size())
	}
}

// TestFileNonceStoreClockJump: the clock jumps forward a month, a new
// acceptance there prunes; when the clock is back, the old request (still
// within its not-after) must not be accepted again.
func TestFileNonceStoreClockJump(t *testing.T) {
	g := newGateFixture(t)
	now := testNow
	clock := func() time.Time { return now }
	verifier := func() *Verifier {
		store, err := OpenFileNonceStore(g.stateDir, clock)
		if err != nil {
			t.Fatal(err)
		}
		v := NewVerifier(g.signers, store)
		v.Now = clock
		return v
	}
	sign := func(notAfter time.Time) ([]byte, []byte) {
		req := mustRequest(t, destroy105, notAfter)
		return req, signWith(t, g.op, req, sigOpts{namespace: RoleOperational})
	}
	oldReq, oldSig := sign(testNow.Add(2 * time.Hour))
	if d, err := verifier().Decide(destroy105, oldReq, oldSig); err != nil || !d.Accepted() {
		t.Fatalf("first acceptance: %v %v", d.Outcome, err)
	}
	now = testNow.Add(30 * 24 * time.Hour) // the clock jumps forward
	for i := 0; i < 3; i++ {               // acceptances there prune the old nonce
		req, sig := sign(now.Add(time.Hour))
		if d, err := verifier().Decide(destroy105, req, sig); err != nil || !d.Accepted() {
			t.Fatalf("acceptance after the jump: %v %v", d.Outcome, err)
		}
	}
	data, _ := os.ReadFile(filepath.Join(g.stateDir, NonceFile))
	if bytes.Contains(data, oldReq[bytes.Index(oldReq, []byte("nonce: "))+7:][:32]) {
		t.Fatal("the test meant the old nonce to be pruned")
	}
	now = testNow.Add(time.Minute) // the clock is back
	d, err := verifier().Decide(destroy105, oldReq, oldSig)
	if err != nil || d.Outcome != Replayed || !strings.Contains(d.Reason, "host clock was ahead") {
		t.Fatalf("replay after the clock came back: %v %q %v", d.Outcome, d.Reason, err)
	}
	if d, _ := verifier().Check("pve-demo", testHostID, oldReq, oldSig); d.Outcome != Replayed {
		t.Fatalf("Check after the clock came back: %v %q", d.Outcome, d.Reason)
	}
	// A request signed now (the clock behind the store's high-water) that
	// outlives every pruned entry is accepted, and nothing is pruned while
	// the clock is behind.
	before, _ := os.ReadFile(filepath.Join(g.stateDir, NonceFile))
	req, sig := sign(now.Add(3 * time.Hour))
	if d, err := verifier().Decide(destroy105, req, sig); err != nil || !d.Accepted() {
		t.Fatalf("fresh request with the clock behind: %v %q %v", d.Outcome, d.Reason, err)
	}
	after, _ := os.ReadFile(filepath.Join(g.stateDir, NonceFile))
	if !bytes.HasPrefix(after, before[:len(before)-endLen]) {
		t.Fatal("the store was rewritten while the clock was behind")
	}
}

// TestFileNonceStoreKeepsMargin: an entry is kept PruneMargin past its
// keep-until, even when the clock is ahead of it.
func TestFileNonceStoreKeepsMargin(t *testing.T) {
	f := newNonceFixture(t) // nonces kept until testNow + 1h, 2h, 3h
	f.now = testNow.Add(time.Hour + PruneMargin - time.Minute)
	if err := f.store.Consume(nonceN(10), f.now.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if lost, err := f.forgotten(); err != nil || len(lost) != 0 {
		t.Fatalf("within the margin: forgotten %v, %v", lost, err)
	}
	f.now = testNow.Add(3*time.Hour + PruneMargin + time.Minute)
	if err := f.store.Consume(nonceN(11), f.now.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if lost, err := f.forgotten(); err != nil || len(lost) != 3 {
		t.Fatalf("past the margin: forgotten %v, %v", lost, err)
	}
	// Pruned, yet not new: a keep-until not after the latest pruned one
	// is refused as consumed.
	if err := f.store.Consume(nonceN(1), testNow.Add(time.Hour)); !errors.Is(err, ErrNonceConsumed) {
		t.Fatalf("pruned nonce consumed again: %v", err)
	}
}

// TestFileNonceStoreNotAFile: a FIFO, a directory or a symbolic link in
// the store's place is an error at once, never a hang.
func TestFileNonceStoreNotAFile(t *testing.T) {
	for _, kind := range []string{"fifo", "dir", "symlink"} {
		t.Run(kind, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, NonceFile)
			switch kind {
			case "fifo":
				if err := syscall.Mkfifo(path, 0o600); err != nil {
					t.Skip(err)
				}
			case "dir":
				os.Mkdir(path, 0o700)
			case "symlink":
				good := newNonceFixture(t)
				os.Symlink(good.path, path)
			}
			s, _ := OpenFileNonceStore(dir, nil)
			done := make(chan error, 2)
			go func() {
				_, err := s.Consumed(nonceN(1))
				done <- err
				done <- s.Consume(nonceN(1), testNow)
			}()
			for i := 0; i < 2; i++ {
				select {
				case err := <-done:
					if !errors.Is(err, ErrNotRegular) {
						t.Fatalf("%v, want ErrNotRegular", err)
					}
				case <-time.After(5 * time.Second):
					t.Fatal("blocked on a store that is not a regular file")
				}
			}
		})
	}
}

func set(b []byte, off int, c byte) []byte { b[off] = c; return b }

func cut(b []byte, off, n int) []byte { return append(b[:off:off], b[off+n:]...) }

// BenchmarkFileNonceStoreFull is the cost of one decision's read of a
// store at its size bound (about 20 ms and 13 MB on a 2-core CI machine).
func BenchmarkFileNonceStoreFull(b *testing.B) {
	s, _ := OpenFileNonceStore(b.TempDir(), nil)
	n := (MaxNonceStoreSize - headerLen - endLen) / recordLen
	entries := make([]nonceEntry, n)
	for i := range entries {
		entries[i] = nonceEntry{nonce: fmt.Sprintf("%032x", 1000+i), keepUntil: testNow.Add(time.Hour).Unix(), highWater: testNow.Unix()}
	}
	if err := s.rewrite(minStoreTime, entries); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.Consumed(nonceN(1)); err != nil {
			b.Fatal(err)
		}
	}
}
