package plan

import (
	"fmt"
	"path/filepath"
	"time"

	"github.com/felhom/felhom-converge/trust"
)

// RequestOptions configure AttachRequests.
type RequestOptions struct {
	// Dir owns the requests directory (trust.RequestDir: what is live,
	// written atomically); with Dir.Nonces, a request whose signature was
	// used is never offered again.
	Dir  *trust.RequestDir
	Host string // the host name a request binds to (the local config's)
	// HostID is the host identity a request binds to: the node's
	// certificate fingerprint (proxmox.Client.HostID).
	HostID string
	TTL    time.Duration // how long a new request stays signable
	Now    time.Time
	// DryRun computes ids and requests without writing or removing files.
	DryRun bool
}

// AttachRequests gives every destructive step its signature request: the
// live request already in the directory for the same binding (host and
// its identity, op, guest, params), or a new one with a fresh nonce. The
// step's id becomes the request's id, and dependencies follow the rename.
// Requests whose action is no longer planned, or that are no longer live,
// are removed with their signatures.
func (p *Plan) AttachRequests(o RequestOptions) error {
	if o.TTL <= 0 {
		o.TTL = 24 * time.Hour
	}
	d := *o.Dir
	d.Now = func() time.Time { return o.Now }
	keep := map[string]bool{}
	renamed := map[string]string{}
	for i := range p.Steps {
		s := &p.Steps[i]
		if !s.Destructive() {
			continue
		}
		action := trust.Action{Host: o.Host, HostID: o.HostID, Op: s.Op, Guest: s.VMID(), Params: s.Params}
		claimed := func(id string) bool { return keep[id] } // two identical steps get two requests
		var req trust.Request
		var err error
		if o.DryRun {
			req, err = dryRequest(&d, action, o.TTL, claimed)
		} else {
			req, _, err = d.Obtain(action, o.TTL, claimed)
		}
		if err != nil {
			return fmt.Errorf("signature request for %s: %w", s.ID, err)
		}
		id := req.ID()
		keep[id] = true
		renamed[s.ID] = id
		s.ID = id
		s.Request = filepath.Join(d.Requests, id+trust.RequestSuffix)
		s.Nonce = req.Nonce
		na := req.NotAfter
		s.NotAfter = &na
	}
	for i := range p.Steps {
		for j, dep := range p.Steps[i].DependsOn {
			if n, ok := renamed[dep]; ok {
				p.Steps[i].DependsOn[j] = n
			}
		}
	}
	if o.DryRun {
		return nil
	}
	existing, _, err := d.Requested()
	if err != nil {
		return err
	}
	for _, r := range existing {
		if !keep[r.ID] {
			if err := d.Remove(r.ID); err != nil {
				return fmt.Errorf("remove stale request: %w", err)
			}
		}
	}
	return nil
}

// dryRequest is the request a step would get, writing nothing.
func dryRequest(d *trust.RequestDir, a trust.Action, ttl time.Duration, skip func(string) bool) (trust.Request, error) {
	if r, _, ok, err := d.Find(a, skip); err == nil && ok {
		return r, nil
	}
	return trust.MakeRequest(a, d.Now().Add(ttl))
}
