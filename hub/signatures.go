package hub

import (
	"context"
	"fmt"
	"time"

	"github.com/felhom/felhom-converge/trust"
)

// SignaturesResult says what PullSignatures did.
type SignaturesResult struct {
	// Outcome is Updated when a new bundle was handed to install,
	// NotModified after a 304, Unchanged when the hub sent the bundle
	// handled last time again.
	Outcome Outcome
	Entries int // the new bundle's entries (Updated only)
}

// PullSignatures fetches the signature bundle at o.URL, with the same TLS
// trust, token, timeout, size bound (trust.MaxBundleSize) and
// completeness checks as the desired file, and hands a new one, parsed,
// to install. Its ETag and history are kept in dest's pull state
// (State.Signatures): an unchanged bundle costs a 304. A bundle that does
// not parse is a *FetchError (Invalid) and install is not called. An
// error from install is returned as it is, recorded, and the bundle is
// not taken as handled, so the next pull fetches it whole again.
func PullSignatures(ctx context.Context, o Options, dest string, install func(*trust.Bundle) error) (SignaturesResult, error) {
	c, err := prepare(o)
	if err != nil {
		return SignaturesResult{}, err
	}
	st, _, _, err := readLocal(dest)
	if err != nil {
		return SignaturesResult{}, err
	}
	sub := SourceState{URL: c.shown(c.url)}
	if st.Signatures != nil && st.Signatures.URL == sub.URL {
		sub = *st.Signatures
	}
	now := time.Now().UTC()
	sub.LastAttempt = now
	res, err := c.handleBundle(ctx, &sub, install)
	if err != nil {
		sub.LastError, sub.LastReason = c.clean(err.Error()), ""
		if fe, ok := err.(*FetchError); ok {
			sub.LastError, sub.LastReason = fe.Msg, fe.Reason
		}
	} else {
		sub.LastSuccess, sub.LastError, sub.LastReason = now, "", ""
	}
	st.Signatures = &sub
	if werr := writeState(dest, st); werr != nil {
		if err != nil {
			return SignaturesResult{}, fmt.Errorf("%w (and recording it failed: %v)", err, werr)
		}
		return SignaturesResult{}, fmt.Errorf("pull: %w", werr)
	}
	return res, err
}

// handleBundle fetches the bundle (sending sub's ETag) and installs a new
// one, updating sub's ETag and checksum once it was handled.
func (c *client) handleBundle(ctx context.Context, sub *SourceState, install func(*trust.Bundle) error) (SignaturesResult, error) {
	a, ferr := c.get(ctx, c.url, sub.ETag, trust.MaxBundleSize, "bundle")
	if ferr != nil {
		return SignaturesResult{}, ferr
	}
	if a.notModified {
		return SignaturesResult{Outcome: NotModified}, nil
	}
	sum := sha256Hex(a.body)
	if sum == sub.SHA256 {
		sub.ETag = a.etag
		return SignaturesResult{Outcome: Unchanged}, nil
	}
	b, err := trust.ParseBundle(a.body, diagName(c.url.Path))
	if err != nil {
		return SignaturesResult{}, c.fail(c.url, Invalid, err, "not a signature bundle: %v", err)
	}
	if err := install(b); err != nil {
		return SignaturesResult{}, err
	}
	sub.ETag, sub.SHA256 = a.etag, sum
	return SignaturesResult{Outcome: Updated, Entries: len(b.Entries)}, nil
}
