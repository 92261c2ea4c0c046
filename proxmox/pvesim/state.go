package pvesim

import (
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"io/fs"
	"os"
	"sort"

	"github.com/felhom/felhom-converge/atomicfile"
)

// stateVersion is bumped when the persisted shape changes incompatibly.
const stateVersion = 1

// state is everything the simulated node knows. It is persisted as JSON so
// that separate processes (plan, apply, plan) see each other's effects.
// Every field is guarded by Sim.mu.
type state struct {
	Version  int    `json:"version"`
	Node     string `json:"node"`
	BootTime int64  `json:"boot_time"` // epoch seconds; node uptime counts from here
	// PVEVersion is the Proxmox VE version the node runs ("9.1.1"); empty
	// in a state saved before it was recorded, which runs 8.4.1.
	PVEVersion string `json:"pve_version,omitempty"`

	CertPEM string `json:"cert_pem"`
	KeyPEM  string `json:"key_pem"`

	NextPID uint32 `json:"next_pid"` // next worker pid; increases per task

	Users  map[string]*user  `json:"users"`  // "felhom@pve"
	Tokens map[string]*token `json:"tokens"` // "felhom@pve!converge"

	Settings Settings `json:"settings,omitempty"`

	Storages []*storage     `json:"storages"`
	Bridges  []string       `json:"bridges"`
	Mounts   []string       `json:"mounts,omitempty"` // mounted paths is_mountpoint storages look for
	Guests   map[int]*guest `json:"guests"`
	Tasks    []*task        `json:"tasks"`

	issuedMACs map[string]bool // random MACs drawn by this process
}

// user is a Proxmox user with its ACL: path → privileges granted there.
type user struct {
	ACL map[string][]string `json:"acl"`
}

// token is an API token of a user. With Privsep its effective privileges
// are the intersection of its own ACL and its user's.
type token struct {
	Secret  string              `json:"secret"`
	Privsep bool                `json:"privsep"`
	ACL     map[string][]string `json:"acl"`
}

// storage is one storage.cfg entry with the volumes it holds.
type storage struct {
	ID           string             `json:"id"`
	Type         string             `json:"type"` // dir, lvmthin, zfspool
	Path         string             `json:"path,omitempty"`
	VGName       string             `json:"vgname,omitempty"`
	ThinPool     string             `json:"thinpool,omitempty"`
	Pool         string             `json:"pool,omitempty"`
	Server       string             `json:"server,omitempty"`    // pbs
	Datastore    string             `json:"datastore,omitempty"` // pbs
	Username     string             `json:"username,omitempty"`  // pbs
	Content      []string           `json:"content"`
	Total        int64              `json:"total"`
	PruneBackups string             `json:"prune_backups,omitempty"`
	IsMountpoint string             `json:"is_mountpoint,omitempty"` // dir: "yes" (the path) or a path
	Full         bool               `json:"full,omitempty"`          // made full by fault injection
	Volumes      map[string]*volume `json:"volumes"`                 // by volid
}

func (s *storage) hasContent(c string) bool {
	for _, x := range s.Content {
		if x == c {
			return true
		}
	}
	return false
}

// thin reports whether volumes over-provision: an LVM thin pool holds
// only the data written to its volumes.
func (s *storage) thin() bool { return s.Type == "lvmthin" }

// used is what the storage's volumes occupy: their sizes, or on a thin
// pool the data written to them. A pool made full reads as full.
func (s *storage) used() int64 {
	if s.Full {
		return s.Total
	}
	var n int64
	for _, v := range s.Volumes {
		if s.thin() {
			n += v.written()
		} else {
			n += v.Size
		}
	}
	return min(n, s.Total)
}

// fits reports whether extra more bytes can be allocated.
func (s *storage) fits(extra int64) bool {
	switch {
	case s.Full:
		return false
	case s.thin():
		return true
	}
	return s.used()+extra <= s.Total
}

