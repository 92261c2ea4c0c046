package proxmox

import (
	"context"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Version is GET /version.
func (c *Client) Version(ctx context.Context) (Version, error) {
	var v Version
	_, err := c.call(ctx, "GET", "/version", nil, &v)
	return v, err
}

// Nodes is GET /nodes.
func (c *Client) Nodes(ctx context.Context) ([]Node, error) {
	var v []Node
	_, err := c.call(ctx, "GET", "/nodes", nil, &v)
	return v, err
}

// HostID is the node's identity as signature requests bind to it: the
// SHA-256 fingerprint of its certificate, as /nodes reports it.
func (c *Client) HostID(ctx context.Context) (string, error) {
	nodes, err := c.Nodes(ctx)
	if err != nil {
		return "", err
	}
	for _, n := range nodes {
		if n.Node == c.node {
			if n.SSLFingerprint == "" {
				return "", fmt.Errorf("node %s reports no certificate fingerprint", c.node)
			}
			return strings.ToUpper(n.SSLFingerprint), nil
		}
	}
	return "", fmt.Errorf("node %s is not in the cluster's node list", c.node)
}

// NodeStatus is GET /nodes/{node}/status (needs Sys.Audit).
func (c *Client) NodeStatus(ctx context.Context) (NodeStatus, error) {
	var v NodeStatus
	_, err := c.call(ctx, "GET", c.nodePath("status"), nil, &v)
	return v, err
}

// ClusterResources lists this node's LXC guests in one call
// (GET /cluster/resources?type=vm, filtered to type lxc on this node).
// Stats lag by up to about 10 s; a brand-new guest has status "unknown".
func (c *Client) ClusterResources(ctx context.Context) ([]ClusterResource, error) {
	var all []ClusterResource
	if _, err := c.call(ctx, "GET", "/cluster/resources", url.Values{"type": {"vm"}}, &all); err != nil {
		return nil, err
	}
	out := all[:0]
	for _, r := range all {
		if r.Type == "lxc" && r.Node == c.node {
			out = append(out, r)
		}
	}
	return out, nil
}

// ListLXC is GET /nodes/{node}/lxc.
func (c *Client) ListLXC(ctx context.Context) ([]LXC, error) {
	var v []LXC
	_, err := c.call(ctx, "GET", c.nodePath("lxc"), nil, &v)
	return v, err
}

// GuestStatus is GET /nodes/{node}/lxc/{vmid}/status/current. A missing
// guest is a 500 that [IsNotFound] recognises.
func (c *Client) GuestStatus(ctx context.Context, vmid int) (GuestStatus, error) {
	var v GuestStatus
	if err := checkVMID(vmid); err != nil {
		return v, err
	}
	_, err := c.call(ctx, "GET", c.nodePath("lxc", strconv.Itoa(vmid), "status", "current"), nil, &v)
	return v, err
}

// GuestConfig is GET /nodes/{node}/lxc/{vmid}/config, pending changes
// included (Proxmox's default).
func (c *Client) GuestConfig(ctx context.Context, vmid int) (GuestConfig, error) {
	var v GuestConfig
	if err := checkVMID(vmid); err != nil {
		return v, err
	}
	_, err := c.call(ctx, "GET", c.nodePath("lxc", strconv.Itoa(vmid), "config"), nil, &v)
	if v.Values == nil {
		v.Values = map[string]string{}
	}
	return v, err
}

// SnapshotConfig is GET /nodes/{node}/lxc/{vmid}/config?snapshot=NAME:
// the guest's config as the snapshot recorded it (the volumes it keeps).
func (c *Client) SnapshotConfig(ctx context.Context, vmid int, name string) (GuestConfig, error) {
	var v GuestConfig
	if err := checkVMID(vmid); err != nil {
		return v, err
	}
	if err := checkSnapname(name); err != nil {
		return v, err
	}
	_, err := c.call(ctx, "GET", c.nodePath("lxc", strconv.Itoa(vmid), "config"), url.Values{"snapshot": {name}}, &v)
	if v.Values == nil {
		v.Values = map[string]string{}
	}
	return v, err
}

// GuestPending is GET /nodes/{node}/lxc/{vmid}/pending: each config key
// with its active value and any change waiting for the next start (what
// a running guest could not apply live).
func (c *Client) GuestPending(ctx context.Context, vmid int) ([]PendingEntry, error) {
	if err := checkVMID(vmid); err != nil {
		return nil, err
	}
	var v []PendingEntry
	_, err := c.call(ctx, "GET", c.nodePath("lxc", strconv.Itoa(vmid), "pending"), nil, &v)
	return v, err
}

// GuestInterfaces is GET /nodes/{node}/lxc/{vmid}/interfaces (PVE 8.1
// and later): the network interfaces inside a running guest with their
// addresses. A guest that is not running has none (Proxmox answers null).
func (c *Client) GuestInterfaces(ctx context.Context, vmid int) ([]GuestInterface, error) {
	if err := checkVMID(vmid); err != nil {
		return nil, err
	}
	var v []GuestInterface
	_, err := c.call(ctx, "GET", c.nodePath("lxc", strconv.Itoa(vmid), "interfaces"), nil, &v)
	return v, err
}

// ExtractConfig is GET /nodes/{node}/vzdump/extractconfig: the guest
// config stored in a backup archive (what vzdump saw when it wrote the
// archive), as key → value; snapshot sections are left out.
func (c *Client) ExtractConfig(ctx context.Context, volid string) (map[string]string, error) {
	var text string
	if _, err := c.call(ctx, "GET", c.nodePath("vzdump", "extractconfig"), url.Values{"volume": {volid}}, &text); err != nil {
		return nil, err
	}
	out := map[string]string{}
	for _, line := range strings.Split(text, "\n") {
		if strings.HasPrefix(line, "[") {
			break // a snapshot's section
		}
		k, v, ok := strings.Cut(line, ":")
		if !ok || strings.HasPrefix(line, "#") {
			continue
		}
		out[strings.TrimSpace(k)] = strings.TrimSpace(v)
	}
	return out, nil
}

// ListStorage is GET /storage: the storage configuration.
func (c *Client) ListStorage(ctx context.Context) ([]Storage, error) {
	var v []Storage
	_, err := c.call(ctx, "GET", "/storage", nil, &v)
	return v, err
}

// NodeStorage is GET /nodes/{node}/storage: status and capacity.
func (c *Client) NodeStorage(ctx context.Context) ([]NodeStorage, error) {
	var v []NodeStorage
	_, err := c.call(ctx, "GET", c.nodePath("storage"), nil, &v)
	return v, err
}

// StorageContent is GET /nodes/{node}/storage/{storage}/content. content
// ("backup", "vztmpl", "rootdir", ...) and vmid (0 = any) filter.
func (c *Client) StorageContent(ctx context.Context, storage, content string, vmid int) ([]StorageItem, error) {
	if err := checkStorageID(storage); err != nil {
		return nil, err
	}
	q := url.Values{}
	if content != "" {
		q.Set("content", content)
	}
	if vmid != 0 {
		if err := checkVMID(vmid); err != nil {
			return nil, err
		}
		q.Set("vmid", strconv.Itoa(vmid))
	}
	var v []StorageItem
	_, err := c.call(ctx, "GET", c.nodePath("storage", storage, "content"), q, &v)
	return v, err
}

// ListSnapshots is GET /nodes/{node}/lxc/{vmid}/snapshot, including the
// "current" pseudo-entry.
func (c *Client) ListSnapshots(ctx context.Context, vmid int) ([]Snapshot, error) {
	if err := checkVMID(vmid); err != nil {
		return nil, err
	}
	var v []Snapshot
	_, err := c.call(ctx, "GET", c.nodePath("lxc", strconv.Itoa(vmid), "snapshot"), nil, &v)
	return v, err
}

// TaskFilter narrows ListTasks. Zero fields do not filter.
type TaskFilter struct {
	VMID       int       // tasks of this guest
	TypeFilter string    // task type, e.g. "vzrestore"
	Since      time.Time // tasks started at or after
	Limit      int       // at most this many (Proxmox's default is 50)
	Errors     bool      // only failed tasks
}

// ListTasks is GET /nodes/{node}/tasks with source=all (running and
// finished tasks), newest first. Crash recovery uses it to find a task
// whose UPID was never recorded.
func (c *Client) ListTasks(ctx context.Context, f TaskFilter) ([]Task, error) {
	q := url.Values{"source": {"all"}}
	if f.VMID != 0 {
		if err := checkVMID(f.VMID); err != nil {
			return nil, err
		}
		q.Set("vmid", strconv.Itoa(f.VMID))
	}
	if f.TypeFilter != "" {
		q.Set("typefilter", f.TypeFilter)
	}
	if !f.Since.IsZero() {
		q.Set("since", strconv.FormatInt(f.Since.Unix(), 10))
	}
	if f.Limit > 0 {
		q.Set("limit", strconv.Itoa(f.Limit))
	}
	if f.Errors {
		q.Set("errors", "1")
	}
	var v []Task
	_, err := c.call(ctx, "GET", c.nodePath("tasks"), q, &v)
	return v, err
}

// Network is GET /nodes/{node}/network. ifaceType ("bridge", "any_bridge",
// "eth", ...) filters; "" lists every interface.
func (c *Client) Network(ctx context.Context, ifaceType string) ([]NetworkInterface, error) {
	q := url.Values{}
	if ifaceType != "" {
		q.Set("type", ifaceType)
	}
	var v []NetworkInterface
	_, err := c.call(ctx, "GET", c.nodePath("network"), q, &v)
	return v, err
}

// Permissions is GET /access/permissions?path=PATH: the privileges the
// caller holds on that ACL path, propagation from parent paths included
// (for a privilege-separated token, the intersection with its user's).
func (c *Client) Permissions(ctx context.Context, path string) (map[string]bool, error) {
	var v map[string]map[string]Bool
	if _, err := c.call(ctx, "GET", "/access/permissions", url.Values{"path": {path}}, &v); err != nil {
		return nil, err
	}
	privs := map[string]bool{}
	for priv, granted := range v[path] {
		if granted {
			privs[priv] = true
		}
	}
	return privs, nil
}
