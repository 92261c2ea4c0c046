package hub

import (
	"context"
	"errors"
	"fmt"

	"github.com/felhom/felhom-converge/trust"
)

// InstallPulled fetches the signature bundle at o.URL (PullSignatures)
// and installs into d what v accepts for host, as 'signatures install'
// does (trust.RequestDir.InstallReported, which first moves spent
// signatures out). Each installed request is a line on r.Out. A refused
// request is a warning, except one whose signature was used already or
// expired: a bundle kept in Git holds those, so they are only counted.
// It returns the pull's summary line; a failure to move the spent
// signatures out is a *trust.SweepError.
func InstallPulled(ctx context.Context, o Options, dest string, d *trust.RequestDir, v *trust.Verifier, host, hostID string, r trust.Report) (string, error) {
	var decisions []trust.InstallDecision
	res, err := PullSignatures(ctx, o, dest, func(b *trust.Bundle) error {
		var err error
		decisions, err = d.InstallReported(v, host, hostID, b, r.Out)
		if err != nil {
			if errors.As(err, new(*trust.SweepError)) {
				return err
			}
			return fmt.Errorf("install the signatures: %w", err)
		}
		for _, dec := range decisions {
			switch o := dec.Decision.Outcome; {
			case dec.Path != "":
				fmt.Fprintf(r.Out, "pull: %s\n", dec.Line())
			case dec.Refused() && o != trust.Replayed && o != trust.Expired:
				r.Warn("signatures: " + dec.Line())
			}
		}
		return nil
	})
	if err != nil {
		return "", err
	}
	return res.Line(trust.Tally(decisions)), nil
}
