package apply

import (
	"fmt"

	"github.com/felhom/felhom-converge/plan"
)

// A saved plan ('apply PLANFILE') narrows what a session runs, never
// widens it: each refusal is a *plan.SavedPlanError.

// CheckSaved refuses a saved plan this host applied already (a
// transaction of the journal ran it).
func (s *Session) CheckSaved(saved *plan.Plan) error {
	id := PlanID(saved)
	for _, t := range s.Journal.Transactions() {
		if t.Begin.PlanID == id {
			return &plan.SavedPlanError{Msg: fmt.Sprintf("it was applied already (transaction %s)", t.Begin.Txn)}
		}
	}
	return nil
}

// Narrow keeps of fresh, a plan made now, only the steps of saved that it
// has identically, and records saved's id for the session's run. dropped
// are the saved steps fresh lacks: they do not run; a saved plan none of
// whose steps is in fresh is refused.
func (s *Session) Narrow(saved, fresh *plan.Plan) (narrowed *plan.Plan, dropped []string, err error) {
	narrowed, dropped, err = saved.Narrow(fresh)
	if err != nil {
		return nil, nil, err
	}
	if len(narrowed.Steps) == 0 && len(dropped) > 0 {
		return nil, dropped, &plan.SavedPlanError{Msg: "none of its steps is in a fresh plan of the host"}
	}
	s.opts.PlanID = PlanID(saved)
	return narrowed, dropped, nil
}
