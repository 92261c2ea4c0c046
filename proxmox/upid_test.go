package proxmox

import (
	"encoding/json"
	"testing"
	"time"
)

func TestUPIDRoundTrip(t *testing.T) {
	cases := []struct {
		name string
		in   string
		want UPID
	}{
		{"token user, from pve-api.md", "UPID:pve:0002A3F1:0034B1C2:6650A1B3:vzstart:100:felhom@pve!converge:",
			UPID{Node: "pve", PID: 0x2A3F1, PStart: 0x34B1C2, StartTime: time.Unix(0x6650A1B3, 0).UTC(), Type: "vzstart", ID: "100", User: "felhom@pve!converge"}},
		{"empty id (multi-guest vzdump)", "UPID:pve:00001234:00ABCDEF:6650A1B3:vzdump::root@pam:",
			UPID{Node: "pve", PID: 0x1234, PStart: 0xABCDEF, StartTime: time.Unix(0x6650A1B3, 0).UTC(), Type: "vzdump", User: "root@pam"}},
		{"captured vzcreate", "UPID:pve:000137B5:00112EB4:6991F9E1:vzcreate:300:root@pam!opentofu:",
			UPID{Node: "pve", PID: 0x137B5, PStart: 0x112EB4, StartTime: time.Unix(0x6991F9E1, 0).UTC(), Type: "vzcreate", ID: "300", User: "root@pam!opentofu"}},
		{"nine-digit pstart after long uptime", "UPID:node-1:0000FFFF:1000000AB:6650A1B3:vzdump:101:root@pam:",
			UPID{Node: "node-1", PID: 0xFFFF, PStart: 0x1000000AB, StartTime: time.Unix(0x6650A1B3, 0).UTC(), Type: "vzdump", ID: "101", User: "root@pam"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := ParseUPID(c.in)
			if err != nil {
				t.Fatal(err)
			}
			if got != c.want {
				t.Fatalf("ParseUPID = %+v, want %+v", got, c.want)
			}
			if s := got.String(); s != c.in {
				t.Fatalf("String() = %q, want %q", s, c.in)
			}
		})
	}
}

func TestParseUPIDRejects(t *testing.T) {
	for _, s := range []string{
		"",
		"UPID:pve:0002A3F1:0034B1C2:6650A1B3:vzstart:100:felhom@pve!converge",  // no trailing colon
		"UPID:pve:0002a3f1:0034B1C2:6650A1B3:vzstart:100:felhom@pve!converge:", // lower-case hex
		"UPID:-pve:0002A3F1:0034B1C2:6650A1B3:vzstart:100:root@pam:",           // node starts with '-'
		"UPID:pve:2A3F1:0034B1C2:6650A1B3:vzstart:100:root@pam:",               // pid not padded
		"UPID:pve:0002A3F1:0034B1C2:6650A1B3:vz start:100:root@pam:",           // whitespace
		"XPID:pve:0002A3F1:0034B1C2:6650A1B3:vzstart:100:root@pam:",
	} {
		if _, err := ParseUPID(s); err == nil {
			t.Errorf("ParseUPID(%q) accepted a malformed UPID", s)
		}
	}
}

// A UPID in JSON is the exact text Proxmox printed, and reads back equal;
// the zero UPID is "".
func TestUPIDJSON(t *testing.T) {
	u, err := ParseUPID(testUPID)
	if err != nil {
		t.Fatal(err)
	}
	type rec struct {
		UPID  UPID `json:"upid"`
		Empty UPID `json:"empty"`
	}
	b, err := json.Marshal(rec{UPID: u})
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"upid":"` + testUPID + `","empty":""}`; string(b) != want {
		t.Fatalf("JSON %s, want %s", b, want)
	}
	var back rec
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if back.UPID != u || !back.Empty.IsZero() {
		t.Fatalf("read back %+v", back)
	}
	if err := json.Unmarshal([]byte(`{"upid":"UPID:pve:bad"}`), &back); err == nil {
		t.Fatal("accepted a malformed UPID")
	}
}
