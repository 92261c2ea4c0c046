package trust

import (
	"bytes"
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

func testRequest(t *testing.T, a Action) Request {
	t.Helper()
	nonce, err := NewNonce()
	if err != nil {
		t.Fatal(err)
	}
	r, err := NewRequest(a, nonce, testNow.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// withTimeout fails the test if f blocks: a FIFO must never hang a read.
func withTimeout(t *testing.T, f func()) {
	t.Helper()
	done := make(chan struct{})
	go func() { defer close(done); f() }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("blocked (a FIFO opened for reading?)")
	}
}

func TestReadSignedDir(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, data []byte) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	mkfifo := func(name string) {
		t.Helper()
		if err := syscall.Mkfifo(filepath.Join(dir, name), 0o644); err != nil {
			t.Skip("no FIFOs here:", err)
		}
	}
	good := testRequest(t, destroy105).Marshal()
	write("a.req", good)
	write("a.req.sig", []byte("sig a"))
	write("b.req", good) // not signed yet
	write("c.req.sig", []byte("orphan"))
	mkfifo("d.req")
	os.Mkdir(filepath.Join(dir, "e.req"), 0o755)
	os.Symlink(filepath.Join(dir, "a.req"), filepath.Join(dir, "f.req"))
	write("g.req", bytes.Repeat([]byte("x"), MaxRequestSize+1))
	write("evil\nb  accepted  signer=mallory.req", []byte("not a request"))
	write("h.req", good)
	mkfifo("h.req.sig")
	write("README", []byte("ignored"))
	write(".req", []byte("no id"))

	var got []SignedRequest
	var problems []DirProblem
	withTimeout(t, func() {
		var err error
		got, problems, err = ReadSignedDir(dir)
		if err != nil {
			t.Error(err)
		}
	})
	var ids []string
	for _, s := range got {
		ids = append(ids, s.ID)
	}
	if want := []string{"a", "b", "evil\nb  accepted  signer=mallory"}; strings.Join(ids, "|") != strings.Join(want, "|") {
		t.Fatalf("requests %q, want %q", ids, want)
	}
	if !got[0].Signed() || string(got[0].Sig) != "sig a" || got[1].Signed() || got[0].Parsed == nil || got[0].Path != filepath.Join(dir, "a.req") {
		t.Fatalf("pairs: %+v", got[:2])
	}
	if got[2].Parsed != nil || got[2].ParseErr == nil {
		t.Fatalf("garbage parsed: %+v", got[2])
	}
	want := map[string]string{
		"c.req.sig": "no request beside it: c.req",
		"d.req":     "a FIFO",
		"e.req":     "a directory",
		"f.req":     "a symbolic link",
		"g.req":     "more than the bound",
		"h.req.sig": "a FIFO",
	}
	if len(problems) != len(want) {
		t.Fatalf("problems %v", problems)
	}
	for _, p := range problems {
		if w, ok := want[p.Name]; !ok || !strings.Contains(p.Error(), w) {
			t.Errorf("problem %q: %v, want %q", p.Name, p, w)
		}
	}
	if errors.Is(problems[1].Err, ErrNotRegular) != true {
		t.Errorf("FIFO problem does not wrap ErrNotRegular: %v", problems[1].Err)
	}
	// A name cannot forge a line when printed.
	if q := QuoteName(got[2].ID); strings.Contains(q, "\n") || q != `"evil\nb  accepted  signer=mallory"` {
		t.Errorf("QuoteName = %s", q)
	}
	for name, want := range map[string]string{"guest.destroy-105-3b9f0c3c": "guest.destroy-105-3b9f0c3c", `"x"`: `"\"x\""`, "a\x1b[2J": `"a\x1b[2J"`, "": `""`, "ü": `"ü"`} {
		if q := QuoteName(name); q != want {
			t.Errorf("QuoteName(%q) = %s, want %s", name, q, want)
		}
	}
}

func TestReadSignedDirNotADirectory(t *testing.T) {
	base := t.TempDir()
	if _, _, err := ReadSignedDir(filepath.Join(base, "none")); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("missing dir: %v", err)
	}
	file := filepath.Join(base, "file")
	os.WriteFile(file, nil, 0o644)
	if _, _, err := ReadSignedDir(file); err == nil || !strings.Contains(err.Error(), "not a directory") {
		t.Fatalf("a file: %v", err)
	}
	fifo := filepath.Join(base, "fifo")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Skip(err)
	}
	withTimeout(t, func() {
		if _, _, err := ReadSignedDir(fifo); err == nil {
			t.Error("a FIFO read as a directory")
		}
	})
}

