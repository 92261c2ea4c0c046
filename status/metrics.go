package status

import (
	"bytes"
	"cmp"
	"fmt"
	"path/filepath"
	"time"

	"github.com/felhom/felhom-converge/atomicfile"
	"github.com/felhom/felhom-converge/hub"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/expfmt"
)

// Metric names of the Prometheus textfile (docs/operating.md: Monitoring).
const (
	MetricLastRun                = "felhom_converge_last_run_timestamp_seconds"
	MetricLastSuccess            = "felhom_converge_last_success_timestamp_seconds"
	MetricLastRunDuration        = "felhom_converge_last_run_duration_seconds"
	MetricSteps                  = "felhom_converge_steps"
	MetricOldestPendingSignature = "felhom_converge_oldest_pending_signature_timestamp_seconds"
	MetricDesiredStateAge        = "felhom_converge_desired_state_age_seconds"
	MetricUnmanagedGuests        = "felhom_converge_unmanaged_guests"
	MetricPullLastSuccess        = "felhom_converge_pull_last_success_timestamp_seconds"
	MetricPullLastAttempt        = "felhom_converge_pull_last_attempt_timestamp_seconds"
	MetricPullLastResult         = "felhom_converge_pull_last_result"
	MetricLastRunUnfinished      = "felhom_converge_last_run_unfinished"
	MetricJournalOpenTxns        = "felhom_converge_journal_open_transactions"
	MetricJournalInFlight        = "felhom_converge_journal_calls_in_flight"
)

// Values of the "file" label of the pull metrics, and the result of a
// pull that succeeded.
const (
	PullFileDesired    = "desired"
	PullFileSignatures = "signatures"
	PullResultOK       = "ok"
	// PullResultInstallFailed: the bundle was fetched, but installing its
	// signatures failed on the host (the nonce store, the directory).
	PullResultInstallFailed = "install_failed"
)

// Step states of MetricSteps.
const (
	StatePendingSignature = "pending_signature"
	StatePendingReboot    = "pending_reboot"
	StateFailed           = "failed"
)

// Registry returns a registry of gauges holding the report's metrics.
// Timestamps are Unix seconds; a timestamp that is unknown (no run, no
// successful run yet) is 0, so "time() - x > N" alerts on a host that
// never succeeded. The oldest pending signature is absent when none
// waits, the desired state's age when no run named an existing desired
// file.
func (r *Report) Registry() *prometheus.Registry {
	reg := prometheus.NewPedanticRegistry()
	gauge := func(name, help string, v float64) {
		g := prometheus.NewGauge(prometheus.GaugeOpts{Name: name, Help: help})
		g.Set(v)
		reg.MustRegister(g)
	}
	unix := func(run *Run, pick func(*Run) float64) float64 {
		if run == nil {
			return 0
		}
		return pick(run)
	}
	run := r.LastRun
	gauge(MetricLastRun, "When the last felhom-converge apply run finished, in Unix seconds (0: none yet).",
		unix(run, func(x *Run) float64 { return seconds(x.Finished.UnixNano()) }))
	gauge(MetricLastSuccess, "When the last apply run that ended ok or pending (only signatures or reboots left) finished, in Unix seconds (0: none yet).",
		unix(run, func(x *Run) float64 {
			if x.LastSuccess.IsZero() {
				return 0
			}
			return seconds(x.LastSuccess.UnixNano())
		}))
	gauge(MetricLastRunDuration, "How long the last apply run took, in seconds.",
		unix(run, func(x *Run) float64 { return x.Duration }))

	steps := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: MetricSteps,
		Help: "Steps of the last apply run that wait for an operator's signature or a guest reboot, or failed."}, []string{"state"})
	var sig, reboot, failed int
	if run != nil {
		sig, reboot, failed = len(run.PendingSignature), len(run.PendingReboot), len(run.Failed)
	}
	steps.WithLabelValues(StatePendingSignature).Set(float64(sig))
	steps.WithLabelValues(StatePendingReboot).Set(float64(reboot))
	steps.WithLabelValues(StateFailed).Set(float64(failed))
	reg.MustRegister(steps)

	if run != nil {
		if t := run.OldestPendingSignature(); !t.IsZero() {
			gauge(MetricOldestPendingSignature, "Since when the longest-waiting step has waited for an operator's signature, in Unix seconds (absent: none waits).",
				seconds(t.UnixNano()))
		}
	}
	if r.Desired != nil && r.Desired.AgeSeconds != nil {
		gauge(MetricDesiredStateAge, "Seconds since the desired state was last known current: the later of the desired file's change and its last successful pull from the hub.",
			*r.Desired.AgeSeconds)
	}
	unmanaged := 0
	if run != nil {
		unmanaged = len(run.Unmanaged)
	}
	gauge(MetricUnmanagedGuests, "Live guests on the host that the desired file does not name (left alone).", float64(unmanaged))
	gauge(MetricLastRunUnfinished, "1 when a run after the last recorded one ended without finishing (killed, or the machine crashed); the next run recovers what it left.",
		boolValue(r.Unfinished != nil))
	gauge(MetricJournalOpenTxns, "Transactions open in the journal: a run in progress, or one that was killed (the next run closes them).",
		float64(r.Journal.OpenTransactions))
	gauge(MetricJournalInFlight, "Calls in the journal whose outcome is not recorded: a run in progress, or one that was killed (the next run settles them).",
		float64(r.Journal.InFlight))
	if r.Desired != nil && r.Desired.Pull != nil {
		registerPull(reg, r.Desired.Pull)
	}
	return reg
}

