package pvesim

import (
	"net/url"
	"strings"
)

// route is one API method: its path template, declarative permission
// check, parameter schema and handler. Handlers run with Sim.mu held.
type route struct {
	method string
	tmpl   string // "/nodes/{node}/lxc/{vmid}/config"
	parts  []string
	perm   func(*request) error // nil: any authenticated caller
	schema schema
	// flock, when set, takes the guest's config flock before the handler
	// runs; a *flockBusy error makes the request wait (queue.go).
	flock  func(*request) error
	handle func(*request) (any, error)
}

var routes []*route

func init() { routes = buildRoutes() }

// path-parameter schemas shared by the routes.
func pathProps(names ...string) map[string]pdef {
	m := map[string]pdef{}
	for _, n := range names {
		switch n {
		case "node":
			m[n] = nodeDef()
		case "vmid":
			m[n] = vmidDef()
		case "snapname":
			m[n] = configID()
		case "storage":
			m[n] = storDef()
		case "upid":
			m[n] = upidDef()
		case "volume":
			m[n] = volidDef()
		}
	}
	return m
}

func props(path []string, extra map[string]pdef) schema {
	return schema{props: withProps(pathProps(path...), extra)}
}

func buildRoutes() []*route {
	node := []string{"node"}
	ct := []string{"node", "vmid"}
	snap := []string{"node", "vmid", "snapname"}
	stor := []string{"node", "storage"}
	tsk := []string{"node", "upid"}

	createProps := withProps(lxcKeys(), map[string]pdef{
		"vmid":                 vmidDef(),
		"ostemplate":           strMax(255),
		"storage":              storDef().opt(),
		"restore":              boolean(),
		"force":                boolean(),
		"unique":               boolean(),
		"start":                boolean(),
		"password":             pdef{typ: tString, check: checkPassword, optional: true},
		"ssh-public-keys":      str().opt(),
		"pool":                 str().opt(),
		"ignore-unpack-errors": boolean(),
		"bwlimit":              number(0, 1<<40).opt(),
	})
	createSchema := schema{props: withProps(pathProps(node...), createProps), dyn: lxcDynKey}
	updateSchema := schema{props: withProps(pathProps(ct...), withProps(lxcKeys(), map[string]pdef{
		"delete": checked(checkKeyList).opt(),
		"revert": checked(checkKeyList).opt(),
		"digest": strMax(40).opt(),
	})), dyn: lxcDynKey}

	rs := []*route{
		{method: "GET", tmpl: "/version", schema: props(nil, nil), handle: hVersion},
		{method: "GET", tmpl: "/nodes", schema: props(nil, nil), handle: hNodes},
		{method: "GET", tmpl: "/nodes/{node}/status", perm: needNode("Sys.Audit"), schema: props(node, nil), handle: hNodeStatus},
		{method: "GET", tmpl: "/nodes/{node}/version", schema: props(node, nil), handle: hVersion},
		{method: "GET", tmpl: "/nodes/{node}/network", schema: props(node, map[string]pdef{"type": str().opt()}), handle: hNetwork},
		{method: "GET", tmpl: "/nodes/{node}/certificates/info", perm: needNode("Sys.Audit"), schema: props(node, nil), handle: hCertInfo},
		{method: "GET", tmpl: "/access/permissions", schema: props(nil, map[string]pdef{"path": str().opt(), "userid": str().opt()}), handle: hPermissions},
		{method: "GET", tmpl: "/cluster/resources", schema: props(nil, map[string]pdef{"type": enum("vm", "storage", "node", "sdn").opt()}), handle: hResources},
		{method: "GET", tmpl: "/cluster/nextid", schema: props(nil, map[string]pdef{"vmid": vmidDef().opt()}), handle: hNextID},
		{method: "GET", tmpl: "/nodes/{node}/lxc", schema: props(node, nil), handle: hLXCList},
		{method: "POST", tmpl: "/nodes/{node}/lxc", schema: createSchema, flock: waitCreateLock, handle: hCreate},
		{method: "GET", tmpl: "/nodes/{node}/lxc/{vmid}", schema: props(ct, nil), handle: hVMDirIndex},
		{method: "DELETE", tmpl: "/nodes/{node}/lxc/{vmid}", perm: needVM("VM.Allocate"), schema: props(ct, map[string]pdef{
			"purge": boolean(), "destroy-unreferenced-disks": boolean(), "force": boolean()}), handle: hDestroy},
		{method: "GET", tmpl: "/nodes/{node}/lxc/{vmid}/status/current", perm: needVM("VM.Audit"), schema: props(ct, nil), handle: hStatusCurrent},
		{method: "POST", tmpl: "/nodes/{node}/lxc/{vmid}/status/start", perm: needVM("VM.PowerMgmt"), schema: props(ct, map[string]pdef{
			"skiplock": boolean(), "debug": boolean()}), handle: hStart},
		{method: "POST", tmpl: "/nodes/{node}/lxc/{vmid}/status/stop", perm: needVM("VM.PowerMgmt"), schema: props(ct, map[string]pdef{
			"skiplock": boolean(), "overrule-shutdown": boolean()}), handle: hStop},
		{method: "POST", tmpl: "/nodes/{node}/lxc/{vmid}/status/shutdown", perm: needVM("VM.PowerMgmt"), schema: props(ct, map[string]pdef{
			"timeout": integer(0, 1<<31).opt(), "forceStop": boolean()}), handle: hShutdown},
		{method: "POST", tmpl: "/nodes/{node}/lxc/{vmid}/status/reboot", perm: needVM("VM.PowerMgmt"), schema: props(ct, map[string]pdef{
			"timeout": integer(0, 1<<31).opt()}), handle: hReboot},
		{method: "GET", tmpl: "/nodes/{node}/lxc/{vmid}/config", perm: needVM("VM.Audit"), schema: props(ct, map[string]pdef{
			"current": boolean(), "snapshot": configID().opt()}), handle: hConfigGet},
		{method: "PUT", tmpl: "/nodes/{node}/lxc/{vmid}/config", perm: needVMAny(configPrivs...), schema: updateSchema, flock: waitConfigLock, handle: hConfigPut},
		{method: "GET", tmpl: "/nodes/{node}/lxc/{vmid}/pending", perm: needVM("VM.Audit"), schema: props(ct, nil), handle: hPending},
		{method: "GET", tmpl: "/nodes/{node}/lxc/{vmid}/interfaces", perm: needVM("VM.Audit"), schema: props(ct, nil), handle: hInterfaces},
		{method: "PUT", tmpl: "/nodes/{node}/lxc/{vmid}/resize", perm: needVM("VM.Config.Disk"), schema: props(ct, map[string]pdef{
			"disk": checked(checkDiskKey), "size": sizeArgDef(), "digest": strMax(40).opt()}), handle: hResize},
		{method: "POST", tmpl: "/nodes/{node}/lxc/{vmid}/move_volume", perm: needVM("VM.Config.Disk"), schema: props(ct, map[string]pdef{
			"volume": checked(checkMoveKey), "storage": storDef().opt(), "delete": boolean(), "digest": strMax(40).opt(),
			"bwlimit": number(0, 1<<40).opt(), "target-vmid": vmidDef().opt(), "target-volume": checked(checkMoveKey).opt(),
			"target-digest": strMax(40).opt()}), handle: hMoveVolume},
		{method: "GET", tmpl: "/nodes/{node}/lxc/{vmid}/snapshot", perm: needVM("VM.Audit"), schema: props(ct, nil), handle: hSnapshotList},
		{method: "POST", tmpl: "/nodes/{node}/lxc/{vmid}/snapshot", perm: needVM("VM.Snapshot"), schema: props(ct, map[string]pdef{
			"snapname": configID(), "description": str().opt()}), handle: hSnapshotCreate},
		{method: "GET", tmpl: "/nodes/{node}/lxc/{vmid}/snapshot/{snapname}/config", perm: needVM("VM.Audit"), schema: props(snap, nil), handle: hSnapshotConfig},
		{method: "PUT", tmpl: "/nodes/{node}/lxc/{vmid}/snapshot/{snapname}/config", perm: needVM("VM.Snapshot"), schema: props(snap, map[string]pdef{
			"description": str().opt()}), flock: waitConfigLock, handle: hSnapshotConfigPut},
		{method: "DELETE", tmpl: "/nodes/{node}/lxc/{vmid}/snapshot/{snapname}", perm: needVM("VM.Snapshot"), schema: props(snap, map[string]pdef{
			"force": boolean()}), handle: hSnapshotDelete},
		{method: "POST", tmpl: "/nodes/{node}/lxc/{vmid}/snapshot/{snapname}/rollback", perm: needVMAny("VM.Snapshot", "VM.Snapshot.Rollback"), schema: props(snap, map[string]pdef{
			"start": boolean()}), handle: hRollback},
		{method: "POST", tmpl: "/nodes/{node}/vzdump", schema: props(node, map[string]pdef{
			"vmid": vmidList().opt(), "all": boolean(), "storage": storDef().opt(),
			"mode": enum("snapshot", "suspend", "stop").opt(), "compress": enum("0", "1", "gzip", "lzo", "zstd").opt(),
			"remove": boolean(), "prune-backups": pruneDef().opt(), "notes-template": strMax(1024).opt(),
			"protected": boolean(), "mailnotification": enum("always", "failure").opt(), "mailto": str().opt(),
			"zstd": integer(0, 64).opt(), "exclude-path": str().opt(), "stdexcludes": boolean(),
			"lockwait": integer(0, 1<<31).opt(), "bwlimit": integer(0, 1<<31).opt(), "ionice": integer(0, 8).opt()}), handle: hVzdump},
		{method: "GET", tmpl: "/nodes/{node}/vzdump/extractconfig", schema: props(node, map[string]pdef{"volume": str()}), handle: hExtractConfig},
		{method: "GET", tmpl: "/storage", schema: props(nil, map[string]pdef{"type": str().opt()}), handle: hStorageConfig},
		{method: "GET", tmpl: "/nodes/{node}/storage", schema: props(node, map[string]pdef{
			"content": str().opt(), "enabled": boolean(), "storage": storDef().opt(), "target": str().opt(), "format": boolean()}), handle: hNodeStorage},
		{method: "GET", tmpl: "/nodes/{node}/storage/{storage}/status", perm: needStorageAny("Datastore.Audit", "Datastore.AllocateSpace"), schema: props(stor, nil), handle: hStorageStatus},
		{method: "GET", tmpl: "/nodes/{node}/storage/{storage}/content", perm: needStorageAny("Datastore.Audit", "Datastore.AllocateSpace"), schema: props(stor, map[string]pdef{
			"content": str().opt(), "vmid": vmidDef().opt()}), handle: hContent},
		{method: "DELETE", tmpl: "/nodes/{node}/storage/{storage}/content/{volume}", schema: props([]string{"node", "storage", "volume"}, map[string]pdef{
			"delay": integer(1, 30).opt()}), handle: hContentDelete},
		{method: "PUT", tmpl: "/nodes/{node}/storage/{storage}/content/{volume}", schema: props([]string{"node", "storage", "volume"}, map[string]pdef{
			"notes": str().opt(), "protected": boolean()}), handle: hContentUpdate},
		{method: "GET", tmpl: "/nodes/{node}/storage/{storage}/prunebackups", perm: needStorageAny("Datastore.Audit", "Datastore.AllocateSpace"), schema: props(stor, map[string]pdef{
			"prune-backups": pruneDef().opt(), "type": enum("qemu", "lxc").opt(), "vmid": vmidDef().opt()}), handle: hPruneDryRun},
		{method: "DELETE", tmpl: "/nodes/{node}/storage/{storage}/prunebackups", schema: props(stor, map[string]pdef{
			"prune-backups": pruneDef().opt(), "type": enum("qemu", "lxc").opt(), "vmid": vmidDef().opt()}), handle: hPrune},
		{method: "GET", tmpl: "/nodes/{node}/tasks", schema: props(node, map[string]pdef{
			"start": integer(0, 1<<31).opt(), "limit": integer(0, 1<<31).opt(), "vmid": vmidDef().opt(),
			"typefilter": str().opt(), "userfilter": str().opt(), "errors": boolean(), "source": enum("archive", "active", "all").opt(),
			"since": integer(0, 1<<40).opt(), "until": integer(0, 1<<40).opt(), "statusfilter": str().opt()}), handle: hTaskList},
		{method: "GET", tmpl: "/nodes/{node}/tasks/{upid}/status", schema: props(tsk, nil), handle: hTaskStatus},
		{method: "GET", tmpl: "/nodes/{node}/tasks/{upid}/log", schema: props(tsk, map[string]pdef{
			"start": integer(0, 1<<31).opt(), "limit": integer(0, 1<<31).opt(), "download": boolean()}), handle: hTaskLog},
	}
	for _, r := range rs {
		r.parts = strings.Split(strings.Trim(r.tmpl, "/"), "/")
	}
	return rs
}

