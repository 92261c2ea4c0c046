package trust

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/felhom/felhom-converge/ops"
)

// Outcome is the typed result of checking one signed request.
type Outcome string

// The outcomes. Every gate decision is exactly one of them.
const (
	Accepted         Outcome = "accepted"          // verified, bound, fresh, nonce consumed
	PendingSignature Outcome = "pending_signature" // no signature yet
	UnknownSigner    Outcome = "unknown_signer"    // key (or certificate) not in the trust root, or revoked
	BadSignature     Outcome = "bad_signature"     // malformed, unsupported, or does not verify
	WrongNamespace   Outcome = "wrong_namespace"   // not a felhom namespace, or one the key may not sign for
	Expired          Outcome = "expired"           // request not-after passed, or the key's validity excludes now
	Replayed         Outcome = "replayed"          // nonce already consumed
	WrongHost        Outcome = "wrong_host"        // signed for another host
	BindingMismatch  Outcome = "binding_mismatch"  // op, guest or params differ from the step (or the statement is malformed)
	RoleDenied       Outcome = "role_denied"       // the signer's role may not approve this op
)

// The roles, which are the SSHSIG namespaces a key may sign for.
const (
	RoleOperational = "felhom-operational" // every destructive op and planned signers.rotate
	RoleRecovery    = "felhom-recovery"    // signers.rotate only
)

// DefaultSkew is the clock-skew allowance on a request's not-after: a
// request is still accepted up to this long after its not-after by the
// host's clock. Key validity windows get no allowance, as in ssh-keygen.
const DefaultSkew = 5 * time.Minute

// Decision is the verdict on one request and its signature. Only
// Outcome == Accepted allows the step to run.
type Decision struct {
	Outcome     Outcome
	Reason      string    // for people: why, in one line
	Principal   string    // the signer's principal(s), once the key is known
	Fingerprint string    // SHA256 fingerprint of the signer key, once parsed
	Role        string    // the namespace signed for, once the key is allowed for it
	Nonce       string    // from the request, once verified and parsed
	NotAfter    time.Time // from the request, once verified and parsed
	Request     *Request  // the verified request, once parsed
}

// Accepted reports whether the step may run.
func (d Decision) Accepted() bool { return d.Outcome == Accepted }

// Verifier decides on signed requests against the host's trust root.
type Verifier struct {
	Signers *AllowedSigners  // the host's trust root (LoadAllowedSigners)
	Revoked *RevokedKeys     // optional revocation list
	Nonces  NonceStore       // required: without it Decide and Check refuse with an error
	Now     func() time.Time // the host clock; nil means time.Now
	Skew    time.Duration    // allowance after not-after; see DefaultSkew
}

// NewVerifier returns a Verifier with the host clock and DefaultSkew.
func NewVerifier(signers *AllowedSigners, nonces NonceStore) *Verifier {
	return &Verifier{Signers: signers, Nonces: nonces, Now: time.Now, Skew: DefaultSkew}
}

// Decide checks req (the <id>.req bytes) and sig (the <id>.req.sig bytes)
// against step, the action the gate is about to run, and returns one
// decision. An empty sig means PendingSignature.
//
// The checks run in this order, and the first failure is the outcome:
// bounds and armour/blob (bad_signature) → the namespace is a felhom
// role (wrong_namespace) → the key is allowed by the trust root, for that
// namespace, not revoked (unknown_signer, wrong_namespace) → the signature
// over the exact request bytes (bad_signature) → the statement parses
// (binding_mismatch) → host (wrong_host) → op, guest and params
// (binding_mismatch) → the role may approve the op (role_denied) → the
// request's not-after and the key's validity window at the host clock
// (expired) → the nonce (replayed). Nothing from an unverified signature
// or request is believed or reported before the step that checks it.
//
// Consumption happens inside Decide: Accepted is returned only after the
// nonce is durably recorded, atomically with the check that it was
// unused. The gate therefore never needs a second call, two concurrent
// runs cannot both accept one signature, and a crash after Decide but
// before the step runs loses the approval (the operator signs again)
// rather than ever running a step twice.
//
// The error is non-nil only when the nonce store fails or is missing; the
// decision then has no Outcome (and is not Accepted): the gate must refuse
// the step. A Verifier without Now uses the host clock.
func (v *Verifier) Decide(step Action, req, sig []byte) (Decision, error) {
	return v.decide(&step, step.Host, step.HostID, req, sig, true)
}

