package plan

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
)

// The checks of a saved plan before an apply runs it, each refusal a
// *SavedPlanError.

// ReadSavedIn authenticates data, a saved plan (IsSaved), with the plan
// key of the state directory stateDir.
func ReadSavedIn(stateDir string, data []byte) (*Plan, error) {
	key, err := PlanKey(stateDir, false)
	if err != nil {
		return nil, fmt.Errorf("saved plan: %w", err)
	}
	return ReadSaved(data, key)
}

// CheckDesired refuses a saved plan whose desired file (src, its bytes
// now) changed since the plan was made.
func (p *Plan) CheckDesired(src []byte) error {
	sum := sha256.Sum256(src)
	if p.DesiredDigest != hex.EncodeToString(sum[:]) {
		return &SavedPlanError{Msg: fmt.Sprintf("the desired file %s changed since the plan was made", p.DesiredFile)}
	}
	return nil
}

// CheckHost refuses a saved plan made for another host.
func (p *Plan) CheckHost(host string) error {
	if p.Host != host {
		return &SavedPlanError{Msg: fmt.Sprintf("it is for host %q, this is %q", p.Host, host)}
	}
	return nil
}
