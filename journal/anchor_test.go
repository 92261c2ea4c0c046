package journal

import (
	"bytes"
	"errors"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// anchoredStory writes the story through Open and Append (so the anchor
// names its last record) and returns the state directory, the journal's
// bytes and the offsets where its lines begin.
func anchoredStory(t *testing.T) (string, []byte, []int) {
	t.Helper()
	dir := t.TempDir()
	full, starts := writeStory(t, dir)
	return dir, full, starts
}

func wantLost(t *testing.T, what string, err error, reason string) *LostError {
	t.Helper()
	var le *LostError
	if !errors.As(err, &le) {
		t.Fatalf("%s: got %v, want *LostError", what, err)
	}
	if !strings.Contains(le.Reason, reason) {
		t.Fatalf("%s: reason %q, want it to say %q", what, le.Reason, reason)
	}
	if !strings.Contains(err.Error(), "felhom-converge journal reset --accept-loss") {
		t.Fatalf("%s: message %q does not say how to accept the loss", what, err)
	}
	return le
}

// A journal deleted, emptied, cut at a record boundary or inside an
// acknowledged record, or replaced by another journal is refused by Open
// with a *LostError that names what is gone; Open writes nothing, and Read
// shows what is left with the same loss.
func TestLostJournalIsRefused(t *testing.T) {
	dir, full, starts := anchoredStory(t)
	n := len(starts)
	other := bytes.Clone(full)
	// Another journal of the same length: a different last record.
	other = append(other[:starts[n-1]], bytes.Replace(full[starts[n-1]:], []byte("nightly-2"), []byte("nightly-9"), 1)...)
	body := other[starts[n-1]+9 : len(other)-1]
	other = append(other[:starts[n-1]], fmt.Appendf(nil, "%08x %s\n", crc32.Checksum(body, castagnoli), body)...)
	cases := []struct {
		name   string
		data   []byte // nil: no journal.log at all
		reason string
		found  int64
	}{
		{"deleted", nil, "is missing", 0},
		{"emptied", []byte{}, "is empty", 0},
		{"cut to one record", full[:starts[1]], fmt.Sprintf("ends at record 1, but its anchor journal.anchor names record %d", n), 1},
		{"cut before the last record", full[:starts[n-1]], fmt.Sprintf("ends at record %d", n-1), int64(n - 1)},
		{"cut inside the last record", full[:len(full)-5], fmt.Sprintf("record %d is torn, and a record the anchor names was complete", n), int64(n - 1)},
		{"only a torn record", full[:5], "holds no whole record", 0},
		{"replaced", other, fmt.Sprintf("record %d has checksum", n), int64(n)},
	}
	anchorBytes, err := os.ReadFile(filepath.Join(dir, AnchorFile))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			sd := t.TempDir()
			if err := os.WriteFile(filepath.Join(sd, AnchorFile), anchorBytes, 0o600); err != nil {
				t.Fatal(err)
			}
			if c.data != nil {
				if err := os.WriteFile(filepath.Join(sd, LogFile), c.data, 0o600); err != nil {
					t.Fatal(err)
				}
			}
			_, err := Open(lockOf(t, sd), Options{})
			le := wantLost(t, "Open", err, c.reason)
			if le.AnchorSeq != int64(n) || le.FoundSeq != c.found || le.Path != filepath.Join(sd, LogFile) {
				t.Errorf("LostError %+v, want anchor %d, found %d", le, n, c.found)
			}
			got, rerr := os.ReadFile(filepath.Join(sd, LogFile))
			if c.data == nil && rerr == nil || c.data != nil && !bytes.Equal(got, c.data) {
				t.Errorf("Open changed the journal: %q, %v", got, rerr)
			}
			if a, _ := os.ReadFile(filepath.Join(sd, AnchorFile)); !bytes.Equal(a, anchorBytes) {
				t.Error("Open changed the anchor")
			}
			d, err := InspectStateDir(sd)
			if err != nil {
				t.Fatal(err)
			}
			r, err := Read(d, Options{})
			if err != nil {
				t.Fatalf("Read: %v", err)
			}
			wantLost(t, "Read", r.Lost(), c.reason)
			if want := int(c.found); len(r.Records()) != want {
				t.Errorf("Read shows %d records, want %d", len(r.Records()), want)
			}
		})
	}
}