// Evaluate is Decide without consuming: the decision Decide would reach
// now on the same step (Accepted when the nonce is unused), spending
// nothing. The gate evaluates a signature first, checks the live host,
// and only then lets Decide spend it.
func (v *Verifier) Evaluate(step Action, req, sig []byte) (Decision, error) {
	return v.decide(&step, step.Host, step.HostID, req, sig, false)
}

// Check is Decide without a step and without consuming: it checks the
// signature, the signer and role, that the request is for host (its name
// and, unless hostID is "", its identity), its expiry, and that its nonce
// is unused. It is what an operator can learn before the plan exists
// (signatures verify). Check never returns Accepted for a request that
// Decide would refuse on the same step, except on binding (and on the
// host identity, when hostID is "").
func (v *Verifier) Check(host, hostID string, req, sig []byte) (Decision, error) {
	return v.decide(nil, host, hostID, req, sig, false)
}

func (v *Verifier) decide(step *Action, host, hostID string, reqBytes, sigBytes []byte, consume bool) (Decision, error) {
	var d Decision
	refuse := func(o Outcome, format string, args ...any) (Decision, error) {
		d.Outcome, d.Reason = o, fmt.Sprintf(format, args...)
		return d, nil
	}
	if v.Nonces == nil {
		d.Reason = "no nonce store; refusing"
		return d, errors.New("verifier has no nonce store")
	}
	if len(bytes.TrimSpace(sigBytes)) == 0 {
		return refuse(PendingSignature, "no signature")
	}
	if len(reqBytes) > MaxRequestSize {
		return refuse(BadSignature, "request larger than %d bytes", MaxRequestSize)
	}
	sig, err := ParseSignature(sigBytes)
	if err != nil {
		return refuse(BadSignature, "%v", err)
	}
	d.Fingerprint = Fingerprint(sig.PublicKey)
	if sig.Namespace != RoleOperational && sig.Namespace != RoleRecovery {
		return refuse(WrongNamespace, "signed for namespace %q; sign with -n %s", sig.Namespace, RoleOperational)
	}
	now := time.Now()
	if v.Now != nil {
		now = v.Now()
	}
	if v.Revoked.Revoked(sig.PublicKey) {
		return refuse(UnknownSigner, "key %s is revoked", d.Fingerprint)
	}
	m := v.findLine(sig, now)
	switch m.verdict {
	case lineNoMatch:
		return refuse(UnknownSigner, "key %s is not in %s", d.Fingerprint, v.Signers.Name)
	case lineNamespace:
		d.Principal = m.principals
		return refuse(WrongNamespace, "%s may not sign for %s: %s", m.principals, sig.Namespace, m.reason)
	}
	if err := sig.Verify(sig.Namespace, bytes.NewReader(reqBytes)); err != nil {
		if errors.Is(err, ErrMessageMismatch) {
			return refuse(BadSignature, "the request was changed after it was signed (or the signature was damaged): the signature does not verify its bytes")
		}
		return refuse(BadSignature, "%v", err)
	}
	d.Principal, d.Role = m.principals, sig.Namespace
	req, err := ParseRequest(reqBytes)
	if err != nil {
		return refuse(BindingMismatch, "signed statement is not a valid request: %v", err)
	}
	d.Request, d.Nonce, d.NotAfter = &req, req.Nonce, req.NotAfter
	if req.Host != host {
		return refuse(WrongHost, "request is for host %q, this is %q", req.Host, host)
	}
	if (step != nil || hostID != "") && req.HostID != hostID {
		return refuse(WrongHost, "request is for the host whose certificate is %s, this host's is %s (a host of the same name elsewhere, or its certificate was renewed: plan again)", req.HostID, hostID)
	}
	if step != nil {
		if diff := req.sameBinding(*step); diff != "" {
			return refuse(BindingMismatch, "request does not match the step: %s", diff)
		}
	}
	if !roleAllows(d.Role, req.Op) {
		return refuse(RoleDenied, "role %s may not approve %s (only %s)", d.Role, req.Op, roleOps(d.Role))
	}
	if now.After(req.NotAfter.Add(v.Skew)) {
		return refuse(Expired, "request expired at %s", req.NotAfter.Format(time.RFC3339))
	}
	if m.verdict == lineTime {
		return refuse(Expired, "key not valid now: %s", m.reason)
	}
	if !consume {
		used, why, err := consumedFor(v.Nonces, req.Nonce, req.NotAfter.Add(v.Skew))
		if err != nil {
			d.Reason = "cannot read consumed nonces; refusing"
			return d, fmt.Errorf("check nonce: %w", err)
		}
		if used && why != "" {
			return refuse(Replayed, "nonce %s may have been used: %s", req.Nonce, why)
		}
		if used {
			return refuse(Replayed, "nonce %s was already used", req.Nonce)
		}
		return refuse(Accepted, "valid signature by %s (%s)", d.Principal, d.Role)
	}
	var forgotten *forgottenError
	switch err := v.Nonces.Consume(req.Nonce, req.NotAfter.Add(v.Skew)); {
	case errors.As(err, &forgotten):
		return refuse(Replayed, "nonce %s may have been used: %s", req.Nonce, forgotten.why)
	case errors.Is(err, ErrNonceConsumed):
		return refuse(Replayed, "nonce %s was already used", req.Nonce)
	case err != nil:
		d.Reason = "nonce store failed; refusing"
		return d, fmt.Errorf("consume nonce: %w", err)
	}
	return refuse(Accepted, "signed by %s (%s)", d.Principal, d.Role)
}

