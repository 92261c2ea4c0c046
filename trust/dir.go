package trust

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
)

// A request directory holds <id>.req files (the statements to sign) and,
// once signed, the <id>.req.sig that ssh-keygen -Y sign writes beside
// each. A host's two of them (requests/ and signatures/) are owned by
// RequestDir; ReadSignedDir reads any one, and MatchRequests gives a step
// its candidates among what it read.

const (
	// RequestSuffix and SignatureSuffix end the file names in a request
	// directory: <id>.req and <id>.req.sig.
	RequestSuffix   = ".req"
	SignatureSuffix = ".req.sig"

	// MaxDirEntries bounds the entries ReadSignedDir reads from one
	// directory.
	MaxDirEntries = 10000
)

// ErrNoRequest is the DirProblem of a <id>.req.sig without its <id>.req.
var ErrNoRequest = errors.New("no request beside it")

// SignedRequest is one <id>.req of a request directory with its
// signature, if any. Nothing in it is verified: Req and Sig go to
// Verifier.Decide (or Check) as they are.
type SignedRequest struct {
	ID   string // the file name without ".req": the action id the file claims
	Path string // the <id>.req file
	Req  []byte // the statement's bytes
	Sig  []byte // the <id>.req.sig bytes; nil when the request is not signed yet
	// Parsed is Req parsed without verifying anything, for matching a
	// request to a step by its binding; nil when Req does not parse
	// (ParseErr says why; Decide then says binding_mismatch or
	// bad_signature).
	Parsed   *Request
	ParseErr error
}

// Signed reports whether the request has a signature file.
func (s *SignedRequest) Signed() bool { return s.Sig != nil }

// DirProblem is an entry of a request directory that cannot be used: a
// FIFO, a directory or a device named x.req, a symbolic link, a file over
// its size bound, a signature without its request. It concerns that entry
// only; the others are read.
type DirProblem struct {
	Name string // the entry's name as the file system gives it; print it with QuoteName
	Err  error
}

func (p DirProblem) Error() string { return QuoteName(p.Name) + ": " + p.Err.Error() }

// QuoteName returns a file name for printing: as it is when it holds only
// letters, digits and ". _ - + @ , = :", otherwise quoted and escaped as
// strconv.Quote does, so a newline or an escape sequence in a name cannot
// forge an output line.
func QuoteName(name string) string {
	if name == "" {
		return `""`
	}
	for _, c := range []byte(name) {
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte("._-+@,=:/", c) >= 0) {
			return strconv.Quote(name)
		}
	}
	return name
}

// ReadSignedDir reads every <id>.req in dir, with its <id>.req.sig when
// there is one, sorted by id. Each file is opened without following a
// symbolic link and without blocking, must be a regular file, and is
// read only up to its bound (MaxRequestSize, MaxSignatureSize); an entry
// that fails any of that is a DirProblem, and the rest are still read. A
// .req.sig without its .req is a DirProblem too. Other names are ignored.
//
// The error is for dir itself (fs.ErrNotExist when it does not exist: the
// caller decides whether that means "no requests"), or for a directory
// with more than MaxDirEntries entries.
func ReadSignedDir(dir string) ([]SignedRequest, []DirProblem, error) {
	names, err := listDir(dir)
	if err != nil {
		return nil, nil, err
	}
	var out []SignedRequest
	var problems []DirProblem
	sigs := map[string]bool{}
	for _, name := range names {
		if id, ok := strings.CutSuffix(name, SignatureSuffix); ok && id != "" {
			sigs[id] = true
		}
	}
	for _, name := range names {
		id, ok := strings.CutSuffix(name, RequestSuffix)
		if !ok || id == "" {
			continue
		}
		path := filepath.Join(dir, name)
		req, _, err := readRegular(path, MaxRequestSize)
		if err != nil {
			problems = append(problems, DirProblem{Name: name, Err: entryError(err)})
			continue
		}
		s := SignedRequest{ID: id, Path: path, Req: req}
		if sigs[id] {
			delete(sigs, id)
			sig, _, err := readRegular(path+".sig", MaxSignatureSize)
			if err != nil {
				problems = append(problems, DirProblem{Name: name + ".sig", Err: entryError(err)})
				continue
			}
			s.Sig = sig
		}
		if r, err := ParseRequest(req); err == nil {
			s.Parsed = &r
		} else {
			s.ParseErr = err
		}
		out = append(out, s)
	}
	var orphans []string
	for id := range sigs {
		orphans = append(orphans, id)
	}
	sort.Strings(orphans)
	for _, id := range orphans {
		problems = append(problems, DirProblem{Name: id + SignatureSuffix, Err: fmt.Errorf("%w: %s", ErrNoRequest, QuoteName(id+RequestSuffix))})
	}
	sort.Slice(problems, func(i, j int) bool { return problems[i].Name < problems[j].Name })
	return out, problems, nil
}

// entryError drops the path from an error about one entry (DirProblem
// names the entry).
func entryError(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// listDir returns the names in dir, sorted, opening dir without blocking
// (a FIFO in its place is an error, not a hang).
func listDir(dir string) ([]string, error) {
	f, err := os.OpenFile(dir, os.O_RDONLY|syscall.O_DIRECTORY|syscall.O_NONBLOCK|syscall.O_CLOEXEC, 0)
	if errors.Is(err, syscall.ENOTDIR) {
		return nil, &fs.PathError{Op: "open", Path: dir, Err: errors.New("not a directory")}
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var names []string
	for {
		chunk, err := f.Readdirnames(512)
		names = append(names, chunk...)
		if len(names) > MaxDirEntries {
			return nil, fmt.Errorf("%s: more than %d entries", dir, MaxDirEntries)
		}
		if err == io.EOF || (err == nil && len(chunk) == 0) {
			break
		}
		if err != nil {
			return nil, err
		}
	}
	sort.Strings(names)
	return names, nil
}

// MatchRequests returns the requests in reqs that are candidates for the
// step with action a and action id actionID, as pointers into reqs: first
// the one whose file name is the action id (<actionID>.req), then, in id
// order, every other whose statement (parsed, not yet verified) binds the
// same host, op, guest and canonical params. Each appears once; signed and
// unsigned ones alike (Signed says which).
//
// Matching decides only which requests are offered to Verifier.Decide
// for the step; it trusts nothing. A request named after the step but
// bound to something else is still a candidate, so Decide refuses it as
// binding_mismatch (and the refusal is audited) instead of it being
// silently skipped. A gate decides each signed candidate until one is
// accepted.
func MatchRequests(reqs []SignedRequest, a Action, actionID string) []*SignedRequest {
	var out []*SignedRequest
	for i := range reqs {
		if actionID != "" && reqs[i].ID == actionID {
			out = append(out, &reqs[i])
		}
	}
	params, err := CanonicalParams(a.Params)
	if err != nil {
		return out // a step whose params are not canonical JSON binds nothing
	}
	for i := range reqs {
		r := &reqs[i]
		if actionID != "" && r.ID == actionID {
			continue
		}
		if p := r.Parsed; p != nil && p.Host == a.Host && p.Op == a.Op && p.Guest == a.Guest && bytes.Equal(p.Params, params) {
			out = append(out, r)
		}
	}
	return out
}