// AcceptLoss takes a lost journal as it is: what is left stays, a reset
// record names what was lost, the anchor names it, and Open accepts the
// journal again. A second AcceptLoss has nothing to accept; a later loss
// is caught again.
func TestAcceptLossRecordsTheResetAndAnchorsIt(t *testing.T) {
	for _, cut := range []string{"deleted", "cut"} {
		t.Run(cut, func(t *testing.T) {
			dir, full, starts := anchoredStory(t)
			keep := 0
			if cut == "deleted" {
				os.Remove(filepath.Join(dir, LogFile))
			} else {
				keep = 21 // T1, ended
				if err := os.WriteFile(filepath.Join(dir, LogFile), full[:starts[keep]], 0o600); err != nil {
					t.Fatal(err)
				}
			}
			l := lockOf(t, dir)
			j, r, err := AcceptLoss(l, Options{}, "alice@pve")
			if err != nil {
				t.Fatal(err)
			}
			if r.AnchorSeq != int64(len(starts)) || r.FoundSeq != int64(keep) || r.By != "alice@pve" || r.Time.IsZero() || r.Lost == "" || len(r.AnchorCRC) != 8 {
				t.Errorf("reset record %+v", r)
			}
			recs := j.Records()
			if len(recs) != keep+1 || recs[keep] != Record(r) {
				t.Fatalf("records after the reset:\n%s", describe(recs))
			}
			if keep > 0 && !j.JobDone("nightly-1") {
				t.Error("what was left is forgotten")
			}
			mustAppend(t, j, JobDone{Job: "after-reset"})
			j.Close()
			l.Unlock()

			l = lockOf(t, dir)
			if _, _, err := AcceptLoss(l, Options{}, "bob"); !errors.Is(err, ErrNothingLost) {
				t.Fatalf("a second AcceptLoss: %v", err)
			}
			j, err = Open(l, Options{})
			if err != nil {
				t.Fatalf("Open after the reset: %v", err)
			}
			if !j.JobDone("after-reset") {
				t.Error("the record after the reset is gone")
			}
			j.Close()
			l.Unlock()

			// A later loss is caught again.
			if err := os.Truncate(filepath.Join(dir, LogFile), 0); err != nil {
				t.Fatal(err)
			}
			_, err = Open(lockOf(t, dir), Options{})
			wantLost(t, "Open after a second loss", err, "is empty")
		})
	}
}

// AcceptLoss refuses a journal that is damaged rather than lost: damage is
// repaired, not accepted.
func TestAcceptLossRefusesACorruptJournal(t *testing.T) {
	dir, full, starts := anchoredStory(t)
	data := bytes.Clone(full)
	data[starts[2]+20] ^= 1
	if err := os.WriteFile(filepath.Join(dir, LogFile), data, 0o600); err != nil {
		t.Fatal(err)
	}
	_, _, err := AcceptLoss(lockOf(t, dir), Options{}, "")
	var ce *CorruptError
	if !errors.As(err, &ce) {
		t.Fatalf("AcceptLoss of a corrupt journal: %v", err)
	}
}

// A crash after the reset record was written and before the new anchor
// was: the old anchor still names the lost record, and the reset record
// names that anchor, so the journal is accepted (and the anchor caught up).
func TestCrashBetweenResetAndAnchor(t *testing.T) {
	dir, _, _ := anchoredStory(t)
	oldAnchor, _ := os.ReadFile(filepath.Join(dir, AnchorFile))
	os.Remove(filepath.Join(dir, LogFile))
	l := lockOf(t, dir)
	j, _, err := AcceptLoss(l, Options{}, "")
	if err != nil {
		t.Fatal(err)
	}
	j.Close()
	l.Unlock()
	if err := os.WriteFile(filepath.Join(dir, AnchorFile), oldAnchor, 0o600); err != nil {
		t.Fatal(err)
	}
	l = lockOf(t, dir)
	j, err = Open(l, Options{})
	if err != nil {
		t.Fatalf("Open after a crash between the reset and its anchor: %v", err)
	}
	j.Close()
	if a, _ := os.ReadFile(filepath.Join(dir, AnchorFile)); bytes.Equal(a, oldAnchor) {
		t.Error("Open left the anchor behind the journal")
	}
}