func TestMatchRequests(t *testing.T) {
	step := destroy105
	r := testRequest(t, step)
	other := testRequest(t, Action{Host: "pve-demo", HostID: testHostID, Op: "guest.destroy", Guest: 106, Params: json.RawMessage(`{"purge":true,"volumes":[]}`)})
	otherHost := testRequest(t, Action{Host: "pve-other", HostID: testHostID, Op: step.Op, Guest: step.Guest, Params: step.Params})
	otherParams := testRequest(t, Action{Host: "pve-demo", HostID: testHostID, Op: step.Op, Guest: step.Guest, Params: json.RawMessage(`{"purge":false,"volumes":["local-lvm:vm-105-disk-0"]}`)})
	parsed := func(q Request) *Request { return &q }
	reqs := []SignedRequest{
		{ID: "by-binding", Parsed: parsed(r), Sig: []byte("s")},
		{ID: "id-of-step", Parsed: parsed(other), Sig: []byte("s")}, // named for the step, bound elsewhere: still a candidate
		{ID: "garbage", ParseErr: errors.New("x")},
		{ID: "other-host", Parsed: parsed(otherHost)},
		{ID: "other-params", Parsed: parsed(otherParams)},
		{ID: "unsigned-same", Parsed: parsed(r)},
	}
	// The step's params in another spelling match the canonical ones.
	step.Params = json.RawMessage(`{ "volumes": ["local-lvm:vm-105-disk-0"], "purge": true }`)
	var ids []string
	for _, s := range MatchRequests(reqs, step, "id-of-step") {
		ids = append(ids, s.ID)
	}
	if got := strings.Join(ids, ","); got != "id-of-step,by-binding,unsigned-same" {
		t.Fatalf("candidates %s", got)
	}
	if m := MatchRequests(reqs, step, "id-of-step"); m[0] != &reqs[1] {
		t.Fatal("candidates are not pointers into reqs")
	}
	if m := MatchRequests(reqs, step, "garbage"); len(m) != 3 || m[0].ID != "garbage" {
		t.Fatalf("an unparsable request named for the step: %v", m)
	}
	dup := step
	dup.Params = json.RawMessage(`{"purge":false,"purge":true,"volumes":["local-lvm:vm-105-disk-0"]}`)
	if m := MatchRequests(reqs, dup, ""); len(m) != 0 {
		t.Fatalf("a step with a repeated key matched %d requests", len(m))
	}
}

func TestWriteRequest(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "requests")
	r := testRequest(t, destroy105)
	path, err := WriteRequest(dir, r)
	if err != nil {
		t.Fatal(err)
	}
	if path != filepath.Join(dir, r.ID()+".req") {
		t.Fatalf("path %s", path)
	}
	data, err := os.ReadFile(path)
	if err != nil || !bytes.Equal(data, r.Marshal()) {
		t.Fatalf("content %q %v", data, err)
	}
	if fi, _ := os.Stat(dir); fi.Mode().Perm() != 0o700 {
		t.Errorf("dir mode %v", fi.Mode())
	}
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o644 {
		t.Errorf("file mode %v", fi.Mode())
	}
	// Again: the same file, nothing else left behind.
	if _, err := WriteRequest(dir, r); err != nil {
		t.Fatal(err)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Fatalf("entries %v", entries)
	}
	got, problems, err := ReadSignedDir(dir)
	if err != nil || len(problems) != 0 || len(got) != 1 || got[0].ID != r.ID() || got[0].Parsed == nil {
		t.Fatalf("read back: %+v %v %v", got, problems, err)
	}
	// A request that would not verify is never written.
	bad := r
	bad.Op = "guest.explode"
	if _, err := WriteRequest(dir, bad); err == nil {
		t.Fatal("wrote a request with an unknown op")
	}
	// A symbolic link or a directory in the file's place is refused.
	os.Remove(path)
	os.Mkdir(path, 0o700)
	if _, err := WriteRequest(dir, r); err == nil {
		t.Fatal("wrote over a directory")
	}
}
