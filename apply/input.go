package apply

import (
	"fmt"

	"github.com/felhom/felhom-converge/plan"
	"github.com/felhom/felhom-converge/schema"
)

// Input is what an apply runs: a desired-state file, or a saved plan
// ('apply PLANFILE') with the desired file it names.
type Input struct {
	Desired *schema.Host
	Src     []byte
	File    string     // the desired file
	Saved   *plan.Plan // nil unless a saved plan
}

// SavedPlanReadError is a saved plan that cannot be read: its key, the
// file itself (it may wrap a *plan.SavedPlanError), or the desired file it
// names.
type SavedPlanReadError struct{ Err error }

func (e *SavedPlanReadError) Error() string { return e.Err.Error() }
func (e *SavedPlanReadError) Unwrap() error { return e.Err }

// ReadInput reads file: a saved plan (recognised by its format member,
// authenticated with the plan key of the state directory stateDir gives)
// and the desired file it names, unchanged since; or else a desired-state
// HCL file. load reads and checks a desired file (its caller reports the
// diagnostics). A saved plan's refusal is a *plan.SavedPlanError or a
// *SavedPlanReadError; stateDir's and load's errors (of a desired file
// given as such) are returned as they are.
func ReadInput(file string, stateDir func() (string, error), load func(file string) (*schema.Host, []byte, error)) (*Input, error) {
	data, err := schema.ReadDesiredState(file)
	if err != nil {
		return nil, err
	}
	in := &Input{File: file}
	if plan.IsSaved(file, data) {
		dir, err := stateDir()
		if err != nil {
			return nil, err
		}
		if in.Saved, err = plan.ReadSavedIn(dir, data); err != nil {
			return nil, &SavedPlanReadError{Err: err}
		}
		in.File = in.Saved.DesiredFile
	}
	in.Desired, in.Src, err = load(in.File)
	switch {
	case err != nil && in.Saved != nil:
		return nil, &SavedPlanReadError{Err: fmt.Errorf("saved plan: its desired file: %w", err)}
	case err != nil:
		return nil, err
	case in.Saved != nil:
		if err := in.Saved.CheckDesired(in.Src); err != nil {
			return nil, err
		}
	}
	return in, nil
}

// CheckHost refuses a desired file (a *schema.WrongHostError) or a saved
// plan (a *plan.SavedPlanError) for another host than host.
func (in *Input) CheckHost(host string) error {
	if in.Saved != nil {
		if err := in.Saved.CheckHost(host); err != nil {
			return err
		}
	}
	return in.Desired.CheckHost(host)
}