// canSnapshot reports whether container volumes on this storage support
// snapshots (raw files on dir storage do not).
func (s *storage) canSnapshot() bool { return s.Type == "lvmthin" || s.Type == "zfspool" }

// volume is one volume or file on a storage.
type volume struct {
	VolID     string            `json:"volid"`
	Content   string            `json:"content"` // rootdir, images, backup, vztmpl, iso
	Format    string            `json:"format"`
	Size      int64             `json:"size"`
	VMID      int               `json:"vmid,omitempty"`
	CTime     int64             `json:"ctime,omitempty"`
	Notes     string            `json:"notes,omitempty"`
	Protected bool              `json:"protected,omitempty"`
	Subtype   string            `json:"subtype,omitempty"`
	Conf      map[string]string `json:"conf,omitempty"` // the guest config inside a backup archive
}

// written is the data a guest volume holds: a fixed fraction (15-39%) of
// its size, derived from its name so that it stays the same.
func (v *volume) written() int64 {
	h := fnv.New32a()
	h.Write([]byte(v.VolID))
	return v.Size / 100 * int64(15+h.Sum32()%25)
}

// guest is one LXC container: its config (values as Proxmox stores them,
// all strings), pending changes, snapshots and run state.
type guest struct {
	VMID          int                  `json:"vmid"`
	Conf          map[string]string    `json:"conf"`
	Pending       map[string]string    `json:"pending,omitempty"`
	PendingDelete []string             `json:"pending_delete,omitempty"`
	Snapshots     map[string]*snapshot `json:"snapshots,omitempty"`
	Running       bool                 `json:"running"`
	StartTime     int64                `json:"start_time,omitempty"`
	PID           int                  `json:"pid,omitempty"`
	Created       int64                `json:"created,omitempty"`     // epoch milliseconds of creation, for the RRD lag
	PrevStatus    string               `json:"prev_status,omitempty"` // status before the last start/stop
	StatusAt      int64                `json:"status_at,omitempty"`   // epoch milliseconds of that change
}

// clone is a deep copy of the guest's config, pending section and
// snapshots, to change and then keep or drop.
func (g *guest) clone() *guest {
	c := *g
	c.Conf = copyConf(g.Conf)
	if g.Pending != nil {
		c.Pending = copyConf(g.Pending)
	}
	c.PendingDelete = append([]string(nil), g.PendingDelete...)
	if len(c.PendingDelete) == 0 {
		c.PendingDelete = nil
	}
	if g.Snapshots != nil {
		c.Snapshots = make(map[string]*snapshot, len(g.Snapshots))
		for n, sn := range g.Snapshots {
			cs := *sn
			cs.Conf = copyConf(sn.Conf)
			c.Snapshots[n] = &cs
		}
	}
	return &c
}

// checkLock is check_lock: any lock refuses the change, with Proxmox's
// "CT is locked (backup)". Synchronous handlers answer it as a 500; in a
// worker it is the task's exit status.
func (g *guest) checkLock() error {
	if l := g.Conf["lock"]; l != "" {
		return failf("CT is locked (%s)", l)
	}
	return nil
}

// setLock sets the config lock a task holds while it runs.
func (g *guest) setLock(l string) { g.Conf["lock"] = l }

// unlock clears the config lock.
func (g *guest) unlock() { delete(g.Conf, "lock") }

// checkLockExcept is check_lock unless the lock is one of those allowed
// (start and stop go on with "mounted").
func (g *guest) checkLockExcept(allowed ...string) error {
	if contains(allowed, g.Conf["lock"]) {
		return nil
	}
	return g.checkLock()
}

// mountKeys returns rootfs and the mpN keys of the current config, in
// Proxmox's order: rootfs, mp0, mp1, ...
func (g *guest) mountKeys() []string { return mountKeysOf(g.Conf) }

