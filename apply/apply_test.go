package apply_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/felhom/felhom-converge/apply"
	"github.com/felhom/felhom-converge/journal"
	"github.com/felhom/felhom-converge/ops"
	"github.com/felhom/felhom-converge/plan"
	"github.com/felhom/felhom-converge/proxmox"
	"github.com/felhom/felhom-converge/proxmox/pvesim"
	"github.com/felhom/felhom-converge/trust"
)

const golden = "local:backup/vzdump-lxc-9000-2026_10_01-12_00_00.tar.zst"

type env struct {
	t       *testing.T
	sim     *pvesim.Sim
	client  *proxmox.Client
	journal *journal.Journal
	unlock  func() // closes the journal and releases its lock
	dir     string
	out     strings.Builder
	opts    apply.Options
}

// newEnv starts a simulator with quick tasks and an apply setup with no
// trusted signers.
func newEnv(t *testing.T) *env {
	t.Helper()
	return newEnvWith(t, 5*time.Millisecond)
}

func newEnvWith(t *testing.T, taskDuration time.Duration) *env {
	t.Helper()
	sim, err := pvesim.New(pvesim.Options{TaskDuration: taskDuration, ResourcesLag: -1})
	if err != nil {
		t.Fatal(err)
	}
	return envFor(t, sim)
}

// envFor serves sim over HTTPS and sets up apply against it.
func envFor(t *testing.T, sim *pvesim.Sim) *env {
	t.Helper()
	endpoint, err := sim.Start("127.0.0.1:0", true)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sim.Close() })
	token, err := proxmox.ParseToken(sim.Token("converge"))
	if err != nil {
		t.Fatal(err)
	}
	c, err := proxmox.New(proxmox.Options{Endpoint: endpoint, Node: sim.Node(), Token: token, Fingerprint: sim.Fingerprint()})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	e := &env{t: t, sim: sim, client: c, dir: dir}
	e.journal = e.openJournal(journal.Options{})
	e.opts = apply.Options{
		Host: "pve-demo", HostID: sim.Fingerprint(), Client: c, Journal: e.journal, SettleWindow: 50 * time.Millisecond,
		Audit:         apply.OpenAudit(filepath.Join(dir, apply.AuditFile), nil),
		SignaturesDir: filepath.Join(dir, "signatures"), RequestsDir: filepath.Join(dir, "requests"),
		Safety:    apply.Safety{Enabled: true, BackupStorage: "local"},
		TokenUser: token.ID(), Out: &e.out,
		Wait: proxmox.WaitOptions{MinInterval: 2 * time.Millisecond, MaxInterval: 20 * time.Millisecond},
	}
	return e
}

func (e *env) run(steps ...plan.Step) *apply.Result {
	e.t.Helper()
	res, err := apply.Run(context.Background(), &plan.Plan{Host: "pve-demo", Steps: steps}, e.opts)
	if err != nil {
		e.t.Fatalf("apply: %v\n%s", err, e.out.String())
	}
	return res
}

func step(id, op string, guest int, params string, deps ...string) plan.Step {
	s := plan.Step{ID: id, Op: op, Params: json.RawMessage(params), Class: ops.ClassOf(op), DependsOn: deps}
	if guest != 0 {
		s.Guest = &guest
	}
	return s
}

func (e *env) digest(vmid int) string {
	cfg, err := e.client.GuestConfig(context.Background(), vmid)
	if err != nil {
		e.t.Fatal(err)
	}
	return cfg.Digest
}

func (e *env) exists(vmid int) bool {
	_, err := e.client.GuestStatus(context.Background(), vmid)
	if err != nil && !proxmox.IsNotFound(err) {
		e.t.Fatal(err)
	}
	return err == nil
}

func outcome(t *testing.T, res *apply.Result, id, want string) apply.StepResult {
	t.Helper()
	for _, s := range res.Steps {
		if s.ID == id {
			if s.Outcome != want {
				t.Errorf("step %s: outcome %s (%s), want %s", id, s.Outcome, s.Message, want)
			}
			return s
		}
	}
	t.Fatalf("step %s not in the result", id)
	return apply.StepResult{}
}

// audit reads the audit log.
func (e *env) audit() []apply.AuditEntry {
	f, err := os.Open(filepath.Join(e.dir, apply.AuditFile))
	if err != nil {
		e.t.Fatal(err)
	}
	defer f.Close()
	var out []apply.AuditEntry
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var a apply.AuditEntry
		if err := json.Unmarshal(sc.Bytes(), &a); err != nil {
			e.t.Fatalf("audit line %q: %v", sc.Text(), err)
		}
		out = append(out, a)
	}
	return out
}

func (e *env) decisions(step string) []string {
	var out []string
	for _, a := range e.audit() {
		if a.Step == step && a.Result == "" {
			out = append(out, a.Decision)
		}
	}
	return out
}

const createParams = `{"archive":"` + golden + `","config":{"hostname":"wiki","memory":"1024","net0":"name=eth0,bridge=vmbr0,ip=dhcp","rootfs":"local-lvm:8"},"storage":"local-lvm"}`

func TestBenignStepsRunAndAreJournaled(t *testing.T) {
	e := newEnv(t)
	d100 := e.digest(100)
	set := step("guest.set-100-a", ops.GuestSet, 100, `{"set":{"memory":"2048","tags":"prod;web;x"}}`)
	set.ObservedDigest = d100
	snap := step("snapshot.create-100-b", ops.SnapshotCreate, 100, `{"snapshot":"before-demo","description":"demo"}`, "guest.set-100-a")
	snap.ObservedDigest = d100
	tag := step("guest.set-100-c", ops.GuestSet, 100, `{"set":{"onboot":"1"}}`, "snapshot.create-100-b")
	tag.ObservedDigest = d100 // stale after the two steps before: apply passes its own digest
	res := e.run(step("guest.create-102-a", ops.GuestCreate, 102, createParams), set, snap, tag)
	for _, id := range []string{"guest.create-102-a", "guest.set-100-a", "snapshot.create-100-b", "guest.set-100-c"} {
		s := outcome(t, res, id, apply.OutcomeDone)
		if got := e.decisions(id); len(got) != 1 || got[0] != apply.DecisionBenign {
			t.Errorf("%s: audit decisions %v, want [allowed_benign]", id, got)
		}
		if _, ok := e.result(id); !ok {
			t.Errorf("%s: no terminal record", id)
		}
		if id == "guest.create-102-a" && !strings.HasPrefix(s.UPID, "UPID:pve:") {
			t.Errorf("create: UPID %q", s.UPID)
		}
	}
	if !e.exists(102) {
		t.Fatal("guest 102 was not created")
	}
	cfg, _ := e.client.GuestConfig(context.Background(), 102)
	if cfg.Hostname() != "wiki" {
		t.Errorf("guest 102 hostname %q", cfg.Hostname())
	}
	if txn, ok := e.journal.CreatedInTxn(102); ok {
		t.Errorf("the transaction %s is still open after the run", txn)
	}
	if len(e.journal.InFlight()) != 0 {
		t.Errorf("calls left in flight: %v", e.journal.InFlight())
	}
	if res.Failed() || res.Pending() {
		t.Errorf("%s", res.Summary())
	}
	if d, _ := e.journal.LastDigest(100); d.Digest != e.digest(100) {
		t.Errorf("recorded digest %s, live %s", d.Digest, e.digest(100))
	}
	if c := e.sim.Counters()["POST /nodes/{node}/lxc"]; c != 1 {
		t.Errorf("%d create POSTs, want 1", c)
	}
}

