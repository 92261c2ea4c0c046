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
// [RolesFor] names the namespaces an op may be signed in. [LoadAllowedSigners] loads the
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
// # Signature bundles
//
// A signature bundle ([Bundle]) carries signature requests, and their signatures once
// signed, between hosts and the operator's workstation as one text file
// that reads well in a Git diff: 'signatures pending' writes one on each
// host, the bundles of many hosts are concatenated, 'signatures sign'
// signs them all at once, and 'signatures install' or 'pull --signatures'
// puts what verifies into each host's signatures directory. [SignBundle]
// is the workstation's end: it shows each request as the request itself
// says it, asks a [Prompter], and has a [Keygen] (the command runs the
// stock ssh-keygen -Y sign) sign the accepted ones.
//
// The format, version 1 ([ParseBundle] reads it, [Bundle.Marshal] writes it;
// docs/reference.md has the same text):
//
//	felhom-converge signatures v1
//
//	--- guest.destroy-110-7285d9fd.req
//	# host:  pve-demo
//	# op:    guest.destroy
//	# guest: 110 (legacy)
//	# loses: destroys the guest and frees every volume it owns
//	# plan:  ! guest.destroy 110 (legacy): destroys guest 110 (legacy) and frees its volume local-lvm:vm-110-disk-0 (host.hcl:7:11)
//	# sign:  -n felhom-operational, before 2026-12-02T15:46:14Z
//	felhom-converge request v2
//	host: pve-demo
//	host-id: 00:6F:4B:9A:47:3D:BD:82:03:BF:5E:DA:A2:AF:4E:5B:3F:1D:00:56:F0:98:6A:7E:59:EA:8D:11:13:D6:89:A1
//	op: guest.destroy
//	guest: 110
//	params: {"purge":true,"snapshots":[],"volumes":["local-lvm:vm-110-disk-0"]}
//	nonce: 3b9f0c3c8c1e4f6a9d2e7b5a1c0d4e8f
//	not-after: 2026-12-02T15:46:14Z
//	-----BEGIN SSH SIGNATURE-----
//	U1NIU0lHAAAAAQAAADMAAAALc3NoLWVkMjU1MTkAAAAg...
//	-----END SSH SIGNATURE-----
//
// Text is UTF-8 with LF line endings (a CR anywhere is refused), at most
// MaxBundleSize bytes and MaxBundleEntries entries. Outside an entry a
// line is empty, a comment (starting with "#"), or the version line
// "felhom-converge signatures v1", which may appear again, so that bundles
// concatenated with cat are a bundle. An entry is:
//
//  1. "--- NAME", where NAME is the request's file name, <id>.req: letters,
//     digits and ._-+@,=: only, not starting with a dot, at most 255 bytes;
//  2. comment lines (starting with "#"): the readable header. It is for
//     people and never trusted: 'signatures sign' shows what it reads from
//     the request itself, and the header only as what the host says;
//  3. the request statement, verbatim: every line up to the first line
//     that is empty, starts with "--- ", is the version line or the
//     signature's BEGIN line, each ending in LF; at least one line, at most MaxRequestSize bytes.
//     (A request statement has no empty line.)
//  4. optionally the signature as ssh-keygen -Y sign writes it: the
//     "-----BEGIN SSH SIGNATURE-----" line through the
//     "-----END SSH SIGNATURE-----" line, at most MaxSignatureSize bytes;
//  5. then an empty line, the next "--- " line, the version line, or the
//     end of the text.
//
// A name may appear twice only with the same request (and signature, when
// both are signed); the copies count once. Entries keep their order.
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