// isMountKey reports whether key is rootfs or mpN.
func isMountKey(key string) bool { return key == "rootfs" || mpKeyPattern.MatchString(key) }

// snapshot is a named copy of a guest's config (the volumes' snapshots are
// implied).
type snapshot struct {
	Conf     map[string]string `json:"conf"`
	Snaptime int64             `json:"snaptime"`
	Running  bool              `json:"running,omitempty"`
	// Seq orders the guest's snapshots by creation, as ZFS does within
	// one second of snaptime; 0 for a snapshot of an older state.
	Seq int64 `json:"seq,omitempty"`
}

// newer reports whether o was created after sn: a later snaptime, or the
// same second and a later creation.
func (o *snapshot) newer(sn *snapshot) bool {
	return o.Snaptime > sn.Snaptime || o.Snaptime == sn.Snaptime && o.Seq > sn.Seq
}

// task is one worker task. Op and Params let a task interrupted by a
// restart finish when the state is loaded again, as a real worker would
// have kept running while nobody was watching.
type task struct {
	UPID       string            `json:"upid"`
	PID        uint32            `json:"pid"`
	PStart     uint64            `json:"pstart"`
	StartTime  int64             `json:"starttime"`
	Type       string            `json:"type"`
	ID         string            `json:"id"`
	User       string            `json:"user"` // user@realm!tokenid
	Status     string            `json:"status"`
	ExitStatus string            `json:"exitstatus,omitempty"`
	EndTime    int64             `json:"endtime,omitempty"`
	Log        []string          `json:"log"`
	Op         string            `json:"op"`
	Params     map[string]string `json:"params,omitempty"`
	Forced     string            `json:"forced,omitempty"`     // exitstatus forced by fault injection
	Waiting    string            `json:"waiting,omitempty"`    // the lock it waits for: "vzdump", "config"
	WaitUntil  int64             `json:"wait_until,omitempty"` // epoch milliseconds when the wait gives up
}

// maxTasks bounds the task list kept in the state, like Proxmox's task
// index rotation.
const maxTasks = 2000

func (st *state) storage(id string) *storage {
	for _, s := range st.Storages {
		if s.ID == id {
			return s
		}
	}
	return nil
}

// volume finds a volume by volid on any storage.
func (st *state) volume(volid string) (*storage, *volume) {
	sid, _, ok := cutVolID(volid)
	if !ok {
		return nil, nil
	}
	s := st.storage(sid)
	if s == nil {
		return nil, nil
	}
	return s, s.Volumes[volid]
}

func (st *state) task(upid string) *task {
	for i := len(st.Tasks) - 1; i >= 0; i-- {
		if st.Tasks[i].UPID == upid {
			return st.Tasks[i]
		}
	}
	return nil
}

func (st *state) guestIDs() []int {
	ids := make([]int, 0, len(st.Guests))
	for id := range st.Guests {
		ids = append(ids, id)
	}
	sort.Ints(ids)
	return ids
}

// loadState reads a persisted state; it returns (nil, nil) when the file
// does not exist yet.
func loadState(path string) (*state, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read simulator state: %w", err)
	}
	var st state
	if err := json.Unmarshal(b, &st); err != nil {
		return nil, fmt.Errorf("decode simulator state %s (delete it to start again from the default seed): %w", path, err)
	}
	if st.Version != stateVersion {
		return nil, fmt.Errorf("simulator state %s has version %d, want %d (delete it to start again from the default seed)", path, st.Version, stateVersion)
	}
	if st.Guests == nil {
		st.Guests = map[int]*guest{}
	}
	return &st, nil
}

// saveState writes the state atomically: a temp file in the same
// directory, fsync, rename over the target, fsync the directory.
func saveState(path string, st *state) error {
	b, err := json.Marshal(st)
	if err != nil {
		return fmt.Errorf("encode simulator state: %w", err)
	}
	return atomicfile.WriteFile(path, b, 0o600)
}
