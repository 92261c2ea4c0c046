package trust

import "fmt"

// InstallDecision is what InstallBundle did with one entry of a bundle.
type InstallDecision struct {
	Name string // the entry's <id>.req
	// Skipped says why the entry was not decided: it is not signed, or
	// its request names another host (a fleet's bundle carries every
	// host's requests). "" when it was decided.
	Skipped string
	// Decision is Verifier.Check's verdict, exactly what 'signatures
	// verify' says about the pair; only Accepted ones are installed.
	Decision Decision
	Path     string // where it was installed; "" when it was not
}

// Refused reports whether the entry was decided and not accepted.
func (d InstallDecision) Refused() bool { return d.Skipped == "" && !d.Decision.Accepted() }

// InstallBundle decides every signed entry of b for this host as
// Verifier.Check does (nothing is spent: the gate decides again when the
// step comes), then installs the accepted ones into Signatures
// (RequestDir.Install). Every entry is decided before anything is
// written, so an error from the nonce store installs nothing. An entry
// without a signature, or whose request parses and names another host,
// is skipped rather than refused; one whose name is not its request's
// (Request.ID) is refused.
func (d *RequestDir) InstallBundle(v *Verifier, host, hostID string, b *Bundle) ([]InstallDecision, error) {
	out := make([]InstallDecision, len(b.Entries))
	for i, e := range b.Entries {
		out[i].Name = e.Name
		if !e.Signed() {
			out[i].Skipped = "not signed"
			continue
		}
		if r, err := ParseRequest(e.Req); err == nil && r.Host != host {
			out[i].Skipped = "for host " + r.Host
			continue
		}
		dec, err := v.Check(host, hostID, e.Req, e.Sig)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", QuoteName(e.Name), err)
		}
		if dec.Accepted() && e.Name != dec.Request.ID()+RequestSuffix {
			// Under another name it could displace the request installed
			// there, and that request's signature.
			dec = Decision{Outcome: BindingMismatch, Reason: fmt.Sprintf("the entry's name is not its request's (%s%s)", dec.Request.ID(), RequestSuffix)}
		}
		out[i].Decision = dec
	}
	for i, e := range b.Entries {
		if out[i].Skipped != "" || !out[i].Decision.Accepted() {
			continue
		}
		path, err := d.Install(e.Name, e.Req, e.Sig)
		if err != nil {
			return out, err
		}
		out[i].Path = path
	}
	return out, nil
}

// Tally counts decisions: installed, refused, and skipped (the rest).
func Tally(decisions []InstallDecision) (installed, refused, skipped int) {
	for _, d := range decisions {
		switch {
		case d.Path != "":
			installed++
		case d.Refused():
			refused++
		default:
			skipped++
		}
	}
	return installed, refused, skipped
}