func TestDigestRefusalSaysReRun(t *testing.T) {
	e := newEnv(t)
	stale := e.digest(100)
	if err := e.client.SetConfig(context.Background(), 100, map[string]string{"description": "edited by hand"}, nil, ""); err != nil {
		t.Fatal(err)
	}
	s := step("guest.set-100-a", ops.GuestSet, 100, `{"set":{"memory":"2048"}}`)
	s.ObservedDigest = stale
	res := e.run(s, step("guest.start-110-a", ops.GuestStart, 110, `{}`))
	r := outcome(t, res, "guest.set-100-a", apply.OutcomeFailed)
	if !strings.Contains(r.Message, "changed concurrently") || !strings.Contains(r.Message, "re-run") {
		t.Errorf("message %q", r.Message)
	}
	outcome(t, res, "guest.start-110-a", apply.OutcomeDone)
	cfg, _ := e.client.GuestConfig(context.Background(), 100)
	if m, _ := cfg.Memory(); m == 2048 {
		t.Error("the refused write took effect")
	}
	// Proxmox refuses a stale digest with a 500, which could also come
	// after a write took effect: the live config shows it did not.
	if tm, _ := e.result("guest.set-100-a"); tm.Result != apply.ResultAborted {
		t.Errorf("journal result %q", tm.Result)
	}
}

func TestHTTP500SkipsDependantsOnly(t *testing.T) {
	e := newEnv(t)
	if err := e.sim.FailNth("POST", "/nodes/{node}/lxc", 1, 500, "storage went away"); err != nil {
		t.Fatal(err)
	}
	res := e.run(
		step("guest.create-102-a", ops.GuestCreate, 102, createParams),
		step("guest.start-102-a", ops.GuestStart, 102, `{}`, "guest.create-102-a"),
		step("guest.start-110-a", ops.GuestStart, 110, `{}`),
	)
	r := outcome(t, res, "guest.create-102-a", apply.OutcomeFailed)
	if !strings.Contains(r.Message, "storage went away") {
		t.Errorf("message %q", r.Message)
	}
	sk := outcome(t, res, "guest.start-102-a", apply.OutcomeSkipped)
	if !strings.Contains(sk.Message, "depends on guest.create-102-a, which is failed") {
		t.Errorf("skip message %q", sk.Message)
	}
	outcome(t, res, "guest.start-110-a", apply.OutcomeDone)
	if !res.Failed() {
		t.Error("the run did not fail")
	}
	if e.exists(102) {
		t.Error("guest 102 exists")
	}
}

func TestTaskFailureWithMissingPrivilege(t *testing.T) {
	e := newEnv(t)
	e.sim.FailTask("vzdump", "101", "Permission check failed (/vms/101, VM.Backup)")
	res := e.run(step("backup.create-101-a", ops.BackupCreate, 101, `{"storage":"local"}`))
	r := outcome(t, res, "backup.create-101-a", apply.OutcomeFailed)
	if !strings.Contains(r.Message, "VM.Backup") || r.UPID == "" {
		t.Errorf("message %q upid %q", r.Message, r.UPID)
	}
	tm, _ := e.result("backup.create-101-a")
	if tm.Result != apply.ResultFailed || !strings.Contains(tm.ExitStatus, "VM.Backup") {
		t.Errorf("journal %+v", tm)
	}
}

func TestFailedStepRollsBackTheGuestThisRunCreated(t *testing.T) {
	e := newEnv(t)
	if err := e.sim.FailNth("PUT", "/nodes/{node}/lxc/{vmid}/config", 1, 500, "injected"); err != nil {
		t.Fatal(err)
	}
	res := e.run(
		step("guest.create-102-a", ops.GuestCreate, 102, createParams),
		step("guest.set-102-a", ops.GuestSet, 102, `{"set":{"cores":"2"}}`, "guest.create-102-a"),
		step("guest.start-102-a", ops.GuestStart, 102, `{}`),
	)
	outcome(t, res, "guest.create-102-a", apply.OutcomeDone)
	r := outcome(t, res, "guest.set-102-a", apply.OutcomeFailed)
	if !strings.Contains(r.Message, "rolled back") {
		t.Errorf("message %q", r.Message)
	}
	outcome(t, res, "guest.start-102-a", apply.OutcomeSkipped)
	if e.exists(102) {
		t.Error("the half-made guest 102 still exists")
	}
	if got := e.decisions("guest.set-102-a#rollback"); len(got) != 1 || got[0] != apply.DecisionProvenance {
		t.Errorf("rollback audit %v", got)
	}
	if tm, _ := e.result("guest.set-102-a#rollback"); tm.Result != apply.ResultRolledBack {
		t.Errorf("rollback journal %+v", tm)
	}
}

func TestDestructiveStepWithoutSignatureIsPending(t *testing.T) {
	e := newEnv(t)
	res := e.run(
		step("guest.destroy-110-a", ops.GuestDestroy, 110, `{"purge":true,"volumes":["local-lvm:vm-110-disk-0"]}`),
		step("guest.start-101-a", ops.GuestStart, 101, `{}`, "guest.destroy-110-a"),
		step("snapshot.create-100-a", ops.SnapshotCreate, 100, `{"snapshot":"s1"}`),
	)
	p := outcome(t, res, "guest.destroy-110-a", apply.OutcomePending)
	outcome(t, res, "guest.start-101-a", apply.OutcomeSkipped)
	outcome(t, res, "snapshot.create-100-a", apply.OutcomeDone)
	if !e.exists(110) {
		t.Fatal("guest 110 was destroyed without a signature")
	}
	b, err := os.ReadFile(p.Request)
	if err != nil {
		t.Fatalf("request: %v", err)
	}
	req, err := trust.ParseRequest(b)
	if err != nil || req.Op != ops.GuestDestroy || req.Guest != 110 || req.Host != "pve-demo" {
		t.Fatalf("request %+v %v", req, err)
	}
	if !strings.Contains(e.out.String(), "ssh-keygen -Y sign -n felhom-operational -f ~/.ssh/id_ed25519 "+p.Request) {
		t.Errorf("no signing command in\n%s", e.out.String())
	}
	if got := e.decisions("guest.destroy-110-a"); len(got) != 1 || got[0] != "pending_signature" {
		t.Errorf("audit %v", got)
	}
	// A second run reuses the same unsigned request.
	e.out.Reset()
	res = e.run(step("guest.destroy-110-a", ops.GuestDestroy, 110, `{"purge":true,"volumes":["local-lvm:vm-110-disk-0"]}`))
	if p2 := outcome(t, res, "guest.destroy-110-a", apply.OutcomePending); p2.Request != p.Request {
		t.Errorf("second request %s, first %s", p2.Request, p.Request)
	}
	// A saved plan cannot make a destructive op benign.
	s := step("guest.destroy-110-b", ops.GuestDestroy, 110, `{"purge":true,"volumes":["local-lvm:vm-110-disk-0"]}`)
	s.Class = ops.Benign
	res = e.run(s)
	outcome(t, res, "guest.destroy-110-b", apply.OutcomePending)
	if !e.exists(110) {
		t.Fatal("a plan marked benign destroyed guest 110")
	}
}

