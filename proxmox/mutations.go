package proxmox

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"
)

// SetConfig is PUT /nodes/{node}/lxc/{vmid}/config. It is synchronous:
// Proxmox answers {"data":null}, not a UPID. set holds config keys and
// their values in Proxmox's format (booleans as "1"/"0"); delete lists keys
// to remove. digest, when not empty, makes Proxmox refuse the write if the
// config changed since it was read ([IsDigestMismatch]).
//
// SetConfig refuses to set rootfs: Proxmox stores a rootfs written through
// PUT config verbatim, without allocating a volume or checking its size
// ("local-lvm:6" leaves a guest that will not start and an orphaned old
// volume; "size=20G" records a size the volume does not have). The root
// file system changes only through [Client.Resize] (grow) or a restore.
func (c *Client) SetConfig(ctx context.Context, vmid int, set map[string]string, delete []string, digest string) error {
	if err := checkVMID(vmid); err != nil {
		return err
	}
	if len(set) == 0 && len(delete) == 0 {
		return fmt.Errorf("set config of CT %d: nothing to change", vmid)
	}
	form := url.Values{}
	for k, v := range set {
		if !configKeyPattern.MatchString(k) || k == "delete" || k == "digest" || k == "revert" {
			return fmt.Errorf("set config of CT %d: %q is not a config key", vmid, k)
		}
		if k == "rootfs" {
			return fmt.Errorf("set config of CT %d: rootfs cannot be written through the config (Proxmox would store it unallocated); grow it with a resize", vmid)
		}
		form.Set(k, v)
	}
	if len(delete) > 0 {
		keys := append([]string(nil), delete...)
		sort.Strings(keys)
		for _, k := range keys {
			if !configKeyPattern.MatchString(k) {
				return fmt.Errorf("set config of CT %d: %q is not a config key", vmid, k)
			}
			if _, both := set[k]; both {
				return fmt.Errorf("set config of CT %d: key %q is both set and deleted", vmid, k)
			}
		}
		form.Set("delete", strings.Join(keys, ","))
	}
	if digest != "" {
		form.Set("digest", digest)
	}
	_, err := c.call(ctx, "PUT", c.nodePath("lxc", strconv.Itoa(vmid), "config"), form, nil)
	return err
}

// restoreKeys are the config keys RestoreLXC passes through: those a
// desired state sets on create. Anything else (vmid, ostemplate, restore,
// force, ...) has its own field.
var restoreKeys = regexp.MustCompile(`^(rootfs|mp\d{1,3}|net\d{1,2}|hostname|memory|swap|cores|cpulimit|cpuunits|unprivileged|features|onboot|tags|description|nameserver|searchdomain|startup|protection|timezone|arch|ostype)$`)

// RestoreOptions configure RestoreLXC.
type RestoreOptions struct {
	// Storage is the default target storage for volumes ("local-lvm").
	Storage string
	// Force overwrites an existing guest with the same vmid: the guest's
	// current disks are destroyed.
	Force bool
	// Unique gives the restored guest new MAC addresses: Proxmox then
	// takes every netN from the archive and ignores the netN given in
	// Config, so RestoreLXC refuses the two together. Set interfaces with
	// SetConfig after the restore instead.
	Unique bool
	// Start starts the guest once restored: the restore task ends, and a
	// separate vzstart task (which can fail on its own) starts the guest.
	// Waiting for the restore's UPID does not wait for that start.
	Start bool
	// Config overrides the backed-up configuration, in Proxmox's format:
	// rootfs, mpN, netN, hostname, memory, swap, cores, unprivileged,
	// features, onboot, tags, description and a few more. Keys not given
	// keep the backup's value (unprivileged included).
	Config map[string]string
}

// RestoreLXC creates guest vmid from a backup archive (POST
// /nodes/{node}/lxc with restore=1; ostemplate = the backup volid) and
// returns the vzrestore task.
func (c *Client) RestoreLXC(ctx context.Context, vmid int, archive string, o RestoreOptions) (UPID, error) {
	if err := checkVMID(vmid); err != nil {
		return UPID{}, err
	}
	if !volidPattern.MatchString(archive) {
		return UPID{}, fmt.Errorf("restore CT %d: %q is not a backup volume id (storage:backup/...)", vmid, archive)
	}
	form := url.Values{
		"vmid":       {strconv.Itoa(vmid)},
		"ostemplate": {archive},
		"restore":    {"1"},
	}
	if o.Storage != "" {
		if err := checkStorageID(o.Storage); err != nil {
			return UPID{}, fmt.Errorf("restore CT %d: %w", vmid, err)
		}
		form.Set("storage", o.Storage)
	}
	if o.Force {
		form.Set("force", "1")
	}
	if o.Unique {
		form.Set("unique", "1")
	}
	if o.Start {
		form.Set("start", "1")
	}
	for k, v := range o.Config {
		if !restoreKeys.MatchString(k) {
			return UPID{}, fmt.Errorf("restore CT %d: config key %q cannot be set on restore", vmid, k)
		}
		if o.Unique && strings.HasPrefix(k, "net") {
			return UPID{}, fmt.Errorf("restore CT %d: %s is ignored by a restore with unique MAC addresses; set it after the restore", vmid, k)
		}
		form.Set(k, v)
	}
	return c.task(ctx, "POST", c.nodePath("lxc"), form)
}