// registerPull adds the pull metrics: for the desired file and, when
// pulled, the signature bundle, when each pull was last tried and last
// succeeded (0: never) and how the last one ended (one series per result,
// the last one's 1).
func registerPull(reg *prometheus.Registry, st *hub.State) {
	success := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: MetricPullLastSuccess,
		Help: "When the last successful pull from the hub finished (a 304 counts), in Unix seconds (0: none yet)."}, []string{"file"})
	attempt := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: MetricPullLastAttempt,
		Help: "When the last pull from the hub was tried, in Unix seconds."}, []string{"file"})
	result := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: MetricPullLastResult,
		Help: "How the last pull from the hub ended: 1 for its result (ok, or why it kept the last good file), 0 for the others."}, []string{"file", "result"})
	results := []string{PullResultOK}
	for _, rs := range hub.Reasons {
		results = append(results, string(rs))
	}
	set := func(file string, lastSuccess, lastAttempt time.Time, last string, results []string) {
		success.WithLabelValues(file).Set(unixOrZero(lastSuccess))
		attempt.WithLabelValues(file).Set(unixOrZero(lastAttempt))
		for _, rs := range results {
			result.WithLabelValues(file, rs).Set(boolValue(last == rs))
		}
	}
	set(PullFileDesired, st.LastSuccess, st.LastAttempt, cmp.Or(string(st.LastReason), PullResultOK), results)
	if s := st.Signatures; s != nil {
		last := cmp.Or(string(s.LastReason), PullResultOK)
		if s.LastReason == "" && s.LastError != "" {
			last = PullResultInstallFailed
		}
		set(PullFileSignatures, s.LastSuccess, s.LastAttempt, last, append(results, PullResultInstallFailed))
	}
	reg.MustRegister(success, attempt, result)
}

func unixOrZero(t time.Time) float64 {
	if t.IsZero() {
		return 0
	}
	return seconds(t.UnixNano())
}

func boolValue(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// WritePrometheus writes the report's metrics to path in the text format
// of node-exporter's textfile collector, atomically (a temporary file in
// the same directory, synced and renamed over path, mode 0644). Writers
// hold a lock on the directory and first remove the temporary files of a
// writer killed before its rename (atomicfile.Shared), also those of
// earlier versions, which named them PATH followed by digits.
func (r *Report) WritePrometheus(path string) error {
	mfs, err := r.Registry().Gather()
	if err != nil {
		return fmt.Errorf("metrics: %w", err)
	}
	var b bytes.Buffer
	for _, mf := range mfs {
		if _, err := expfmt.MetricFamilyToText(&b, mf); err != nil {
			return fmt.Errorf("metrics: %w", err)
		}
	}
	return atomicfile.Shared(path, b.Bytes(), 0o644, filepath.Base(path)+"[0-9]*")
}

func seconds(nanos int64) float64 { return float64(nanos) / 1e9 }
