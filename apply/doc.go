// Package apply runs a plan: the signature gate, the executor, crash
// recovery and the audit log. It never parses HCL.
//
// # One run
//
// The caller (the apply command) holds the state directory's lock and
// calls Recover, then plans, then Run. Run opens a transaction in the
// journal and takes the plan's steps in order:
//
//	gate decision (audited) → intent (fsynced) → API call → UPID (fsynced)
//	→ WaitTask → terminal record
//
// A step whose change needs several API calls (a safety backup before a
// destroy, a stop before a restore-over, a start after a rollback) makes
// each call under its own journal key, the call id: the step's action id,
// or the action id with a suffix ("#safety-backup", "#safety", "#stop",
// "#start", "#backup", "#rollback"). Recovery therefore always deals with
// exactly one API call per record.
//
// # The gate
//
// A step's class is the op's (ops.ClassOf), never weaker than the plan
// says, so a saved plan file cannot make a destructive op benign. Benign
// steps run unsigned. A destructive step runs when the journal proves the
// data is the tool's own (a guest restored in a transaction still open, a
// safety snapshot the tool took), or when trust.Verifier.Decide accepts a
// signed request from the signatures directory offered to it by
// trust.MatchRequests (by file name or by binding). Decide spends the
// nonce durably before it returns, and the intent follows, so a signature
// runs its step at most once. Otherwise the step is pending (or refused,
// with trust's typed outcome) and its request is written.
//
// # Safety, dependencies, failures
//
// Before a signed rollback apply takes a safety snapshot; before a signed
// destroy, volume free or restore-over a vzdump with
// prune-backups=keep-all=1. A failed safety step keeps the destructive one
// from running. A step that does not succeed holds back the steps that
// depend on it; a failure on a guest this transaction restored destroys
// the half-made guest again. Config writes pass the observed digest, or
// the digest read right after this run's own last step on the guest
// unless someone else changed it in between.
//
// # Recovery
//
// Recover settles every call with an intent and no terminal record: a
// recorded UPID is followed; an unrecorded one is found in the node's
// task list (type, guest, the token's user, started no earlier than the
// intent, not another call's); with no task a config write is compared
// with the live config and anything else is aborted. Nothing is posted
// again. Crashed transactions are then closed, so their provenance no
// longer makes anything benign.
//
// # Journal and audit
//
// Journal is what apply needs of package journal (FromJournal adapts it;
// tests may use their own). The audit log, STATE_DIR/audit.jsonl, gets one
// fsynced JSON line per gate decision and per executed call; a destructive
// step whose acceptance cannot be audited does not run.
package apply