// signer makes an ed25519 key with ssh-keygen and a trust root for it.
func (e *env) signer(principal, role string) (sign func(reqPath string)) {
	e.t.Helper()
	if _, err := exec.LookPath("ssh-keygen"); err != nil {
		e.t.Skip("ssh-keygen is not installed")
	}
	key := filepath.Join(e.dir, principal)
	if out, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", principal, "-f", key).CombinedOutput(); err != nil {
		e.t.Fatalf("ssh-keygen: %v %s", err, out)
	}
	pub, err := os.ReadFile(key + ".pub")
	if err != nil {
		e.t.Fatal(err)
	}
	f := strings.Fields(string(pub))
	as := filepath.Join(e.dir, "allowed_signers")
	line := principal + ` namespaces="` + role + `" ` + f[0] + " " + f[1] + "\n"
	old, _ := os.ReadFile(as)
	if err := os.WriteFile(as, append(old, line...), 0o644); err != nil {
		e.t.Fatal(err)
	}
	signers, err := trust.LoadAllowedSigners(as)
	if err != nil {
		e.t.Fatal(err)
	}
	nonces, err := trust.OpenFileNonceStore(filepath.Join(e.dir, "state"), nil)
	if err != nil {
		e.t.Fatal(err)
	}
	e.opts.Verifier = trust.NewVerifier(signers, nonces)
	return func(reqPath string) {
		if out, err := exec.Command("ssh-keygen", "-Y", "sign", "-n", role, "-f", key, reqPath).CombinedOutput(); err != nil {
			e.t.Fatalf("ssh-keygen -Y sign: %v %s", err, out)
		}
		dst := e.opts.SignaturesDir
		os.MkdirAll(dst, 0o700)
		for _, ext := range []string{"", ".sig"} {
			b, err := os.ReadFile(reqPath + ext)
			if err != nil {
				e.t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dst, filepath.Base(reqPath)+ext), b, 0o600); err != nil {
				e.t.Fatal(err)
			}
		}
	}
}

func TestSignedDestroyTakesASafetyBackupFirstAndRunsOnce(t *testing.T) {
	e := newEnv(t)
	sign := e.signer("alice@ops", trust.RoleOperational)
	destroy := func() plan.Step {
		return step("guest.destroy-110-a", ops.GuestDestroy, 110, `{"purge":true,"volumes":["local-lvm:vm-110-disk-0"]}`)
	}
	p := outcome(t, e.run(destroy()), "guest.destroy-110-a", apply.OutcomePending)
	sign(p.Request)
	res := e.run(destroy())
	r := outcome(t, res, "guest.destroy-110-a", apply.OutcomeDone)
	if !strings.Contains(r.Message, "safety backup local:backup/vzdump-lxc-110-") {
		t.Errorf("message %q", r.Message)
	}
	if e.exists(110) {
		t.Fatal("guest 110 still exists")
	}
	if len(e.journal.ToolBackups()) != 1 {
		t.Errorf("safety backups recorded: %v", e.journal.ToolBackups())
	}
	if got := e.decisions("guest.destroy-110-a"); got[len(got)-1] != "accepted" {
		t.Errorf("audit %v", got)
	}
	var accepted apply.AuditEntry
	for _, a := range e.audit() {
		if a.Decision == "accepted" && a.Result == "" {
			accepted = a
		}
	}
	if accepted.Signer != "alice@ops" || !strings.HasPrefix(accepted.Fingerprint, "SHA256:") || len(accepted.Nonce) != 32 {
		t.Errorf("accepted audit %+v", accepted)
	}
	// The spent signature was moved out of the way, with an audit line;
	// offered again (copied back), it is replayed, never run.
	spent, _ := filepath.Glob(filepath.Join(e.opts.SignaturesDir, "spent", "*"))
	if len(spent) != 2 {
		t.Fatalf("spent/ holds %v, want the request and its signature", spent)
	}
	for _, f := range spent {
		b, _ := os.ReadFile(f)
		os.WriteFile(filepath.Join(e.opts.SignaturesDir, filepath.Base(f)), b, 0o600)
	}
	if got := e.decisions(strings.TrimSuffix(filepath.Base(spent[0]), ".req")); len(got) != 1 || got[0] != apply.DecisionSpent {
		t.Errorf("no audit line for the moved signature")
	}
	res = e.run(destroy())
	rr := outcome(t, res, "guest.destroy-110-a", apply.OutcomeRefused)
	if rr.Decision != "replayed" {
		t.Errorf("decision %s (%s)", rr.Decision, rr.Message)
	}
	if c := e.sim.Counters()["DELETE /nodes/{node}/lxc/{vmid}"]; c != 1 {
		t.Errorf("%d destroy requests, want 1", c)
	}
}

func TestRecoveryKeyOnDestroyIsRoleDenied(t *testing.T) {
	e := newEnv(t)
	sign := e.signer("carol@recovery", trust.RoleRecovery)
	d := step("guest.destroy-110-a", ops.GuestDestroy, 110, `{"purge":true,"volumes":["local-lvm:vm-110-disk-0"]}`)
	p := outcome(t, e.run(d), "guest.destroy-110-a", apply.OutcomePending)
	sign(p.Request)
	r := outcome(t, e.run(d), "guest.destroy-110-a", apply.OutcomeRefused)
	if r.Decision != "role_denied" || !e.exists(110) {
		t.Errorf("decision %s, exists %v", r.Decision, e.exists(110))
	}
}

func TestFailedSafetyBackupKeepsTheGuest(t *testing.T) {
	e := newEnv(t)
	sign := e.signer("alice@ops", trust.RoleOperational)
	d := step("guest.destroy-110-a", ops.GuestDestroy, 110, `{"purge":true,"volumes":["local-lvm:vm-110-disk-0"]}`)
	p := outcome(t, e.run(d), "guest.destroy-110-a", apply.OutcomePending)
	sign(p.Request)
	e.sim.FailTask("vzdump", "110", "vma_queue_write: write error - No space left on device")
	r := outcome(t, e.run(d), "guest.destroy-110-a", apply.OutcomeFailed)
	if !strings.Contains(r.Message, "safety backup failed, so the step did not run") {
		t.Errorf("message %q", r.Message)
	}
	if !e.exists(110) {
		t.Fatal("guest 110 was destroyed although its safety backup failed")
	}
	if c := e.sim.Counters()["DELETE /nodes/{node}/lxc/{vmid}"]; c != 0 {
		t.Errorf("%d destroy requests", c)
	}
}

func TestDestroyRefusedWhenTheGuestOwnsMoreThanWasSigned(t *testing.T) {
	e := newEnv(t)
	sign := e.signer("alice@ops", trust.RoleOperational)
	d := step("guest.destroy-101-a", ops.GuestDestroy, 101, `{"purge":true,"volumes":["local-lvm:vm-101-disk-0"]}`)
	p := outcome(t, e.run(d), "guest.destroy-101-a", apply.OutcomePending)
	sign(p.Request)
	r := outcome(t, e.run(d), "guest.destroy-101-a", apply.OutcomeFailed)
	if !strings.Contains(r.Message, "which the signed step does not name") || !e.exists(101) {
		t.Errorf("message %q", r.Message)
	}
	// Guest 100 has the snapshot pre-upgrade, which this signed step does
	// not list among the snapshots it loses.
	cfg, _ := e.client.GuestConfig(context.Background(), 100)
	vol, _, _ := strings.Cut(cfg.RootFS(), ",")
	d = step("guest.destroy-100-a", ops.GuestDestroy, 100, `{"purge":true,"snapshots":[],"volumes":["`+vol+`"]}`)
	p = outcome(t, e.run(d), "guest.destroy-100-a", apply.OutcomePending)
	sign(p.Request)
	r = outcome(t, e.run(d), "guest.destroy-100-a", apply.OutcomeFailed)
	if !strings.Contains(r.Message, "snapshot pre-upgrade, which the signed step does not name") || !e.exists(100) {
		t.Errorf("message %q", r.Message)
	}
}

