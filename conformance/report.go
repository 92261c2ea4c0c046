package conformance

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"
)

// Results of a check.
const (
	Pass     = "pass"     // the host did what Proxmox's source says
	Diverged = "diverged" // it did something else
	Skipped  = "skipped"  // the check could not run (it says why)
)

// Check is one behaviour of Proxmox as the run found it.
type Check struct {
	Name     string `json:"name"`
	Expected string `json:"expected"`
	Source   string `json:"source"` // the Proxmox source the expectation follows
	Actual   string `json:"actual"`
	Result   string `json:"result"`
}

// Report is the outcome of a run, as the JSON report shows it.
type Report struct {
	FormatVersion string    `json:"format_version"`
	Time          time.Time `json:"time"`
	Node          string    `json:"node"`
	PVE           struct {
		Version   string `json:"version"`
		Release   string `json:"release"`
		RepoID    string `json:"repoid"`
		Supported bool   `json:"supported"`
		// Support says whether the release is supported and which
		// releases the expectations were checked against.
		Support string `json:"support"`
		// Expects is the release whose behaviour the checks expect: the
		// checked release of the host's major version (9.1 for a newer
		// one, 8.4 for an older one).
		Expects string `json:"expects"`
	} `json:"pve"`
	VMID int    `json:"vmid"`
	From string `json:"from"` // the archive or template the guest was made from
	// Storages are the storages the run used, by ID: their type and role.
	Storages []StorageUse `json:"storages"`
	Checks   []Check      `json:"checks"`
	Diverged []string     `json:"diverged"` // names of the checks that diverged
	// Earlier is what a run that did not finish had left, removed before
	// this one began. Cleanup says what this run removed; Leftovers what
	// it could not.
	Earlier   []string `json:"earlier_run_removed,omitempty"`
	Cleanup   []string `json:"cleanup"`
	Leftovers []string `json:"leftovers"`
	// Interrupted is set when the run was interrupted: the checks not run
	// are skipped, and the cleanup ran all the same.
	Interrupted bool `json:"interrupted,omitempty"`
	Passed      bool `json:"passed"`
}

// StorageUse is a storage the run used.
type StorageUse struct {
	Storage string `json:"storage"`
	Type    string `json:"type"`
	Role    string `json:"role"` // "guest volumes", "backups", "template" or "source archive"
}

// counts returns how many checks passed, diverged and were skipped.
func (r *Report) counts() (pass, diverged, skipped int) {
	for _, c := range r.Checks {
		switch c.Result {
		case Pass:
			pass++
		case Diverged:
			diverged++
		default:
			skipped++
		}
	}
	return pass, diverged, skipped
}

// finish settles the summary fields.
func (r *Report) finish() {
	r.Diverged = []string{}
	for _, c := range r.Checks {
		if c.Result == Diverged {
			r.Diverged = append(r.Diverged, c.Name)
		}
	}
	if r.Cleanup == nil {
		r.Cleanup = []string{}
	}
	if r.Leftovers == nil {
		r.Leftovers = []string{}
	}
	r.Passed = len(r.Diverged) == 0 && len(r.Leftovers) == 0 && !r.Interrupted
}

// WriteJSON writes the report as one indented JSON document.
func (r *Report) WriteJSON(w io.Writer) error {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(w, "%s\n", b)
	return err
}

// WriteHeader writes the line that opens the text table.
func (r *Report) WriteHeader(w io.Writer) {
	var uses []string
	for _, s := range r.Storages {
		uses = append(uses, fmt.Sprintf("%s %s (%s)", s.Role, s.Storage, s.Type))
	}
	fmt.Fprintf(w, "felhom-converge selftest --conformance: guest %d on node %s, Proxmox VE %s, from %s; %s\n",
		r.VMID, r.Node, r.PVE.Version, r.From, strings.Join(uses, ", "))
	if !r.PVE.Supported {
		fmt.Fprintf(w, "warning: %s; the checks expect what Proxmox VE %s does\n", r.PVE.Support, r.PVE.Expects)
	}
	if len(r.Earlier) > 0 {
		fmt.Fprintf(w, "removed what an earlier run that did not finish left: %s\n", strings.Join(r.Earlier, ", "))
	}
}

// nameWidth is the width of the table's name column: the longest name.
const nameWidth = 28

// WriteCheck writes one row of the text table: the result, the name and
// what the host did, and for a divergence what was expected and from where.
func WriteCheck(w io.Writer, c Check) {
	shown := map[string]string{Pass: "pass", Diverged: "DIVERGED", Skipped: "skip"}[c.Result]
	fmt.Fprintf(w, "  %-8s  %-*s %s\n", shown, nameWidth, c.Name, c.Actual)
	if c.Result == Diverged {
		fmt.Fprintf(w, "  %-8s  %-*s expected: %s (%s)\n", "", nameWidth, "", c.Expected, c.Source)
	}
}

// WriteSummary writes what the cleanup did and the closing line, which
// names every check that diverged.
func (r *Report) WriteSummary(w io.Writer) {
	for _, l := range r.Leftovers {
		fmt.Fprintf(w, "LEFT ON THE HOST: %s\n", l)
	}
	pass, diverged, skipped := r.counts()
	line := fmt.Sprintf("%d checks: %d passed, %d diverged, %d skipped", len(r.Checks), pass, diverged, skipped)
	switch {
	case r.Interrupted:
		line += "; interrupted"
	case diverged > 0:
		line += " (" + strings.Join(r.Diverged, ", ") + ")"
	}
	if r.Passed {
		line += ": this host behaves as felhom-converge expects"
	}
	fmt.Fprintln(w, line)
}
