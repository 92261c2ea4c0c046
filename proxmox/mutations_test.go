package proxmox

import (
	"context"
	"net/url"
	"strings"
	"testing"
	"time"
)

// Each mutation sends exactly Proxmox's method, path and form: booleans as
// 1/0, form-encoded bodies for POST/PUT, query strings for DELETE.
func TestMutationsOnTheWire(t *testing.T) {
	ctx := context.Background()
	cases := []struct {
		name   string
		call   func(*Client) error
		method string
		path   string
		params url.Values // form for POST/PUT, query for DELETE
		null   bool       // the answer is {"data":null}, not a UPID
	}{
		{"set config is synchronous, with digest and sorted deletes",
			func(c *Client) error {
				return c.SetConfig(ctx, 100, map[string]string{"memory": "1024", "onboot": "1"}, []string{"mp1", "cpulimit"}, "5911baea29f4c0073fb063fd9ab29e75892832bf")
			},
			"PUT", "/nodes/pve/lxc/100/config",
			url.Values{"memory": {"1024"}, "onboot": {"1"}, "delete": {"cpulimit,mp1"}, "digest": {"5911baea29f4c0073fb063fd9ab29e75892832bf"}}, true},
		{"restore with force and overrides",
			func(c *Client) error {
				_, err := c.RestoreLXC(ctx, 105, "local:backup/vzdump-lxc-105-2023_02_01-00_00_00.tar.zst", RestoreOptions{
					Storage: "local-lvm", Force: true,
					Config: map[string]string{"hostname": "web", "memory": "2048", "unprivileged": "1", "net0": "name=eth0,bridge=vmbr0,ip=dhcp"},
				})
				return err
			},
			"POST", "/nodes/pve/lxc",
			url.Values{"vmid": {"105"}, "ostemplate": {"local:backup/vzdump-lxc-105-2023_02_01-00_00_00.tar.zst"}, "restore": {"1"},
				"storage": {"local-lvm"}, "force": {"1"}, "hostname": {"web"}, "memory": {"2048"}, "unprivileged": {"1"},
				"net0": {"name=eth0,bridge=vmbr0,ip=dhcp"}}, false},
		{"create from a template with keys and a password in the body",
			func(c *Client) error {
				_, err := c.CreateLXC(ctx, 120, "local:vztmpl/debian-12-standard_12.7-1_amd64.tar.zst", CreateOptions{
					Storage: "local-lvm", Config: map[string]string{"rootfs": "local-lvm:8", "unprivileged": "1", "timezone": "UTC"},
					SSHPublicKeys: []string{"ssh-ed25519 AAAA a@b", "ssh-ed25519 BBBB c@d"}, Password: "s3cret-pw",
				})
				return err
			},
			"POST", "/nodes/pve/lxc",
			url.Values{"vmid": {"120"}, "ostemplate": {"local:vztmpl/debian-12-standard_12.7-1_amd64.tar.zst"}, "storage": {"local-lvm"},
				"rootfs": {"local-lvm:8"}, "unprivileged": {"1"}, "timezone": {"UTC"},
				"ssh-public-keys": {"ssh-ed25519 AAAA a@b\nssh-ed25519 BBBB c@d\n"}, "password": {"s3cret-pw"}}, false},
		{"destroy sends every flag explicitly",
			func(c *Client) error {
				_, err := c.DestroyLXC(ctx, 100, DestroyOptions{Purge: true, DestroyUnreferencedDisks: true})
				return err
			},
			"DELETE", "/nodes/pve/lxc/100",
			url.Values{"purge": {"1"}, "destroy-unreferenced-disks": {"1"}, "force": {"0"}}, false},
		{"resize with digest",
			func(c *Client) error { _, err := c.Resize(ctx, 100, "mp0", "+4G", "abc"); return err },
			"PUT", "/nodes/pve/lxc/100/resize", url.Values{"disk": {"mp0"}, "size": {"+4G"}, "digest": {"abc"}}, false},
		{"start", func(c *Client) error { _, err := c.Start(ctx, 100); return err },
			"POST", "/nodes/pve/lxc/100/status/start", url.Values{}, false},
		{"stop", func(c *Client) error { _, err := c.Stop(ctx, 100); return err },
			"POST", "/nodes/pve/lxc/100/status/stop", url.Values{}, false},
		{"shutdown with timeout in whole seconds and forceStop",
			func(c *Client) error {
				_, err := c.Shutdown(ctx, 100, ShutdownOptions{Timeout: 90*time.Second + time.Millisecond, ForceStop: true})
				return err
			},
			"POST", "/nodes/pve/lxc/100/status/shutdown", url.Values{"timeout": {"91"}, "forceStop": {"1"}}, false},
		{"reboot with a timeout", func(c *Client) error { _, err := c.Reboot(ctx, 100, 30*time.Second); return err },
			"POST", "/nodes/pve/lxc/100/status/reboot", url.Values{"timeout": {"30"}}, false},
		{"snapshot", func(c *Client) error { _, err := c.Snapshot(ctx, 100, "pre-upgrade", "before apt"); return err },
			"POST", "/nodes/pve/lxc/100/snapshot", url.Values{"snapname": {"pre-upgrade"}, "description": {"before apt"}}, false},
		{"rollback without start sends no start (older versions refuse the parameter)",
			func(c *Client) error { _, err := c.Rollback(ctx, 100, "pre-upgrade", false); return err },
			"POST", "/nodes/pve/lxc/100/snapshot/pre-upgrade/rollback", url.Values{}, false},
		{"rollback with start", func(c *Client) error { _, err := c.Rollback(ctx, 100, "pre-upgrade", true); return err },
			"POST", "/nodes/pve/lxc/100/snapshot/pre-upgrade/rollback", url.Values{"start": {"1"}}, false},
		{"delete snapshot", func(c *Client) error { _, err := c.DeleteSnapshot(ctx, 100, "pre-upgrade"); return err },
			"DELETE", "/nodes/pve/lxc/100/snapshot/pre-upgrade", url.Values{}, false},
		{"vzdump sends remove=0 by default (no silent prune)",
			func(c *Client) error {
				_, err := c.Vzdump(ctx, 100, VzdumpOptions{Storage: "local", Mode: "snapshot", Compress: "zstd", NotesTemplate: "{{guestname}}"})
				return err
			},
			"POST", "/nodes/pve/vzdump",
			url.Values{"vmid": {"100"}, "storage": {"local"}, "mode": {"snapshot"}, "compress": {"zstd"}, "remove": {"0"}, "notes-template": {"{{guestname}}"}}, false},
		{"vzdump with a signed prune",
			func(c *Client) error {
				_, err := c.Vzdump(ctx, 100, VzdumpOptions{Storage: "local", Remove: true, PruneBackups: "keep-last=3"})
				return err
			},
			"POST", "/nodes/pve/vzdump",
			url.Values{"vmid": {"100"}, "storage": {"local"}, "remove": {"1"}, "prune-backups": {"keep-last=3"}}, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := newPVEServer(t, func(r recorded) reply {
				if r.Method == "PUT" && strings.HasSuffix(r.Path, "/config") {
					return ok(`{"data":null}`)
				}
				return ok(`{"data":"` + testUPID + `"}`)
			})
			c := newTestClient(t, s)
			if err := tc.call(c); err != nil {
				t.Fatal(err)
			}
			reqs := s.Requests()
			if len(reqs) != 1 {
				t.Fatalf("%d requests", len(reqs))
			}
			r := reqs[0]
			got := r.Form
			if r.Method == "DELETE" || r.Method == "GET" {
				got = r.Query
				if r.Body != "" {
					t.Errorf("%s with a body (Proxmox answers 501)", r.Method)
				}
			} else if ct := r.Header.Get("Content-Type"); ct != "application/x-www-form-urlencoded" {
				t.Errorf("Content-Type %q", ct)
			}
			if r.Method != tc.method || r.Path != tc.path {
				t.Errorf("got %s %s, want %s %s", r.Method, r.Path, tc.method, tc.path)
			}
			if got.Encode() != tc.params.Encode() {
				t.Errorf("params\n got %s\nwant %s", got.Encode(), tc.params.Encode())
			}
			for k, vs := range got {
				for _, v := range vs {
					if v == "true" || v == "false" {
						t.Errorf("%s=%s: Proxmox refuses true/false in a form", k, v)
					}
				}
			}
		})
	}
}