func TestRecoverFindsAnUnrecordedTaskAndAbortsAPostThatNeverHappened(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	txn := "txn-crashed"
	e.append(journal.TxnBegin{Txn: txn, Host: "pve-demo"})
	// A create whose POST took effect but whose UPID was never recorded.
	in := journal.Intent{Txn: txn, Call: "guest.create-102-a", Op: ops.GuestCreate, Guest: 102,
		Params: json.RawMessage(createParams), Class: "benign", Provenance: apply.ProvenanceCreatedInTxn, Time: time.Now().UTC()}
	if err := e.journal.Append(in); err != nil {
		t.Fatal(err)
	}
	if _, err := e.client.RestoreLXC(ctx, 102, golden, proxmox.RestoreOptions{Storage: "local-lvm",
		Config: map[string]string{"rootfs": "local-lvm:8", "hostname": "wiki"}}); err != nil {
		t.Fatal(err)
	}
	// A start whose POST never happened.
	e.append(journal.Intent{Txn: txn, Call: "guest.start-110-a", Op: ops.GuestStart, Guest: 110,
		Params: json.RawMessage(`{}`), Class: "benign", Time: time.Now().UTC()})
	got, err := apply.Recover(ctx, e.opts)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].Result != apply.ResultOK || got[1].Result != apply.ResultAborted {
		t.Fatalf("recovered %+v", got)
	}
	if !strings.Contains(got[0].UPID, ":vzrestore:102:") {
		t.Errorf("found task %s", got[0].UPID)
	}
	if len(e.journal.InFlight()) != 0 || len(e.journal.OpenTxns()) != 0 {
		t.Errorf("in flight %v, open %v", e.journal.InFlight(), e.journal.OpenTxns())
	}
	if end := e.txn(txn).End; end == nil || end.Result != journal.TxnAborted {
		t.Errorf("txn ended %+v", end)
	}
	if c := e.sim.Counters()["POST /nodes/{node}/lxc"]; c != 1 {
		t.Errorf("%d create POSTs, want 1 (recovery never re-posts)", c)
	}
}

func TestJournalFailureStopsTheRunBeforeTheCall(t *testing.T) {
	e := newEnv(t)
	// A journal with room for the transaction's begin record and no more.
	e.closeJournal()
	e.journal = e.openJournal(journal.Options{MaxSize: 200, CompactAt: -1})
	e.opts.Journal = e.journal
	_, err := apply.Run(context.Background(), &plan.Plan{Steps: []plan.Step{step("guest.start-110-a", ops.GuestStart, 110, `{}`)}}, e.opts)
	if err == nil || !strings.Contains(err.Error(), "full") {
		t.Fatalf("err %v", err)
	}
	if c := e.sim.Counters()["POST /nodes/{node}/lxc/{vmid}/status/start"]; c != 0 {
		t.Errorf("the call was made without its intent record")
	}
}

// An audit log that cannot be written holds back no benign step, and a
// destructive step whose acceptance cannot be audited does not run.
func TestAuditFailureNeverLetsADestructiveStepRunUnrecorded(t *testing.T) {
	e := newEnv(t)
	sign := e.signer("alice@ops", trust.RoleOperational)
	d := step("guest.destroy-110-a", ops.GuestDestroy, 110, `{"purge":true,"volumes":["local-lvm:vm-110-disk-0"]}`)
	p := outcome(t, e.run(d), "guest.destroy-110-a", apply.OutcomePending)
	sign(p.Request)
	broken := filepath.Join(e.dir, "audit-is-a-directory")
	if err := os.Mkdir(broken, 0o700); err != nil {
		t.Fatal(err)
	}
	e.opts.Audit = apply.OpenAudit(broken, nil)
	res := e.run(d, step("guest.start-110-b", ops.GuestStart, 110, `{}`))
	r := outcome(t, res, "guest.destroy-110-a", apply.OutcomeFailed)
	if !strings.Contains(r.Message, "not run") || !strings.Contains(r.Message, "audit") {
		t.Errorf("message %q", r.Message)
	}
	if !e.exists(110) {
		t.Fatal("guest 110 was destroyed without an audit record")
	}
	if c := e.sim.Counters()["POST /nodes/{node}/vzdump"] + e.sim.Counters()["DELETE /nodes/{node}/lxc/{vmid}"]; c != 0 {
		t.Errorf("%d calls made for the unaudited step", c)
	}
	outcome(t, res, "guest.start-110-b", apply.OutcomeDone)
}

// A config PUT has no task: recovery compares the live config with what
// the call wrote.
func TestRecoverSettlesAConfigWriteByTheLiveConfig(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	e.append(journal.TxnBegin{Txn: "txn-crashed", Host: "pve-demo"})
	took := journal.Intent{Txn: "txn-crashed", Call: "guest.set-100-a", Op: ops.GuestSet, Guest: 100,
		Params: json.RawMessage(`{"set":{"description":"x","memory":"2048","tags":"web;prod"}}`), Class: "benign", Time: time.Now()}
	e.append(took)
	if err := e.client.SetConfig(ctx, 100, map[string]string{"memory": "2048", "description": "x", "tags": "web;prod"}, nil, ""); err != nil {
		t.Fatal(err)
	}
	e.append(journal.Intent{Txn: "txn-crashed", Call: "mount.detach-101-a", Op: ops.MountDetach, Guest: 101,
		Params: json.RawMessage(`{"path":"/srv/share","slot":"mp0"}`), Class: "benign", Time: time.Now()})
	rec, err := apply.Recover(ctx, e.opts)
	if err != nil {
		t.Fatal(err)
	}
	if len(rec) != 2 || rec[0].Result != apply.ResultOK || rec[1].Result != apply.ResultAborted {
		t.Fatalf("recovered %+v", rec)
	}
	if !strings.Contains(rec[1].Message, "mp0 (still set)") {
		t.Errorf("message %q", rec[1].Message)
	}
	if c := e.sim.Counters()["PUT /nodes/{node}/lxc/{vmid}/config"]; c != 1 {
		t.Errorf("%d config PUTs, want 1 (recovery never writes)", c)
	}
}

// A signed rollback takes a safety snapshot first and starts the guest
// again when it was running; once the safety snapshot is older than
// safety.keep, a later run removes it (benign: the journal proves it is
// the tool's own).
func TestSignedRollbackSafetySnapshotAndHousekeeping(t *testing.T) {
	e := newEnv(t)
	sign := e.signer("alice@ops", trust.RoleOperational)
	e.opts.Safety.Keep = 7 * 24 * time.Hour
	rb := step("snapshot.rollback-100-a", ops.SnapshotRollback, 100, `{"snapshot":"pre-upgrade"}`)
	p := outcome(t, e.run(rb), "snapshot.rollback-100-a", apply.OutcomePending)
	sign(p.Request)
	r := outcome(t, e.run(rb), "snapshot.rollback-100-a", apply.OutcomeDone)
	if !strings.HasPrefix(r.Message, "safety snapshot felhom-safety-") {
		t.Errorf("message %q", r.Message)
	}
	ctx := context.Background()
	if st, _ := e.client.GuestStatus(ctx, 100); st.Status != "running" {
		t.Errorf("guest 100 is %s after the rollback, want running again", st.Status)
	}
	snaps := func() []string {
		list, err := e.client.ListSnapshots(ctx, 100)
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, s := range list {
			names = append(names, s.Name)
		}
		return names
	}
	safety := ""
	for _, n := range snaps() {
		if strings.HasPrefix(n, "felhom-safety-") {
			safety = n
		}
	}
	if safety == "" || !e.journal.ToolSnapshot(100, safety) {
		t.Fatalf("no safety snapshot recorded: live %v", snaps())
	}
	// Not yet old enough: kept.
	e.run()
	if !e.journal.ToolSnapshot(100, safety) {
		t.Fatal("the safety snapshot was removed before safety.keep")
	}
	// Eight days later: removed, audited as allowed_provenance.
	e.opts.Now = func() time.Time { return time.Now().Add(8 * 24 * time.Hour) }
	res := e.run()
	outcome(t, res, "housekeeping-snapshot.delete-100-"+safety, apply.OutcomeDone)
	for _, n := range snaps() {
		if n == safety {
			t.Errorf("safety snapshot %s still exists", safety)
		}
	}
	if e.journal.ToolSnapshot(100, safety) {
		t.Error("the journal still lists the safety snapshot")
	}
	if got := e.decisions("housekeeping-snapshot.delete-100-" + safety); len(got) == 0 || got[0] != apply.DecisionProvenance {
		t.Errorf("audit %v", got)
	}
}

