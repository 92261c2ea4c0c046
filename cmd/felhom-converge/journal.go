package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/felhom/felhom-converge/humanize"
	"github.com/felhom/felhom-converge/journal"
)

type JournalCmd struct {
	Show  JournalShowCmd  `cmd:"" help:"Print the journal's transactions and steps."`
	Reset JournalResetCmd `cmd:"" help:"Accept that a deleted, emptied or cut-short journal lost records (--accept-loss), so apply runs again."`
}

type JournalShowCmd struct {
	SimFlag
	JSON bool `help:"Print the journal as one JSON document."`
	Last int  `help:"Show only the last N transactions (0: all)." placeholder:"N" default:"0"`
}

// Run reads the journal of the configured state directory. It takes no
// lock and writes nothing, so it is safe while an apply runs (a record
// being written at that moment shows as a torn tail).
func (c *JournalShowCmd) Run(g *globals) error {
	if c.Last < 0 {
		return errors.New("journal show: --last must not be negative")
	}
	cfg, err := g.loadConfig(c.Sim, "")
	if err != nil {
		return err
	}
	logPath := filepath.Join(cfg.StateDir, journal.LogFile)
	d, err := journal.InspectStateDir(cfg.StateDir)
	if errors.Is(err, fs.ErrNotExist) {
		return c.render(g, logPath, nil, nil)
	}
	if err != nil {
		return withHint(fmt.Errorf("journal show: %w", err), "state_dir comes from %s", cfg.Origin("state_dir"))
	}
	j, err := journal.Read(d, journal.Options{})
	var ce *journal.CorruptError
	if errors.As(err, &ce) && ce.Partial != nil {
		// Show what precedes the damage, then fail with the offset.
		if rerr := c.render(g, logPath, ce.Partial, ce); rerr != nil {
			return rerr
		}
		return fmt.Errorf("journal show: %w", err)
	}
	if err != nil {
		return fmt.Errorf("journal show: %w", err)
	}
	if err := c.render(g, logPath, j, nil); err != nil {
		return err
	}
	if l := j.Lost(); l != nil {
		return fmt.Errorf("journal show: %w", l)
	}
	return nil
}

func (c *JournalShowCmd) render(g *globals, path string, j *journal.Journal, corrupt *journal.CorruptError) error {
	var txns []journal.Transaction
	if j != nil {
		txns = j.Transactions()
		if t := j.TornTail(); t != nil {
			warnf(g.stderr, "%s", t)
		}
	}
	total := len(txns)
	if c.Last > 0 && len(txns) > c.Last {
		txns = txns[len(txns)-c.Last:]
	}
	if c.JSON {
		return writeJournalJSON(g.stdout, path, j, txns, total, corrupt)
	}
	writeJournalText(g.stdout, path, j, txns, total)
	return nil
}

func writeJournalText(w io.Writer, path string, j *journal.Journal, txns []journal.Transaction, total int) {
	if j != nil && j.Lost() != nil {
		fmt.Fprintf(w, "journal %s: LOST RECORDS: %s\n", path, j.Lost().Reason)
		if len(j.Records()) == 0 {
			fmt.Fprintln(w, "no record is left")
			return
		}
	}
	if j == nil || total == 0 && len(j.Records()) == 0 {
		fmt.Fprintf(w, "journal %s: empty, no run has written it yet\n", path)
		return
	}
	open := 0
	for _, t := range j.Transactions() {
		if t.Open() {
			open++
		}
	}
	fmt.Fprintf(w, "journal %s: %s, %d open", path, humanize.Plural(total, "transaction"), open)
	inFlight := len(j.InFlight())
	if inFlight > 0 {
		fmt.Fprintf(w, ", %s in flight", humanize.Plural(inFlight, "step"))
	}
	if len(txns) < total {
		fmt.Fprintf(w, ", showing the last %d", len(txns))
	}
	fmt.Fprintln(w)
	for _, r := range j.Records() {
		switch r := r.(type) {
		case journal.Checkpoint:
			fmt.Fprintf(w, "compacted %s: %s of finished history left out; records continue at number %d\n", humanize.Stamp(r.Time), humanize.Plural(r.Dropped, "record"), r.Seq)
		case journal.JournalReset:
			fmt.Fprintf(w, "RESET %s by %s: accepted the loss of records (the journal %s; %s were left)\n", humanize.Stamp(r.Time), humanize.Dash(r.By), r.Lost, humanize.Plural(int(r.FoundSeq), "record"))
		}
	}
	if inFlight > 0 {
		fmt.Fprintln(w, "steps in flight have an intent and no result: 'felhom-converge recover' resolves them (apply runs it first)")
	}
	for _, t := range txns {
		fmt.Fprintln(w)
		writeTxnText(w, t)
	}
	snaps, backups := j.ToolSnapshots(), j.ToolBackups()
	if len(snaps)+len(backups) > 0 {
		fmt.Fprintln(w)
		fmt.Fprintln(w, "safety copies the tool made and has not removed:")
		for _, s := range snaps {
			fmt.Fprintf(w, "  snapshot %s of guest %d, taken %s%s\n", s.Name, s.Guest, humanize.Stamp(s.Created), inTxn(s.Txn))
		}
		for _, b := range backups {
			fmt.Fprintf(w, "  backup %s of guest %d, created %s%s\n", b.VolID, b.Guest, humanize.Stamp(b.Created), inTxn(b.Txn))
		}
	}
	if digests := j.LastDigests(); len(digests) > 0 {
		fmt.Fprintln(w)
		fmt.Fprintln(w, "guest config digests after the last successful step:")
		for _, d := range digests {
			fmt.Fprintf(w, "  guest %d  %s  %s%s\n", d.Guest, d.Digest, humanize.Stamp(d.Time), inTxn(d.Txn))
		}
	}
}