// Arguments are refused before any request is made.
func TestMutationArgumentsRefused(t *testing.T) {
	ctx := context.Background()
	s := newPVEServer(t, func(recorded) reply { return ok(`{"data":"` + testUPID + `"}`) })
	c := newTestClient(t, s)
	cases := []struct {
		name string
		call func() error
	}{
		{"vmid below 100", func() error { _, err := c.Start(ctx, 99); return err }},
		{"snapshot name with a slash", func() error { _, err := c.Snapshot(ctx, 100, "a/../b", ""); return err }},
		{"reserved snapshot name", func() error { _, err := c.DeleteSnapshot(ctx, 100, "current"); return err }},
		{"resize a non-disk", func() error { _, err := c.Resize(ctx, 100, "net0", "1G", ""); return err }},
		{"resize to a bad size", func() error { _, err := c.Resize(ctx, 100, "rootfs", "-1G", ""); return err }},
		{"restore smuggles restore flags", func() error {
			_, err := c.RestoreLXC(ctx, 100, "local:backup/x.tar.zst", RestoreOptions{Config: map[string]string{"force": "1"}})
			return err
		}},
		{"restore of a non-volid", func() error { _, err := c.RestoreLXC(ctx, 100, "/tmp/x.tar", RestoreOptions{}); return err }},
		{"set config with nothing", func() error { return c.SetConfig(ctx, 100, nil, nil, "") }},
		{"set and delete the same key", func() error {
			return c.SetConfig(ctx, 100, map[string]string{"swap": "0"}, []string{"swap"}, "")
		}},
		{"set config smuggles delete", func() error { return c.SetConfig(ctx, 100, map[string]string{"delete": "rootfs"}, nil, "") }},
		{"vzdump bad mode", func() error { _, err := c.Vzdump(ctx, 100, VzdumpOptions{Mode: "live"}); return err }},
		{"restore with unique and an interface", func() error {
			_, err := c.RestoreLXC(ctx, 105, "local:backup/x.tar.zst", RestoreOptions{Unique: true, Config: map[string]string{"net0": "name=eth0,bridge=vmbr0"}})
			return err
		}},
		{"create from a backup archive", func() error {
			_, err := c.CreateLXC(ctx, 120, "local:backup/vzdump-lxc-100-2026_01_01-00_00_00.tar.zst", CreateOptions{})
			return err
		}},
		{"create smuggles restore", func() error {
			_, err := c.CreateLXC(ctx, 120, "local:vztmpl/debian-12-standard_12.7-1_amd64.tar.zst", CreateOptions{Config: map[string]string{"restore": "1"}})
			return err
		}},
		{"create with a short password", func() error {
			_, err := c.CreateLXC(ctx, 120, "local:vztmpl/debian-12-standard_12.7-1_amd64.tar.zst", CreateOptions{Password: "1234"})
			return err
		}},
		{"create with a key of two lines", func() error {
			_, err := c.CreateLXC(ctx, 120, "local:vztmpl/debian-12-standard_12.7-1_amd64.tar.zst", CreateOptions{SSHPublicKeys: []string{"ssh-ed25519 A\nssh-rsa B"}})
			return err
		}},
		{"one-character snapshot name", func() error { _, err := c.Snapshot(ctx, 100, "a", ""); return err }},
		{"rootfs through the config", func() error {
			return c.SetConfig(ctx, 100, map[string]string{"rootfs": "local-lvm:vm-100-disk-0,size=8G"}, nil, "")
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.call(); err == nil {
				t.Fatal("accepted")
			}
		})
	}
	if n := len(s.Requests()); n != 0 {
		t.Fatalf("%d requests made for refused arguments", n)
	}
}