// matchRoute finds the route for method and the escaped path (without
// /api2/json) and returns its unescaped path parameters. A trailing
// {volume} takes the rest of the path, so a volume id may come with its
// "/" escaped or not ("local:backup/vzdump-...").
func matchRoute(method, escapedPath string) (*route, map[string]string) {
	var parts []string
	for _, p := range strings.Split(strings.Trim(escapedPath, "/"), "/") {
		u, err := url.PathUnescape(p)
		if err != nil {
			return nil, nil
		}
		parts = append(parts, u)
	}
	for _, r := range routes {
		if r.method != method {
			continue
		}
		segs := parts
		if last := len(r.parts) - 1; r.parts[last] == "{volume}" && len(segs) > len(r.parts) {
			segs = append(append([]string(nil), segs[:last]...), strings.Join(segs[last:], "/"))
		}
		if len(r.parts) != len(segs) {
			continue
		}
		vars := map[string]string{}
		ok := true
		for i, p := range r.parts {
			if strings.HasPrefix(p, "{") {
				if segs[i] == "" {
					ok = false
					break
				}
				vars[strings.Trim(p, "{}")] = segs[i]
			} else if p != segs[i] {
				ok = false
				break
			}
		}
		if ok {
			return r, vars
		}
	}
	return nil, nil
}

func checkKeyList(v string) error {
	for _, k := range splitList(v) {
		if !isLXCKey(k) {
			return errUnknownOption(k)
		}
	}
	return nil
}

type errUnknownOption string

func (e errUnknownOption) Error() string { return "unknown option '" + string(e) + "'" }

func checkDiskKey(v string) error {
	if v == "rootfs" || mpKeyPattern.MatchString(v) {
		return nil
	}
	return errEnum(v)
}

type errEnum string

func (e errEnum) Error() string {
	return "value '" + string(e) + "' does not have a value in the enumeration 'rootfs, mp0, mp1, ..., mp255'"
}

// splitList splits Proxmox's pve-configid-list ("a,b c;d").
func splitList(v string) []string {
	return strings.FieldsFunc(v, func(r rune) bool { return r == ',' || r == ';' || r == ' ' })
}

func checkMoveKey(v string) error {
	if v == "rootfs" || mpKeyPattern.MatchString(v) || unusedPattern.MatchString(v) {
		return nil
	}
	return errMoveEnum(v)
}

type errMoveEnum string

func (e errMoveEnum) Error() string {
	return "value '" + string(e) + "' does not have a value in the enumeration 'rootfs, mp0, ..., unused0, ...'"
}
