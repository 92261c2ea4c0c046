package proxmox

import (
	"context"
	"encoding/json"
	"net/url"
	"testing"
)

// Every captured real response decodes through the client, and the fields
// that differ between Proxmox versions come out right.
func TestDecodeCaptured(t *testing.T) {
	ctx := context.Background()
	route := map[string]string{
		"GET /version":                          "pve7_node_version.json",
		"GET /nodes":                            "pve7_nodes_list.json",
		"GET /nodes/pve/status":                 "pve7_node_status.json",
		"GET /nodes/pve/lxc":                    "pve7_lxc_list_vmid_as_string.json",
		"GET /nodes/pve/lxc/101/status/current": "pve7_lxc_status_current.json",
		"GET /nodes/pve/lxc/101/config":         "pve7_lxc_config.json",
		"GET /storage":                          "storage_list.json",
		"GET /nodes/pve/storage":                "node_storage.json",
		"GET /nodes/pve/storage/local/content":  "storage_content.json",
		"GET /cluster/resources":                "pve_cluster_resources_lxc_entries.json",
	}
	s := newPVEServer(t, func(r recorded) reply {
		if f, ok := route[r.Method+" "+r.Path]; ok {
			return reply{Status: 200, Body: captured(t, f)}
		}
		return reply{Status: 501, Reason: "Method '" + r.Method + " " + r.Path + "' not implemented", Body: `{"data":null}`}
	})
	c := newTestClient(t, s)

	t.Run("version PVE 7", func(t *testing.T) {
		v, err := c.Version(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if v.Version != "7.4-16" || v.Release != "7.4" || v.RepoID != "0f39f621" {
			t.Fatalf("got %+v", v)
		}
	})
	t.Run("nodes with ssl fingerprint", func(t *testing.T) {
		nodes, err := c.Nodes(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(nodes) != 4 || nodes[0].Node != "node1" || nodes[0].MaxCPU != 12 || nodes[0].Uptime != 2236708 ||
			nodes[0].SSLFingerprint != "80:D4:F2:DF:64:95:CD:8D:A0:82:82:AC:48:BA:C0:7A:1B:6B:87:8B:FE:B9:83:1C:95:4E:79:58:77:99:69:F5" {
			t.Fatalf("got %+v", nodes[0])
		}
	})
	t.Run("node status: loadavg and mhz as strings", func(t *testing.T) {
		st, err := c.NodeStatus(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(st.LoadAvg) != 3 || st.CPUInfo.MHz != 3400 || !bool(st.CPUInfo.HVM) || st.CPUInfo.CPUs != 8 ||
			st.Memory.Total != 65919459328 || st.RootFS.Avail != 937851224064 || st.PVEVersion != "pve-manager/7.4-16/0f39f621" ||
			st.CurrentKernel != nil {
			t.Fatalf("got %+v", st)
		}
	})
	t.Run("lxc list: vmid as string, template flag", func(t *testing.T) {
		l, err := c.ListLXC(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(l) != 3 || l[0].VMID != 106 || l[2].VMID != 101 || !bool(l[2].Template) || bool(l[0].Template) ||
			l[0].PID != 248173 || l[0].MaxMem != 536870912 || l[0].Status != "running" {
			t.Fatalf("got %+v", l)
		}
	})
	t.Run("status current with ha", func(t *testing.T) {
		st, err := c.GuestStatus(ctx, 101)
		if err != nil {
			t.Fatal(err)
		}
		if st.VMID != 101 || bool(st.HA.Managed) || !bool(st.Template) || st.Tags != "tag1;tag2" || st.Name != "test-container" {
			t.Fatalf("got %+v", st)
		}
	})
	t.Run("config: numbers, digest, raw lxc, bind mount", func(t *testing.T) {
		cfg, err := c.GuestConfig(ctx, 101)
		if err != nil {
			t.Fatal(err)
		}
		mem, okMem := cfg.Memory()
		cores, _ := cfg.Cores()
		if cfg.Digest != "5911baea29f4c0073fb063fd9ab29e75892832bf" || mem != 4096 || !okMem || cores != 2 ||
			!cfg.OnBoot() || cfg.Unprivileged() || cfg.Hostname() != "test-container" ||
			cfg.MountPoints()[0] != "/mnt/foo/bar,mp=/storage" || len(cfg.RawLXC) != 5 ||
			cfg.RawLXC[3] != [2]string{"lxc.mount.entry", "/dev/dri dev/dri none bind,optional,create=dir"} ||
			len(cfg.Tags()) != 2 || cfg.RootFS() != "vmstore:subvol-101-disk-0,size=30G" {
			t.Fatalf("got %+v", cfg)
		}
		if _, ok := cfg.Values["digest"]; ok {
			t.Error("digest left in Values")
		}
		if _, ok := cfg.Swap(); !ok {
			t.Error("swap missing")
		}
	})
	t.Run("storage config", func(t *testing.T) {
		l, err := c.ListStorage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(l) != 3 || l[0].Path != "/var/lib/vz" || l[0].PruneBackups != "keep-all=1" || l[1].ThinPool != "data" {
			t.Fatalf("got %+v", l)
		}
	})
	t.Run("node storage: numbers as strings", func(t *testing.T) {
		l, err := c.NodeStorage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(l) != 3 || l[2].Avail != 412316860416 || l[2].Total != 479733473280 || !bool(l[2].Active) || l[1].UsedFraction != 0.0901532 {
			t.Fatalf("got %+v", l)
		}
	})
	t.Run("storage content: vmid as string, protected, verification", func(t *testing.T) {
		l, err := c.StorageContent(ctx, "local", "backup", 0)
		if err != nil {
			t.Fatal(err)
		}
		if len(l) != 3 || l[1].VMID != 105 || !bool(l[1].Protected) || l[1].Verification == nil || l[1].Verification.State != "ok" ||
			l[2].Format != "tzst" || l[0].Size != 498017292 {
			t.Fatalf("got %+v", l)
		}
	})
	t.Run("cluster resources filtered to this node's lxc", func(t *testing.T) {
		l, err := c.ClusterResources(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(l) != 2 || l[0].VMID != 733 || l[1].Status != "stopped" || l[0].Tags != "" {
			t.Fatalf("got %+v", l)
		}
	})
}

// The bodies that are not a whole GET answer decode on their own.
func TestDecodeCapturedFragments(t *testing.T) {
	t.Run("pve8 cluster resources: only this node's lxc survive the filter", func(t *testing.T) {
		s := newPVEServer(t, func(r recorded) reply {
			if r.Query.Get("type") != "vm" {
				t.Errorf("query %v, want type=vm", r.Query)
			}
			return ok(captured(t, "pve8_cluster_resources_all.json"))
		})
		c := newTestClient(t, s, func(o *Options) { o.Node = "node1" })
		l, err := c.ClusterResources(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if len(l) != 0 { // the capture holds qemu guests, nodes and storages only
			t.Fatalf("got %+v", l)
		}
	})
	t.Run("lxc guests of other nodes and qemu guests are filtered out", func(t *testing.T) {
		// Both captures in one answer, one lxc entry moved to another node.
		var a, b struct{ Data []map[string]any }
		if err := jsonUnmarshal(captured(t, "pve8_cluster_resources_all.json"), &a); err != nil {
			t.Fatal(err)
		}
		if err := jsonUnmarshal(captured(t, "pve_cluster_resources_lxc_entries.json"), &b); err != nil {
			t.Fatal(err)
		}
		b.Data[1]["node"] = "node2"
		body, err := json.Marshal(map[string]any{"data": append(a.Data, b.Data...)})
		if err != nil {
			t.Fatal(err)
		}
		s := newPVEServer(t, func(recorded) reply { return ok(string(body)) })
		c := newTestClient(t, s)
		l, err := c.ClusterResources(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if len(l) != 1 || l[0].VMID != 733 || l[0].Node != "pve" {
			t.Fatalf("got %+v", l)
		}
	})
	t.Run("pending: numbers and strings, pending-only keys, deletions", func(t *testing.T) {
		// The shape of pve-api.md 3.8.
		s := newPVEServer(t, func(recorded) reply {
			return ok(`{"data":[{"key":"memory","value":1024,"pending":2048},{"key":"rootfs","value":"local-lvm:vm-100-disk-0,size=8G"},` +
				`{"key":"nameserver","pending":"1.1.1.1"},{"key":"features","value":"nesting=1","delete":1}]}`)
		})
		c := newTestClient(t, s)
		l, err := c.GuestPending(context.Background(), 100)
		if err != nil {
			t.Fatal(err)
		}
		if len(l) != 4 || l[0].Value != "1024" || l[0].Pending != "2048" || !l[0].NeedsRestart() ||
			l[1].NeedsRestart() || l[2].HasValue || l[2].Pending != "1.1.1.1" || !l[3].Delete || !l[3].NeedsRestart() {
			t.Fatalf("got %+v", l)
		}
		if p := s.Requests()[0].Path; p != "/nodes/pve/lxc/100/pending" {
			t.Errorf("path %s", p)
		}
	})
	t.Run("task status with warnings: id as string", func(t *testing.T) {
		s := newPVEServer(t, func(r recorded) reply { return ok(captured(t, "pve7_task_status_warnings.json")) })
		c := newTestClient(t, s)
		u, _ := ParseUPID("UPID:dahu-2:00007323:001036A5:6419CAF8:qmstart:100:root@pam:")
		st, err := c.TaskStatusOnce(context.Background(), u)
		if err != nil {
			t.Fatal(err)
		}
		if n, ok := st.Warnings(); !ok || n != 1 || st.ID != "100" || st.Running() || st.PID != 29475 {
			t.Fatalf("got %+v", st)
		}
		if got := s.Requests()[0].Path; got != "/nodes/dahu-2/tasks/UPID:dahu-2:00007323:001036A5:6419CAF8:qmstart:100:root@pam:/status" {
			t.Errorf("path %s", got)
		}
	})
	for _, f := range []string{"pve7_post_returns_upid_token_user.json", "pve6_pvesh_shutdown_upid.json"} {
		t.Run("UPID answer "+f, func(t *testing.T) {
			body := captured(t, f)
			if f == "pve6_pvesh_shutdown_upid.json" { // pvesh printed the data value alone
				body = `{"data":` + body + `}`
			}
			s := newPVEServer(t, func(r recorded) reply { return ok(body) })
			c := newTestClient(t, s)
			u, err := c.Start(context.Background(), 200)
			if err != nil {
				t.Fatal(err)
			}
			if u.Node == "" || u.Type == "" || u.User == "" {
				t.Fatalf("got %+v", u)
			}
		})
	}
	t.Run("vzcreate UPID with token user", func(t *testing.T) {
		var v struct {
			UPID       string
			ExitStatus string
		}
		if err := jsonUnmarshal(captured(t, "pve_vzcreate_upid_token_warnings.json"), &v); err != nil {
			t.Fatal(err)
		}
		u, err := ParseUPID(v.UPID)
		if err != nil || u.Token() != "opentofu" {
			t.Fatalf("ParseUPID: %+v, %v", u, err)
		}
		if n, ok := (TaskStatus{ExitStatus: v.ExitStatus}).Warnings(); !ok || n != 1 {
			t.Fatalf("warnings %d %v", n, ok)
		}
	})
}

// The PVE 8 shapes of pve-api.md, where they differ from the PVE 7
// captures above: vmid as a number, the new node status keys, a guest so
// new that /cluster/resources knows only its id, a token task's split
// user, the description's trailing newline, the "current" snapshot.
func TestDecodePVE8Shapes(t *testing.T) {
	ctx := context.Background()
	route := map[string]string{
		"/version": `{"data":{"version":"8.4.1","release":"8.4","repoid":"2a5fa54a8503f96d"}}`,
		"/nodes/pve/status": `{"data":{"uptime":864000,"idle":0,"loadavg":["0.12","0.30","0.25"],"kversion":"Linux 6.8.12-4-pve #1 SMP PREEMPT_DYNAMIC",` +
			`"current-kernel":{"sysname":"Linux","release":"6.8.12-4-pve","version":"#1 SMP PREEMPT_DYNAMIC","machine":"x86_64"},` +
			`"boot-info":{"mode":"efi","secureboot":0},"cpuinfo":{"model":"AMD EPYC","sockets":1,"cores":8,"cpus":16,"mhz":"2994.374","hvm":"1","flags":"fpu","user_hz":100},` +
			`"cpu":0.0123,"wait":0.0004,"memory":{"free":1,"total":67282944000,"used":6021357568},"ksm":{"shared":0},"swap":{"free":0,"total":0,"used":0},` +
			`"pveversion":"pve-manager/8.4.1/2a5fa54a8503f96d","rootfs":{"total":100861726720,"avail":91627159552,"used":9234567168,"free":91627159552}}}`,
		"/nodes/pve/lxc": `{"data":[{"vmid":100,"type":"lxc","status":"running","name":"web","cpus":2,"cpu":0.0031,"mem":53719040,"maxmem":1073741824,` +
			`"swap":0,"maxswap":536870912,"disk":843210752,"maxdisk":8589934592,"uptime":5000,"netin":123,"netout":456,"diskread":0,"diskwrite":0,"pid":4242,"tags":"prod;web"}]}`,
		"/cluster/resources": `{"data":[{"id":"lxc/100","vmid":100,"type":"lxc","node":"pve","name":"web","status":"running","template":0,"uptime":5000,"maxcpu":2,` +
			`"cpu":0.0031,"maxmem":1073741824,"mem":53719040,"maxdisk":8589934592,"disk":843210752,"netin":123,"netout":456,"diskread":0,"diskwrite":0,"tags":"prod;web"},` +
			`{"id":"lxc/101","vmid":101,"node":"pve","type":"lxc","status":"unknown"}]}`,
		"/nodes/pve/lxc/100/config": `{"data":{"arch":"amd64","cores":2,"memory":1024,"swap":512,"hostname":"web","ostype":"debian",` +
			`"unprivileged":1,"onboot":1,"features":"nesting=1,keyctl=1","tags":"prod;web","description":"managed by felhom\n","cpulimit":"1.5",` +
			`"rootfs":"local-lvm:vm-100-disk-0,size=8G","mp0":"local-lvm:vm-100-disk-1,mp=/srv/data,backup=1,size=32G",` +
			`"net0":"name=eth0,bridge=vmbr0,firewall=1,hwaddr=BC:24:11:5E:7A:01,ip=dhcp,type=veth","digest":"5911baea29f4c0073fb063fd9ab29e75892832bf"}}`,
		"/nodes/pve/lxc/100/snapshot": `{"data":[{"name":"pre","description":"before apt\n","snaptime":1716560307},` +
			`{"name":"current","description":"You are here!","digest":"5911baea29f4c0073fb063fd9ab29e75892832bf","running":1,"parent":"pre"}]}`,
		"/nodes/pve/tasks/" + testUPID + "/status": `{"data":{"upid":"` + testUPID + `","node":"pve","pid":173041,"pstart":3453378,"starttime":1716560307,` +
			`"type":"vzstart","id":"100","user":"felhom@pve","tokenid":"converge","status":"stopped","exitstatus":"OK"}}`,
		"/nodes/pve/storage/local/content": `{"data":[{"volid":"local:vztmpl/debian-12-standard_12.7-1_amd64.tar.zst","content":"vztmpl","format":"tzst","size":126479223,"ctime":1716560307}]}`,
	}
	s := newPVEServer(t, func(r recorded) reply {
		path, err := url.PathUnescape(r.Path) // pveproxy unescapes the path
		if err != nil {
			t.Errorf("path %q: %v", r.Path, err)
		}
		if body, ok := route[path]; ok {
			return reply{Status: 200, Body: body}
		}
		return reply{Status: 501, Reason: "Method '" + r.Method + " " + r.Path + "' not implemented", Body: `{"data":null}`}
	})
	c := newTestClient(t, s)

	v, err := c.Version(ctx)
	if err != nil || v.Version != "8.4.1" || v.RepoID != "2a5fa54a8503f96d" {
		t.Errorf("Version = %+v, %v", v, err)
	}
	st, err := c.NodeStatus(ctx)
	if err != nil || st.CurrentKernel == nil || st.CurrentKernel.Release != "6.8.12-4-pve" || st.BootInfo == nil || st.BootInfo.Mode != "efi" ||
		bool(st.BootInfo.SecureBoot) || st.LoadAvg[1] != 0.30 || st.CPUInfo.CPUs != 16 || st.CPUInfo.MHz != 2994.374 {
		t.Errorf("NodeStatus = %+v, %v", st, err)
	}
	l, err := c.ListLXC(ctx)
	if err != nil || len(l) != 1 || l[0].VMID != 100 || l[0].CPUs != 2 || l[0].Tags != "prod;web" || l[0].PID != 4242 {
		t.Errorf("ListLXC = %+v, %v", l, err)
	}
	res, err := c.ClusterResources(ctx)
	if err != nil || len(res) != 2 || res[1].VMID != 101 || res[1].Status != "unknown" || res[1].Name != "" || res[1].MaxMem != 0 {
		t.Errorf("ClusterResources = %+v, %v", res, err)
	}
	cfg, err := c.GuestConfig(ctx, 100)
	if err != nil {
		t.Fatal(err)
	}
	if lim, ok := cfg.CPULimit(); !ok || lim != 1.5 {
		t.Errorf("CPULimit = %v, %v", lim, ok)
	}
	if cfg.Description() != "managed by felhom\n" || !cfg.Unprivileged() || !cfg.OnBoot() || cfg.Features() != "nesting=1,keyctl=1" ||
		cfg.Nets()[0] != "name=eth0,bridge=vmbr0,firewall=1,hwaddr=BC:24:11:5E:7A:01,ip=dhcp,type=veth" || len(cfg.RawLXC) != 0 {
		t.Errorf("GuestConfig = %+v", cfg)
	}
	snaps, err := c.ListSnapshots(ctx, 100)
	if err != nil || len(snaps) != 2 || snaps[0].SnapTime != 1716560307 || snaps[0].Description != "before apt\n" ||
		snaps[1].Name != "current" || !bool(snaps[1].Running) || snaps[1].Parent != "pre" {
		t.Errorf("ListSnapshots = %+v, %v", snaps, err)
	}
	upid, _ := ParseUPID(testUPID)
	ts, err := c.TaskStatusOnce(ctx, upid)
	if err != nil || ts.User != "felhom@pve" || ts.TokenID != "converge" || ts.ID != "100" || ts.Running() || ts.ExitStatus != "OK" {
		t.Errorf("TaskStatusOnce = %+v, %v", ts, err)
	}
	items, err := c.StorageContent(ctx, "local", "vztmpl", 0)
	if err != nil || len(items) != 1 || items[0].Format != "tzst" || items[0].VMID != 0 {
		t.Errorf("StorageContent = %+v, %v", items, err)
	}
}

// The PVE 7 list entry from a proxmoxer issue: vmid "889" as a string.
func TestDecodeLXCListProxmoxerCapture(t *testing.T) {
	s := newPVEServer(t, func(recorded) reply { return ok(captured(t, "pve7_lxc_list_proxmoxer_issue.json")) })
	c := newTestClient(t, s)
	l, err := c.ListLXC(context.Background())
	if err != nil || len(l) != 1 || l[0].VMID != 889 || l[0].Swap != 20480 || l[0].CPUs != 2 || l[0].Template {
		t.Fatalf("ListLXC = %+v, %v", l, err)
	}
}

// GET pending marks a forced deletion with delete=2 (pve-container's
// vm_pending): it is a pending deletion like 1.
func TestPendingEntryForcedDelete(t *testing.T) {
	var entries []PendingEntry
	body := `[{"key":"digest","value":"abc"},{"key":"mp0","value":"local-lvm:vm-1-disk-1,mp=/x","delete":2},{"key":"net0","value":"name=eth0","delete":0},{"key":"cores","value":2,"pending":"4"}]`
	if err := json.Unmarshal([]byte(body), &entries); err != nil {
		t.Fatal(err)
	}
	if !entries[1].Delete || entries[2].Delete || !entries[3].HasPending || entries[3].Pending != "4" || entries[3].Value != "2" {
		t.Errorf("entries %+v", entries)
	}
}
