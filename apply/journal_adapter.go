package apply

import (
	"time"

	"github.com/felhom/felhom-converge/journal"
	"github.com/felhom/felhom-converge/proxmox"
)

// FromJournal makes the state directory's journal apply's Journal. Each
// of apply's calls is one journal step: its Action is the call id.
func FromJournal(j *journal.Journal) Journal { return journalLog{j} }

type journalLog struct{ j *journal.Journal }

func (l journalLog) CreatedInTxn(vmid int) (string, bool) { return l.j.CreatedInTxn(vmid) }
func (l journalLog) ToolSnapshot(vmid int, name string) bool {
	return l.j.ToolSnapshot(vmid, name)
}
func (l journalLog) JobDone(id string) bool { return l.j.JobDone(id) }
func (l journalLog) LastDigest(vmid int) (string, time.Time, bool) {
	d, ok := l.j.LastDigest(vmid)
	return d.Digest, d.Time, ok
}

func (l journalLog) Begin(b TxnBegin) error {
	return l.j.Append(journal.TxnBegin{Time: b.Time, Txn: b.Txn, Host: b.Host, DesiredDigest: b.DesiredDigest, PlanID: b.PlanID})
}

func (l journalLog) End(txn, outcome string) error {
	return l.j.Append(journal.TxnEnd{Txn: txn, Result: journal.TxnResult(outcome)})
}

func (l journalLog) Intent(in Intent) error {
	return l.j.Append(journal.Intent{Time: in.Time, Txn: in.Txn, Action: in.Call, Op: in.Op, Guest: in.Guest,
		Params: in.Params, Class: in.Class, Decision: in.Decision, Nonce: in.Nonce, Provenance: in.Provenance})
}

func (l journalLog) TaskStarted(txn, call string, upid proxmox.UPID) error {
	return l.j.Append(journal.TaskStarted{Txn: txn, Action: call, UPID: upid.String()})
}

func (l journalLog) Finish(txn, call string, t Terminal) error {
	r := journal.Result{Time: t.Time, Txn: txn, Action: call, Status: journal.Status(t.Result)}
	if t.Result != ResultOK {
		r.Error, r.ExitStatus = t.Message, t.ExitStatus
	}
	return l.j.Append(r)
}

func (l journalLog) GuestDigest(txn string, vmid int, digest, call string) error {
	return l.j.Append(journal.GuestDigest{Txn: txn, Guest: vmid, Digest: digest, Action: call})
}

func (l journalLog) MarkJobDone(txn, job string) error {
	return l.j.Append(journal.JobDone{Txn: txn, Job: job})
}

func (l journalLog) GuestCreated(txn string, vmid int, call string) error {
	return l.j.Append(journal.GuestCreated{Txn: txn, Guest: vmid, Action: call})
}

func (l journalLog) SnapshotCreated(txn string, vmid int, name, call string) error {
	return l.j.Append(journal.SnapshotCreated{Txn: txn, Guest: vmid, Name: name, Action: call})
}

func (l journalLog) BackupCreated(txn string, vmid int, volid string, created time.Time, call string) error {
	return l.j.Append(journal.BackupCreated{Txn: txn, Guest: vmid, VolID: volid, Created: created, Action: call})
}

func (l journalLog) InFlight() []InFlight {
	var out []InFlight
	for _, f := range l.j.InFlight() {
		in := f.Intent
		x := InFlight{Intent: Intent{Txn: in.Txn, Call: in.Action, Op: in.Op, Guest: in.Guest, Params: in.Params,
			Class: in.Class, Decision: in.Decision, Nonce: in.Nonce, Provenance: in.Provenance, Time: in.Time}}
		if f.UPID != "" {
			// A UPID the journal holds but that does not parse is treated
			// as unknown: recovery then looks for the task in the list.
			x.UPID, _ = proxmox.ParseUPID(f.UPID)
		}
		out = append(out, x)
	}
	return out
}

func (l journalLog) OpenTxns() []string {
	var out []string
	for _, b := range l.j.OpenTxns() {
		out = append(out, b.Txn)
	}
	return out
}

func (l journalLog) ToolSnapshots() []ToolSnapshot {
	var out []ToolSnapshot
	for _, s := range l.j.ToolSnapshots() {
		out = append(out, ToolSnapshot{Guest: s.Guest, Name: s.Name, Created: s.Created})
	}
	return out
}

func (l journalLog) ToolBackups() []ToolBackup {
	var out []ToolBackup
	for _, b := range l.j.ToolBackups() {
		out = append(out, ToolBackup{Guest: b.Guest, VolID: b.VolID, Created: b.Created})
	}
	return out
}

func (l journalLog) BackupRemoved(txn string, volid string) error {
	return l.j.Append(journal.BackupRemoved{Txn: txn, VolID: volid})
}

func (l journalLog) SnapshotRemoved(txn string, vmid int, name string) error {
	return l.j.Append(journal.SnapshotRemoved{Txn: txn, Guest: vmid, Name: name})
}

func (l journalLog) TaskRecorded(upid proxmox.UPID) bool {
	want := upid.String()
	for _, t := range l.j.Transactions() {
		for _, s := range t.Steps {
			if s.UPID == want {
				return true
			}
		}
	}
	return false
}
