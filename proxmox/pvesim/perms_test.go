package pvesim

import (
	"sort"
	"strings"
	"testing"
)

func TestPrivilegeComputation(t *testing.T) {
	t.Parallel()
	st := &state{
		Users: map[string]*user{"ops@pve": {ACL: map[string][]string{
			"/":        {"VM.Audit", "VM.PowerMgmt", "Sys.Audit"},
			"/vms/200": {"VM.Audit"},
		}}},
		Tokens: map[string]*token{
			"ops@pve!sep": {Privsep: true, ACL: map[string][]string{
				"/":             {"VM.Audit", "VM.PowerMgmt", "VM.Allocate"},
				"/storage/data": {"Datastore.Audit"},
			}},
			"ops@pve!full": {Privsep: false},
		},
	}
	for _, tc := range []struct {
		why   string
		token string
		path  string
		want  string
	}{
		{"privsep intersects: VM.Allocate is the token's only, Sys.Audit the user's only", "ops@pve!sep", "/vms/100", "VM.Audit,VM.PowerMgmt"},
		{"grants on / propagate to every path below", "ops@pve!sep", "/nodes/pve", "VM.Audit,VM.PowerMgmt"},
		{"the user's more specific ACL replaces the inherited one", "ops@pve!sep", "/vms/200", "VM.Audit"},
		{"the token's more specific ACL replaces its own inherited one", "ops@pve!sep", "/storage/data", ""},
		{"without privsep the token has its user's privileges", "ops@pve!full", "/vms/100", "Sys.Audit,VM.Audit,VM.PowerMgmt"},
		{"an unknown token has nothing", "ops@pve!nope", "/", ""},
	} {
		t.Run(tc.why, func(t *testing.T) {
			var got []string
			for p := range st.privs(tc.token, tc.path) {
				got = append(got, p)
			}
			sort.Strings(got)
			if strings.Join(got, ",") != tc.want {
				t.Errorf("privs(%s, %s) = %v, want %s", tc.token, tc.path, got, tc.want)
			}
		})
	}
}

func TestFormatSize(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in   string
		want string
		why  string
	}{
		{"8G", "8G", "whole GiB stay G"},
		{"8GiB", "8G", "the IEC suffix is accepted and printed short"},
		{"1024G", "1T", "the largest exact unit wins"},
		{"8.5G", "8704M", "a fraction falls back to the next unit"},
		{"512M", "512M", "MiB"},
		{"1000", "1000", "plain bytes"},
	} {
		n, err := parseSize(tc.in)
		if err != nil {
			t.Fatalf("%s: %v", tc.in, err)
		}
		if got := formatSize(n); got != tc.want {
			t.Errorf("%s (%s): %s, want %s", tc.in, tc.why, got, tc.want)
		}
	}
}

func TestDigestCoversLocksAndSnapshots(t *testing.T) {
	t.Parallel()
	g := &guest{VMID: 100, Conf: map[string]string{"memory": "512", "rootfs": "local-lvm:vm-100-disk-0,size=8G"}}
	base := digestOf(g)
	g.Conf["lock"] = "backup"
	locked := digestOf(g)
	delete(g.Conf, "lock")
	g.Snapshots = map[string]*snapshot{"s1": {Conf: map[string]string{"memory": "512"}, Snaptime: 1}}
	snapped := digestOf(g)
	if base == locked || base == snapped || locked == snapped {
		t.Errorf("digests %s %s %s must all differ", base, locked, snapped)
	}
	g.Snapshots = nil
	if digestOf(g) != base {
		t.Error("digest is not a function of the config")
	}
}

func TestPruneMarks(t *testing.T) {
	t.Parallel()
	day := int64(86400)
	mk := func(name string, ctime int64, protected bool) *volume {
		return &volume{VolID: name, CTime: ctime, Protected: protected}
	}
	archives := []*volume{mk("a", 1*day, false), mk("b", 2*day, false), mk("c", 3*day, true), mk("d", 4*day, false), mk("e", 4*day+60, false)}
	for _, tc := range []struct {
		why, retention, want string
	}{
		{"keep-all keeps everything", "keep-all=1", "a:keep b:keep c:protected d:keep e:keep"},
		{"keep-last counts newest first and skips protected", "keep-last=2", "a:remove b:remove c:protected d:keep e:keep"},
		{"keep-daily keeps the newest of each day", "keep-daily=2", "a:remove b:keep c:protected d:remove e:keep"},
		{"keep-daily counts only days that keep-last has not covered", "keep-last=1,keep-daily=2", "a:keep b:keep c:protected d:remove e:keep"},
		{"no positive rule keeps everything", "keep-last=0", "a:keep b:keep c:protected d:keep e:keep"},
	} {
		marks := pruneMarks(archives, tc.retention)
		var got []string
		for _, v := range archives {
			got = append(got, v.VolID+":"+marks[v.VolID])
		}
		if strings.Join(got, " ") != tc.want {
			t.Errorf("%s (%s): %s, want %s", tc.why, tc.retention, strings.Join(got, " "), tc.want)
		}
	}
}
