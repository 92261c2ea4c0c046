package journal

import (
	"encoding/json"
	"io"
	"time"
)

// journalDoc is the document of 'journal show --json'; its members are
// stable.
type journalDoc struct {
	Journal      string            `json:"journal"`
	Corrupt      *corruptJSON      `json:"corrupt"`
	Lost         *lostJSON         `json:"lost"`
	TornTail     *tornJSON         `json:"torn_tail"`
	Total        int               `json:"transaction_count"`
	Transactions []txnJSON         `json:"transactions"`
	InFlight     []callJSON        `json:"in_flight"`
	Snapshots    []snapshotJSON    `json:"tool_snapshots"`
	Backups      []backupJSON      `json:"tool_backups"`
	Digests      []digestJSON      `json:"last_digests"`
	Other        []json.RawMessage `json:"other_records"` // records of transactions compacted away
}

type corruptJSON struct {
	Offset int64  `json:"offset"`
	Line   int    `json:"line"`
	Reason string `json:"reason"`
}

type lostJSON struct {
	Reason    string `json:"reason"`
	AnchorSeq int64  `json:"anchor_seq"`
	AnchorCRC string `json:"anchor_crc,omitempty"`
	FoundSeq  int64  `json:"found_seq"`
}

type tornJSON struct {
	Offset int64  `json:"offset"`
	Length int64  `json:"length"`
	Reason string `json:"reason"`
}

type txnJSON struct {
	Txn           string            `json:"txn"`
	Host          string            `json:"host"`
	Began         time.Time         `json:"began"`
	DesiredDigest string            `json:"desired_digest,omitempty"`
	PlanID        string            `json:"plan_id,omitempty"`
	Open          bool              `json:"open"`
	Ended         *time.Time        `json:"ended,omitempty"`
	Result        string            `json:"result,omitempty"`
	Error         string            `json:"error,omitempty"`
	Steps         []callJSON        `json:"steps"`
	Held          []heldJSON        `json:"held"`
	Records       []json.RawMessage `json:"records"`
}

// heldJSON is a step the run's gate held back (Held).
type heldJSON struct {
	Time     time.Time `json:"time"`
	Step     string    `json:"step"`
	Op       string    `json:"op"`
	Guest    int       `json:"guest,omitempty"`
	Decision string    `json:"decision"`
	Reason   string    `json:"reason,omitempty"`
}

type callJSON struct {
	Txn        string          `json:"txn"`
	Action     string          `json:"action"`
	Time       time.Time       `json:"time"`
	Op         string          `json:"op"`
	Guest      int             `json:"guest,omitempty"`
	Params     json.RawMessage `json:"params,omitempty"`
	Class      string          `json:"class"`
	Decision   string          `json:"decision,omitempty"`
	Nonce      string          `json:"nonce,omitempty"`
	Provenance string          `json:"provenance,omitempty"`
	UPID       string          `json:"upid,omitempty"`
	Result     string          `json:"result,omitempty"` // "" while in flight
	Ended      *time.Time      `json:"ended,omitempty"`
	Error      string          `json:"error,omitempty"`
	ExitStatus string          `json:"exit_status,omitempty"`
}

type snapshotJSON struct {
	Guest       int        `json:"guest"`
	Name        string     `json:"name"`
	Created     time.Time  `json:"created"`
	Txn         string     `json:"txn,omitempty"`
	RemoveAfter *time.Time `json:"remove_after,omitempty"` // created + safety.keep
}

type backupJSON struct {
	Guest       int        `json:"guest"`
	VolID       string     `json:"volid"`
	Created     time.Time  `json:"created"`
	Txn         string     `json:"txn,omitempty"`
	RemoveAfter *time.Time `json:"remove_after,omitempty"`
}

type digestJSON struct {
	Guest  int       `json:"guest"`
	Digest string    `json:"digest"`
	Time   time.Time `json:"time"`
	Txn    string    `json:"txn,omitempty"`
}

// removeAfter is when a safety copy created at t may be removed, or nil
// when safety.keep is not known.
func (l Listing) removeAfter(t time.Time) *time.Time {
	if l.Keep <= 0 {
		return nil
	}
	at := t.Add(l.Keep).UTC()
	return &at
}

