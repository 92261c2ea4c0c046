// Package journal owns the state directory: its checks, the run lock and
// the append-only crash-safe log of what apply did (transactions, step
// intents, task UPIDs, results, job completions, guest digests and the
// provenance of what the tool created), and its listing as 'journal show'
// prints it (Listing: text, and the JSON document). It never uses the
// network.
//
// # State directory
//
// OpenStateDir checks (and, when missing, creates with mode 0700) the
// directory named by config state_dir. It is refused with an *UnsafeError,
// which says why and what to do, when it is a symbolic link, not a
// directory, not owned by the running user, group- or world-writable, or in
// a parent that anyone may write without the sticky bit. Files in it are
// created 0600 and opened with O_NOFOLLOW; each must be a regular file (a
// FIFO is refused before it can block) owned by the same user and not
// group- or world-writable. InspectStateDir is the read-only form (plan,
// status, journal show): it creates nothing, and lets root read a
// directory another user owns (the service user's journal).
//
//	STATE_DIR/lock              flock; the holder's pid and start time as JSON
//	STATE_DIR/journal.log       this log
//	STATE_DIR/journal.anchor    the log's anchor: its last record's sequence number and checksum
//	STATE_DIR/journal.log.torn  the bytes of the last torn tail that was cut off
//	STATE_DIR/consumed-nonces   trust's nonce store (see below)
//	STATE_DIR/audit.jsonl       apply's audit trail (package apply)
//	STATE_DIR/requests/         signature requests apply writes
//
// Open, which holds the lock, also removes the temporary files (package
// atomicfile's .NAME.tmpDIGITS) that writers killed before their rename
// left in the directory: those of the journal's files and of the nonce
// store at any age, since only a lock holder writes them; any other one
// (last-run.json, written after the lock is released; requests a plan
// writes; a pulled desired file) once it is atomicfile.StaleAge old, here
// and in the directories two levels down.
//
// # Lock
//
// StateDir.Lock takes an exclusive flock(2) on STATE_DIR/lock, polling
// until a timeout, and then writes the holder's pid, start time, host and
// uid into the file. A run that finds it busy gets a *LockedError naming
// the holder. The kernel drops the lock when the holder exits or dies, so
// no stale-lock clean-up exists (unlike lock files that must be
// refreshed and judged stale).
//
// # Log format
//
// journal.log is a sequence of lines, each one record:
//
//	<crc> SP <json> LF
//
// where <crc> is the CRC-32C (Castagnoli) of the <json> bytes as exactly 8
// lower-case hex digits, and <json> is one JSON object on one line whose
// first member is "type" (the record type: txn_begin, txn_end, intent,
// upid, result, job_done, digest, guest_created, snapshot_created,
// snapshot_removed, backup_created, backup_removed, checkpoint,
// journal_reset) followed by the record's fields, all with "time" (RFC
// 3339, UTC) and, where it applies, "txn". For example:
//
//	aa324079 {"type":"intent","time":"2026-11-28T03:00:01Z","txn":"20261128T030000Z-3f9a0c1e","action":"set-config-105","op":"guest.set_config","guest":105,"params":{"memory":1024},"class":"benign","decision":"allowed_benign"}
//
// # Keys
//
// Three ids key the records, each under one name in this documentation and
// in packages apply, plan, trust and status:
//
//   - the transaction id ("txn"): one apply run, from NewTxnID;
//   - the action id: one step of a plan (plan.Step.ID, the "id" of a step
//     in 'plan --json'), built from its op, guest and params; a
//     destructive step's signature request is named after it
//     (<action id>.req, trust.Request.ID);
//   - the call id: one API call a step makes, the key of its intent, UPID
//     and result records (their "action" member, and the "step" field of
//     apply's audit log). A step's main call has its action id as call id;
//     its other calls (a safety backup or snapshot, a stop before, a start
//     after, a volume's deletion, a call made again after a lock) add a
//     suffix: "#safety-backup", "#safety", "#stop", "#start", "#backup",
//     "#delete0", "#rollback", "#retry1", ... In Go the records name it
//     Call, and a [Call] is an Intent with its UPID and Result.
//
// The provenance records (guest_created, snapshot_created,
// backup_created) and digest carry, as "action", the call id of the call
// that made them (their Call field). The on-disk member stays "action", so
// journals written before keep reading.
//
// A line is at most MaxRecordSize bytes and the file at most
// Options.MaxSize (DefaultMaxSize): a larger file is refused before it is
// read. Members a reader does not know are ignored; a record type it does
// not know is an error, never skipped.
//
// Every Append writes one whole line with a single write and fsyncs the
// file before it returns; the directory is fsynced when the file is
// created. The caller takes the action a record describes only after
// Append returned, so a record that is not complete on disk describes
// nothing that happened on its account.
//
// # Torn tail and corruption
//
// Because every record is fsynced before the next is written, a crash can
// damage only the last line. Open therefore treats a last line that has no
// newline, or whose checksum frame does not hold, as a torn tail: it is
// left out of the view, reported once through TornTail (callers warn), and
// cut off, its bytes saved to journal.log.torn, before the next append.
// Any damaged line before the last, and a last line whose checksum holds
// but whose record cannot be decoded, cannot come from a crash: Open
// returns a *CorruptError naming the byte offset and line, and the journal
// refuses to append, so apply refuses to mutate the host. So is a last
// line that is a whole record, one wrong byte where its newline belongs
// and the start of another record (a damaged newline merging two records
// would otherwise drop both as one torn tail). A damaged line is never
// silently skipped.
//
// Append also checks that a record fits what came before: a step's UPID
// and result need its intent in flight, an intent and a guest creation an
// open transaction, a destructive intent the nonce of its signature. A
// failed write is taken back; after a failed fsync the journal refuses
// further appends until it is opened again, since what reached the disk is
// then unknown.
//
// The checksums detect damage, not tampering: whoever can write the state
// directory could rewrite the log, which is why the directory is checked.
//
// # Sequence numbers
//
// Every record has a sequence number, which is not written in it: its
// place in the log. The first line is record 1, unless it is a checkpoint
// (written by compaction, below, and only ever as the first line; one
// elsewhere is corrupt), which carries its own number, "seq"; each line
// after it is one more. So the numbers keep counting across compactions:
//
//	<crc> {"type":"checkpoint","time":"...","seq":4711,"prev":"9f3c1a07","dropped":812}
//
// "prev" is the checksum (the <crc>) of record seq-1, the last record of
// the log the compaction replaced ("" when there was none), and "dropped"
// how many records it left out. Versions before the anchor know neither
// checkpoint nor journal_reset: they refuse such a journal as corrupt (an
// unknown record type), never misread it.
//
// # Anchor: a lost journal is noticed
//
// A crash can tear only the last line, and that line was never
// acknowledged. Everything else that shortens the log (the file deleted,
// emptied, truncated at a record boundary or inside an acknowledged
// record, or replaced by an older or another journal) loses records whose
// actions happened: one-shot jobs would run again, the tool's safety
// snapshots and backups would no longer be known as its own, drift history
// would be forgotten. So the log has an anchor, STATE_DIR/journal.anchor,
// which names its last record: sequence number and checksum. It is 1024
// bytes, two slots of 512 (each in its own disk sector), each one line
// padded with spaces to its newline:
//
//	felhom-converge journal anchor v1 write <w> seq <s> crc <c> <check>
//
// w (how many times the anchor was written) and s are 20 decimal digits,
// c is the record's checksum and check the CRC-32C of the line before
// " <check>", 8 lower-case hex digits each. The valid slot with the larger
// w is the anchor; a slot of zeros is unused. After each Append has synced
// its record, it overwrites the older slot in place and syncs the anchor
// file: a crash then leaves either slot, and both name records the log
// holds. The anchor is written (atomicfile) when it is missing: at the
// first record, or at the first Open of a log from a version without it.
// Open brings an anchor that lags behind (a crash between the two syncs)
// up to the last record.
//
// Open compares the log with its anchor after cutting a torn tail, and
// returns a *LostError, refusing to append, when the log is missing while
// the anchor exists, holds no record, ends before the anchored record, or
// holds a record of that number with another checksum; and when no slot
// of the anchor is valid (then a loss cannot be ruled out). Read reports
// the same through Lost and shows what is left; plan warns, status and
// journal show report it. An anchor that names a record before the log's
// checkpoint is older than the compaction and accepted; one that names
// exactly the record before it must have the checkpoint's "prev".
//
// The loss is accepted deliberately, by 'felhom-converge journal reset
// --accept-loss' (AcceptLoss): what is left of the log stays, a
// journal_reset record is appended naming the lost anchor and what was
// found, and a new anchor names that record:
//
//	<crc> {"type":"journal_reset","time":"...","lost":"is missing, but its anchor journal.anchor names record 40","anchor_seq":40,"anchor_crc":"9f3c1a07","found_seq":0,"by":"root@pve1"}
//
// A crash after that record and before the new anchor leaves the old
// anchor, which the reset record names, so the log is accepted. A journal
// that is damaged rather than short (a *CorruptError) is repaired, not
// reset. The anchor guards against losing the log, not against losing
// both files: a state directory without either is a new host, and an
// anchor deleted alone is written anew from the log.
//
// # Compaction
//
// When the log passes Options.CompactAt (DefaultCompactAt) it is rewritten
// atomically (package atomicfile: temporary file, fsync, rename, directory
// fsync) with only what is still needed, after a checkpoint: every record
// of a transaction still open or with a step in flight, the completed job
// ids, each guest's last digest, the creation records of safety snapshots
// and backups not yet removed, and the last journal_reset. Then the anchor
// moves on to the new last record. A crash during compaction leaves the
// old log or the new; one after the rename leaves the anchor naming the
// record the checkpoint continues, so neither is a loss. A leftover
// temporary file is removed by the next Open. A failed
// automatic compaction does not fail the Append that triggered it (the
// record is durable); it is reported by CompactErr.
//
// # Consumed nonces: a second log, owned by trust
//
// The nonces of accepted signed requests are not kept in this log but in
// trust's own checksummed, fsynced nonce store, STATE_DIR/consumed-nonces
// (trust.FileNonceStore), so there are two logs. The reasons: the nonce
// store must answer "was this nonce consumed?" fail-closed and atomically
// with recording it, which trust already does under its own lock,
// independently of apply; it is read by 'signatures verify' and the gate,
// which must not depend on the journal's transaction state; and its
// retention differs (nonces are kept past their not-after, the journal is
// compacted by transaction). The one rule that ties them is the order of a
// signed step, which makes a signed action run at most once even across
// crashes:
//
//  1. trust consumes the nonce and fsyncs it (Verifier.Decide accepts);
//  2. apply appends the step's Intent, carrying the nonce, and Append
//     fsyncs it;
//  3. only then does apply make the API call (the POST).
//
// A crash between 1 and 2 spends the nonce without an intent: the step did
// not run and needs a fresh signature, which is the safe side. A crash
// between 2 and 3 leaves an intent in flight that recovery resolves from
// the node's task list and live state; it never re-posts a destructive
// step, since its nonce is spent.
package journal
