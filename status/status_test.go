package status

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/felhom/felhom-converge/apply"
	"github.com/felhom/felhom-converge/hub"
	"github.com/felhom/felhom-converge/journal"
	"github.com/felhom/felhom-converge/plan"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

var t0 = time.Date(2026, 12, 1, 15, 0, 0, 0, time.UTC)

func intp(v int) *int { return &v }

// pendingRun is a plan and result with one step done, one destroy pending
// a signature, one outstanding reboot and one unmanaged guest.
func pendingRun() (*plan.Plan, *apply.Result) {
	na := t0.Add(24 * time.Hour)
	p := &plan.Plan{
		Host: "pve-demo", DesiredFile: "/srv/host.hcl",
		Steps: []plan.Step{
			{ID: "set-100", Op: "guest.set", Guest: intp(100), GuestName: "web"},
			{ID: "guest.destroy-110-1a2b3c4d", Op: "guest.destroy", Guest: intp(110), GuestName: "legacy",
				Params: json.RawMessage(`{"purge":true}`), NotAfter: &na},
		},
		Unmanaged:   []int{120},
		Outstanding: []plan.Outstanding{{Guest: 100, Keys: []string{"memory"}, Reboot: "reboot_after_update is false"}},
	}
	res := &apply.Result{Txn: "txn-1", Outstanding: 1, Steps: []apply.StepResult{
		{ID: "set-100", Op: "guest.set", Guest: 100, Outcome: apply.OutcomeDone},
		{ID: "guest.destroy-110-1a2b3c4d", Op: "guest.destroy", Guest: 110, Outcome: apply.OutcomePending, Request: "/nonexistent/x.req"},
	}}
	return p, res
}

func write(t *testing.T, dir string, r Run, start time.Time, d time.Duration) *Run {
	t.Helper()
	r.Started, r.Finished = start, start.Add(d)
	if err := WriteLastRun(dir, r); err != nil {
		t.Fatal(err)
	}
	got, err := ReadLastRun(dir)
	if err != nil || got == nil {
		t.Fatalf("ReadLastRun: %v, %v", got, err)
	}
	return got
}

func TestFromApplyResults(t *testing.T) {
	p, res := pendingRun()
	r := FromApply(p, res, nil)
	if r.Result != ResultPending || !r.Planned || r.Done != 1 || r.Txn != "txn-1" || r.Host != "pve-demo" {
		t.Fatalf("pending run: %+v", r)
	}
	if len(r.PendingSignature) != 1 || r.PendingSignature[0].GuestName != "legacy" || string(r.PendingSignature[0].Params) != `{"purge":true}` ||
		!r.PendingSignature[0].NotAfter.Equal(t0.Add(24*time.Hour)) {
		t.Fatalf("pending signature: %+v", r.PendingSignature)
	}
	if len(r.PendingReboot) != 1 || r.PendingReboot[0].Guest != 100 || len(r.Unmanaged) != 1 {
		t.Fatalf("reboot/unmanaged: %+v", r)
	}

	// A planned reboot that ran leaves nothing waiting for a reboot.
	p.Outstanding[0].Reboot = "planned"
	res.Steps = append(res.Steps, apply.StepResult{ID: "reboot-100", Op: "guest.reboot", Guest: 100, Outcome: apply.OutcomeDone})
	if r := FromApply(p, res, nil); len(r.PendingReboot) != 0 || r.Done != 2 {
		t.Fatalf("rebooted: %+v", r)
	}
	res.Steps[2].Outcome = apply.OutcomeSkipped
	if r := FromApply(p, res, nil); len(r.PendingReboot) != 1 || r.Skipped != 1 {
		t.Fatalf("reboot skipped: %+v", r)
	}
	res.Steps = res.Steps[:2]

	res.Steps[0].Outcome, res.Steps[0].Message = apply.OutcomeFailed, "task failed: boom"
	if r := FromApply(p, res, nil); r.Result != ResultFailed || len(r.Failed) != 1 || r.Failed[0].Error != "task failed: boom" || r.Failed[0].GuestName != "web" {
		t.Fatalf("failed run: %+v", r)
	}
	res.Steps[0].Outcome = apply.OutcomeDone
	p.Errors = []plan.Error{{Guest: intp(130), Message: "guest 130 is locked"}}
	if r := FromApply(p, res, nil); r.Result != ResultFailed || r.Failed[0].Outcome != OutcomePlanError || r.Failed[0].Guest != 130 {
		t.Fatalf("plan error: %+v", r)
	}
	p.Errors = nil
	res.Steps, res.Outstanding, p.Outstanding = res.Steps[:1], 0, nil
	if r := FromApply(p, res, nil); r.Result != ResultOK {
		t.Fatalf("converged run: %+v", r)
	}
	// A plan made again after the run's rollback still has a step: pending.
	res.Remaining = []apply.StepResult{{ID: "guest.set-100-b", Op: "guest.set", Guest: 100, GuestName: "web", Outcome: apply.OutcomeRemaining}}
	if r := FromApply(p, res, nil); r.Result != ResultPending || len(r.Remaining) != 1 || r.Remaining[0].GuestName != "web" {
		t.Fatalf("remaining: %+v", r)
	}
	res.Remaining = nil
	if r := FromApply(p, res, errors.New("journal: disk full")); r.Result != ResultError || r.Error != "journal: disk full" || !r.Planned {
		t.Fatalf("run error: %+v", r)
	}
	if r := FromApply(nil, nil, errors.New("connection refused")); r.Result != ResultError || r.Planned || r.Error != "connection refused" {
		t.Fatalf("early error: %+v", r)
	}
}

