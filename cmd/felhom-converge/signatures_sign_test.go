package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/felhom/felhom-converge/proxmox/hostexec"
	"github.com/felhom/felhom-converge/trust"
)

// testBundle is a bundle of n guest.destroy requests for pve-demo, valid
// for an hour.
func testBundle(t *testing.T, n int) *trust.Bundle {
	t.Helper()
	b := &trust.Bundle{}
	for i := 0; i < n; i++ {
		nonce, _ := trust.NewNonce()
		r, err := trust.NewRequest(trust.Action{Host: "pve-demo", HostID: strings.TrimSuffix(strings.Repeat("AB:", 32), ":"), Op: "guest.destroy", Guest: 101 + i,
			Params: []byte(`{"purge":true,"snapshots":[],"volumes":[]}`)}, nonce, time.Now().Add(time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		b.Entries = append(b.Entries, trust.BundleEntry{Name: r.ID() + trust.RequestSuffix, Req: r.Marshal(),
			Header: []string{"host:  pve-demo", "plan:  ! guest.destroy \x1b[2J"}})
	}
	return b
}

func newKey(t *testing.T) string {
	t.Helper()
	if _, err := exec.LookPath("ssh-keygen"); err != nil {
		t.Skip("ssh-keygen (openssh-client) is not installed")
	}
	key := filepath.Join(t.TempDir(), "alice")
	if out, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "alice", "-f", key).CombinedOutput(); err != nil {
		t.Fatalf("ssh-keygen: %v\n%s", err, out)
	}
	return key
}

// verifySig checks a bundle entry's signature with the stock ssh-keygen
// -Y verify against the key.
func verifySig(t *testing.T, key string, e trust.BundleEntry) {
	t.Helper()
	dir := t.TempDir()
	pub, err := os.ReadFile(key + ".pub")
	if err != nil {
		t.Fatal(err)
	}
	allowed := filepath.Join(dir, "allowed")
	sig := filepath.Join(dir, "sig")
	os.WriteFile(allowed, []byte(`alice@ops namespaces="felhom-operational" `+string(pub)), 0o644)
	os.WriteFile(sig, e.Sig, 0o644)
	cmd := exec.Command("ssh-keygen", "-Y", "verify", "-f", allowed, "-I", "alice@ops", "-n", "felhom-operational", "-s", sig)
	cmd.Stdin = bytes.NewReader(e.Req)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("%s: ssh-keygen -Y verify: %v\n%s", e.Name, err, out)
	}
}

func TestSignAsksPerRequestAndSignsOnlyTheYeses(t *testing.T) {
	key := newKey(t)
	b := testBundle(t, 3)
	var shown bytes.Buffer
	answers := []bool{true, false, true}
	var prompts []string
	res, err := trust.SignBundle(b, trust.SignOptions{
		Show: &shown, Now: time.Now(),
		Ask: trust.PromptFunc(func(p string) (bool, error) {
			prompts = append(prompts, p)
			return answers[len(prompts)-1], nil
		}),
		Keygen: hostexec.SSHKeygen{Key: key, Stdin: os.Stdin, Stderr: &shown},
	})
	if err != nil || res.Signed != 2 || res.Failed != 0 {
		t.Fatalf("signBundle: %+v %v\n%s", res, err, shown.String())
	}
	if len(prompts) != 3 || prompts[0] != "Sign guest.destroy 101 on pve-demo? [y/N] " {
		t.Errorf("prompts: %q", prompts)
	}
	if !b.Entries[0].Signed() || b.Entries[1].Signed() || !b.Entries[2].Signed() {
		t.Fatalf("signed: %v %v %v", b.Entries[0].Signed(), b.Entries[1].Signed(), b.Entries[2].Signed())
	}
	verifySig(t, key, b.Entries[0])
	verifySig(t, key, b.Entries[2])
	out := shown.String()
	if strings.Contains(out, "\x1b") || !strings.Contains(out, `plan:  ! guest.destroy \x1b[2J`) {
		t.Errorf("the host's note is not escaped:\n%s", out)
	}
	if !strings.Contains(out, "  loses:     destroys the guest and frees every volume it owns\n") {
		t.Errorf("what the op loses is not shown:\n%s", out)
	}
	// Signed already: kept, not asked again.
	prompts = nil
	if res, err := trust.SignBundle(b, trust.SignOptions{Show: &shown, Now: time.Now(),
		Ask:    trust.PromptFunc(func(p string) (bool, error) { prompts = append(prompts, p); return false, nil }),
		Keygen: trust.KeygenFunc(func(string, []string) error { return nil })}); err != nil || res.Signed != 0 || len(prompts) != 1 {
		t.Errorf("second pass: %+v %v, prompts %q", res, err, prompts)
	}
}

