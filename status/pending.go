package status

import (
	"time"

	"github.com/felhom/felhom-converge/humanize"
	"github.com/felhom/felhom-converge/printable"
	"github.com/felhom/felhom-converge/trust"
)

// PendingBundle is every request waiting for a signature in the state
// directory stateDir, as a bundle for 'signatures pending': each entry
// with a readable header (host, op, guest, what it loses, and the plan's
// line for it from the last run's record, when that run planned the
// step). A request is pending while it is unexpired and its nonce
// unspent in nonces. problems are the directory's entries that are not
// requests.
func PendingBundle(stateDir string, nonces trust.NonceStore) (*trust.Bundle, []trust.DirProblem, error) {
	reqs, problems, err := trust.NewRequestDir(stateDir, nonces).Pending()
	if err != nil {
		return nil, nil, err
	}
	var planned []PendingSignature
	if last, err := ReadLastRun(stateDir); err == nil && last != nil {
		planned = last.PendingSignature
	}
	b := &trust.Bundle{}
	for _, r := range reqs {
		b.Entries = append(b.Entries, trust.BundleEntry{
			Name:   r.ID + trust.RequestSuffix,
			Header: pendingHeader(*r.Parsed, findPlanned(planned, r)),
			Req:    r.Req,
		})
	}
	return b, problems, nil
}

// findPlanned is the last run's record of the step r waits for: by the
// request's file, else by its binding.
func findPlanned(planned []PendingSignature, r trust.SignedRequest) *PendingSignature {
	for i, ps := range planned {
		if ps.ID == r.ID || ps.Request == r.Path {
			return &planned[i]
		}
	}
	for i, ps := range planned {
		if ps.Op == r.Parsed.Op && ps.Guest == r.Parsed.Guest && string(ps.Params) == string(r.Parsed.Params) {
			return &planned[i]
		}
	}
	return nil
}

// pendingHeader is the readable header of one request in a bundle.
func pendingHeader(r trust.Request, ps *PendingSignature) []string {
	guest := humanize.GuestText(r.Guest, "")
	if ps != nil {
		guest = humanize.GuestText(r.Guest, ps.GuestName)
	}
	plan := "(not in the last apply's plan)"
	if ps != nil {
		plan = "! " + r.Op + humanize.GuestLabel(r.Guest, ps.GuestName)
		if ps.Reason != "" {
			plan += ": " + ps.Reason
		}
		if ps.Source != "" {
			plan += " (" + ps.Source + ")"
		}
	}
	return []string{
		"host:  " + r.Host,
		"op:    " + r.Op,
		"guest: " + guest,
		"loses: " + printable.Escape(trust.LossOf(r.Op, r.Params)),
		"plan:  " + plan,
		"sign:  -n " + trust.RolesFor(r.Op) + ", before " + r.NotAfter.UTC().Format(time.RFC3339),
	}
}
