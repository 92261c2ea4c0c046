package status

import (
	"bytes"

	"github.com/felhom/felhom-converge/atomicfile"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/expfmt"
)

// Metric names of the Prometheus textfile (README: Monitoring).
const (
	MetricLastRun                = "felhom_converge_last_run_timestamp_seconds"
	MetricLastSuccess            = "felhom_converge_last_success_timestamp_seconds"
	MetricLastRunDuration        = "felhom_converge_last_run_duration_seconds"
	MetricSteps                  = "felhom_converge_steps"
	MetricOldestPendingSignature = "felhom_converge_oldest_pending_signature_timestamp_seconds"
	MetricDesiredStateAge        = "felhom_converge_desired_state_age_seconds"
	MetricUnmanagedGuests        = "felhom_converge_unmanaged_guests"
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
	return reg
}

// WritePrometheus writes the report's metrics to path (mode 0644) in the
// text format of node-exporter's textfile collector, atomically and
// durably (package atomicfile, which also removes what an earlier write
// killed before its rename left there, once it is an hour old).
func (r *Report) WritePrometheus(path string) error {
	fams, err := r.Registry().Gather()
	if err != nil {
		return err
	}
	var buf bytes.Buffer
	for _, f := range fams {
		if _, err := expfmt.MetricFamilyToText(&buf, f); err != nil {
			return err
		}
	}
	return atomicfile.WriteFile(path, buf.Bytes(), 0o644)
}

func seconds(nanos int64) float64 { return float64(nanos) / 1e9 }