// Two calls of one type on one guest in the same second: recovery never
// takes the first call's recorded task for the second call.
func TestRecoverDoesNotTakeAnotherCallsTask(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	now := time.Now().UTC()
	e.append(journal.TxnBegin{Txn: "txn-crashed", Host: "pve-demo"})
	first := journal.Intent{Txn: "txn-crashed", Call: "snapshot.create-100-a", Op: ops.SnapshotCreate, Guest: 100,
		Params: json.RawMessage(`{"snapshot":"snap-a"}`), Class: "benign", Time: now}
	e.append(first)
	u1, err := e.client.Snapshot(ctx, 100, "snap-a", "")
	if err != nil {
		t.Fatal(err)
	}
	e.append(journal.TaskStarted{Txn: "txn-crashed", Call: first.Call, UPID: u1.String()})
	e.append(journal.Result{Txn: "txn-crashed", Call: first.Call, Status: journal.StatusOK})
	// The second call's POST never happened.
	e.append(journal.Intent{Txn: "txn-crashed", Call: "snapshot.create-100-b", Op: ops.SnapshotCreate, Guest: 100,
		Params: json.RawMessage(`{"snapshot":"snap-b"}`), Class: "benign", Time: now})
	rec, err := apply.Recover(ctx, e.opts)
	if err != nil {
		t.Fatal(err)
	}
	if len(rec) != 1 || rec[0].Result != apply.ResultAborted || rec[0].UPID != "" {
		t.Fatalf("recovered %+v, want the second call aborted (its task never started)", rec)
	}
}

// lostAnswer is a client whose restore reaches Proxmox but whose answer
// is lost on the way back (a connection reset after the request).
type lostAnswer struct {
	*proxmox.Client
}

func (c lostAnswer) RestoreLXC(ctx context.Context, vmid int, archive string, o proxmox.RestoreOptions) (proxmox.UPID, error) {
	if _, err := c.Client.RestoreLXC(ctx, vmid, archive, o); err != nil {
		return proxmox.UPID{}, err
	}
	return proxmox.UPID{}, errors.New("POST /nodes/pve/lxc: connection reset by peer (the request may have reached Proxmox)")
}

// A POST whose answer was lost is settled at once, as recovery would: its
// task is found in the list and followed; nothing is posted twice.
func TestLostAnswerIsSettledFromTheTaskList(t *testing.T) {
	e := newEnv(t)
	e.opts.Client = lostAnswer{e.client}
	res := e.run(step("guest.create-102-a", ops.GuestCreate, 102, createParams),
		step("guest.start-102-a", ops.GuestStart, 102, `{}`, "guest.create-102-a"))
	r := outcome(t, res, "guest.create-102-a", apply.OutcomeDone)
	if !strings.Contains(r.UPID, ":vzrestore:102:") {
		t.Errorf("UPID %q", r.UPID)
	}
	outcome(t, res, "guest.start-102-a", apply.OutcomeDone)
	if c := e.sim.Counters()["POST /nodes/{node}/lxc"]; c != 1 {
		t.Errorf("%d create POSTs, want 1", c)
	}
	if !e.journal.CreatedIn(102, res.Txn) {
		t.Errorf("guest 102 not recorded as created in %s", res.Txn)
	}
	if _, ok := e.result("guest.create-102-a"); !ok || len(e.journal.InFlight()) != 0 {
		t.Errorf("journal: result %v, in flight %v", ok, e.journal.InFlight())
	}
}

// A change by someone else between two steps on one guest is not
// absorbed: the later config write passes the observed digest and is
// refused.
func TestAConcurrentEditBetweenStepsIsNotAbsorbed(t *testing.T) {
	e := newEnv(t)
	d := e.digest(100)
	snap := step("snapshot.create-100-a", ops.SnapshotCreate, 100, `{"snapshot":"snap-a"}`)
	snap.ObservedDigest = d
	set := step("guest.set-100-a", ops.GuestSet, 100, `{"set":{"memory":"2048"}}`)
	set.ObservedDigest = d
	// Someone edits the guest after the observe, before the run.
	if err := e.client.SetConfig(context.Background(), 100, map[string]string{"description": "by hand"}, nil, ""); err != nil {
		t.Fatal(err)
	}
	res := e.run(snap, set)
	outcome(t, res, "snapshot.create-100-a", apply.OutcomeDone)
	r := outcome(t, res, "guest.set-100-a", apply.OutcomeFailed)
	if !strings.Contains(r.Message, "changed concurrently") {
		t.Errorf("message %q", r.Message)
	}
	if !strings.Contains(e.out.String(), "guest 100 changed outside this run since it was observed") {
		t.Errorf("no warning in\n%s", e.out.String())
	}
	if _, ok := e.journal.LastDigest(100); ok {
		t.Error("the digest of a guest changed by someone else was recorded as this run's")
	}
}

// volumesOf lists a guest's volumes as the signed params must name them.
func (e *env) volumesOf(vmid int) string {
	cfg, err := e.client.GuestConfig(context.Background(), vmid)
	if err != nil {
		e.t.Fatal(err)
	}
	var vols []string
	for _, k := range cfg.Keys() {
		if k == "rootfs" || strings.HasPrefix(k, "mp") || strings.HasPrefix(k, "unused") {
			v, _, _ := strings.Cut(cfg.Values[k], ",")
			vols = append(vols, `"`+v+`"`)
		}
	}
	return "[" + strings.Join(vols, ",") + "]"
}

