package trust

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"syscall"
)

// ErrNotRegular is wrapped when a path the tool reads is a FIFO, a
// directory, a device, a socket or a symbolic link instead of a regular
// file.
var ErrNotRegular = errors.New("not a regular file")

// ErrTooLarge is wrapped when a file is larger than its bound.
var ErrTooLarge = errors.New("file too large")

// openRegular opens path without following a final symbolic link and
// without blocking (a FIFO opens at once instead of waiting for a
// writer), and returns it only when it is a regular file. flags are added
// to O_NOFOLLOW|O_NONBLOCK|O_CLOEXEC.
func openRegular(path string, flags int) (*os.File, fs.FileInfo, error) {
	f, err := os.OpenFile(path, flags|syscall.O_NOFOLLOW|syscall.O_NONBLOCK|syscall.O_CLOEXEC, 0)
	switch {
	case errors.Is(err, syscall.ELOOP):
		return nil, nil, &fs.PathError{Op: "open", Path: path, Err: fmt.Errorf("%w: a symbolic link", ErrNotRegular)}
	case errors.Is(err, syscall.EISDIR):
		return nil, nil, &fs.PathError{Op: "open", Path: path, Err: fmt.Errorf("%w: a directory", ErrNotRegular)}
	case errors.Is(err, syscall.ENXIO): // a FIFO without a reader, opened for writing
		return nil, nil, &fs.PathError{Op: "open", Path: path, Err: fmt.Errorf("%w: a FIFO or device", ErrNotRegular)}
	}
	if err != nil {
		return nil, nil, err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, nil, err
	}
	if !fi.Mode().IsRegular() {
		f.Close()
		return nil, nil, &fs.PathError{Op: "open", Path: path, Err: fmt.Errorf("%w: %s", ErrNotRegular, fileKind(fi.Mode()))}
	}
	return f, fi, nil
}

// ReadRegular reads the regular file at path, of at most max bytes. It
// never follows a final symbolic link and never blocks on a FIFO: a path
// that is not a regular file is an error wrapping ErrNotRegular, a larger
// file one wrapping ErrTooLarge, refused before it is read.
func ReadRegular(path string, max int64) ([]byte, error) {
	data, _, err := readRegular(path, max)
	return data, err
}

// readRegular is ReadRegular, with the file's stat.
func readRegular(path string, max int64) ([]byte, fs.FileInfo, error) {
	f, fi, err := openRegular(path, os.O_RDONLY)
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	data, err := readBounded(f, fi, path, max)
	return data, fi, err
}

// readBounded reads f (whose stat is fi) whole, refusing it when it is or
// grows larger than max.
func readBounded(f *os.File, fi fs.FileInfo, path string, max int64) ([]byte, error) {
	if fi.Size() > max {
		return nil, &fs.PathError{Op: "read", Path: path, Err: fmt.Errorf("%w: %d bytes, more than the bound of %d", ErrTooLarge, fi.Size(), max)}
	}
	data, err := io.ReadAll(io.LimitReader(f, max+1))
	if err != nil {
		return nil, &fs.PathError{Op: "read", Path: path, Err: err}
	}
	if int64(len(data)) > max {
		return nil, &fs.PathError{Op: "read", Path: path, Err: fmt.Errorf("%w: more than the bound of %d bytes", ErrTooLarge, max)}
	}
	return data, nil
}

func fileKind(m fs.FileMode) string {
	switch {
	case m&fs.ModeSymlink != 0:
		return "a symbolic link"
	case m.IsDir():
		return "a directory"
	case m&fs.ModeNamedPipe != 0:
		return "a FIFO"
	case m&fs.ModeSocket != 0:
		return "a socket"
	case m&fs.ModeDevice != 0:
		return "a device"
	default:
		return "not a regular file"
	}
}
