package trust

import (
	"bytes"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/felhom/felhom-converge/printable"
)

const (
	// BundleHeader is the first line of a bundle.
	BundleHeader = "felhom-converge signatures v1"
	// MaxBundleSize and MaxBundleEntries bound a bundle before and while it
	// is parsed.
	MaxBundleSize    = 4 << 20
	MaxBundleEntries = 1000

	entryPrefix = "--- "
	sigBegin    = "-----BEGIN SSH SIGNATURE-----"
	sigEnd      = "-----END SSH SIGNATURE-----"
)

// BundleEntry is one request of a bundle, with its signature when signed.
type BundleEntry struct {
	Name   string   // <id>.req
	Header []string // the comment lines, without the leading "#" and one space
	Req    []byte   // the statement, verbatim
	Sig    []byte   // the armored SSHSIG with its final LF; nil when unsigned
}

// ID is the entry's file name without .req.
func (e BundleEntry) ID() string { return strings.TrimSuffix(e.Name, RequestSuffix) }

// Signed reports whether the entry carries a signature.
func (e BundleEntry) Signed() bool { return e.Sig != nil }

// Bundle is a parsed signature bundle.
type Bundle struct {
	Entries []BundleEntry
}

// BundleError is a bundle that does not follow the format; nothing of it
// should be used.
type BundleError struct {
	Name string // the bundle's name for people (a file name, "-")
	Line int    // 1-based; 0 for the whole text
	Msg  string
}

func (e *BundleError) Error() string {
	if e.Line == 0 {
		return fmt.Sprintf("%s: %s", e.Name, e.Msg)
	}
	return fmt.Sprintf("%s:%d: %s", e.Name, e.Line, e.Msg)
}

// ParseBundle parses a bundle strictly (the format is in the package
// documentation, "Signature bundles"). name is
// used in errors. Any error is a *BundleError, and then no entry is
// returned: a bundle is used whole or not at all.
func ParseBundle(data []byte, name string) (*Bundle, error) {
	fail := func(line int, format string, args ...any) (*Bundle, error) {
		return nil, &BundleError{Name: name, Line: line, Msg: fmt.Sprintf(format, args...)}
	}
	switch {
	case len(data) > MaxBundleSize:
		return fail(0, "%d bytes, more than the %d a bundle may have", len(data), MaxBundleSize)
	case !utf8.Valid(data):
		return fail(0, "not UTF-8 text")
	case bytes.IndexByte(data, '\r') >= 0:
		return fail(1+bytes.Count(data[:bytes.IndexByte(data, '\r')], []byte("\n")), "a carriage return: a bundle has LF line endings")
	}
	lines := strings.Split(string(data), "\n")
	if lines[len(lines)-1] == "" {
		lines = lines[:len(lines)-1]
	}
	if len(lines) == 0 || lines[0] != BundleHeader {
		return fail(1, "want %q as the first line", BundleHeader)
	}
	b := &Bundle{}
	seen := map[string]int{} // name -> index in b.Entries
	for i := 1; i < len(lines); {
		l := lines[i]
		if l == "" || l == BundleHeader || strings.HasPrefix(l, "#") {
			i++
			continue
		}
		name, ok := strings.CutPrefix(l, entryPrefix)
		if !ok {
			return fail(i+1, "want an entry (%q followed by the request's file name), a comment or an empty line", entryPrefix)
		}
		if err := checkEntryName(name); err != nil {
			return fail(i+1, "%v", err)
		}
		start := i + 1
		e := BundleEntry{Name: name}
		i++
		for ; i < len(lines) && strings.HasPrefix(lines[i], "#"); i++ {
			e.Header = append(e.Header, strings.TrimPrefix(strings.TrimPrefix(lines[i], "#"), " "))
		}
		reqStart := i
		for ; i < len(lines) && !endsRequest(lines[i]); i++ {
		}
		if i == reqStart {
			return fail(start, "%s has no request", QuoteName(name))
		}
		e.Req = joinLines(lines[reqStart:i])
		if len(e.Req) > MaxRequestSize {
			return fail(reqStart+1, "the request of %s is over %d bytes", QuoteName(name), MaxRequestSize)
		}
		if i < len(lines) && lines[i] == sigBegin {
			sigStart := i
			for i++; i < len(lines) && lines[i] != sigEnd; i++ {
				if lines[i] == "" || strings.HasPrefix(lines[i], entryPrefix) {
					return fail(i+1, "the signature of %s ends without %q", QuoteName(name), sigEnd)
				}
			}
			if i == len(lines) {
				return fail(sigStart+1, "the signature of %s ends without %q", QuoteName(name), sigEnd)
			}
			i++
			e.Sig = joinLines(lines[sigStart:i])
			if len(e.Sig) > MaxSignatureSize {
				return fail(sigStart+1, "the signature of %s is over %d bytes", QuoteName(name), MaxSignatureSize)
			}
		}
		if i < len(lines) && lines[i] != "" && lines[i] != BundleHeader && !strings.HasPrefix(lines[i], entryPrefix) {
			return fail(i+1, "want an empty line after the entry %s", QuoteName(name))
		}
		if j, dup := seen[name]; dup {
			if err := mergeDuplicate(&b.Entries[j], e); err != nil {
				return fail(start-1+1, "%v", err)
			}
			continue
		}
		if len(b.Entries) == MaxBundleEntries {
			return fail(start, "more than %d entries", MaxBundleEntries)
		}
		seen[name] = len(b.Entries)
		b.Entries = append(b.Entries, e)
	}
	return b, nil
}

// endsRequest reports whether line is the first after a request: an
// empty line, the signature, the next entry or the next bundle.
func endsRequest(line string) bool {
	return line == "" || line == sigBegin || line == BundleHeader || strings.HasPrefix(line, entryPrefix)
}

// mergeDuplicate folds a second copy of an entry into the first: the
// same request, and no two different signatures.
func mergeDuplicate(first *BundleEntry, again BundleEntry) error {
	if !bytes.Equal(first.Req, again.Req) {
		return fmt.Errorf("%s appears twice with different requests", QuoteName(again.Name))
	}
	switch {
	case again.Sig == nil:
	case first.Sig == nil:
		first.Sig = again.Sig
	case !bytes.Equal(first.Sig, again.Sig):
		return fmt.Errorf("%s appears twice with different signatures", QuoteName(again.Name))
	}
	return nil
}

func joinLines(lines []string) []byte {
	var b bytes.Buffer
	for _, l := range lines {
		b.WriteString(l)
		b.WriteByte('\n')
	}
	return b.Bytes()
}

// Marshal writes the bundle in the format above: the version line, then
// each entry after an empty line. Header lines are written after "# ",
// with control characters escaped so that a header cannot forge a line;
// Req and Sig are written verbatim and must be what ParseBundle accepts
// (Marshal of a parsed bundle parses back to the same entries).
func (b *Bundle) Marshal() []byte {
	var out bytes.Buffer
	out.WriteString(BundleHeader + "\n")
	for _, e := range b.Entries {
		fmt.Fprintf(&out, "\n%s%s\n", entryPrefix, e.Name)
		for _, h := range e.Header {
			out.WriteString(strings.TrimRight("# "+printable.Escape(h), " ") + "\n")
		}
		out.Write(e.Req)
		out.Write(e.Sig)
	}
	return out.Bytes()
}