func TestWriteLastRunCarriesOver(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state")
	if r, err := ReadLastRun(dir); r != nil || err != nil {
		t.Fatalf("no state dir: %v, %v", r, err)
	}
	p, res := pendingRun()

	first := write(t, dir, FromApply(p, res, nil), t0, 2*time.Second)
	if first.Duration != 2 || !first.LastSuccess.Equal(t0.Add(2*time.Second)) || !first.PendingSignature[0].Since.Equal(t0) || !first.StepsAsOf.Equal(t0) {
		t.Fatalf("first run: %+v", first)
	}
	fi, err := os.Stat(filepath.Join(dir, LastRunFile))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("last-run.json mode: %v %v", fi, err)
	}

	// An hour later the destroy still waits (with a new request id, the
	// old one expired): since carries over by binding.
	res.Steps[1].ID = "guest.destroy-110-99999999"
	p.Steps[1].ID = res.Steps[1].ID
	second := write(t, dir, FromApply(p, res, nil), t0.Add(time.Hour), time.Second)
	if !second.PendingSignature[0].Since.Equal(t0) || !second.LastSuccess.Equal(t0.Add(time.Hour+time.Second)) {
		t.Fatalf("second run: %+v", second.PendingSignature)
	}
	if got := second.OldestPendingSignature(); !got.Equal(t0) {
		t.Fatalf("oldest pending: %v", got)
	}

	// The API is down: an error run keeps the last success and the step
	// lists of the run that planned.
	third := write(t, dir, FromApply(nil, nil, errors.New("dial tcp 127.0.0.1:8006: connection refused")), t0.Add(2*time.Hour), time.Second)
	if third.Result != ResultError || !third.LastSuccess.Equal(second.LastSuccess) || len(third.PendingSignature) != 1 ||
		!third.PendingSignature[0].Since.Equal(t0) || !third.StepsAsOf.Equal(t0.Add(time.Hour)) || len(third.Unmanaged) != 1 {
		t.Fatalf("error run: %+v", third)
	}

	// A failed run that planned replaces the lists; the binding changed
	// (other params), so since starts again.
	p.Steps[1].Params = json.RawMessage(`{"purge":false}`)
	res.Steps[0].Outcome = apply.OutcomeFailed
	fourth := write(t, dir, FromApply(p, res, nil), t0.Add(3*time.Hour), time.Second)
	if fourth.Result != ResultFailed || !fourth.LastSuccess.Equal(second.LastSuccess) || !fourth.PendingSignature[0].Since.Equal(t0.Add(3*time.Hour)) {
		t.Fatalf("failed run: %+v", fourth)
	}

	// A damaged record is reported by Read and replaced by the next write.
	if err := os.WriteFile(filepath.Join(dir, LastRunFile), []byte("{not json"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadLastRun(dir); err == nil {
		t.Fatal("a damaged last-run.json read without error")
	}
	rep, err := Read(dir, t0)
	if err != nil || rep.LastRun != nil || rep.LastRunError == "" {
		t.Fatalf("Read of a damaged record: %+v, %v", rep, err)
	}
	write(t, dir, FromApply(p, res, nil), t0.Add(4*time.Hour), time.Second)
}

func TestWriteLastRunRefusesUnsafeDir(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state")
	if err := os.Mkdir(dir, 0o777); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o777); err != nil {
		t.Fatal(err)
	}
	err := WriteLastRun(dir, Run{Result: ResultOK})
	if !errors.Is(err, journal.ErrUnsafe) {
		t.Fatalf("world-writable state dir: %v", err)
	}
}

