package pvesim_test

import (
	"encoding/json"
	"net"
	"regexp"
	"strings"
	"testing"

	"github.com/felhom/felhom-converge/proxmox/pvesim"
)

func TestSeedReads(t *testing.T) {
	t.Parallel()
	a := startSim(t, pvesim.Options{})

	v := a.ok("GET", "/version", nil)
	if got := v.RawBody; got != `{"data":{"release":"8.4","repoid":"2a5fa54a8503f96d","version":"8.4.1"}}` {
		t.Errorf("version body %s", got)
	}
	if ct, srv := v.Header.Get("Content-Type"), v.Header.Get("Server"); ct != "application/json;charset=UTF-8" || srv != "pve-api-daemon/3.0" {
		t.Errorf("headers Content-Type=%q Server=%q", ct, srv)
	}

	nodes := a.ok("GET", "/nodes", nil).dataList(t)
	if len(nodes) != 1 || nodes[0]["node"] != "pve" || nodes[0]["ssl_fingerprint"] != a.fprint {
		t.Errorf("nodes %v, want pve with fingerprint %s", nodes, a.fprint)
	}

	list := a.ok("GET", "/nodes/pve/lxc", nil).dataList(t)
	got := map[string]string{}
	for _, e := range list {
		// vmid is a JSON number on PVE >= 8.2.
		if _, ok := e["vmid"].(json.Number); !ok {
			t.Errorf("vmid %v is %T, want a number", e["vmid"], e["vmid"])
		}
		got[e["vmid"].(json.Number).String()] = e["status"].(string)
	}
	want := map[string]string{"100": "running", "101": "running", "110": "stopped"}
	if len(got) != len(want) {
		t.Fatalf("lxc list %v, want %v", got, want)
	}
	for id, st := range want {
		if got[id] != st {
			t.Errorf("CT %s status %q, want %q", id, got[id], st)
		}
	}

	c := a.config(100)
	checks := map[string]any{
		"hostname":     "web",
		"memory":       json.Number("1024"),
		"unprivileged": json.Number("1"),
		"description":  "Company website\n",
		"tags":         "prod;web",
		"rootfs":       "local-lvm:vm-100-disk-0,size=8G",
		"net0":         "name=eth0,bridge=vmbr0,firewall=1,hwaddr=BC:24:11:5E:7A:01,ip=dhcp,type=veth",
		"parent":       "pre-upgrade",
	}
	for k, w := range checks {
		if c[k] != w {
			t.Errorf("config %s = %#v, want %#v", k, c[k], w)
		}
	}
	if d, _ := c["digest"].(string); !regexp.MustCompile(`^[0-9a-f]{40}$`).MatchString(d) {
		t.Errorf("digest %q is not 40 hex digits", d)
	}
	// The seed stores net0 the way Proxmox prints it: name first, the rest sorted.
	if n := a.config(101)["net0"]; n != "name=eth0,bridge=vmbr0,gw=192.168.1.1,hwaddr=BC:24:11:5E:7A:02,ip=192.168.1.21/24,type=veth" {
		t.Errorf("101 net0 = %v", n)
	}

	st := a.ok("GET", "/nodes/pve/lxc/100/status/current", nil).dataMap(t)
	if st["status"] != "running" || st["maxmem"] != json.Number("1073741824") || st["ha"] == nil {
		t.Errorf("status/current = %v", st)
	}

	snaps := a.ok("GET", "/nodes/pve/lxc/100/snapshot", nil).dataList(t)
	names := []string{}
	for _, s := range snaps {
		names = append(names, s["name"].(string))
	}
	if strings.Join(names, ",") != "pre-upgrade,current" {
		t.Errorf("snapshots %v, want pre-upgrade and current", names)
	}

	content := a.ok("GET", "/nodes/pve/storage/local/content", form("content", "backup")).dataList(t)
	if len(content) != 4 {
		t.Errorf("local backups: %d entries, want 4", len(content))
	}
	net := a.ok("GET", "/nodes/pve/network", nil).dataList(t)
	if len(net) != 2 || net[0]["iface"] != "vmbr0" || net[1]["iface"] != "vmbr1" {
		t.Errorf("network %v", net)
	}
	ns := a.ok("GET", "/nodes/pve/status", nil).dataMap(t)
	if ns["pveversion"] != "pve-manager/8.4.1/2a5fa54a8503f96d" {
		t.Errorf("pveversion %v", ns["pveversion"])
	}
	if _, ok := ns["loadavg"].([]any)[0].(string); !ok {
		t.Errorf("loadavg %v must hold strings", ns["loadavg"])
	}
}

