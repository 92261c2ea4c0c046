package plan

import (
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/felhom/felhom-converge/trust"
)

// RequestOptions configure AttachRequests.
type RequestOptions struct {
	Dir  string // where <action-id>.req files live (created 0700)
	Host string // the host name a request binds to (the local config's)
	// HostID is the host identity a request binds to: the node's
	// certificate fingerprint (proxmox.Client.HostID).
	HostID string
	TTL    time.Duration // how long a new request stays signable
	Now    time.Time
	// DryRun computes ids and requests without writing or removing files.
	DryRun bool
	// Spent reports whether a request's nonce was consumed already (a
	// signature of it was accepted); such a request is never offered
	// again. nil: none is.
	Spent func(nonce string) bool
}

// AttachRequests gives every destructive step its signature request: the
// request already in dir for the same binding (host, op, guest, params)
// while it has not expired, or a new one with a fresh nonce. The step's id
// becomes the request's id, and dependencies follow the rename. Requests
// in dir whose action is no longer planned, or that expired, are removed
// with their signatures.
func (p *Plan) AttachRequests(o RequestOptions) error {
	if o.TTL <= 0 {
		o.TTL = 24 * time.Hour
	}
	existing, err := readRequests(o.Dir)
	if err != nil {
		return err
	}
	keep := map[string]bool{}
	renamed := map[string]string{}
	for i := range p.Steps {
		s := &p.Steps[i]
		if !s.Destructive() {
			continue
		}
		action := trust.Action{Host: o.Host, HostID: o.HostID, Op: s.Op, Guest: s.VMID(), Params: s.Params}
		req, ok := findRequest(existing, keep, o.Spent, action, o.Now)
		if !ok {
			nonce, err := trust.NewNonce()
			if err != nil {
				return err
			}
			req, err = trust.NewRequest(action, nonce, o.Now.Add(o.TTL))
			if err != nil {
				return fmt.Errorf("signature request for %s: %w", s.ID, err)
			}
			if !o.DryRun {
				if _, err := trust.WriteRequest(o.Dir, req); err != nil {
					return err
				}
			}
		}
		id := req.ID()
		keep[id] = true
		renamed[s.ID] = id
		s.ID = id
		s.Request = filepath.Join(o.Dir, id+".req")
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
	for id := range existing {
		if !keep[id] {
			for _, f := range []string{id + ".req", id + ".req.sig"} {
				if err := os.Remove(filepath.Join(o.Dir, f)); err != nil && !errors.Is(err, fs.ErrNotExist) {
					return fmt.Errorf("remove stale request: %w", err)
				}
			}
		}
	}
	return nil
}

// findRequest returns the unexpired, unspent request in existing bound to
// action that no other step of this plan has claimed.
func findRequest(existing map[string]trust.Request, claimed map[string]bool, spent func(string) bool, action trust.Action, now time.Time) (trust.Request, bool) {
	ids := slices.Sorted(maps.Keys(existing))
	for _, id := range ids {
		r := existing[id]
		if claimed[id] {
			continue // two identical steps get two requests
		}
		if spent != nil && spent(r.Nonce) {
			continue // its signature was used: the step needs a new one
		}
		if r.Host == action.Host && r.HostID == action.HostID && r.Op == action.Op && r.Guest == action.Guest &&
			string(r.Params) == string(action.Params) && now.Before(r.NotAfter) {
			return r, true
		}
	}
	return trust.Request{}, false
}

// readRequests reads the well-formed requests in dir by id (trust's
// reading of a signatures directory: regular files only, bounded, no
// symbolic links). Anything else in it is left alone.
func readRequests(dir string) (map[string]trust.Request, error) {
	out := map[string]trust.Request{}
	reqs, _, err := trust.ReadSignedDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return out, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read requests: %w", err)
	}
	for _, r := range reqs {
		if r.Parsed != nil && r.Parsed.ID() == r.ID {
			out[r.ID] = *r.Parsed
		}
	}
	return out, nil
}
