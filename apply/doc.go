// Package apply runs a plan against one host: the session (state
// directory lock, journal, audit log, trust root), the signature gate, one
// executor per op, crash recovery and housekeeping. It never parses HCL.
//
// # One run
//
// A caller binds the host once (Host: config, API client, fenced root
// runner, the host's file system), opens a Session (the state directory's
// lock, the journal, the audit log, the verifier and the request
// directories), and calls Recover, Plan, then Apply. Apply opens a
// transaction in the journal and takes the plan's steps in order:
//
//	executor from the step's typed params → gate (live checks, then the
//	signature's nonce spent) → intent (fsynced) → API call → UPID
//	(fsynced) → WaitTask → terminal record
//
// # Executors
//
// Each op has an executor (exec_*.go), made from its params decoded
// strictly into the op's struct (package ops). Its check reads the guest
// afresh and refuses a step that must not run; for a signed step the
// check runs before the nonce is spent. Its run makes the step's calls,
// each through the one journaled call path (stepRun.do, invoke), under its
// own call id (package journal's Keys): the step's action id, or that with
// a suffix ("#safety-backup", "#safety", "#stop", "#start", "#backup",
// "#delete0", "#rollback"). Recovery therefore always deals with exactly
// one API call per record.
//
// # The gate
//
// A step's class is the op's (ops.ClassOf), never weaker than the plan
// says. Benign steps run unsigned. A destructive step runs when the
// journal proves the data is the tool's own (a guest restored in a
// transaction still open), or on an operator's signature: a signed
// request from the signatures directory, matched to the step by file name
// or binding (trust.MatchRequests), evaluated without spending it
// (trust.Verifier.Evaluate), checked against the live guest, then decided
// (trust.Verifier.Decide spends the nonce durably). The intent follows, so
// a signature runs its step at most once. Otherwise the step is pending
// (or refused, with trust's typed outcome) and its request is written.
//
// # Safety, dependencies, failures
//
// Before a signed rollback apply takes a safety snapshot (or a backup,
// where a snapshot would block the rollback); before a signed destroy or
// restore-over a vzdump with prune-backups=keep-all=1, identified in the
// storage's content and recorded by identity. A failed safety step keeps
// the destructive one from running. A step that does not succeed holds
// back the steps that depend on it; a failure on a guest this transaction
// restored destroys the half-made guest again. Config writes pass the
// observed digest, or the digest read right after this run's own last
// step on the guest unless someone else changed it in between.
//
// # Recovery
//
// Recover settles every call with an intent and no terminal record: a
// recorded UPID is followed; an unrecorded one (a crash, or an error
// answer that may have come after Proxmox acted) is looked for in the
// node's task list (type, guest, the token's user, started no earlier
// than the intent, not another call's) for up to SettleWindow; with no
// task a config write is compared with the live config and anything else
// is aborted. Nothing is posted again. A job whose main call settles ok is
// done. Crashed transactions are then closed, so their provenance no
// longer makes anything benign.
//
// # Journal and audit
//
// Apply writes package journal's records directly. The audit log,
// STATE_DIR/audit.jsonl, gets one fsynced JSON line per gate decision and
// per executed call; a destructive step whose acceptance cannot be audited
// does not run. Before its first append an Audit cuts off a last line a
// crash tore (keeping the bytes in audit.jsonl.torn), so no entry is
// glued onto it; past AuditRotateAt the file is rotated to audit.jsonl.1
// (up to AuditKeep old files).
package apply