// CreateOptions configure CreateLXC.
type CreateOptions struct {
	// Storage is the default storage for volumes given by size alone.
	Storage string
	// Config is the new guest's configuration in Proxmox's format, the
	// keys RestoreLXC takes: rootfs and mpN allocate new volumes
	// (STORAGE:SIZE_IN_GiB).
	Config map[string]string
	// SSHPublicKeys are installed as root's authorized keys, one OpenSSH
	// public key line each.
	SSHPublicKeys []string
	// Password is root's password in the new guest (at least 5
	// characters), or "". It is sent in the form body only: it is never
	// in a URL, an error or a log line.
	Password string
	// Start starts the guest once created (a separate vzstart task).
	Start bool
}

// CreateLXC creates guest vmid from a container template (POST
// /nodes/{node}/lxc; ostemplate = the template's volid,
// STORAGE:vztmpl/NAME.tar.zst) and returns the vzcreate task.
func (c *Client) CreateLXC(ctx context.Context, vmid int, template string, o CreateOptions) (UPID, error) {
	if err := checkVMID(vmid); err != nil {
		return UPID{}, err
	}
	if !templatePattern.MatchString(template) {
		return UPID{}, fmt.Errorf("create CT %d: %q is not a template volume id (storage:vztmpl/NAME.tar.zst)", vmid, template)
	}
	form := url.Values{"vmid": {strconv.Itoa(vmid)}, "ostemplate": {template}}
	if o.Storage != "" {
		if err := checkStorageID(o.Storage); err != nil {
			return UPID{}, fmt.Errorf("create CT %d: %w", vmid, err)
		}
		form.Set("storage", o.Storage)
	}
	for k, v := range o.Config {
		if !restoreKeys.MatchString(k) {
			return UPID{}, fmt.Errorf("create CT %d: config key %q cannot be set on create", vmid, k)
		}
		form.Set(k, v)
	}
	if len(o.SSHPublicKeys) > 0 {
		for _, k := range o.SSHPublicKeys {
			if k == "" || strings.ContainsAny(k, "\r\n") {
				return UPID{}, fmt.Errorf("create CT %d: an SSH public key is one non-empty line", vmid)
			}
		}
		form.Set("ssh-public-keys", strings.Join(o.SSHPublicKeys, "\n")+"\n")
	}
	if o.Password != "" {
		if len(o.Password) < 5 {
			return UPID{}, fmt.Errorf("create CT %d: the root password is shorter than 5 characters, which Proxmox refuses", vmid)
		}
		form.Set("password", o.Password)
	}
	if o.Start {
		form.Set("start", "1")
	}
	return c.task(ctx, "POST", c.nodePath("lxc"), form)
}

// DestroyOptions configure DestroyLXC.
type DestroyOptions struct {
	Purge                    bool // also remove the guest from backup, replication and HA jobs
	DestroyUnreferencedDisks bool // also destroy vm-{vmid}-* volumes the config does not name
	Force                    bool // stop a running guest first
}

// DestroyLXC is DELETE /nodes/{node}/lxc/{vmid}: it destroys the guest and
// its volumes, and returns the vzdestroy task. Every flag is sent
// explicitly.
func (c *Client) DestroyLXC(ctx context.Context, vmid int, o DestroyOptions) (UPID, error) {
	if err := checkVMID(vmid); err != nil {
		return UPID{}, err
	}
	q := url.Values{
		"purge":                      {formBool(o.Purge)},
		"destroy-unreferenced-disks": {formBool(o.DestroyUnreferencedDisks)},
		"force":                      {formBool(o.Force)},
	}
	return c.task(ctx, "DELETE", c.nodePath("lxc", strconv.Itoa(vmid)), q)
}

