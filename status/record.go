package status

import (
	"path/filepath"
	"strings"
	"time"

	"github.com/felhom/felhom-converge/apply"
	"github.com/felhom/felhom-converge/plan"
)

// RecordApply writes the last-run record of an apply run of host that
// began at started, with its plan p, its result res and runErr (as
// FromApply takes them). file is the file the run was given: it names the
// desired file when the run stopped before its plan (a saved plan's own
// path then). The desired file is recorded as an absolute path.
func RecordApply(stateDir, host, file string, started time.Time, p *plan.Plan, res *apply.Result, runErr error) error {
	r := FromApply(p, res, runErr)
	r.Started, r.Finished = started, time.Now()
	r.Host = host
	if r.DesiredFile == "" {
		r.DesiredFile = file
	}
	if r.DesiredFile != "" {
		if abs, err := filepath.Abs(r.DesiredFile); err == nil {
			r.DesiredFile = abs
		}
	}
	return WriteLastRun(stateDir, r)
}

// SettleRecovered records in the last run's record how recovery settled
// the calls rec of its interrupted steps (see SettleInterrupted): a step
// whose calls all ended ok is no longer failed; one whose call did not
// keeps the first such call's result and message.
func SettleRecovered(stateDir string, rec []apply.Recovered) error {
	settled := map[string]string{} // action id → "" (all ok) or why not
	for _, r := range rec {
		step, _, _ := strings.Cut(r.Call, "#")
		if r.Result != apply.ResultOK && settled[step] == "" {
			settled[step] = r.Result + ": " + r.Message
		} else if _, seen := settled[step]; !seen {
			settled[step] = ""
		}
	}
	return SettleInterrupted(stateDir, settled)
}
