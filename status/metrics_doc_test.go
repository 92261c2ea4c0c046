package status

import (
	"os"
	"regexp"
	"slices"
	"testing"
)

// The metrics table of docs/operating.md names every metric the textfile
// holds, and no other.
func TestMetricsDocumented(t *testing.T) {
	b, err := os.ReadFile("../docs/operating.md")
	if err != nil {
		t.Fatal(err)
	}
	names := []string{MetricLastRun, MetricLastSuccess, MetricLastRunDuration, MetricSteps,
		MetricOldestPendingSignature, MetricDesiredStateAge, MetricUnmanagedGuests,
		MetricPullLastSuccess, MetricPullLastAttempt, MetricPullLastResult,
		MetricLastRunUnfinished, MetricJournalOpenTxns, MetricJournalInFlight}
	var documented []string
	for _, m := range regexp.MustCompile(`(?m)^\| (.*?) \| .* \|$`).FindAllStringSubmatch(string(b), -1) {
		for _, n := range regexp.MustCompile("`(felhom_converge_[a-z_]+)").FindAllStringSubmatch(m[1], -1) {
			documented = append(documented, n[1])
		}
	}
	for _, n := range names {
		if !slices.Contains(documented, n) {
			t.Errorf("docs/operating.md's metrics table does not list %s", n)
		}
	}
	for _, n := range documented {
		if !slices.Contains(names, n) {
			t.Errorf("docs/operating.md's metrics table lists %s, which is not a metric", n)
		}
	}
}