// A signed restore-over backs the guest up first, stops it, restores the
// archive over it and starts it again; a signed rebuild backs up, restores
// its own backup with the change and starts the guest again.
func TestSignedRestoreOverAndRebuild(t *testing.T) {
	e := newEnv(t)
	sign := e.signer("alice@ops", trust.RoleOperational)
	ctx := context.Background()
	items, err := e.client.StorageContent(ctx, "local", "backup", 101)
	if err != nil || len(items) == 0 {
		t.Fatalf("no backup of 101: %v", err)
	}
	ro := step("guest.restore_over-101-a", ops.GuestRestoreOver, 101, `{"archive":"`+items[0].VolID+`",`+archiveIdentity(items[0])+`,"volumes":`+e.volumesOf(101)+`}`)
	p := outcome(t, e.run(ro), ro.ID, apply.OutcomePending)
	sign(p.Request)
	r := outcome(t, e.run(ro), ro.ID, apply.OutcomeDone)
	if !strings.HasPrefix(r.Message, "safety backup local:backup/vzdump-lxc-101-") {
		t.Errorf("message %q", r.Message)
	}
	for _, call := range []string{ro.ID + "#safety-backup", ro.ID + "#stop", ro.ID, ro.ID + "#start"} {
		if tm, ok := e.result(call); !ok || tm.Result != apply.ResultOK {
			t.Errorf("%s: %+v %v", call, tm, ok)
		}
	}
	if c := e.sim.Counters()["POST /nodes/{node}/lxc"]; c != 1 {
		t.Errorf("%d restore POSTs", c)
	}
	if st, _ := e.client.GuestStatus(ctx, 101); st.Status != "running" {
		t.Errorf("guest 101 is %s after the restore over it, want running again", st.Status)
	}

	// A running guest is started again after its rebuild.
	if u, err := e.client.Start(ctx, 110); err != nil || e.client.WaitTask(ctx, u, proxmox.WaitOptions{}) != nil {
		t.Fatalf("start 110: %v", err)
	}
	rb := step("guest.rebuild-110-a", ops.GuestRebuild, 110, `{"change":{"unprivileged":"1"},"volumes":`+e.volumesOf(110)+`}`)
	p = outcome(t, e.run(rb), rb.ID, apply.OutcomePending)
	sign(p.Request)
	r = outcome(t, e.run(rb), rb.ID, apply.OutcomeDone)
	if !strings.HasPrefix(r.Message, "backup taken first: local:backup/vzdump-lxc-110-") {
		t.Errorf("message %q", r.Message)
	}
	cfg, _ := e.client.GuestConfig(ctx, 110)
	if !cfg.Unprivileged() {
		t.Error("guest 110 is still privileged after the rebuild")
	}
	if st, _ := e.client.GuestStatus(ctx, 110); st.Status != "running" {
		t.Errorf("guest 110 is %s after the rebuild, want running again", st.Status)
	}
}

// Grow, add a mount point, detach it (its volume stays as unusedN), and
// free the detached volume with a signature (a safety backup first).
func TestDiskAndMountOpsAndASignedVolumeFree(t *testing.T) {
	e := newEnv(t)
	sign := e.signer("alice@ops", trust.RoleOperational)
	ctx := context.Background()
	res := e.run(
		step("disk.grow-110-a", ops.DiskGrow, 110, `{"disk":"rootfs","from":"4G","to":"10G"}`),
		step("mount.add-110-a", ops.MountAdd, 110, `{"slot":"mp1","value":"local-lvm:2,mp=/srv/x,backup=1"}`),
	)
	outcome(t, res, "disk.grow-110-a", apply.OutcomeDone)
	outcome(t, res, "mount.add-110-a", apply.OutcomeDone)
	cfg, _ := e.client.GuestConfig(ctx, 110)
	if !strings.Contains(cfg.RootFS(), "size=10G") || !strings.Contains(cfg.Values["mp1"], "mp=/srv/x") {
		t.Fatalf("rootfs %q mp1 %q", cfg.RootFS(), cfg.Values["mp1"])
	}
	vol, _, _ := strings.Cut(cfg.Values["mp1"], ",")
	det := step("mount.detach-110-a", ops.MountDetach, 110, `{"path":"/srv/x","slot":"mp1","volume":"`+vol+`"}`)
	det.ObservedDigest = cfg.Digest
	outcome(t, e.run(det), det.ID, apply.OutcomeDone)
	cfg, _ = e.client.GuestConfig(ctx, 110)
	slot := ""
	for k, v := range cfg.Unused() {
		if v == vol {
			slot = fmt.Sprintf("unused%d", k)
		}
	}
	if slot == "" {
		t.Fatalf("the detached volume %s is not unusedN: %v", vol, cfg.Values)
	}
	free := step("volume.free-110-a", ops.VolumeFree, 110, `{"size":"2G","slot":"`+slot+`","unprotected":["`+vol+`"],"volume":"`+vol+`"}`)
	p := outcome(t, e.run(free), free.ID, apply.OutcomePending)
	sign(p.Request)
	vzdumps := e.sim.Counters()["POST /nodes/{node}/vzdump"]
	outcome(t, e.run(free), free.ID, apply.OutcomeDone)
	// No backup covers a detached volume: none is taken; the signed
	// params name the volume as unprotected instead.
	if n := e.sim.Counters()["POST /nodes/{node}/vzdump"]; n != vzdumps {
		t.Errorf("%d vzdumps for a volume free, want none", n-vzdumps)
	}
	cfg, _ = e.client.GuestConfig(ctx, 110)
	if _, still := cfg.Values[slot]; still {
		t.Errorf("%s is still set: %v", slot, cfg.Values)
	}
}

func TestPowerOpsAndASignedPrune(t *testing.T) {
	e := newEnv(t)
	sign := e.signer("alice@ops", trust.RoleOperational)
	ctx := context.Background()
	res := e.run(
		step("guest.reboot-100-a", ops.GuestReboot, 100, `{"reason":["features"]}`),
		step("guest.stop-101-a", ops.GuestStop, 101, `{}`),
	)
	outcome(t, res, "guest.reboot-100-a", apply.OutcomeDone)
	outcome(t, res, "guest.stop-101-a", apply.OutcomeDone)
	if st, _ := e.client.GuestStatus(ctx, 101); st.Status != "stopped" {
		t.Errorf("101 is %s", st.Status)
	}
	if st, _ := e.client.GuestStatus(ctx, 100); st.Status != "running" {
		t.Errorf("100 is %s after its reboot", st.Status)
	}
	items, _ := e.client.StorageContent(ctx, "local", "backup", 100)
	var archives []string
	for _, it := range items {
		archives = append(archives, `"`+it.VolID+`"`)
	}
	pr := step("backup.prune-100-a", ops.BackupPrune, 100, `{"archives":[`+strings.Join(archives, ",")+`],"storage":"local"}`)
	p := outcome(t, e.run(pr), pr.ID, apply.OutcomePending)
	sign(p.Request)
	r := outcome(t, e.run(pr), pr.ID, apply.OutcomeDone)
	if !strings.HasPrefix(r.Message, "local:backup/vzdump-lxc-100-") {
		t.Errorf("message %q", r.Message)
	}
}

// A recorded task Proxmox no longer knows is aborted, not waited for
// forever, and not posted again.
func TestRecoverAbortsATaskProxmoxDoesNotKnow(t *testing.T) {
	e := newEnv(t)
	e.append(journal.TxnBegin{Txn: "txn-crashed", Host: "pve-demo"})
	in := journal.Intent{Txn: "txn-crashed", Call: "guest.start-110-a", Op: ops.GuestStart, Guest: 110,
		Params: json.RawMessage(`{}`), Class: "benign", Time: time.Now()}
	e.append(in)
	ghost, err := proxmox.ParseUPID("UPID:pve:0000FFFF:00000001:6B0EE000:vzstart:110:felhom@pve!converge:")
	if err != nil {
		t.Fatal(err)
	}
	e.append(journal.TaskStarted{Txn: in.Txn, Call: in.Call, UPID: ghost.String()})
	rec, err := apply.Recover(context.Background(), e.opts)
	if err != nil || len(rec) != 1 || rec[0].Result != apply.ResultAborted || !strings.Contains(rec[0].Message, "does not know task") {
		t.Fatalf("recovered %+v %v", rec, err)
	}
	if c := e.sim.Counters()["POST /nodes/{node}/lxc/{vmid}/status/start"]; c != 0 {
		t.Errorf("%d start POSTs", c)
	}
}