// appendJournal writes a transaction into dir's journal through package
// journal.
func appendJournal(t *testing.T, dir string) {
	t.Helper()
	sd, err := journal.OpenStateDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	l, err := sd.Lock(context.Background(), 0)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Unlock()
	j, err := journal.Open(l, journal.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	for _, r := range []journal.Record{
		journal.TxnBegin{Time: t0, Txn: "txn-1", Host: "pve-demo"},
		journal.TxnEnd{Time: t0, Txn: "txn-1", Result: journal.TxnConverged},
		journal.TxnBegin{Time: t0, Txn: "txn-2", Host: "pve-demo"},
	} {
		if err := j.Append(r); err != nil {
			t.Fatal(err)
		}
	}
}

func appendBytes(t *testing.T, path, s string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString(s); err != nil {
		t.Fatal(err)
	}
	f.Close()
}

func TestReadJournalHealth(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state")
	rep, err := Read(dir, t0)
	if err != nil || rep.LastRun != nil || rep.Journal.Exists || !rep.Journal.Healthy {
		t.Fatalf("missing state dir: %+v, %v", rep, err)
	}

	appendJournal(t, dir)
	rep, err = Read(dir, t0)
	if err != nil {
		t.Fatal(err)
	}
	if h := rep.Journal; !h.Exists || !h.Healthy || h.Records != 3 || h.Transactions != 2 || h.OpenTransactions != 1 || h.Size == 0 || h.TornTail != "" {
		t.Fatalf("healthy journal: %+v", h)
	}

	log := filepath.Join(dir, journal.LogFile)
	appendBytes(t, log, `deadbeef {"type":"txn_end"`)
	rep, err = Read(dir, t0)
	if err != nil {
		t.Fatal(err)
	}
	if h := rep.Journal; !h.Healthy || h.Records != 3 || !strings.Contains(h.TornTail, "torn last record") {
		t.Fatalf("torn tail: %+v", h)
	}

	appendBytes(t, log, "\n"+`00000000 {"type":"txn_end","time":"2026-12-01T15:00:00Z","txn":"txn-2","result":"converged"}`+"\n")
	rep, err = Read(dir, t0)
	if err != nil {
		t.Fatal(err)
	}
	if h := rep.Journal; h.Healthy || !strings.Contains(h.Corrupt, "corrupt at byte") || h.Records != 3 {
		t.Fatalf("corrupt journal: %+v", h)
	}

	// Read writes nothing: no cut of the torn tail, no last-run.json.
	if _, err := os.Stat(filepath.Join(dir, journal.TornFile)); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("Read wrote %s: %v", journal.TornFile, err)
	}
	if _, err := os.Stat(filepath.Join(dir, LastRunFile)); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("Read wrote %s: %v", LastRunFile, err)
	}
}

