package proxmox

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
)

// Proxmox is loose about JSON scalar types: the same field arrives as a
// number on one version and a string on another (the LXC list's vmid before
// PVE 8.2, loadavg, cpulimit, numbers in storage status), and booleans are
// 0/1. The types below decode every such shape; null, "" and an absent field
// all decode to the zero value.

// Int is an integer that decodes from a JSON number or a numeric string.
type Int int64

// UnmarshalJSON accepts 42, 42.0, "42", "", null.
func (i *Int) UnmarshalJSON(b []byte) error {
	s, isNull := scalarText(b)
	if isNull || s == "" {
		*i = 0
		return nil
	}
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		*i = Int(n)
		return nil
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || f != float64(int64(f)) {
		return fmt.Errorf("proxmox: cannot decode %s as an integer", b)
	}
	*i = Int(int64(f))
	return nil
}

// Float is a number that decodes from a JSON number or a numeric string.
type Float float64

// UnmarshalJSON accepts 0.25, "0.25", "", null.
func (f *Float) UnmarshalJSON(b []byte) error {
	s, isNull := scalarText(b)
	if isNull || s == "" {
		*f = 0
		return nil
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return fmt.Errorf("proxmox: cannot decode %s as a number", b)
	}
	*f = Float(v)
	return nil
}

// Bool is a boolean that decodes from 0/1, "0"/"1" or true/false.
type Bool bool

// UnmarshalJSON accepts 1, 0, "1", "0", true, false, "", null.
func (v *Bool) UnmarshalJSON(b []byte) error {
	s, isNull := scalarText(b)
	switch {
	case isNull || s == "" || s == "0" || s == "false":
		*v = false
	case s == "1" || s == "true":
		*v = true
	default:
		return fmt.Errorf("proxmox: cannot decode %s as a boolean", b)
	}
	return nil
}

// formBool is how Proxmox wants a boolean in a form body: 1 or 0. It
// refuses "true" with "type check ('boolean') failed".
func formBool(b bool) string {
	if b {
		return "1"
	}
	return "0"
}

// scalarText returns the text of a JSON number, string or boolean (strings
// unquoted), and whether the value is null.
func scalarText(b []byte) (s string, isNull bool) {
	b = bytes.TrimSpace(b)
	if string(b) == "null" {
		return "", true
	}
	if len(b) > 0 && b[0] == '"' {
		var str string
		if err := json.Unmarshal(b, &str); err == nil {
			return strings.TrimSpace(str), false
		}
	}
	return string(b), false
}