// TestErrorShapes pins the status lines and bodies of Proxmox's errors
// and the order of its checks.
func TestErrorShapes(t *testing.T) {
	t.Parallel()
	a := startSim(t, pvesim.Options{})
	ro := a.as(a.sim.Token("readonly"))
	secret := a.sim.Token("converge")
	for _, tc := range []struct {
		name   string
		api    *rawAPI
		method string
		path   string
		params map[string]string
		code   int
		msg    string
		errs   map[string]string
	}{
		{"no token: 401 No ticket with an empty body", a.as(""), "GET", "/version", nil, 401, "No ticket", nil},
		{"wrong secret", a.as(secret[:strings.LastIndex(secret, "=")] + "=00000000-0000-0000-0000-000000000000"), "GET", "/version", nil, 401, "invalid token value!", nil},
		{"unknown token", a.as("felhom@pve!nope=x"), "GET", "/version", nil, 401, "no such token 'nope' for user 'felhom@pve'", nil},
		{"unknown path is 501 before auth", a.as(""), "GET", "/nodes/pve/foo", nil, 501, "Method 'GET /nodes/pve/foo' not implemented", nil},
		{"missing CT is 500, not 404", a, "GET", "/nodes/pve/lxc/999/config", nil, 500, "Configuration file 'nodes/pve/lxc/999.conf' does not exist", nil},
		{"unknown parameter", a, "POST", "/nodes/pve/lxc/101/status/stop", map[string]string{"bogus": "1"}, 400, "Parameter verification failed.",
			map[string]string{"bogus": "property is not defined in schema and the schema does not allow additional properties"}},
		{"form booleans must be 0/1", a, "PUT", "/nodes/pve/lxc/110/config", map[string]string{"onboot": "true"}, 400, "Parameter verification failed.",
			map[string]string{"onboot": "type check ('boolean') failed - got 'true'"}},
		{"minimum memory", a, "PUT", "/nodes/pve/lxc/110/config", map[string]string{"memory": "8"}, 400, "Parameter verification failed.",
			map[string]string{"memory": "value must have a minimum value of 16"}},
		{"permission gate lists the alternatives", ro, "PUT", "/nodes/pve/lxc/100/config", map[string]string{"memory": "2048"}, 403,
			"Permission check failed (/vms/100, VM.Config.Disk|VM.Config.CPU|VM.Config.Memory|VM.Config.Network|VM.Config.Options)", nil},
		{"permission is checked before the schema", ro, "POST", "/nodes/pve/lxc/100/status/stop", map[string]string{"bogus": "1"}, 403,
			"Permission check failed (/vms/100, VM.PowerMgmt)", nil},
		{"wrong node is proxied and fails", a, "GET", "/nodes/other/lxc", nil, 500,
			"hostname lookup 'other' failed - failed to get address info for: other: Name or service not known", nil},
		{"start a running CT", a, "POST", "/nodes/pve/lxc/100/status/start", nil, 500, "CT 100 already running", nil},
		{"stop a stopped CT", a, "POST", "/nodes/pve/lxc/110/status/stop", nil, 500, "CT 110 not running", nil},
		{"stop of a missing CT: check_running comes first", a, "POST", "/nodes/pve/lxc/999/status/stop", nil, 500, "CT 999 not running", nil},
		{"reboot says VM", a, "POST", "/nodes/pve/lxc/110/status/reboot", nil, 500, "VM 110 not running", nil},
		{"skiplock is root only", a, "POST", "/nodes/pve/lxc/100/status/stop", map[string]string{"skiplock": "1"}, 400, "Parameter verification failed.",
			map[string]string{"skiplock": "Only root may use this option."}},
		{"create over an existing CT", a, "POST", "/nodes/pve/lxc", map[string]string{"vmid": "100", "ostemplate": "local:backup/vzdump-lxc-9000-2026_10_01-12_00_00.tar.zst", "restore": "1"},
			500, "CT 100 already exists on node 'pve'", nil},
		{"restore over a running CT", a, "POST", "/nodes/pve/lxc", map[string]string{"vmid": "100", "ostemplate": "local:backup/vzdump-lxc-9000-2026_10_01-12_00_00.tar.zst", "restore": "1", "force": "1", "storage": "local-lvm"},
			500, "can't overwrite running container", nil},
		{"create without VM.Allocate: a bare permission error", ro, "POST", "/nodes/pve/lxc", map[string]string{"vmid": "131", "ostemplate": "local:vztmpl/debian-12-standard_12.7-1_amd64.tar.zst", "storage": "local-lvm"},
			403, "Permission check failed", nil},
		{"an unknown storage is the handler's die, not a parameter error", a, "POST", "/nodes/pve/lxc", map[string]string{"vmid": "133", "ostemplate": "local:backup/vzdump-lxc-9000-2026_10_01-12_00_00.tar.zst", "restore": "1", "storage": "nope"},
			500, "storage 'nope' does not exist", nil},
		{"a bare rootfs size lands on the storage parameter, checked before the task", a, "POST", "/nodes/pve/lxc", map[string]string{"vmid": "134", "ostemplate": "local:vztmpl/debian-12-standard_12.7-1_amd64.tar.zst", "rootfs": "8"},
			400, "Parameter verification failed.", map[string]string{"storage": "storage 'local' does not support container directories"}},
		{"restore lands on storage 'local' by default, which cannot hold CTs", a, "POST", "/nodes/pve/lxc", map[string]string{"vmid": "130", "ostemplate": "local:backup/vzdump-lxc-9000-2026_10_01-12_00_00.tar.zst", "restore": "1"},
			400, "Parameter verification failed.", map[string]string{"storage": "storage 'local' does not support container directories"}},
		{"restore with features but without unprivileged=1 counts as privileged", a, "POST", "/nodes/pve/lxc", map[string]string{"vmid": "132", "ostemplate": "local:backup/vzdump-lxc-9000-2026_10_01-12_00_00.tar.zst", "restore": "1", "storage": "local-lvm", "features": "nesting=1"},
			403, "Permission check failed (changing feature flags for privileged container is only allowed for root@pam)", nil},
		{"destroy a running CT", a, "DELETE", "/nodes/pve/lxc/100", nil, 500, "unable to destroy CT 100 - container is running", nil},
		{"shrink is refused", a, "PUT", "/nodes/pve/lxc/100/resize", map[string]string{"disk": "rootfs", "size": "4G"}, 500, "unable to shrink disk size", nil},
		{"resize to the same size", a, "PUT", "/nodes/pve/lxc/100/resize", map[string]string{"disk": "rootfs", "size": "8G"}, 500, "disk is already at specified size", nil},
		{"unprivileged is read-only", a, "PUT", "/nodes/pve/lxc/110/config", map[string]string{"unprivileged": "1"}, 500, "unable to modify read-only option: 'unprivileged'", nil},
		{"unprivileged cannot be deleted either", a, "PUT", "/nodes/pve/lxc/100/config", map[string]string{"delete": "unprivileged"}, 500, "unable to delete read-only option: 'unprivileged'", nil},
		{"required option", a, "PUT", "/nodes/pve/lxc/110/config", map[string]string{"delete": "memory"}, 500, "unable to delete required option 'memory'", nil},
		{"no options", a, "PUT", "/nodes/pve/lxc/110/config", nil, 500, "no options specified", nil},
		{"stale digest", a, "PUT", "/nodes/pve/lxc/110/config", map[string]string{"memory": "1024", "digest": "0000000000000000000000000000000000000000"}, 500,
			"detected modified configuration - file changed by other user? Try again.", nil},
		{"features other than nesting need root@pam", a, "PUT", "/nodes/pve/lxc/100/config", map[string]string{"features": "nesting=1,keyctl=1"}, 403,
			"Permission check failed (changing feature flags (except nesting) is only allowed for root@pam)", nil},
		{"features on a privileged CT need root@pam", a, "PUT", "/nodes/pve/lxc/110/config", map[string]string{"features": "nesting=1"}, 403,
			"Permission check failed (changing feature flags for privileged container is only allowed for root@pam)", nil},
		{"bind mounts need root@pam", a, "PUT", "/nodes/pve/lxc/110/config", map[string]string{"mp0": "/srv/host,mp=/mnt"}, 403,
			"Permission check failed (mount point type bind is only allowed for root@pam)", nil},
		{"device passthrough needs root@pam", a, "PUT", "/nodes/pve/lxc/110/config", map[string]string{"dev0": "/dev/ttyUSB0"}, 403,
			"Permission check failed (configuring device passthrough is only allowed for root@pam)", nil},
		{"a hookscript needs root@pam", a, "PUT", "/nodes/pve/lxc/110/config", map[string]string{"hookscript": "local:snippets/hook.sh"}, 403,
			"Permission check failed (changing the hookscript is only allowed for root@pam)", nil},
		{"unknown task", a, "GET", "/nodes/pve/tasks/UPID:pve:00000001:00000001:00000001:vzstart:100:felhom@pve!converge:/status", nil, 400, "Parameter verification failed.",
			map[string]string{"upid": "no such task"}},
		{"bad UPID", a, "GET", "/nodes/pve/tasks/garbage/status", nil, 400, "Parameter verification failed.",
			map[string]string{"upid": "unable to parse worker upid"}},
		{"DELETE with a body", a, "DELETE", "/nodes/pve/lxc/110", map[string]string{"x": "1"}, 501, "Unexpected content for method 'DELETE'", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			params := form()
			for k, v := range tc.params {
				params.Set(k, v)
			}
			var r response
			if tc.method == "DELETE" && len(params) > 0 {
				r = tc.api.doBody(tc.method, tc.path, params)
			} else {
				r = tc.api.do(tc.method, tc.path, params)
			}
			wantError(t, r, tc.code, tc.msg)
			if tc.errs != nil {
				got, _ := r.Body["errors"].(map[string]any)
				if len(got) != len(tc.errs) {
					t.Fatalf("errors %v, want %v", got, tc.errs)
				}
				for k, v := range tc.errs {
					if got[k] != v {
						t.Errorf("errors[%s] = %v, want %q", k, got[k], v)
					}
				}
			} else if _, has := r.Body["errors"]; has {
				t.Errorf("unexpected errors in %s", r.RawBody)
			}
		})
	}
}

func TestTokenNeverInErrors(t *testing.T) {
	t.Parallel()
	a := startSim(t, pvesim.Options{})
	secret := a.sim.Token("converge")
	_, sec, _ := strings.Cut(secret, "=")
	r := a.do("GET", "/nodes/pve/lxc/999/config", nil)
	if strings.Contains(r.RawBody, sec) || strings.Contains(r.Status, sec) {
		t.Fatalf("secret appears in %s %s", r.Status, r.RawBody)
	}
}

func TestStartRefusesNonLoopback(t *testing.T) {
	t.Parallel()
	s, err := pvesim.New(pvesim.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for _, addr := range []string{"0.0.0.0:0", "192.0.2.1:8006", ":0"} {
		if _, err := s.Start(addr, true); err == nil || !strings.Contains(err.Error(), "not a loopback address") {
			t.Errorf("Start(%q) = %v, want a loopback refusal", addr, err)
		}
	}
	ep, err := s.Start("127.0.0.1:0", false)
	if err != nil {
		t.Fatal(err)
	}
	host, port, _ := net.SplitHostPort(strings.TrimPrefix(ep, "http://"))
	if host != "127.0.0.1" || port == "0" {
		t.Errorf("endpoint %s should carry the real port", ep)
	}
}