// A mutation whose answer is not a UPID is an error, not a zero UPID.
func TestTaskAnswerMustBeUPID(t *testing.T) {
	s := newPVEServer(t, func(recorded) reply { return ok(`{"data":null}`) })
	c := newTestClient(t, s)
	if u, err := c.Start(context.Background(), 100); err == nil {
		t.Fatalf("accepted a null answer as %v", u)
	}
}

// ListTasks asks for every source with the filters crash recovery uses.
func TestListTasksQuery(t *testing.T) {
	s := newPVEServer(t, func(recorded) reply {
		return ok(`{"data":[{"upid":"` + testUPID + `","node":"pve","pid":173041,"pstart":3453378,"starttime":1716560307,"type":"vzstart","id":"100","user":"felhom@pve!converge"},` +
			`{"upid":"` + testUPID + `","node":"pve","pid":1,"pstart":2,"starttime":1716560300,"endtime":1716560301,"type":"vzstart","id":"100","user":"felhom@pve!converge","status":"OK"}]}`)
	})
	c := newTestClient(t, s)
	tasks, err := c.ListTasks(context.Background(), TaskFilter{VMID: 100, TypeFilter: "vzrestore", Since: time.Unix(1716560000, 0), Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	q := s.Requests()[0].Query
	want := url.Values{"source": {"all"}, "vmid": {"100"}, "typefilter": {"vzrestore"}, "since": {"1716560000"}, "limit": {"10"}}
	if q.Encode() != want.Encode() || s.Requests()[0].Path != "/nodes/pve/tasks" {
		t.Fatalf("query %s", q.Encode())
	}
	if len(tasks) != 2 || tasks[0].EndTime != 0 || tasks[1].Status != "OK" {
		t.Fatalf("got %+v", tasks)
	}
}

// A listed task is running by Proxmox's "RUNNING" status, which is not an
// exit status.
func TestTaskRunning(t *testing.T) {
	cases := []struct {
		json    string
		running bool
		why     string
	}{
		{`{"upid":"` + testUPID + `","starttime":1716560307,"status":"RUNNING"}`, true, "pve-manager lists an active task as RUNNING"},
		{`{"upid":"` + testUPID + `","starttime":1716560307}`, true, "no status and no end time"},
		{`{"upid":"` + testUPID + `","starttime":1716560307,"endtime":1716560310,"status":"OK"}`, false, "finished"},
		{`{"upid":"` + testUPID + `","starttime":1716560307,"endtime":1716560310,"status":"CT is locked (backup)"}`, false, "failed"},
	}
	for _, c := range cases {
		var task Task
		if err := jsonUnmarshal(c.json, &task); err != nil {
			t.Fatal(err)
		}
		if task.Running() != c.running {
			t.Errorf("%s: Running() = %v (%s)", c.json, task.Running(), c.why)
		}
	}
}

func TestDeleteVolumeRefusesWhatIsNotAVolume(t *testing.T) {
	c, err := New(Options{Endpoint: "http://127.0.0.1:1", Node: "pve", Token: testToken(t)})
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range []string{"", "nostorage", "-bad:x", "local:"} {
		if _, err := c.DeleteVolume(context.Background(), v); err == nil {
			t.Errorf("DeleteVolume(%q) = nil, want a refusal before any request", v)
		}
	}
}