// A signed backup.prune deletes exactly the archives its params name, not
// what the storage's retention picks at run time: here the retention
// (keep-last=2) would also remove an archive added after the signature.
func TestSignedPruneDeletesExactlyTheSignedArchives(t *testing.T) {
	e := newEnv(t)
	sign := e.signer("alice@ops", trust.RoleOperational)
	ctx := context.Background()
	oldest := "local:backup/vzdump-lxc-100-2026_11_20-02_00_03.tar.zst"
	pr := step("backup.prune-100-a", ops.BackupPrune, 100, `{"archives":["`+oldest+`"],"job":"j","storage":"local"}`)
	pr.Job = "j"
	p := outcome(t, e.run(pr), pr.ID, apply.OutcomePending)
	sign(p.Request)
	// Another backup lands between signing and apply.
	outcome(t, e.run(step("backup.create-100-b", ops.BackupCreate, 100, `{"storage":"local"}`)), "backup.create-100-b", apply.OutcomeDone)
	time.Sleep(1100 * time.Millisecond) // archive names have a resolution of one second
	before := archiveSet(t, e, ctx)
	if len(before) != 3 {
		t.Fatalf("archives before the prune: %v", before)
	}
	outcome(t, e.run(pr), pr.ID, apply.OutcomeDone)
	after := archiveSet(t, e, ctx)
	if after[oldest] {
		t.Errorf("the signed archive %s is still there", oldest)
	}
	for a := range before {
		if a != oldest && !after[a] {
			t.Errorf("%s was deleted, but the signature named only %s", a, oldest)
		}
	}
	if len(after) != len(before) { // one deleted, one new backup
		t.Errorf("archives after: %v", after)
	}
	if c := e.sim.Counters()["DELETE /nodes/{node}/storage/{storage}/content/{volume}"]; c != 1 {
		t.Errorf("%d archive deletions, want 1", c)
	}
	// The backup is the job: once it succeeded the job is done, and the
	// next plan does not take another one.
	if !e.journal.JobDone("j") {
		t.Error("the prune's job is not marked done")
	}
}

func archiveSet(t *testing.T, e *env, ctx context.Context) map[string]bool {
	t.Helper()
	items, err := e.client.StorageContent(ctx, "local", "backup", 100)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]bool{}
	for _, it := range items {
		out[it.VolID] = true
	}
	return out
}

// A volume whose mount point is only pending removal is still the guest's:
// a destroy signed without it is refused.
func TestDestroyCountsAVolumeWhoseRemovalIsPending(t *testing.T) {
	e := newEnv(t)
	sign := e.signer("alice@ops", trust.RoleOperational)
	ctx := context.Background()
	// 101 runs: removing mp0 waits for the next start.
	if err := e.client.SetConfig(ctx, 101, nil, []string{"mp0"}, ""); err != nil {
		t.Fatal(err)
	}
	d := step("guest.destroy-101-a", ops.GuestDestroy, 101, `{"purge":true,"snapshots":[],"volumes":["local-lvm:vm-101-disk-0"]}`)
	p := outcome(t, e.run(d), d.ID, apply.OutcomePending)
	sign(p.Request)
	r := outcome(t, e.run(d), d.ID, apply.OutcomeFailed)
	if !strings.Contains(r.Message, "local-lvm:vm-101-disk-1") || !e.exists(101) {
		t.Errorf("message %q, guest exists %v", r.Message, e.exists(101))
	}
	// The check ran before the signature was spent: the refusal is
	// audited, and the signature stays usable.
	last := e.audit()[len(e.audit())-1]
	if last.Step != d.ID || last.Decision != apply.DecisionVerified || last.Result != apply.ResultRefusedPrecheck || last.Nonce != "" {
		t.Errorf("last audit line %+v", last)
	}
	if !strings.Contains(r.Message, "was not used") {
		t.Errorf("message %q does not say the signature is unspent", r.Message)
	}
}

// A rollback to a snapshot that is not the newest takes a safety backup,
// not a snapshot: the safety snapshot would become the newest, and ZFS
// rolls back only to the newest.
func TestRollbackToAnOlderSnapshotTakesASafetyBackup(t *testing.T) {
	e := newEnv(t)
	sign := e.signer("alice@ops", trust.RoleOperational)
	outcome(t, e.run(step("snapshot.create-100-a", ops.SnapshotCreate, 100, `{"snapshot":"later"}`)), "snapshot.create-100-a", apply.OutcomeDone)
	rb := step("snapshot.rollback-100-a", ops.SnapshotRollback, 100, `{"job":"undo","snapshot":"pre-upgrade"}`)
	p := outcome(t, e.run(rb), rb.ID, apply.OutcomePending)
	sign(p.Request)
	r := outcome(t, e.run(rb), rb.ID, apply.OutcomeDone)
	if !strings.Contains(r.Message, "safety backup local:backup/vzdump-lxc-100-") {
		t.Errorf("message %q, want a safety backup", r.Message)
	}
	if c := e.sim.Counters()["POST /nodes/{node}/lxc/{vmid}/snapshot"]; c != 1 {
		t.Errorf("%d snapshot requests, want only the test's own", c)
	}
}

// The safety backup a signed destroy took is removed by housekeeping once
// it is older than safety.keep, and not before.
func TestSafetyBackupHousekeeping(t *testing.T) {
	e := newEnv(t)
	sign := e.signer("alice@ops", trust.RoleOperational)
	e.opts.Safety.Keep = 7 * 24 * time.Hour
	d := step("guest.destroy-110-a", ops.GuestDestroy, 110, `{"purge":true,"snapshots":[],"volumes":["local-lvm:vm-110-disk-0"]}`)
	p := outcome(t, e.run(d), d.ID, apply.OutcomePending)
	sign(p.Request)
	outcome(t, e.run(d), d.ID, apply.OutcomeDone)
	ctx := context.Background()
	backups := func() []string {
		items, err := e.client.StorageContent(ctx, "local", "backup", 110)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, it := range items {
			out = append(out, it.VolID)
		}
		return out
	}
	if len(backups()) != 1 {
		t.Fatalf("safety backups of 110: %v", backups())
	}
	e.run()
	if len(backups()) != 1 {
		t.Fatal("the safety backup was removed before safety.keep")
	}
	e.opts.Now = func() time.Time { return time.Now().Add(8 * 24 * time.Hour) }
	res := e.run()
	outcome(t, res, "housekeeping-backup.delete-110-"+backupID(t, res), apply.OutcomeDone)
	if b := backups(); len(b) != 0 {
		t.Errorf("safety backup still there: %v", b)
	}
	if len(e.journal.ToolBackups()) != 0 {
		t.Error("the journal still lists the safety backup")
	}
}

func backupID(t *testing.T, res *apply.Result) string {
	t.Helper()
	for _, s := range res.Steps {
		if v, ok := strings.CutPrefix(s.ID, "housekeeping-backup.delete-110-"); ok {
			return v
		}
	}
	t.Fatalf("no backup housekeeping step in %+v", res.Steps)
	return ""
}

func TestZFSRollbackToTheNewestSnapshotTakesASafetyBackup(t *testing.T) {
	statePath := filepath.Join(t.TempDir(), "state.json")
	sim, err := pvesim.New(pvesim.Options{TaskDuration: 5 * time.Millisecond, ResourcesLag: -1, StatePath: statePath})
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(statePath)
	if err != nil {
		t.Fatal(err)
	}
	var st map[string]any
	json.Unmarshal(b, &st)
	for _, s := range st["storages"].([]any) {
		m := s.(map[string]any)
		if m["id"] == "local-lvm" {
			m["type"], m["pool"] = "zfspool", "rpool/data"
			delete(m, "vgname")
			delete(m, "thinpool")
		}
	}
	b, _ = json.Marshal(st)
	os.WriteFile(statePath, b, 0o600)
	e := envFor(t, sim)
	sign := e.signer("alice@ops", trust.RoleOperational)
	rb := step("snapshot.rollback-100-a", ops.SnapshotRollback, 100, `{"snapshot":"pre-upgrade"}`)
	p := outcome(t, e.run(rb), rb.ID, apply.OutcomePending)
	sign(p.Request)
	res := e.run(rb)
	r := outcome(t, res, rb.ID, apply.OutcomeDone)
	if !strings.Contains(r.Message, "safety backup") {
		t.Errorf("message %q: on ZFS the safety step must be a backup", r.Message)
	}
}

