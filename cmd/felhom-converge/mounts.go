package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/felhom/felhom-converge/schema"
)

// hostMounts reads, without privileges, which of the desired storages are
// mounted where the file wants them: mountpoint → the UUID mounted there.
// On a host it resolves /dev/disk/by-uuid/UUID and looks the device up in
// /proc/self/mountinfo; under --sim it reads the simulated root runner's
// mounts (SIM/mounts.json). nil means the mounts could not be read, so
// plan proposes every storage mount (the mount itself is idempotent).
func hostMounts(storages []schema.Storage, simDir string) map[string]string {
	if len(storages) == 0 {
		return map[string]string{}
	}
	if simDir != "" {
		b, err := os.ReadFile(filepath.Join(simDir, "mounts.json"))
		if errors.Is(err, fs.ErrNotExist) {
			return map[string]string{}
		}
		m := map[string]string{}
		if err != nil || json.Unmarshal(b, &m) != nil {
			return nil
		}
		return m
	}
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return nil
	}
	defer f.Close()
	sources := map[string]string{} // mount point → source device
	sc := bufio.NewScanner(f)
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
		sources[unescapeMountinfo(fields[4])] = fields[sep+2]
	}
	out := map[string]string{}
	for _, st := range storages {
		dev, err := filepath.EvalSymlinks("/dev/disk/by-uuid/" + st.USBUUID)
		if err != nil {
			continue
		}
		if src, ok := sources[st.Mountpoint]; ok {
			if real, err := filepath.EvalSymlinks(src); err == nil && real == dev {
				out[st.Mountpoint] = st.USBUUID
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
