package schema

import (
	"fmt"
	"math/big"
	"regexp"
	"strconv"
)

// Binary unit sizes. Proxmox's sizes are binary throughout: its "8G" means
// 8 GiB, exactly as "8GiB" does.
const (
	KiB int64 = 1 << 10
	MiB int64 = 1 << 20
	GiB int64 = 1 << 30
	TiB int64 = 1 << 40
)

// maxBytes bounds every size the schema accepts (1 PiB), far above any real
// guest and far below int64 overflow.
const maxBytes = 1 << 50

// unitFactor lists the units a size may carry, as pve-common's parse_size
// accepts them, plus an explicit "B" for bytes.
var unitFactor = map[string]int64{
	"B": 1,
	"K": KiB, "KiB": KiB,
	"M": MiB, "MiB": MiB,
	"G": GiB, "GiB": GiB,
	"T": TiB, "TiB": TiB,
}

var sizePattern = regexp.MustCompile(`^([0-9]{1,20}(?:\.[0-9]{1,20})?)\s*([A-Za-z]*)$`)

// Size is a disk size in bytes. Its String method renders it the way Proxmox
// writes sizes back into a guest config.
type Size int64

// String renders the size in the largest unit that divides it exactly, as
// pve-common's format_size does: 8589934592 is "8G", 9126805504 is "8704M",
// and a size that is not a whole KiB is a bare byte count.
func (s Size) String() string {
	n := int64(s)
	units := []string{"K", "M", "G", "T"}
	suffix := ""
	for _, u := range units {
		if n == 0 || n%1024 != 0 {
			break
		}
		n /= 1024
		suffix = u
	}
	return strconv.FormatInt(n, 10) + suffix
}

// ParseSize parses a size string such as "8G", "8GiB", "512M", "1.5G" or
// "2147483648B" into an exact number of bytes. A string without a unit is
// refused: a bare number could be read as bytes (Proxmox's disk-size rule)
// or GiB (its STORAGE:N rule), so the file must say which.
func ParseSize(s string) (*big.Rat, error) {
	m := sizePattern.FindStringSubmatch(s)
	if m == nil {
		return nil, fmt.Errorf("%q is not a size: write a number and a unit, such as 8G or 512MiB", s)
	}
	if m[2] == "" {
		return nil, fmt.Errorf("%q has no unit: write it as %sG, %sM or %sB so it cannot be misread", s, m[1], m[1], m[1])
	}
	factor, ok := unitFactor[m[2]]
	if !ok {
		return nil, unitError(s, m[2])
	}
	n, ok := new(big.Rat).SetString(m[1])
	if !ok {
		return nil, fmt.Errorf("%q is not a size", s)
	}
	return n.Mul(n, new(big.Rat).SetInt64(factor)), nil
}

func unitError(s, unit string) error {
	switch unit {
	case "KB", "MB", "GB", "TB", "kB", "kb", "mb", "gb", "tb":
		return fmt.Errorf("%q uses the decimal unit %s; Proxmox sizes are binary: write %s or %siB", s, unit, unit[:1], unit[:1])
	}
	return fmt.Errorf("%q has the unknown unit %q; use B, K, KiB, M, MiB, G, GiB, T or TiB", s, unit)
}

// roundUp returns bytes rounded up to a whole multiple of unit, and whether
// that changed the value. bytes must be positive and at most maxBytes.
func roundUp(bytes *big.Rat, unit int64) (int64, bool) {
	units := new(big.Rat).Quo(bytes, new(big.Rat).SetInt64(unit))
	q, r := new(big.Int).QuoRem(units.Num(), units.Denom(), new(big.Int))
	if r.Sign() != 0 {
		q.Add(q, big.NewInt(1))
	}
	return q.Int64(), r.Sign() != 0
}

// tooBig reports whether bytes exceeds the schema's bound on sizes.
func tooBig(bytes *big.Rat) bool {
	return bytes.Cmp(new(big.Rat).SetInt64(maxBytes)) > 0
}