func callDoc(s Call) callJSON {
	in := s.Intent
	out := callJSON{Txn: in.Txn, Action: in.Call, Time: in.Time, Op: in.Op, Guest: in.Guest, Params: in.Params,
		Class: in.Class, Decision: in.Decision, Nonce: in.Nonce, Provenance: in.Provenance, UPID: s.UPID}
	if r := s.Result; r != nil {
		ended := r.Time
		out.Result, out.Ended, out.Error, out.ExitStatus = string(r.Status), &ended, r.Error, r.ExitStatus
	}
	return out
}

// WriteJSON writes the listing as the JSON document of 'journal show
// --json' (journalDoc).
func (l Listing) WriteJSON(w io.Writer) error {
	path, j, corrupt := l.Path, l.Journal, l.Corrupt
	txns, total := l.shown()
	doc := journalDoc{Journal: path, Total: total, Transactions: []txnJSON{}, InFlight: []callJSON{},
		Snapshots: []snapshotJSON{}, Backups: []backupJSON{}, Digests: []digestJSON{}, Other: []json.RawMessage{}}
	if corrupt != nil {
		doc.Corrupt = &corruptJSON{Offset: corrupt.Offset, Line: corrupt.Line, Reason: corrupt.Reason}
	}
	if j != nil {
		if t := j.TornTail(); t != nil {
			doc.TornTail = &tornJSON{Offset: t.Offset, Length: t.Length, Reason: t.Reason}
		}
		if l := j.Lost(); l != nil {
			doc.Lost = &lostJSON{Reason: l.Reason, AnchorSeq: l.AnchorSeq, AnchorCRC: l.AnchorCRC, FoundSeq: l.FoundSeq}
		}
		inTxns := map[string]bool{}
		for _, t := range j.Transactions() {
			inTxns[t.Begin.Txn] = true
		}
		for _, t := range txns {
			tj := txnJSON{Txn: t.Begin.Txn, Host: t.Begin.Host, Began: t.Begin.Time, DesiredDigest: t.Begin.DesiredDigest,
				PlanID: t.Begin.PlanID, Open: t.Open(), Steps: []callJSON{}, Held: []heldJSON{}, Records: []json.RawMessage{}}
			for _, h := range l.Held[t.Begin.Txn] {
				tj.Held = append(tj.Held, heldJSON(h))
			}
			if t.End != nil {
				ended := t.End.Time
				tj.Ended, tj.Result, tj.Error = &ended, string(t.End.Result), t.End.Error
			}
			for _, s := range t.Calls {
				tj.Steps = append(tj.Steps, callDoc(s))
			}
			for _, r := range t.Records {
				data, err := RecordJSON(r)
				if err != nil {
					return err
				}
				tj.Records = append(tj.Records, data)
			}
			doc.Transactions = append(doc.Transactions, tj)
		}
		for _, f := range j.InFlight() {
			doc.InFlight = append(doc.InFlight, callDoc(Call{Intent: f.Intent, UPID: f.UPID}))
		}
		for _, s := range j.ToolSnapshots() {
			doc.Snapshots = append(doc.Snapshots, snapshotJSON{Guest: s.Guest, Name: s.Name, Created: s.Created, Txn: s.Txn, RemoveAfter: l.removeAfter(s.Created)})
		}
		for _, b := range j.ToolBackups() {
			doc.Backups = append(doc.Backups, backupJSON{Guest: b.Guest, VolID: b.VolID, Created: b.Created, Txn: b.Txn, RemoveAfter: l.removeAfter(b.Created)})
		}
		for _, d := range j.LastDigests() {
			doc.Digests = append(doc.Digests, digestJSON{Guest: d.Guest, Digest: d.Digest, Time: d.Time, Txn: d.Txn})
		}
		for _, r := range j.Records() {
			if r.TxnID() != "" && inTxns[r.TxnID()] {
				continue
			}
			data, err := RecordJSON(r)
			if err != nil {
				return err
			}
			doc.Other = append(doc.Other, data)
		}
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(doc)
}