func TestSignWithAKeyInSSHAgent(t *testing.T) {
	key := newKey(t)
	if _, err := exec.LookPath("ssh-agent"); err != nil {
		t.Skip("ssh-agent is not installed")
	}
	sock := filepath.Join(t.TempDir(), "agent.sock")
	agent := exec.Command("ssh-agent", "-D", "-a", sock)
	if err := agent.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { agent.Process.Kill(); agent.Wait() })
	for i := 0; i < 100; i++ {
		if _, err := os.Stat(sock); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Setenv("SSH_AUTH_SOCK", sock)
	// The socket may exist a moment before the agent listens on it.
	for i := 0; ; i++ {
		out, err := exec.Command("ssh-add", key).CombinedOutput()
		if err == nil {
			break
		}
		if i == 50 {
			t.Fatalf("ssh-add: %v\n%s", err, out)
		}
		time.Sleep(100 * time.Millisecond)
	}
	// Only the public key on disk: ssh-keygen finds the private one in
	// the agent.
	pubOnly := filepath.Join(t.TempDir(), "alice.pub")
	pub, _ := os.ReadFile(key + ".pub")
	os.WriteFile(pubOnly, pub, 0o644)
	b := testBundle(t, 1)
	var shown bytes.Buffer
	res, err := trust.SignBundle(b, trust.SignOptions{Show: &shown, Now: time.Now(),
		Ask:    trust.PromptFunc(func(string) (bool, error) { return true, nil }),
		Keygen: hostexec.SSHKeygen{Key: pubOnly, Stdin: os.Stdin, Stderr: &shown}})
	if err != nil || res.Signed != 1 {
		t.Fatalf("%+v %v\n%s", res, err, shown.String())
	}
	verifySig(t, key, b.Entries[0])
}

func TestSignRefusesExpiredAndMalformedRequests(t *testing.T) {
	b := testBundle(t, 1)
	b.Entries = append(b.Entries, trust.BundleEntry{Name: "junk.req", Req: []byte("felhom-converge request v1\nhost: x\n")})
	var shown bytes.Buffer
	res, err := trust.SignBundle(b, trust.SignOptions{Show: &shown, Now: time.Now().Add(2 * time.Hour),
		Ask:    trust.PromptFunc(func(string) (bool, error) { t.Error("asked about an expired or malformed request"); return true, nil }),
		Keygen: trust.KeygenFunc(func(string, []string) error { t.Error("signed"); return nil })})
	if err != nil || res.Signed != 0 || res.Failed != 1 {
		t.Errorf("%+v %v", res, err)
	}
	if out := shown.String(); !strings.Contains(out, "expired") || !strings.Contains(out, "junk.req: not a request, not signed") {
		t.Errorf("shown:\n%s", out)
	}
}

// TestSignRefusesStdinFromDevNull: /dev/null as stdin (cron, 'ssh -n') is
// no terminal, so sign refuses without --yes before asking anything.
func TestSignRefusesStdinFromDevNull(t *testing.T) {
	bin, err := exec.LookPath("felhom-converge")
	if err != nil {
		t.Fatalf("the test binary is not on PATH as felhom-converge: %v", err)
	}
	bundle := filepath.Join(t.TempDir(), "all")
	if err := testBundle(t, 1).Write(bundle, nil); err != nil {
		t.Fatal(err)
	}
	null, err := os.Open(os.DevNull)
	if err != nil {
		t.Fatal(err)
	}
	defer null.Close()
	cmd := exec.Command(bin, "signatures", "sign", bundle, "-f", filepath.Join(t.TempDir(), "alice"))
	var stdout, stderr bytes.Buffer
	cmd.Stdin, cmd.Stdout, cmd.Stderr = null, &stdout, &stderr
	err = cmd.Run()
	if exit, ok := err.(*exec.ExitError); !ok || exit.ExitCode() != 1 {
		t.Fatalf("sign with stdin from /dev/null: %v, want exit 1\n%s", err, stderr.String())
	}
	if !strings.Contains(stderr.String(), "sign: not on a terminal, and --yes was not given: nothing was signed") ||
		!strings.Contains(stderr.String(), "hint: review the bundle") {
		t.Errorf("stderr does not refuse with the hint:\n%s", stderr.String())
	}
	if strings.Contains(stdout.String()+stderr.String(), "? [y/N]") || strings.Contains(stderr.String(), "no answer") {
		t.Errorf("sign asked although stdin is no terminal:\n%s%s", stdout.String(), stderr.String())
	}
	if _, err := os.Stat(bundle + ".signed"); !os.IsNotExist(err) {
		t.Errorf("a signed bundle was written: %v", err)
	}
}
