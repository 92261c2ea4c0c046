package trust

// How decisions, installs and moves are worded for operators: one line
// each, with every name from a directory or a bundle quoted (QuoteName) or
// escaped, so a file name cannot forge a line.

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/felhom/felhom-converge/humanize"
	"github.com/felhom/felhom-converge/printable"
)

// Describe renders what a decision establishes, or why it refuses.
func (d Decision) Describe() string {
	if !d.Accepted() {
		var b strings.Builder
		b.WriteString(d.Reason)
		// Who signed, once: the reason may name the signer or the key
		// already.
		switch {
		case d.Principal != "" && !strings.Contains(d.Reason, d.Principal):
			fmt.Fprintf(&b, " (signer %s)", d.Principal)
		case d.Principal == "" && d.Fingerprint != "" && !strings.Contains(d.Reason, d.Fingerprint):
			fmt.Fprintf(&b, " (key %s)", d.Fingerprint)
		}
		return b.String()
	}
	r := d.Request
	guest := NoGuest
	if r.Guest != 0 {
		guest = strconv.Itoa(r.Guest)
	}
	return fmt.Sprintf("signer=%s key=%s role=%s host=%s op=%s guest=%s params=%s not-after=%s nonce=unused",
		d.Principal, d.Fingerprint, d.Role, r.Host, r.Op, guest, r.Params, r.NotAfter.Format(time.RFC3339))
}

// Line is one installed request's line: its name, the decision (or
// "skipped") and why, as verify words it.
func (d InstallDecision) Line() string {
	name := QuoteName(d.Name)
	switch {
	case d.Skipped != "":
		return fmt.Sprintf("%s  skipped  %s", name, printable.Escape(d.Skipped))
	case d.Path != "":
		return fmt.Sprintf("%s  %s  installed; %s", name, d.Decision.Outcome, d.Decision.Describe())
	}
	return fmt.Sprintf("%s  %s  %s", name, d.Decision.Outcome, d.Decision.Describe())
}

// Line says where the spent signature went.
func (s SpentSignature) Line() string {
	return fmt.Sprintf("moved the spent signature %s (op %s, guest %s, nonce %s) to %s",
		QuoteName(s.ID+RequestSuffix), s.Op, humanize.GuestText(s.Guest, ""), s.Nonce, s.Path)
}

// SharedNonces are warnings about signed requests that carry the same
// nonce: at most one of them can ever be accepted, since accepting spends
// it.
func SharedNonces(reqs []SignedRequest) []string {
	byNonce := map[string][]string{}
	var nonces []string
	for _, s := range reqs {
		if !s.Signed() || s.Parsed == nil {
			continue
		}
		n := s.Parsed.Nonce
		if byNonce[n] == nil {
			nonces = append(nonces, n)
		}
		byNonce[n] = append(byNonce[n], QuoteName(s.ID+RequestSuffix))
	}
	var out []string
	for _, n := range nonces {
		if ids := byNonce[n]; len(ids) > 1 {
			out = append(out, fmt.Sprintf("%s carry the same nonce %s: at most one of them can ever be accepted", strings.Join(ids, ", "), n))
		}
	}
	return out
}

// WideRoles are warnings about trust-root lines whose namespaces= grant
// both roles (namespaces="*", "felhom-*"): such a key is an operational and
// a recovery key at once.
func (a *AllowedSigners) WideRoles() []string {
	var out []string
	for _, l := range a.Lines {
		if len(l.Roles()) == 2 {
			out = append(out, fmt.Sprintf("%s:%d: namespaces=%q grants %s both roles, %s and %s; name the one it needs",
				a.Name, l.Line, l.Namespaces, l.Principals, RoleOperational, RoleRecovery))
		}
	}
	return out
}

// DirCheck is what 'signatures verify' finds in a directory of signed
// requests: each request previewed against the gate (Verifier.Check, which
// spends nothing), one line each.
type DirCheck struct {
	// Problems are the entries that are no request pair: one whose
	// request is missing (ErrNoRequest) is only worth a warning, the
	// others each fail the check.
	Problems []DirProblem
	Shared   []string // warnings about requests that share a nonce
	Lines    []string // per request: its name, the outcome, and what it establishes or why not
	// Total counts the requests and failing problems, Failed those that
	// do not verify, Replayed those refused for a spent nonce.
	Total, Failed, Replayed int
}

// CheckDir reads dir (ReadSignedDir) and previews each signed request. An
// error of Check ends it with the lines made so far.
func (v *Verifier) CheckDir(host, hostID, dir string) (*DirCheck, error) {
	reqs, problems, err := ReadSignedDir(dir)
	if err != nil {
		return nil, err
	}
	c := &DirCheck{Problems: problems, Shared: SharedNonces(reqs), Total: len(reqs)}
	for _, p := range problems {
		if !errors.Is(p.Err, ErrNoRequest) {
			c.Failed++
			c.Total++
		}
	}
	for _, s := range reqs {
		d, err := v.Check(host, hostID, s.Req, s.Sig)
		if err != nil {
			return c, err
		}
		c.Lines = append(c.Lines, fmt.Sprintf("%s  %s  %s", QuoteName(s.ID), d.Outcome, d.Describe()))
		if !d.Accepted() {
			c.Failed++
		}
		if d.Outcome == Replayed {
			c.Replayed++
		}
	}
	return c, nil
}