func TestArchiveDeleteWhoseAnswerWasLostStaysInFlight(t *testing.T) {
	e := newEnv(t)
	sign := e.signer("alice@ops", trust.RoleOperational)
	oldest := "local:backup/vzdump-lxc-100-2026_11_20-02_00_03.tar.zst"
	pr := step("backup.prune-100-a", ops.BackupPrune, 100, `{"archives":["`+oldest+`"],"job":"j","storage":"local"}`)
	p := outcome(t, e.run(pr), pr.ID, apply.OutcomePending)
	sign(p.Request)
	h, err := e.sim.Hold("DELETE", "/nodes/{node}/storage/{storage}/content/{volume}")
	if err != nil {
		t.Fatal(err)
	}
	defer h.Release()
	ctx, cancel := context.WithCancel(context.Background())
	go func() { <-h.Reached(); cancel() }()
	if _, err := apply.Run(ctx, &plan.Plan{Host: "pve-demo", Steps: []plan.Step{pr}}, e.opts); err != nil {
		t.Fatal(err)
	}
	tm, ok := e.result(pr.ID + "#delete0")
	if ok && tm.Result == apply.ResultFailed {
		t.Errorf("the DELETE took effect (held answer) but the journal says failed, not in flight")
	}
	h.Release()
	time.Sleep(200 * time.Millisecond) // the held request's imgdel task finishes
	// Recovery settles it from the task (or the archive's absence).
	rec, err := apply.Recover(context.Background(), e.opts)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rec {
		if r.Call == pr.ID+"#delete0" && r.Result != apply.ResultOK {
			t.Errorf("recovered %+v, want ok", r)
		}
	}
}

func TestHousekeepingDigestIsNotOverwrittenByTheObservedOne(t *testing.T) {
	e := newEnv(t)
	sign := e.signer("alice@ops", trust.RoleOperational)
	e.opts.Safety.Keep = 7 * 24 * time.Hour
	rb := step("snapshot.rollback-100-a", ops.SnapshotRollback, 100, `{"snapshot":"pre-upgrade"}`)
	p := outcome(t, e.run(rb), rb.ID, apply.OutcomePending)
	sign(p.Request)
	outcome(t, e.run(rb), rb.ID, apply.OutcomeDone)
	ctx := context.Background()
	cfg, _ := e.client.GuestConfig(ctx, 100)
	e.opts.Now = func() time.Time { return time.Now().Add(8 * 24 * time.Hour) }
	// a plan that observed 100 (nothing to do on it) and applies: housekeeping removes the safety snapshot
	res, err := apply.Run(ctx, &plan.Plan{Host: "pve-demo", Observed: map[int]string{100: cfg.Digest}}, e.opts)
	if err != nil {
		t.Fatal(err)
	}
	outcome(t, res, "housekeeping-snapshot.delete-100-"+safetyName(t, res), apply.OutcomeDone)
	live, _ := e.client.GuestConfig(ctx, 100)
	lastD, _ := e.journal.LastDigest(100)
	last := lastD.Digest
	if last != live.Digest {
		t.Errorf("journal's last digest of 100 is %s (observed before housekeeping), live is %s: the next plan reports the tool's own housekeeping as drift", last, live.Digest)
	}
}

func safetyName(t *testing.T, res *apply.Result) string {
	t.Helper()
	for _, s := range res.Steps {
		if v, ok := strings.CutPrefix(s.ID, "housekeeping-snapshot.delete-100-"); ok {
			return v
		}
	}
	t.Fatalf("no snapshot housekeeping in %+v", res.Steps)
	return ""
}

// Deleting the tool's own safety snapshot on the file's request needs a
// signature like any snapshot deletion: only housekeeping after
// safety.keep removes it unsigned.
func TestDeletingAToolSnapshotOnRequestNeedsASignature(t *testing.T) {
	e := newEnv(t)
	e.append(journal.SnapshotCreated{Guest: 100, Name: "pre-upgrade", SnapTime: 1})
	d := step("snapshot.delete-100-a", ops.SnapshotDelete, 100, `{"job":"tidy","snapshot":"pre-upgrade"}`)
	outcome(t, e.run(d), d.ID, apply.OutcomePending)
}

// The check of a destroy against its signed params runs again right
// before the call: a volume attached while the safety backup ran stops it.
func TestDestroyChecksAgainRightBeforeTheCall(t *testing.T) {
	e := newEnv(t)
	sign := e.signer("alice@ops", trust.RoleOperational)
	d := step("guest.destroy-110-a", ops.GuestDestroy, 110, `{"purge":true,"snapshots":[],"volumes":["local-lvm:vm-110-disk-0"]}`)
	p := outcome(t, e.run(d), d.ID, apply.OutcomePending)
	sign(p.Request)
	e.opts.Hook = func(point, op string) {
		if point == "terminal" && op == ops.BackupCreate { // the safety backup has ended
			if err := e.client.SetConfig(context.Background(), 110, map[string]string{"mp5": "local-lvm:1,mp=/late"}, nil, ""); err != nil {
				t.Error(err)
			}
		}
	}
	r := outcome(t, e.run(d), d.ID, apply.OutcomeFailed)
	if !strings.Contains(r.Message, "which the signed step does not name") || !e.exists(110) {
		t.Errorf("message %q, guest exists %v", r.Message, e.exists(110))
	}
}

// After a call whose outcome is unknown, nothing more runs on that guest
// (other guests go on), and the transaction stays open for recovery.
func TestAnInterruptedCallBlocksItsGuestAndKeepsTheTransactionOpen(t *testing.T) {
	e := newEnvWith(t, 400*time.Millisecond)
	e.opts.Wait.Timeout = 30 * time.Millisecond // the wait gives up while the task runs
	res := e.run(
		step("snapshot.create-100-a", ops.SnapshotCreate, 100, `{"snapshot":"s1"}`),
		step("guest.set-100-b", ops.GuestSet, 100, `{"set":{"cores":"3"}}`),
		step("guest.set-101-c", ops.GuestSet, 101, `{"set":{"cores":"3"}}`),
	)
	outcome(t, res, "snapshot.create-100-a", apply.OutcomeInterrupted)
	if s := outcome(t, res, "guest.set-100-b", apply.OutcomeSkipped); !strings.Contains(s.Message, "in flight") {
		t.Errorf("message %q", s.Message)
	}
	outcome(t, res, "guest.set-101-c", apply.OutcomeDone)
	if open := e.journal.OpenTxns(); len(open) != 1 || open[0].Txn != res.Txn {
		t.Errorf("open transactions %v, want the run's own %s", open, res.Txn)
	}
}

// archiveIdentity is the params fields that bind an archive by identity.
func archiveIdentity(it proxmox.StorageItem) string {
	return fmt.Sprintf(`"archive_ctime":%d,"archive_size":%d`, it.CTime, it.Size)
}

// archiveItem is the storage's listing of a backup archive.
func (e *env) archiveItem(volid string) proxmox.StorageItem {
	e.t.Helper()
	items, err := e.client.StorageContent(context.Background(), strings.SplitN(volid, ":", 2)[0], "backup", 0)
	if err != nil {
		e.t.Fatal(err)
	}
	for _, it := range items {
		if it.VolID == volid {
			return it
		}
	}
	e.t.Fatalf("no archive %s", volid)
	return proxmox.StorageItem{}
}
