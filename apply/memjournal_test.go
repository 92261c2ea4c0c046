package apply_test

import (
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/felhom/felhom-converge/apply"
	"github.com/felhom/felhom-converge/proxmox"
)

// memJournal is an in-memory apply.Journal for the package's tests; the
// crash tests of the command run the real journal.
type memJournal struct {
	mu         sync.Mutex
	open       map[string]bool
	ended      map[string]string
	order      []string // call keys in intent order
	intents    map[string]apply.Intent
	upids      map[string]proxmox.UPID
	results    map[string]apply.Terminal
	created    map[int]string
	snaps      map[string]time.Time
	backups    []string
	backupMeta map[string]apply.ToolBackup
	digests    map[int]string
	jobs       map[string]bool
	failNext   string // "intent": the next Intent fails
}

func newMemJournal() *memJournal {
	return &memJournal{open: map[string]bool{}, ended: map[string]string{}, intents: map[string]apply.Intent{},
		upids: map[string]proxmox.UPID{}, results: map[string]apply.Terminal{}, created: map[int]string{},
		snaps: map[string]time.Time{}, digests: map[int]string{}, jobs: map[string]bool{}}
}

func key(txn, call string) string { return txn + "\x00" + call }

func (j *memJournal) CreatedInTxn(vmid int) (string, bool) {
	j.mu.Lock()
	defer j.mu.Unlock()
	t, ok := j.created[vmid]
	return t, ok && j.open[t]
}
func (j *memJournal) ToolSnapshot(vmid int, name string) bool {
	j.mu.Lock()
	defer j.mu.Unlock()
	_, ok := j.snaps[fmt.Sprint(vmid, "/", name)]
	return ok
}
func (j *memJournal) JobDone(id string) bool { j.mu.Lock(); defer j.mu.Unlock(); return j.jobs[id] }
func (j *memJournal) LastDigest(vmid int) (string, time.Time, bool) {
	j.mu.Lock()
	defer j.mu.Unlock()
	d, ok := j.digests[vmid]
	return d, time.Time{}, ok
}
func (j *memJournal) Begin(b apply.TxnBegin) error {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.open[b.Txn] = true
	return nil
}
func (j *memJournal) End(txn, outcome string) error {
	j.mu.Lock()
	defer j.mu.Unlock()
	if !j.open[txn] {
		return fmt.Errorf("transaction %s is not open", txn)
	}
	delete(j.open, txn)
	j.ended[txn] = outcome
	return nil
}
func (j *memJournal) Intent(in apply.Intent) error {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.failNext == "intent" {
		j.failNext = ""
		return fmt.Errorf("disk full")
	}
	k := key(in.Txn, in.Call)
	if _, dup := j.intents[k]; dup {
		return fmt.Errorf("call %s already has an intent", in.Call)
	}
	j.intents[k] = in
	j.order = append(j.order, k)
	return nil
}
func (j *memJournal) TaskStarted(txn, call string, upid proxmox.UPID) error {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.upids[key(txn, call)] = upid
	return nil
}
func (j *memJournal) Finish(txn, call string, t apply.Terminal) error {
	j.mu.Lock()
	defer j.mu.Unlock()
	k := key(txn, call)
	if _, ok := j.intents[k]; !ok {
		return fmt.Errorf("call %s has no intent", call)
	}
	if _, ok := j.results[k]; ok {
		return fmt.Errorf("call %s already finished", call)
	}
	j.results[k] = t
	return nil
}
func (j *memJournal) GuestDigest(txn string, vmid int, digest, call string) error {
	j.mu.Lock()
	defer j.mu.Unlock()
	if digest == "" {
		delete(j.digests, vmid)
	} else {
		j.digests[vmid] = digest
	}
	return nil
}
func (j *memJournal) MarkJobDone(txn, job string) error {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.jobs[job] = true
	return nil
}
func (j *memJournal) GuestCreated(txn string, vmid int, call string) error {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.created[vmid] = txn
	return nil
}
func (j *memJournal) SnapshotCreated(txn string, vmid int, name, call string) error {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.snaps[fmt.Sprint(vmid, "/", name)] = time.Now()
	return nil
}
func (j *memJournal) ToolSnapshots() []apply.ToolSnapshot {
	j.mu.Lock()
	defer j.mu.Unlock()
	var out []apply.ToolSnapshot
	for k, t := range j.snaps {
		var v int
		var name string
		fmt.Sscanf(strings.Replace(k, "/", " ", 1), "%d %s", &v, &name)
		out = append(out, apply.ToolSnapshot{Guest: v, Name: name, Created: t})
	}
	return out
}
func (j *memJournal) SnapshotRemoved(txn string, vmid int, name string) error {
	j.mu.Lock()
	defer j.mu.Unlock()
	delete(j.snaps, fmt.Sprint(vmid, "/", name))
	return nil
}
func (j *memJournal) BackupCreated(txn string, vmid int, volid string, created time.Time, call string) error {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.backups = append(j.backups, volid)
	if j.backupMeta == nil {
		j.backupMeta = map[string]apply.ToolBackup{}
	}
	j.backupMeta[volid] = apply.ToolBackup{Guest: vmid, VolID: volid, Created: created}
	return nil
}
func (j *memJournal) ToolBackups() []apply.ToolBackup {
	j.mu.Lock()
	defer j.mu.Unlock()
	var out []apply.ToolBackup
	for _, b := range j.backupMeta {
		out = append(out, b)
	}
	return out
}
func (j *memJournal) BackupRemoved(txn string, volid string) error {
	j.mu.Lock()
	defer j.mu.Unlock()
	delete(j.backupMeta, volid)
	return nil
}
func (j *memJournal) InFlight() []apply.InFlight {
	j.mu.Lock()
	defer j.mu.Unlock()
	var out []apply.InFlight
	for _, k := range j.order {
		if _, done := j.results[k]; !done {
			out = append(out, apply.InFlight{Intent: j.intents[k], UPID: j.upids[k]})
		}
	}
	return out
}
func (j *memJournal) OpenTxns() []string {
	j.mu.Lock()
	defer j.mu.Unlock()
	var out []string
	for t := range j.open {
		out = append(out, t)
	}
	return out
}

// result returns the terminal record of the call in any transaction.
func (j *memJournal) result(call string) (apply.Terminal, bool) {
	j.mu.Lock()
	defer j.mu.Unlock()
	for k, t := range j.results {
		if j.intents[k].Call == call {
			return t, true
		}
	}
	return apply.Terminal{}, false
}
func (j *memJournal) TaskRecorded(upid proxmox.UPID) bool {
	j.mu.Lock()
	defer j.mu.Unlock()
	for _, u := range j.upids {
		if u == upid {
			return true
		}
	}
	return false
}