// Resize is PUT /nodes/{node}/lxc/{vmid}/resize: grow disk ("rootfs",
// "mpN") to size ("16G", or "+4G" to add). Proxmox refuses to shrink.
// Returns the resize task.
func (c *Client) Resize(ctx context.Context, vmid int, disk, size, digest string) (UPID, error) {
	if err := checkVMID(vmid); err != nil {
		return UPID{}, err
	}
	if !diskKeyPattern.MatchString(disk) {
		return UPID{}, fmt.Errorf("resize CT %d: %q is not rootfs or mpN", vmid, disk)
	}
	if !diskSizePattern.MatchString(size) {
		return UPID{}, fmt.Errorf("resize CT %d %s: size %q is not [+]N[.N][K|M|G|T]", vmid, disk, size)
	}
	form := url.Values{"disk": {disk}, "size": {size}}
	if digest != "" {
		form.Set("digest", digest)
	}
	return c.task(ctx, "PUT", c.nodePath("lxc", strconv.Itoa(vmid), "resize"), form)
}

// Start is POST .../status/start. A start of a missing or locked guest
// still returns a task, which then fails.
func (c *Client) Start(ctx context.Context, vmid int) (UPID, error) {
	return c.power(ctx, vmid, "start", nil)
}

// Stop is POST .../status/stop: a hard stop, like pulling the plug.
func (c *Client) Stop(ctx context.Context, vmid int) (UPID, error) {
	return c.power(ctx, vmid, "stop", nil)
}

// Reboot is POST .../status/reboot: a clean shutdown, then a start.
// timeout bounds the shutdown (0: Proxmox's default).
func (c *Client) Reboot(ctx context.Context, vmid int, timeout time.Duration) (UPID, error) {
	form := url.Values{}
	if timeout < 0 {
		return UPID{}, fmt.Errorf("reboot CT %d: negative timeout", vmid)
	}
	if timeout > 0 {
		form.Set("timeout", strconv.Itoa(int((timeout+time.Second-1)/time.Second)))
	}
	return c.power(ctx, vmid, "reboot", form)
}

// ShutdownOptions configure Shutdown.
type ShutdownOptions struct {
	// Timeout is how long the guest gets to shut down (Proxmox's default
	// is 60s when zero). Whole seconds.
	Timeout time.Duration
	// ForceStop hard-stops the guest after the timeout; without it the
	// task fails when the timeout passes.
	ForceStop bool
}

// Shutdown is POST .../status/shutdown: a clean shutdown.
func (c *Client) Shutdown(ctx context.Context, vmid int, o ShutdownOptions) (UPID, error) {
	form := url.Values{"forceStop": {formBool(o.ForceStop)}}
	if o.Timeout < 0 {
		return UPID{}, fmt.Errorf("shutdown CT %d: negative timeout", vmid)
	}
	if o.Timeout > 0 {
		form.Set("timeout", strconv.Itoa(int((o.Timeout+time.Second-1)/time.Second)))
	}
	return c.power(ctx, vmid, "shutdown", form)
}

func (c *Client) power(ctx context.Context, vmid int, action string, form url.Values) (UPID, error) {
	if err := checkVMID(vmid); err != nil {
		return UPID{}, err
	}
	return c.task(ctx, "POST", c.nodePath("lxc", strconv.Itoa(vmid), "status", action), form)
}

// Snapshot is POST .../snapshot. Almost every refusal (name taken,
// storage without snapshots, locked) fails the task, not the call.
func (c *Client) Snapshot(ctx context.Context, vmid int, name, description string) (UPID, error) {
	if err := checkVMID(vmid); err != nil {
		return UPID{}, err
	}
	if err := checkSnapname(name); err != nil {
		return UPID{}, err
	}
	form := url.Values{"snapname": {name}}
	if description != "" {
		form.Set("description", description)
	}
	return c.task(ctx, "POST", c.nodePath("lxc", strconv.Itoa(vmid), "snapshot"), form)
}

// Rollback is POST .../snapshot/{name}/rollback. A running guest is
// stopped; start=true starts it again afterwards, in a separate vzstart
// task that the rollback task forks as it ends. start=0 is Proxmox's
// default and is not sent, so the call also works on versions whose
// rollback has no start parameter (they refuse unknown parameters).
func (c *Client) Rollback(ctx context.Context, vmid int, name string, start bool) (UPID, error) {
	if err := checkVMID(vmid); err != nil {
		return UPID{}, err
	}
	if err := checkSnapname(name); err != nil {
		return UPID{}, err
	}
	form := url.Values{}
	if start {
		form.Set("start", "1")
	}
	return c.task(ctx, "POST", c.nodePath("lxc", strconv.Itoa(vmid), "snapshot", name, "rollback"), form)
}