func inTxn(txn string) string {
	if txn == "" {
		return ""
	}
	return " (transaction " + txn + ")"
}

func writeTxnText(w io.Writer, t journal.Transaction) {
	b := t.Begin
	fmt.Fprintf(w, "transaction %s  host %s  began %s", b.Txn, b.Host, humanize.Stamp(b.Time))
	if t.End != nil {
		fmt.Fprintf(w, "  ended %s: %s", humanize.Stamp(t.End.Time), t.End.Result)
		if t.End.Error != "" {
			fmt.Fprintf(w, " (%s)", t.End.Error)
		}
	} else {
		fmt.Fprint(w, "  OPEN (no end record: the run is going on, or crashed; recover resolves it)")
	}
	fmt.Fprintln(w)
	if b.PlanID != "" || b.DesiredDigest != "" {
		fmt.Fprintf(w, "  plan %s  desired file sha256 %s\n", humanize.Dash(b.PlanID), humanize.Dash(b.DesiredDigest))
	}
	if len(t.Steps) == 0 {
		fmt.Fprintln(w, "  no steps")
	} else {
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "  TIME\tOP\tGUEST\tCLASS\tDECISION\tRESULT\tUPID")
		for _, s := range t.Steps {
			in := s.Intent
			guest := "-"
			if in.Guest != 0 {
				guest = fmt.Sprint(in.Guest)
			}
			fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\t%s\t%s\n", humanize.Stamp(in.Time), in.Op, guest, in.Class, humanize.Dash(in.Decision), stepResult(s), humanize.Dash(s.UPID))
		}
		tw.Flush()
	}
	if len(t.Records) > 0 {
		fmt.Fprintln(w, "  also recorded:")
	}
	for _, r := range t.Records {
		if line := recordLine(r); line != "" {
			fmt.Fprintf(w, "    %s  %s\n", humanize.Stamp(r.When()), line)
		}
	}
}

func stepResult(s journal.Step) string {
	if s.Result == nil {
		if s.UPID == "" {
			return "in flight (no UPID recorded)"
		}
		return "in flight"
	}
	out := string(s.Result.Status)
	var detail []string
	if s.Result.Error != "" {
		detail = append(detail, s.Result.Error)
	}
	if s.Result.ExitStatus != "" {
		detail = append(detail, "exit status "+s.Result.ExitStatus)
	}
	if len(detail) > 0 {
		out += ": " + strings.Join(detail, "; ")
	}
	return out
}

