package proxmox

import (
	"bufio"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// What is mounted on the host, read without privileges from the kernel's
// mount table (/proc/self/mountinfo): the storage blocks of the desired
// state compare a USB disk's file-system UUID with what is mounted at its
// mount point, and storage.mount refuses a mount point that would hide
// another mount.

// MountTable reads the host's mount table: mount point → source device.
func MountTable() (map[string]string, error) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return parseMountinfo(f)
}

func parseMountinfo(r io.Reader) (map[string]string, error) {
	out := map[string]string{}
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		// id parent major:minor root mountpoint options... - fstype source superopts
		fields := strings.Fields(sc.Text())
		sep := -1
		for i, x := range fields {
			if x == "-" {
				sep = i
				break
			}
		}
		if len(fields) < 5 || sep < 0 || sep+2 >= len(fields) {
			continue
		}
		out[unescapeMountinfo(fields[4])] = fields[sep+2]
	}
	return out, sc.Err()
}

// MountedUUIDs reports, for each wanted mount point → file-system UUID,
// the UUID mounted there when it is that one (by resolving
// /dev/disk/by-uuid/UUID to its device). nil means the table could not be
// read.
func MountedUUIDs(wanted map[string]string) map[string]string {
	table, err := MountTable()
	if err != nil {
		return nil
	}
	out := map[string]string{}
	for mp, uuid := range wanted {
		dev, err := filepath.EvalSymlinks("/dev/disk/by-uuid/" + uuid)
		if err != nil {
			continue
		}
		if src, ok := table[mp]; ok {
			if real, err := filepath.EvalSymlinks(src); err == nil && real == dev {
				out[mp] = uuid
			}
		}
	}
	return out
}

// unescapeMountinfo undoes mountinfo's octal escapes (\040 for a space).
func unescapeMountinfo(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if n, ok := octal(s[i+1 : i+4]); ok {
				b.WriteByte(n)
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func octal(s string) (byte, bool) {
	n := 0
	for _, c := range s {
		if c < '0' || c > '7' {
			return 0, false
		}
		n = n*8 + int(c-'0')
	}
	return byte(n), n < 256
}

// LocalFS is the host's own file system as the storage.mount step checks
// it, read without privileges.
type LocalFS struct{}

// MountPoints lists every mount point of the host.
func (LocalFS) MountPoints() ([]string, error) {
	table, err := MountTable()
	if err != nil {
		return nil, err
	}
	out := make([]string, 0, len(table))
	for mp := range table {
		out = append(out, mp)
	}
	return out, nil
}

// DirEntries counts the entries of directory path; a path that does not
// exist has none.
func (LocalFS) DirEntries(path string) (int, error) {
	entries, err := os.ReadDir(path)
	if errors.Is(err, fs.ErrNotExist) {
		return 0, nil
	}
	return len(entries), err
}
