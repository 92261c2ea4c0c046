// Package trust decides whether an operator has approved one destructive
// step: it verifies signatures made with stock OpenSSH (ssh-keygen -Y
// sign, the SSHSIG format) over a canonical request statement, against
// the host's own allowed_signers file. It executes nothing.
//
// # Security model
//
// The hub that supplies desired state is not trusted. A destructive step
// runs only when [Verifier.Decide] returns [Accepted] for it, which needs
// all of:
//
//   - a well-formed SSHSIG signature over the exact request bytes, by a key
//     of a supported type (Ed25519, ECDSA P-256/384/521, RSA of at least
//     2048 bits with rsa-sha2-256/512, FIDO sk-ed25519 and sk-ecdsa with
//     user presence, or an OpenSSH user certificate under a
//     cert-authority line);
//   - that key listed in the host's allowed_signers file (never one from the
//     hub), compared by its full wire encoding, for the namespace it signed
//     with. The namespace is the role: [RoleOperational] may approve every
//     op, [RoleRecovery] only signers.rotate. A line without namespaces=
//     grants nothing;
//   - a request statement ([Request]) naming this host and exactly the op,
//     guest and params of the step;
//   - a not-after still in the future by the host clock (with [DefaultSkew]),
//     and the key's valid-after/valid-before window including now;
//   - a nonce never consumed before on this host ([NonceStore]), nor one
//     the store may have pruned while the clock was ahead.
//
// Every refusal is one typed [Outcome] with a reason; see Decide for the
// order of the checks and so which outcome wins when several apply.
//
// # Start here
//
// [NewRequest] and [Request.Marshal] make a request (the op's params
// schema from package ops applies); [ParseRequest] reads one strictly.
// [RequestDir] owns a host's requests/ and signatures/ directories: it
// writes requests, lists the pending ones, drops and moves aside spent
// ones, and installs signed ones; [RequestDir.Live] is the one rule for
// "unexpired and unspent". [ReadSignedDir] reads a directory's <id>.req +
// <id>.req.sig pairs without following links or blocking on FIFOs, and
// [MatchRequests] gives a step its candidate signed requests. [Bundle] is
// the text file that carries requests and signatures between hosts and
// the operator's workstation ([ParseBundle] documents its format), and
// [RoleFor] names the namespace an op is signed in. [LoadAllowedSigners] loads the
// trust root, refusing a file (or directory) others may write.
// [NewVerifier] with [OpenFileNonceStore] makes the gate; [Verifier.Decide]
// decides, [Verifier.Check] previews without a step. [OpenSSHVerify] is the
// plain ssh-keygen -Y verify check, for debugging a refused signature and
// for conformance tests against OpenSSH.
//
// The gate fails closed: a nonce store it cannot read, or whose content is
// damaged ([ErrNonceStoreCorrupt]), is an error from Decide, never an
// acceptance.
//
// # Stricter than ssh-keygen
//
// On purpose, and nowhere looser: SHA-1 "ssh-rsa" signatures, bytes after
// the armour footer or after the signature, SSHSIG version 0, a non-empty
// reserved field, FIDO signatures without user presence, DSA keys, RSA
// keys under 2048 bits (signers and certificate authorities alike), SHA-1
// CA signatures on certificates, and key types x/crypto/ssh cannot verify
// (webauthn-sk-ecdsa signatures, ML-DSA hybrids) are all refused. A
// malformed allowed_signers line makes the whole file an error for the
// gate (ssh-keygen skips the line).
package trust