// recordLine describes a transaction's record that is not part of a step.
func recordLine(r journal.Record) string {
	switch r := r.(type) {
	case journal.JobDone:
		return "job " + r.Job + " done"
	case journal.GuestDigest:
		if r.Digest == "" {
			return fmt.Sprintf("guest %d gone", r.Guest)
		}
		return fmt.Sprintf("guest %d config digest %s", r.Guest, r.Digest)
	case journal.GuestCreated:
		return fmt.Sprintf("guest %d created in this transaction", r.Guest)
	case journal.SnapshotCreated:
		return fmt.Sprintf("safety snapshot %s of guest %d taken", r.Name, r.Guest)
	case journal.SnapshotRemoved:
		return fmt.Sprintf("safety snapshot %s of guest %d removed", r.Name, r.Guest)
	case journal.BackupCreated:
		return fmt.Sprintf("safety backup %s of guest %d created", r.VolID, r.Guest)
	case journal.BackupRemoved:
		return fmt.Sprintf("safety backup %s removed", r.VolID)
	}
	return ""
}

// The --json document.
type journalDoc struct {
	Journal      string            `json:"journal"`
	Corrupt      *corruptJSON      `json:"corrupt"`
	Lost         *lostJSON         `json:"lost"`
	TornTail     *tornJSON         `json:"torn_tail"`
	Total        int               `json:"transaction_count"`
	Transactions []txnJSON         `json:"transactions"`
	InFlight     []stepJSON        `json:"in_flight"`
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
	Steps         []stepJSON        `json:"steps"`
	Records       []json.RawMessage `json:"records"`
}

type stepJSON struct {
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
	Guest   int       `json:"guest"`
	Name    string    `json:"name"`
	Created time.Time `json:"created"`
	Txn     string    `json:"txn,omitempty"`
}

type backupJSON struct {
	Guest   int       `json:"guest"`
	VolID   string    `json:"volid"`
	Created time.Time `json:"created"`
	Txn     string    `json:"txn,omitempty"`
}

type digestJSON struct {
	Guest  int       `json:"guest"`
	Digest string    `json:"digest"`
	Time   time.Time `json:"time"`
	Txn    string    `json:"txn,omitempty"`
}

func stepDoc(s journal.Step) stepJSON {
	in := s.Intent
	out := stepJSON{Txn: in.Txn, Action: in.Action, Time: in.Time, Op: in.Op, Guest: in.Guest, Params: in.Params,
		Class: in.Class, Decision: in.Decision, Nonce: in.Nonce, Provenance: in.Provenance, UPID: s.UPID}
	if r := s.Result; r != nil {
		ended := r.Time
		out.Result, out.Ended, out.Error, out.ExitStatus = string(r.Status), &ended, r.Error, r.ExitStatus
	}
	return out
}

func writeJournalJSON(w io.Writer, path string, j *journal.Journal, txns []journal.Transaction, total int, corrupt *journal.CorruptError) error {
	doc := journalDoc{Journal: path, Total: total, Transactions: []txnJSON{}, InFlight: []stepJSON{},
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
				PlanID: t.Begin.PlanID, Open: t.Open(), Steps: []stepJSON{}, Records: []json.RawMessage{}}
			if t.End != nil {
				ended := t.End.Time
				tj.Ended, tj.Result, tj.Error = &ended, string(t.End.Result), t.End.Error
			}
			for _, s := range t.Steps {
				tj.Steps = append(tj.Steps, stepDoc(s))
			}
			for _, r := range t.Records {
				data, err := journal.RecordJSON(r)
				if err != nil {
					return err
				}
				tj.Records = append(tj.Records, data)
			}
			doc.Transactions = append(doc.Transactions, tj)
		}
		for _, f := range j.InFlight() {
			doc.InFlight = append(doc.InFlight, stepDoc(journal.Step{Intent: f.Intent, UPID: f.UPID}))
		}
		for _, s := range j.ToolSnapshots() {
			doc.Snapshots = append(doc.Snapshots, snapshotJSON{Guest: s.Guest, Name: s.Name, Created: s.Created, Txn: s.Txn})
		}
		for _, b := range j.ToolBackups() {
			doc.Backups = append(doc.Backups, backupJSON{Guest: b.Guest, VolID: b.VolID, Created: b.Created, Txn: b.Txn})
		}
		for _, d := range j.LastDigests() {
			doc.Digests = append(doc.Digests, digestJSON{Guest: d.Guest, Digest: d.Digest, Time: d.Time, Txn: d.Txn})
		}
		for _, r := range j.Records() {
			if r.TxnID() != "" && inTxns[r.TxnID()] {
				continue
			}
			data, err := journal.RecordJSON(r)
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