// Compaction raises no false alarm: not after it, not after a crash
// between writing the compacted journal and moving the anchor (the
// checkpoint names the record the old anchor names), and not with an
// anchor from before an earlier compaction.
func TestCompactionKeepsTheAnchor(t *testing.T) {
	dir, _, _ := anchoredStory(t)
	anchorPath := filepath.Join(dir, AnchorFile)
	beforeCompaction, _ := os.ReadFile(anchorPath)
	l := lockOf(t, dir)
	j, err := Open(l, Options{CompactAt: -1})
	if err != nil {
		t.Fatal(err)
	}
	if err := j.Compact(); err != nil {
		t.Fatal(err)
	}
	mustAppend(t, j, Result{Txn: "T2", Call: "config-106", Status: StatusOK})
	if err := j.Compact(); err != nil {
		t.Fatal(err)
	}
	afterTwo, _ := os.ReadFile(anchorPath)
	j.Close()
	l.Unlock()
	for name, a := range map[string][]byte{"current": afterTwo, "from before both compactions": beforeCompaction} {
		if err := os.WriteFile(anchorPath, a, 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := openClose(t, dir); err != nil {
			t.Errorf("%s anchor: %v", name, err)
		}
	}
	// The crash: the anchor as it was right before the last compaction.
	l = lockOf(t, dir)
	j, err = Open(l, Options{CompactAt: -1})
	if err != nil {
		t.Fatal(err)
	}
	mustAppend(t, j, JobDone{Job: "one-more"})
	rightBefore, _ := os.ReadFile(anchorPath)
	if err := j.Compact(); err != nil {
		t.Fatal(err)
	}
	j.Close()
	l.Unlock()
	if err := os.WriteFile(anchorPath, rightBefore, 0o600); err != nil {
		t.Fatal(err)
	}
	j, err = openAt(t, dir)
	if err != nil {
		t.Fatalf("crash between compaction and anchor: %v", err)
	}
	if !j.JobDone("one-more") {
		t.Error("job lost")
	}
}

// A torn tail a crash can leave (a record written, not acknowledged, so
// not yet anchored) stays the silent repair.
func TestUnanchoredTornTailIsNoLoss(t *testing.T) {
	dir, full, _ := anchoredStory(t)
	anchorPath := filepath.Join(dir, AnchorFile)
	anchored, _ := os.ReadFile(anchorPath)
	// The crash: the next record half written, its anchor not.
	line, err := encodeLine(JobDone{Time: t0, Job: "half"})
	if err != nil {
		t.Fatal(err)
	}
	for cut := 1; cut < len(line); cut += 7 {
		if err := os.WriteFile(filepath.Join(dir, LogFile), append(bytes.Clone(full), line[:cut]...), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(anchorPath, anchored, 0o600); err != nil {
			t.Fatal(err)
		}
		j, err := openClose(t, dir)
		if err != nil {
			t.Fatalf("cut at %d: %v", cut, err)
		}
		if j.TornTail() == nil {
			t.Fatalf("cut at %d: no torn tail", cut)
		}
	}
}

// The anchor has two slots: one damaged slot leaves the other, which
// names an earlier record still in the journal; both damaged (or a file
// of the wrong size) is reported as a loss that cannot be ruled out.
func TestAnchorSlots(t *testing.T) {
	dir, _, _ := anchoredStory(t)
	anchorPath := filepath.Join(dir, AnchorFile)
	good, _ := os.ReadFile(anchorPath)
	st, err := readAnchor(mustStateDir(t, dir))
	if err != nil || !st.present {
		t.Fatalf("anchor %+v, %v", st, err)
	}
	newer := int(st.a.write % 2)
	for _, c := range []struct {
		name    string
		damage  func([]byte) []byte
		lost    string
		wantSeq int64
	}{
		{"newer slot torn", func(b []byte) []byte { b[newer*anchorSlot+40] ^= 1; return b }, "", st.a.seq - 1},
		{"older slot torn", func(b []byte) []byte { b[(1-newer)*anchorSlot+40] ^= 1; return b }, "", st.a.seq},
		{"both slots torn", func(b []byte) []byte { b[40] ^= 1; b[anchorSlot+40] ^= 1; return b }, "its anchor journal.anchor is damaged (no valid slot", 0},
		{"cut short", func(b []byte) []byte { return b[:anchorSlot] }, "is damaged (it is 512 bytes", 0},
		{"zeros", func(b []byte) []byte { return make([]byte, len(b)) }, "is damaged (no valid slot)", 0},
	} {
		if err := os.WriteFile(anchorPath, c.damage(bytes.Clone(good)), 0o600); err != nil {
			t.Fatal(err)
		}
		st, err := readAnchor(mustStateDir(t, dir))
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		_, err = openClose(t, dir)
		if c.lost != "" {
			wantLost(t, c.name, err, c.lost)
			continue
		}
		if err != nil || st.a.seq != c.wantSeq {
			t.Fatalf("%s: anchor %+v (want seq %d), Open: %v", c.name, st.a, c.wantSeq, err)
		}
	}
}

// openClose opens the journal of dir and closes it and its lock again.
func openClose(t *testing.T, dir string) (*Journal, error) {
	t.Helper()
	l := lockOf(t, dir)
	defer l.Unlock()
	j, err := Open(l, Options{})
	if j != nil {
		j.Close()
	}
	return j, err
}

func mustStateDir(t *testing.T, dir string) *StateDir {
	t.Helper()
	d, err := InspectStateDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// A journal written before anchors existed (none beside it) is accepted,
// and Open anchors it.
func TestJournalWithoutAnchorIsAnchoredAtOpen(t *testing.T) {
	full, starts := writeStory(t, t.TempDir())
	dir := withLog(t, full)
	j, err := openAt(t, dir)
	if err != nil {
		t.Fatal(err)
	}
	j.Close()
	j.lock.Unlock()
	st, err := readAnchor(mustStateDir(t, dir))
	if err != nil || !st.present || st.a.seq != int64(len(starts)) {
		t.Fatalf("anchor after Open %+v, %v", st, err)
	}
	if err := os.WriteFile(filepath.Join(dir, LogFile), full[:starts[3]], 0o600); err != nil {
		t.Fatal(err)
	}
	_, err = openAt(t, dir)
	wantLost(t, "cut after anchoring", err, "ends at record 3")
}

// An anchor that cannot be written fails the Append (the record itself
// is durable); the next Append brings the anchor up to date.
func TestFailedAnchorSyncFailsTheAppend(t *testing.T) {
	dir := t.TempDir()
	j := openJournal(t, dir, Options{})
	mustAppend(t, j, JobDone{Job: "a"})
	boom := errors.New("EIO")
	syncAnchor = func(*os.File) error { return boom }
	err := j.Append(JobDone{Job: "b"})
	syncAnchor = (*os.File).Sync
	if !errors.Is(err, boom) || !strings.Contains(err.Error(), "record written") {
		t.Fatalf("Append with a failing anchor sync: %v", err)
	}
	mustAppend(t, j, JobDone{Job: "c"})
	j2, err := reopen(t, j, Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, job := range []string{"a", "b", "c"} {
		if !j2.JobDone(job) {
			t.Errorf("job %s lost", job)
		}
	}
	if st, _ := readAnchor(mustStateDir(t, dir)); st.a.seq != 3 {
		t.Errorf("anchor %+v, want record 3", st.a)
	}
}