func TestReadDesiredAge(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state")
	desired := filepath.Join(t.TempDir(), "host.hcl")
	if err := os.WriteFile(desired, []byte(`host "pve-demo" {}`), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(desired, t0, t0); err != nil {
		t.Fatal(err)
	}
	p, res := pendingRun()
	p.DesiredFile = desired
	write(t, dir, FromApply(p, res, nil), t0, time.Second)

	rep, err := Read(dir, t0.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if d := rep.Desired; d == nil || !d.Exists || d.Pull != nil || d.AgeSeconds == nil || *d.AgeSeconds != 3600 {
		t.Fatalf("desired without pull state: %+v", d)
	}

	// A pull confirmed the file (304) ten minutes ago.
	st := `{"etag":"\"v1\"","last_success":"2026-12-01T15:50:00Z","last_attempt":"2026-12-01T15:50:00Z"}`
	if err := os.WriteFile(desired+".pull.json", []byte(st), 0o600); err != nil {
		t.Fatal(err)
	}
	rep, err = Read(dir, t0.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if d := rep.Desired; d.Pull == nil || d.Pull.ETag != `"v1"` || *d.AgeSeconds != 600 {
		t.Fatalf("desired with pull state: %+v", d)
	}

	if err := os.Remove(desired); err != nil {
		t.Fatal(err)
	}
	rep, err = Read(dir, t0.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if d := rep.Desired; d.Exists || d.AgeSeconds != nil {
		t.Fatalf("missing desired file: %+v", d)
	}
}

func TestPrometheusTextfile(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state")
	desired := filepath.Join(t.TempDir(), "host.hcl")
	if err := os.WriteFile(desired, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(desired, t0, t0); err != nil {
		t.Fatal(err)
	}
	p, res := pendingRun()
	p.DesiredFile = desired
	write(t, dir, FromApply(p, res, nil), t0, 1500*time.Millisecond)
	rep, err := Read(dir, t0.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}

	if problems, err := testutil.GatherAndLint(rep.Registry()); err != nil || len(problems) > 0 {
		t.Fatalf("lint: %v %v", problems, err)
	}
	out := filepath.Join(t.TempDir(), "felhom-converge.prom")
	// What a write killed before its rename left, long ago.
	leftover := filepath.Join(filepath.Dir(out), ".felhom-converge.prom.tmp42")
	if err := os.WriteFile(leftover, []byte("# half"), 0o644); err != nil {
		t.Fatal(err)
	}
	long := time.Now().Add(-48 * time.Hour)
	if err := os.Chtimes(leftover, long, long); err != nil {
		t.Fatal(err)
	}
	if err := rep.WritePrometheus(out); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(leftover); !os.IsNotExist(err) {
		t.Errorf("a stale temporary file beside the metrics: %v", err)
	}
	if fi, err := os.Stat(out); err != nil || fi.Mode().Perm() != 0o644 {
		t.Errorf("metrics file: %v, %v", fi, err)
	}
	f, err := os.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	parser := expfmt.NewTextParser(model.LegacyValidation)
	fams, err := parser.TextToMetricFamilies(f)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]float64{
		MetricLastRun:                seconds(t0.Add(1500 * time.Millisecond).UnixNano()),
		MetricLastSuccess:            seconds(t0.Add(1500 * time.Millisecond).UnixNano()),
		MetricLastRunDuration:        1.5,
		MetricOldestPendingSignature: float64(t0.Unix()),
		MetricDesiredStateAge:        3600,
		MetricUnmanagedGuests:        1,
		MetricLastRunUnfinished:      0,
		MetricJournalOpenTxns:        0,
		MetricJournalInFlight:        0,
	}
	for name, v := range want {
		fam := fams[name]
		if fam == nil {
			t.Errorf("%s missing", name)
			continue
		}
		if fam.GetHelp() == "" || fam.GetType().String() != "GAUGE" || len(fam.Metric) != 1 {
			t.Errorf("%s: help %q type %s, %d series", name, fam.GetHelp(), fam.GetType(), len(fam.Metric))
			continue
		}
		if got := fam.Metric[0].GetGauge().GetValue(); got != v {
			t.Errorf("%s = %v, want %v", name, got, v)
		}
	}
	steps := fams[MetricSteps]
	if steps == nil || steps.GetHelp() == "" {
		t.Fatalf("%s missing or without HELP", MetricSteps)
	}
	got := map[string]float64{}
	for _, m := range steps.Metric {
		for _, l := range m.Label {
			if l.GetName() == "state" {
				got[l.GetValue()] = m.GetGauge().GetValue()
			}
		}
	}
	if len(got) != 3 || got[StatePendingSignature] != 1 || got[StatePendingReboot] != 1 || got[StateFailed] != 0 {
		t.Fatalf("%s: %v", MetricSteps, got)
	}
	if len(fams) != len(want)+1 {
		t.Fatalf("unexpected metrics: %d families", len(fams))
	}

	// Before any run: timestamps 0, no oldest pending, no desired age.
	rep, err = Read(filepath.Join(t.TempDir(), "none"), t0)
	if err != nil {
		t.Fatal(err)
	}
	mfs, err := rep.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]float64{}
	for _, mf := range mfs {
		names[mf.GetName()] = mf.Metric[0].GetGauge().GetValue()
	}
	if _, ok := names[MetricOldestPendingSignature]; ok {
		t.Error("oldest pending signature present with nothing pending")
	}
	if _, ok := names[MetricDesiredStateAge]; ok {
		t.Error("desired state age present without a desired file")
	}
	if v, ok := names[MetricLastSuccess]; !ok || v != 0 {
		t.Errorf("last success before any run: %v %v", v, ok)
	}
}

// A journal that lost records its anchor names is not healthy, and the
// report says what is gone; Read still writes nothing.
func TestReadJournalLost(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state")
	appendJournal(t, dir)
	log := filepath.Join(dir, journal.LogFile)
	if err := os.Truncate(log, 0); err != nil {
		t.Fatal(err)
	}
	rep, err := Read(dir, t0)
	if err != nil {
		t.Fatal(err)
	}
	if h := rep.Journal; h.Healthy || !h.Exists || !strings.Contains(h.Lost, "is empty, but its anchor journal.anchor names record 3") || h.Records != 0 {
		t.Fatalf("emptied journal: %+v", h)
	}
	if err := os.Remove(log); err != nil {
		t.Fatal(err)
	}
	rep, err = Read(dir, t0)
	if err != nil {
		t.Fatal(err)
	}
	if h := rep.Journal; h.Healthy || h.Exists || !strings.Contains(h.Lost, "is missing") {
		t.Fatalf("deleted journal: %+v", h)
	}
	if _, err := os.Stat(log); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("Read recreated the journal: %v", err)
	}
}

// The pull metrics: when the desired file and the signature bundle were
// last pulled and last tried, and one series per result, the last one 1.
// A hub down for days shows as a frozen last success and a result other
// than ok, whatever the desired file's age.
func TestPullMetrics(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state")
	desired := filepath.Join(t.TempDir(), "host.hcl")
	if err := os.WriteFile(desired, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	st := hub.State{LastSuccess: t0, LastAttempt: t0.Add(3 * time.Hour), LastError: "hub unreachable", LastReason: hub.Unreachable,
		Signatures: &hub.SourceState{URL: "https://hub/all.signed", LastSuccess: t0, LastAttempt: t0, LastError: "nonce store damaged"}}
	b, _ := json.Marshal(st)
	if err := os.WriteFile(hub.StatePath(desired), b, 0o600); err != nil {
		t.Fatal(err)
	}
	p, res := pendingRun()
	p.DesiredFile = desired
	write(t, dir, FromApply(p, res, nil), t0, time.Second)
	rep, err := Read(dir, t0.Add(4*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	reg := rep.Registry()
	if problems, err := testutil.GatherAndLint(reg); err != nil || len(problems) > 0 {
		t.Fatalf("lint: %v %v", problems, err)
	}
	got := map[string]float64{}
	mfs, _ := reg.Gather()
	for _, mf := range mfs {
		for _, m := range mf.Metric {
			key := mf.GetName()
			for _, l := range m.Label {
				key += "," + l.GetName() + "=" + l.GetValue()
			}
			got[key] = m.GetGauge().GetValue()
		}
	}
	for key, v := range map[string]float64{
		MetricPullLastSuccess + ",file=desired":                         float64(t0.Unix()),
		MetricPullLastAttempt + ",file=desired":                         float64(t0.Add(3 * time.Hour).Unix()),
		MetricPullLastResult + ",file=desired,result=unreachable":       1,
		MetricPullLastResult + ",file=desired,result=ok":                0,
		MetricPullLastResult + ",file=desired,result=over_budget":       0,
		MetricPullLastResult + ",file=signatures,result=install_failed": 1,
		MetricPullLastResult + ",file=signatures,result=ok":             0,
		MetricPullLastSuccess + ",file=signatures":                      float64(t0.Unix()),
	} {
		if g, ok := got[key]; !ok || g != v {
			t.Errorf("%s = %v (present %v), want %v", key, g, ok, v)
		}
	}
	n := 0
	for key, v := range got {
		if strings.HasPrefix(key, MetricPullLastResult+",file=desired,") {
			n++
			if v == 1 && key != MetricPullLastResult+",file=desired,result=unreachable" {
				t.Errorf("%s is 1 too", key)
			}
		}
	}
	if n != len(hub.Reasons)+1 {
		t.Errorf("%d results for the desired file, want ok and every reason", n)
	}
}

// WritePrometheus removes what a writer killed before its rename left.
func TestWritePrometheusRemovesStaleTemporaryFiles(t *testing.T) {
	rep, err := Read(filepath.Join(t.TempDir(), "none"), t0)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	out := filepath.Join(dir, "felhom-converge.prom")
	for _, n := range []string{"felhom-converge.prom123456789", ".felhom-converge.prom.tmp42", "node.prom"} {
		if err := os.WriteFile(filepath.Join(dir, n), []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := rep.WritePrometheus(out); err != nil {
		t.Fatal(err)
	}
	entries, _ := os.ReadDir(dir)
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if strings.Join(names, " ") != "felhom-converge.prom node.prom" {
		t.Errorf("left: %v", names)
	}
	if fi, err := os.Stat(out); err != nil || fi.Mode().Perm() != 0o644 {
		t.Errorf("%v %v", fi, err)
	}
}

func TestFromApplyInterrupted(t *testing.T) {
	p, res := pendingRun()
	for _, err := range []error{context.Canceled, fmt.Errorf("observe the host: %w", context.Canceled)} {
		r := FromApply(p, res, err)
		if r.Result != ResultInterrupted || strings.Contains(r.Error, "context canceled") || r.Result.Successful() {
			t.Errorf("%v: %s %q", err, r.Result, r.Error)
		}
	}
	if r := FromApply(nil, nil, context.Canceled); r.Result != ResultInterrupted {
		t.Errorf("before planning: %s", r.Result)
	}
}

// The shipped alert rules (packaging/prometheus) use only metrics and
// label values this package writes. promtool tests the rules themselves
// (.ci/run).
func TestAlertRulesUseExportedMetrics(t *testing.T) {
	rules, err := os.ReadFile("../packaging/prometheus/felhom-converge.rules.yml")
	if err != nil {
		t.Fatal(err)
	}
	exported := map[string]bool{}
	for _, m := range []string{MetricLastRun, MetricLastSuccess, MetricLastRunDuration, MetricSteps, MetricOldestPendingSignature,
		MetricDesiredStateAge, MetricUnmanagedGuests, MetricPullLastSuccess, MetricPullLastAttempt, MetricPullLastResult,
		MetricLastRunUnfinished, MetricJournalOpenTxns, MetricJournalInFlight} {
		exported[m] = true
	}
	names := regexp.MustCompile(`felhom_converge_[a-z_]+`).FindAllString(string(rules), -1)
	if len(names) < 4 {
		t.Fatalf("found %d metric names in the rules", len(names))
	}
	for _, n := range names {
		if !exported[n] {
			t.Errorf("the rules use %s, which status does not write", n)
		}
	}
	results := map[string]bool{PullResultOK: true, PullResultInstallFailed: true, PullFileDesired: true, PullFileSignatures: true}
	for _, r := range hub.Reasons {
		results[string(r)] = true
	}
	for _, m := range regexp.MustCompile(`(result|file)!?="([^"]*)"`).FindAllStringSubmatch(string(rules), -1) {
		if !results[m[2]] {
			t.Errorf("the rules compare %s with %q, a value status never writes", m[1], m[2])
		}
	}
}

// A run that ended without its last-run record is found by the lock record
// it left or by a transaction it left open; a run that holds the lock, and
// the open transaction of the last recorded run (interrupted with a call in
// flight), are not one.
func TestUnfinishedRun(t *testing.T) {
	last := &Run{Txn: "txn-last", Started: t0}
	killed := &AbandonedLock{PID: 4242, Since: t0.Add(time.Hour)}
	older := &AbandonedLock{PID: 4141, Since: t0.Add(-time.Hour)}
	newTxn := []journal.TxnBegin{{Txn: "txn-new", Time: t0.Add(time.Hour)}}
	for _, tc := range []struct {
		name string
		last *Run
		lock LockState
		open []journal.TxnBegin
		want *Unfinished
	}{
		{"clean", last, LockState{}, nil, nil},
		{"killed after the last run", last, LockState{Abandoned: killed}, newTxn, &Unfinished{Since: killed.Since, PID: 4242, Txns: []string{"txn-new"}}},
		{"killed before it opened a transaction", last, LockState{Abandoned: killed}, nil, &Unfinished{Since: killed.Since, PID: 4242}},
		{"a record older than the last run", last, LockState{Abandoned: older}, nil, nil},
		{"the last run's own open transaction", last, LockState{}, []journal.TxnBegin{{Txn: "txn-last", Time: t0}}, nil},
		{"a transaction a run before the last one left open", last, LockState{}, []journal.TxnBegin{{Txn: "txn-old", Time: t0.Add(-time.Hour)}}, nil},
		{"a run in progress", last, LockState{Held: true}, newTxn, nil},
		{"no run recorded yet", nil, LockState{Abandoned: older}, []journal.TxnBegin{{Txn: "txn-1", Time: t0}}, &Unfinished{Since: older.Since, PID: 4141, Txns: []string{"txn-1"}}},
	} {
		got := unfinished(tc.last, tc.lock, tc.open)
		if (got == nil) != (tc.want == nil) || got != nil && (got.PID != tc.want.PID || !got.Since.Equal(tc.want.Since) || strings.Join(got.Txns, ",") != strings.Join(tc.want.Txns, ",")) {
			t.Errorf("%s: %+v, want %+v", tc.name, got, tc.want)
		}
	}
}
