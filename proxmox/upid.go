package proxmox

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// UPID identifies one Proxmox worker task, as the API returns it from every
// asynchronous call:
//
//	UPID:{node}:{pid:08X}:{pstart:08X}:{starttime:08X}:{type}:{id}:{user}:
//
// The hex fields are upper-case and zero-padded to eight digits (pstart can
// grow to nine after about 497 days of uptime); the trailing colon is part of
// the format. For API tokens User reads "user@realm!tokenid".
type UPID struct {
	Node      string
	PID       uint32
	PStart    uint64
	StartTime time.Time
	Type      string // vzcreate, vzrestore, vzstart, vzdump, ...
	ID        string // the vmid for guest tasks; may be empty
	User      string
}

// upidPattern is Proxmox's own parser (pve-common PVE::Tools::upid_decode),
// written for Go, with the hex upper-case as upid_encode writes it: the
// fields may not hold ':' or whitespace.
var upidPattern = regexp.MustCompile(`^UPID:([a-zA-Z0-9]([a-zA-Z0-9\-]*[a-zA-Z0-9])?):([0-9A-F]{8}):([0-9A-F]{8,9}):([0-9A-F]{8}):([^:\s]+):([^:\s]*):([^:\s]+):$`)

// ParseUPID decodes a UPID string as Proxmox writes it. Proxmox's own
// decoder also takes lower-case hex, which upid_encode never writes; such a
// string is refused here, because it would not print back byte for byte and
// Proxmox finds a task's log by the exact UPID text.
func ParseUPID(s string) (UPID, error) {
	m := upidPattern.FindStringSubmatch(s)
	if m == nil {
		return UPID{}, fmt.Errorf("unable to parse worker upid %q", s)
	}
	if len(m[4]) == 9 && m[4][0] == '0' {
		// upid_encode writes pstart as %08X: a ninth digit is never a
		// leading zero, and such a UPID would not print back as given.
		return UPID{}, fmt.Errorf("unable to parse worker upid %q: start time field %s is not as Proxmox writes it", s, m[4])
	}
	pid, _ := strconv.ParseUint(m[3], 16, 32)
	pstart, _ := strconv.ParseUint(m[4], 16, 64)
	start, _ := strconv.ParseUint(m[5], 16, 32)
	return UPID{
		Node:      m[1],
		PID:       uint32(pid),
		PStart:    pstart,
		StartTime: time.Unix(int64(start), 0).UTC(),
		Type:      m[6],
		ID:        m[7],
		User:      m[8],
	}, nil
}

// String encodes the UPID the way Proxmox does (pve-common upid_encode), so
// ParseUPID(u.String()) == u and a parsed UPID prints back byte for byte.
func (u UPID) String() string {
	return fmt.Sprintf("UPID:%s:%08X:%08X:%08X:%s:%s:%s:",
		u.Node, u.PID, u.PStart, uint32(u.StartTime.Unix()), u.Type, u.ID, u.User)
}

// Token returns the API token id of the task's owner ("converge" for
// "felhom@pve!converge"), or "" when a user ran it.
func (u UPID) Token() string {
	if _, tok, ok := strings.Cut(u.User, "!"); ok {
		return tok
	}
	return ""
}

// IsZero reports whether u is the zero UPID (no task).
func (u UPID) IsZero() bool { return u == UPID{} }

// MarshalText writes the UPID exactly as Proxmox prints it (the zero UPID
// as ""), so a journal or a JSON document holds the text the API takes
// back.
func (u UPID) MarshalText() ([]byte, error) {
	if u.IsZero() {
		return []byte{}, nil
	}
	return []byte(u.String()), nil
}

// UnmarshalText parses a UPID as ParseUPID does; "" is the zero UPID.
func (u *UPID) UnmarshalText(b []byte) error {
	if len(b) == 0 {
		*u = UPID{}
		return nil
	}
	v, err := ParseUPID(string(b))
	if err != nil {
		return err
	}
	*u = v
	return nil
}
