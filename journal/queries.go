package journal

// What the journal says: its records, transactions, steps in flight, and
// the provenance of what the tool created.

import (
	"slices"
	"sort"
	"strings"
)

// Records is every record in order.
func (j *Journal) Records() []Record {
	j.mu.Lock()
	defer j.mu.Unlock()
	return slices.Clone(j.records)
}

// Transactions is every transaction still in the journal, in the order
// they began.
func (j *Journal) Transactions() []Transaction {
	j.mu.Lock()
	defer j.mu.Unlock()
	out := make([]Transaction, len(j.x.order))
	for i, t := range j.x.order {
		out[i] = t.public()
	}
	return out
}

// OpenTxns is the begin record of every transaction without an end
// record, in the order they began.
func (j *Journal) OpenTxns() []TxnBegin {
	j.mu.Lock()
	defer j.mu.Unlock()
	var out []TxnBegin
	for _, t := range j.x.order {
		if t.end == nil {
			out = append(out, t.begin)
		}
	}
	return out
}

// InFlight is every step with an intent but no terminal record, in the
// order their intents were written.
func (j *Journal) InFlight() []InFlight {
	j.mu.Lock()
	defer j.mu.Unlock()
	steps := make([]*stepState, 0, len(j.x.inflight))
	for _, s := range j.x.inflight {
		steps = append(steps, s)
	}
	sort.Slice(steps, func(a, b int) bool { return steps[a].seq < steps[b].seq })
	out := make([]InFlight, len(steps))
	for i, s := range steps {
		out[i] = InFlight{Intent: s.intent}
		if s.task != nil {
			out[i].UPID, out[i].TaskTime = s.task.UPID, s.task.Time
		}
	}
	return out
}

// JobDone reports whether the job id completed.
func (j *Journal) JobDone(id string) bool {
	j.mu.Lock()
	defer j.mu.Unlock()
	_, ok := j.x.jobs[id]
	return ok
}

// LastDigest is the config digest recorded for the guest after the last
// successful step on it.
func (j *Journal) LastDigest(vmid int) (Digest, bool) {
	j.mu.Lock()
	defer j.mu.Unlock()
	d, ok := j.x.digests[vmid]
	if !ok {
		return Digest{}, false
	}
	return Digest{Guest: d.Guest, Digest: d.Digest, Time: d.Time, Txn: d.Txn, Owns: d.Owns}, true
}

// CreatedInTxn reports the transaction that created the guest (restored
// it) when that transaction is still open: then removing the guest again
// is benign, by provenance.
func (j *Journal) CreatedInTxn(vmid int) (string, bool) {
	j.mu.Lock()
	defer j.mu.Unlock()
	c, ok := j.x.created[vmid]
	if !ok || !j.x.open(c.Txn) {
		return "", false
	}
	return c.Txn, true
}

// CreatedIn reports whether transaction txn created the guest.
func (j *Journal) CreatedIn(vmid int, txn string) bool {
	j.mu.Lock()
	defer j.mu.Unlock()
	_, ok := j.x.createdT[guestKey(txn, vmid)]
	return ok
}

// ToolSnapshot reports whether the guest's snapshot name is a safety
// snapshot the tool took and has not removed.
func (j *Journal) ToolSnapshot(vmid int, name string) bool {
	j.mu.Lock()
	defer j.mu.Unlock()
	_, ok := j.x.snaps[snapKey{vmid, name}]
	return ok
}

// ToolSnapshots is every safety snapshot the tool took and has not
// removed, oldest first.
func (j *Journal) ToolSnapshots() []Snapshot {
	j.mu.Lock()
	defer j.mu.Unlock()
	out := make([]Snapshot, 0, len(j.x.snaps))
	for _, s := range j.x.snaps {
		out = append(out, Snapshot{Guest: s.Guest, Name: s.Name, SnapTime: s.SnapTime, Txn: s.Txn, Created: s.Time})
	}
	sort.Slice(out, func(a, b int) bool {
		if !out[a].Created.Equal(out[b].Created) {
			return out[a].Created.Before(out[b].Created)
		}
		if out[a].Guest != out[b].Guest {
			return out[a].Guest < out[b].Guest
		}
		return out[a].Name < out[b].Name
	})
	return out
}

// ToolBackups is every safety backup the tool took and has not removed,
// oldest first.
func (j *Journal) ToolBackups() []Backup {
	return j.backupsWhere(func(b BackupCreated) bool { return b.Golden == "" })
}

// GoldenArchives is every archive of golden image name the tool built
// and has not removed, oldest first.
func (j *Journal) GoldenArchives(name string) []Backup {
	return j.backupsWhere(func(b BackupCreated) bool { return b.Golden != "" && b.Golden == name })
}

// GoldenArchive returns the record of volid when it is the archive of a
// golden image the tool built (and has not removed).
func (j *Journal) GoldenArchive(volid string) (Backup, bool) {
	for _, b := range j.backupsWhere(func(b BackupCreated) bool { return b.Golden != "" && b.VolID == volid }) {
		return b, true
	}
	return Backup{}, false
}

func (j *Journal) backupsWhere(keep func(BackupCreated) bool) []Backup {
	j.mu.Lock()
	defer j.mu.Unlock()
	out := make([]Backup, 0, len(j.x.backups))
	for _, b := range j.x.backups {
		if keep(b) {
			out = append(out, Backup{Guest: b.Guest, VolID: b.VolID, Created: b.Created, Size: b.Size, UPID: b.UPID, Txn: b.Txn, Golden: b.Golden})
		}
	}
	sort.Slice(out, func(a, b int) bool {
		if !out[a].Created.Equal(out[b].Created) {
			return out[a].Created.Before(out[b].Created)
		}
		return strings.Compare(out[a].VolID, out[b].VolID) < 0
	})
	return out
}

// LastDigests is the last recorded digest of every guest, by vmid.
func (j *Journal) LastDigests() []Digest {
	j.mu.Lock()
	defer j.mu.Unlock()
	out := make([]Digest, 0, len(j.x.digests))
	for _, d := range j.x.digests {
		out = append(out, Digest{Guest: d.Guest, Digest: d.Digest, Time: d.Time, Txn: d.Txn, Owns: d.Owns})
	}
	sort.Slice(out, func(a, b int) bool { return out[a].Guest < out[b].Guest })
	return out
}

// RecordJSON is the JSON of r as the journal stores it: an object whose
// first member is "type".
func RecordJSON(r Record) ([]byte, error) { return marshalRecord(r) }

// TaskRecorded reports whether some step's record holds the task UPID:
// recovery never takes another call's task for its own.
func (j *Journal) TaskRecorded(upid string) bool {
	j.mu.Lock()
	defer j.mu.Unlock()
	for _, s := range j.x.steps {
		if s.task != nil && s.task.UPID == upid {
			return true
		}
	}
	return false
}

// BackupRecorded reports whether volid is a safety backup the tool
// recorded and has not removed.
func (j *Journal) BackupRecorded(volid string) bool {
	j.mu.Lock()
	defer j.mu.Unlock()
	_, ok := j.x.backups[volid]
	return ok
}