// DeleteSnapshot is DELETE .../snapshot/{name}.
func (c *Client) DeleteSnapshot(ctx context.Context, vmid int, name string) (UPID, error) {
	if err := checkVMID(vmid); err != nil {
		return UPID{}, err
	}
	if err := checkSnapname(name); err != nil {
		return UPID{}, err
	}
	return c.task(ctx, "DELETE", c.nodePath("lxc", strconv.Itoa(vmid), "snapshot", name), nil)
}

// DeleteVolume is DELETE /nodes/{node}/storage/{storage}/content/{volid}:
// it removes one volume (a backup archive, a detached disk) and returns
// the imgdel task (id "OWNER@STORAGE"). Proxmox does not check whether a
// guest still uses the volume: it frees a mounted disk all the same. A
// protected backup is refused inside the task, which fails.
func (c *Client) DeleteVolume(ctx context.Context, volid string) (UPID, error) {
	if !volidPattern.MatchString(volid) {
		return UPID{}, fmt.Errorf("delete volume: %q is not a volume id (storage:volume)", volid)
	}
	storage, _, _ := strings.Cut(volid, ":")
	if err := checkStorageID(storage); err != nil {
		return UPID{}, fmt.Errorf("delete volume %s: %w", volid, err)
	}
	return c.task(ctx, "DELETE", c.nodePath("storage", storage, "content", volid), nil)
}

// VzdumpOptions configure Vzdump.
type VzdumpOptions struct {
	Storage  string // target storage
	Mode     string // snapshot, suspend, stop ("" = Proxmox's default)
	Compress string // 0, 1, gzip, lzo, zstd
	// Remove lets Proxmox prune old backups by the storage's retention.
	// It is always sent, so the zero value sends remove=0 and nothing is
	// pruned unless the caller asks (Proxmox's own default prunes).
	Remove bool
	// PruneBackups overrides the retention ("keep-last=3"); needs
	// Datastore.Allocate. With Remove false and a finite retention (the
	// storage's, when this is empty), Proxmox refuses the backup once the
	// guest's unprotected archives reach the retention's sum ("There is a
	// max backup limit of N ..."). A backup the tool takes on its own
	// passes [KeepAllBackups], which neither prunes nor counts.
	PruneBackups  string
	NotesTemplate string // e.g. "{{guestname}}"
}

var (
	vzdumpModes    = map[string]bool{"": true, "snapshot": true, "suspend": true, "stop": true}
	vzdumpCompress = map[string]bool{"": true, "0": true, "1": true, "gzip": true, "lzo": true, "zstd": true}
)

// Vzdump backs up one guest (POST /nodes/{node}/vzdump) and returns the
// vzdump task. VM.Backup is checked inside the task.
func (c *Client) Vzdump(ctx context.Context, vmid int, o VzdumpOptions) (UPID, error) {
	if err := checkVMID(vmid); err != nil {
		return UPID{}, err
	}
	if !vzdumpModes[o.Mode] || !vzdumpCompress[o.Compress] {
		return UPID{}, fmt.Errorf("vzdump CT %d: bad mode %q or compress %q", vmid, o.Mode, o.Compress)
	}
	form := url.Values{"vmid": {strconv.Itoa(vmid)}, "remove": {formBool(o.Remove)}}
	if o.Storage != "" {
		if err := checkStorageID(o.Storage); err != nil {
			return UPID{}, fmt.Errorf("vzdump CT %d: %w", vmid, err)
		}
		form.Set("storage", o.Storage)
	}
	for k, v := range map[string]string{"mode": o.Mode, "compress": o.Compress, "prune-backups": o.PruneBackups, "notes-template": o.NotesTemplate} {
		if v != "" {
			form.Set(k, v)
		}
	}
	return c.task(ctx, "POST", c.nodePath("vzdump"), form)
}

// task performs a request whose answer is a UPID.
func (c *Client) task(ctx context.Context, method, path string, params url.Values) (UPID, error) {
	env, err := c.call(ctx, method, path, params, nil)
	if err != nil {
		return UPID{}, err
	}
	var s string
	if err := json.Unmarshal(env.Data, &s); err != nil {
		return UPID{}, fmt.Errorf("%s %s: want a task UPID, got %.100s", method, path, env.Data)
	}
	u, err := ParseUPID(s)
	if err != nil {
		return UPID{}, fmt.Errorf("%s %s: %w", method, path, err)
	}
	return u, nil
}