// findLine picks the trust-root line for the signer: the first line that
// allows the key for the namespace and is valid now; else the first that
// allows it for the namespace (its validity is reported as expired later);
// else the first that knows the key (wrong namespace).
func (v *Verifier) findLine(sig *Signature, now time.Time) lineMatch {
	best := lineMatch{verdict: lineNoMatch}
	if v.Signers == nil {
		return best
	}
	for i := range v.Signers.Lines {
		l := &v.Signers.Lines[i]
		m := l.match(sig.PublicKey, "", sig.Namespace, now, true)
		if m.verdict == lineOK {
			return m
		}
		if m.verdict > best.verdict {
			best = m
		}
	}
	return best
}

// consumedFor asks the store whether a nonce kept until keepUntil was
// (or may have been) consumed; stores that cannot tell "may have been"
// answer Consumed.
func consumedFor(s NonceStore, nonce string, keepUntil time.Time) (bool, string, error) {
	if fs, ok := s.(*FileNonceStore); ok {
		return fs.consumedFor(nonce, keepUntil)
	}
	used, err := s.Consumed(nonce)
	return used, "", err
}

// RolesFor says the namespaces a request for op may be signed in
// (ssh-keygen -Y sign -n): RoleOperational, which may approve every op, and
// for signers.rotate also RoleRecovery.
func RolesFor(op string) string {
	if roleAllows(RoleRecovery, op) {
		return RoleOperational + " (or " + RoleRecovery + " with a recovery key)"
	}
	return RoleOperational
}

func roleAllows(role, op string) bool {
	switch role {
	case RoleOperational:
		return ops.Known(op)
	case RoleRecovery:
		return op == ops.SignersRotate
	}
	return false
}

func roleOps(role string) string {
	if role == RoleRecovery {
		return ops.SignersRotate
	}
	return strings.Join(ops.Names(), ", ")
}
