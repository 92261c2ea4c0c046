package apply

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"

	"github.com/felhom/felhom-converge/atomicfile"
)

// Bounds of the audit log.
const (
	// AuditRotateAt is the size past which audit.jsonl is rotated: it
	// becomes audit.jsonl.1 (the older ones move up to .2, .3), and a new
	// audit.jsonl begins.
	AuditRotateAt = 8 << 20
	// AuditKeep is how many rotated files are kept (audit.jsonl.1 to
	// .AuditKeep); the oldest beyond is removed. With the current file the
	// audit trail stays under (AuditKeep+1) × AuditRotateAt.
	AuditKeep = 3
)

// AuditTornFile keeps the bytes of a torn last line cut off the audit log.
const AuditTornFile = AuditFile + ".torn"

// repairTail makes the audit log at path end with a whole line before the
// first append: a last line a crash tore (no final newline, or not one
// JSON object, like zeros of an unwritten sector) would otherwise have the
// next entry glued onto it. The torn bytes are kept in AuditTornFile
// beside it (the last cut only) and cut off; f is the log opened for
// appending. It returns what it cut, "" for nothing.
func repairTail(path string, f *os.File) (string, error) {
	r, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NOFOLLOW|syscall.O_NONBLOCK, 0)
	if err != nil {
		return "", err
	}
	defer r.Close()
	fi, err := r.Stat()
	if err != nil || fi.Size() == 0 {
		return "", err
	}
	end, err := lastLineStart(r, fi.Size())
	if err != nil {
		return "", err
	}
	last := make([]byte, fi.Size()-end)
	if _, err := r.ReadAt(last, end); err != nil && !errors.Is(err, io.EOF) {
		return "", err
	}
	if whole(last) {
		return "", nil
	}
	if err := atomicfile.WriteFile(filepath.Join(filepath.Dir(path), AuditTornFile), last, 0o600); err != nil {
		return "", fmt.Errorf("save the torn last line: %w", err)
	}
	if err := f.Truncate(end); err != nil {
		return "", err
	}
	if err := f.Sync(); err != nil {
		return "", err
	}
	return fmt.Sprintf("cut a torn last line off %s at byte %d (%d bytes, kept in %s)", path, end, len(last), AuditTornFile), nil
}

// whole reports whether b, the audit log's last line, is a whole entry:
// one JSON object and its newline.
func whole(b []byte) bool {
	return len(b) > 0 && b[len(b)-1] == '\n' && bytes.HasPrefix(b, []byte("{")) && json.Valid(b[:len(b)-1])
}

// lastLineStart is the offset where the last line of the file (size bytes
// of r) begins: after the newline before its final byte, or 0.
func lastLineStart(r io.ReaderAt, size int64) (int64, error) {
	const chunk = 4096
	buf := make([]byte, chunk)
	end := size - 1 // the final byte: a line's own newline, or torn
	for end > 0 {
		start := max(end-chunk, 0)
		n, err := r.ReadAt(buf[:end-start], start)
		if err != nil && !errors.Is(err, io.EOF) {
			return 0, err
		}
		if i := bytes.LastIndexByte(buf[:n], '\n'); i >= 0 {
			return start + int64(i) + 1, nil
		}
		end = start
	}
	return 0, nil
}

// rotate moves path to path.1 (and path.1 to path.2, up to path.keep; the
// oldest beyond goes), then syncs the directory. A crash between two
// renames leaves a gap in the numbers, never a lost current file.
func rotate(path string, keep int) error {
	if err := os.Remove(fmt.Sprintf("%s.%d", path, keep)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	for n := keep - 1; n >= 1; n-- {
		if err := os.Rename(fmt.Sprintf("%s.%d", path, n), fmt.Sprintf("%s.%d", path, n+1)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
	}
	if err := os.Rename(path, path+".1"); err != nil {
		return err
	}
	return atomicfile.SyncDir(filepath.Dir(path))
}
