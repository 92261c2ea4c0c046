package config

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

const (
	testToken  = "felhom@pve!converge=0b1c1b7e-52f4-4c43-9f0e-5a2d7c3e9a11"
	testSecret = "0b1c1b7e-52f4-4c43-9f0e-5a2d7c3e9a11"
	testFP     = "5C:1A:2B:3C:4D:5E:6F:70:81:92:A3:B4:C5:D6:E7:F8:09:1A:2B:3C:4D:5E:6F:70:81:92:A3:B4:C5:D6:E7:A1"
)

func env(kv ...string) func(string) string {
	m := map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return func(k string) string { return m[k] }
}

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestLoadFileAndEnvironment(t *testing.T) {
	tokenFile := writeFile(t, "token", testToken+"\n")
	cfgFile := writeFile(t, "config.hcl", fmt.Sprintf(`
host            = "pve-demo"
state_dir       = "/srv/felhom"
proxmox {
  endpoint   = "https://pve.example.org:8006/api2/json"
  node       = "pve"
  token_file = %q
  timeout    = "45s"
  tls {
    fingerprint = %q
  }
}
privileged {
  mode = "direct"
}
`, tokenFile, strings.ToLower(testFP)))

	c, err := Load(Sources{File: cfgFile, Getenv: env("FELHOM_CONVERGE_PROXMOX_NODE", "pve2")})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.RequireProxmox(); err != nil {
		t.Fatal(err)
	}
	checks := []struct{ name, got, want string }{
		{"host", c.Host, "pve-demo"},
		{"state_dir", c.StateDir, "/srv/felhom"},
		{"allowed_signers default", c.AllowedSigners, DefaultAllowedSigners},
		{"endpoint normalised", c.Proxmox.Endpoint, "https://pve.example.org:8006"},
		{"env beats file", c.Proxmox.Node, "pve2"},
		{"token from token_file", c.Proxmox.Token.Reveal(), testToken},
		{"fingerprint normalised", c.Proxmox.Fingerprint, testFP},
		{"timeout", c.Proxmox.Timeout.String(), "45s"},
		{"privileged", c.Privileged.Mode, "direct"},
		{"origin of file value", c.Origin("host"), cfgFile + ":2"},
		{"origin of env value", c.Origin("proxmox.node"), "env FELHOM_CONVERGE_PROXMOX_NODE"},
		{"origin of default", c.Origin("proxmox.concurrency"), "default"},
	}
	for _, ck := range checks {
		if ck.got != ck.want {
			t.Errorf("%s = %q, want %q", ck.name, ck.got, ck.want)
		}
	}
}

// With every required setting in the environment no file is needed.
func TestLoadEnvironmentOnly(t *testing.T) {
	c, err := Load(Sources{Getenv: env(
		"FELHOM_CONVERGE_HOST", "pve-demo",
		"FELHOM_CONVERGE_PROXMOX_ENDPOINT", "https://10.0.0.5",
		"FELHOM_CONVERGE_PROXMOX_NODE", "pve",
		"FELHOM_CONVERGE_PROXMOX_TOKEN", "PVEAPIToken="+testToken,
		"FELHOM_CONVERGE_PROXMOX_TLS_FINGERPRINT", testFP,
	)})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.RequireProxmox(); err != nil {
		t.Fatal(err)
	}
	if c.Proxmox.Endpoint != "https://10.0.0.5:8006" || c.Proxmox.Token.Reveal() != testToken {
		t.Fatalf("got endpoint %q token ok=%v", c.Proxmox.Endpoint, c.Proxmox.Token.Reveal() == testToken)
	}
}

func TestSystemdCredential(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, CredentialName), []byte(testToken), 0o400); err != nil {
		t.Fatal(err)
	}
	c, err := Load(Sources{Getenv: env("CREDENTIALS_DIRECTORY", dir)})
	if err != nil {
		t.Fatal(err)
	}
	if c.Proxmox.Token.Reveal() != testToken {
		t.Fatal("token not read from $CREDENTIALS_DIRECTORY")
	}
}

// Without a token from the environment, token_file or the credential, the
// token is read from DefaultTokenFile (not under --sim); one this user may
// not read is no error until a command needs the API.
func TestDefaultTokenFile(t *testing.T) {
	dir := t.TempDir()
	defaultTokenFile = filepath.Join(dir, "proxmox-token")
	t.Cleanup(func() { defaultTokenFile = DefaultTokenFile })
	if err := os.WriteFile(defaultTokenFile, []byte(testToken+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := Load(Sources{Getenv: env()})
	if err != nil {
		t.Fatal(err)
	}
	if c.Proxmox.Token.Reveal() != testToken || c.Origin("proxmox.token") != "token file "+defaultTokenFile {
		t.Errorf("token from %q, want the default token file", c.Origin("proxmox.token"))
	}

	creds := t.TempDir()
	const other = "felhom@pve!other=11111111-1111-1111-1111-111111111111"
	if err := os.WriteFile(filepath.Join(creds, CredentialName), []byte(other), 0o400); err != nil {
		t.Fatal(err)
	}
	if c, err = Load(Sources{Getenv: env("CREDENTIALS_DIRECTORY", creds)}); err != nil || c.Proxmox.Token.Reveal() != other {
		t.Errorf("the credential must win over the default token file (%v, from %q)", err, c.Origin("proxmox.token"))
	}
	if c, err = Load(Sources{Getenv: env(), SimDir: t.TempDir()}); err != nil || c.Proxmox.Token.IsSet() {
		t.Errorf("--sim must not read the default token file (%v)", err)
	}

	if os.Geteuid() == 0 {
		t.Log("root reads any file: the unreadable case needs another user")
		return
	}
	if err := os.Chmod(defaultTokenFile, 0); err != nil {
		t.Fatal(err)
	}
	c, err = Load(Sources{Getenv: env("FELHOM_CONVERGE_PROXMOX_ENDPOINT", "https://pve.example.org", "FELHOM_CONVERGE_PROXMOX_NODE", "pve")})
	if err != nil {
		t.Fatalf("an unreadable default token file must not fail Load: %v", err)
	}
	err = c.RequireProxmox()
	if err == nil || !strings.Contains(err.Error(), defaultTokenFile) || !strings.Contains(err.Error(), "run felhom-converge as root") {
		t.Errorf("RequireProxmox: %v", err)
	}
}

// Each bad or missing setting gives one error naming the field and where
// the value came from.
func TestErrorsNameFieldAndOrigin(t *testing.T) {
	base := []string{
		"FELHOM_CONVERGE_PROXMOX_ENDPOINT", "https://pve.example.org",
		"FELHOM_CONVERGE_PROXMOX_NODE", "pve",
		"FELHOM_CONVERGE_PROXMOX_TOKEN", testToken,
	}
	cases := []struct {
		name    string
		file    string
		env     []string
		require bool // the error comes from RequireProxmox, not Load
		want    []string
	}{
		{"missing endpoint", "", []string{"FELHOM_CONVERGE_PROXMOX_NODE", "pve"}, true,
			[]string{"proxmox.endpoint is not set", "FELHOM_CONVERGE_PROXMOX_ENDPOINT", "proxmox { endpoint = ... }"}},
		{"bad endpoint from env", "", []string{"FELHOM_CONVERGE_PROXMOX_ENDPOINT", "ftp://x"}, false,
			[]string{"proxmox.endpoint (from env FELHOM_CONVERGE_PROXMOX_ENDPOINT)", "https", `"ftp://x"`}},
		{"plain http to a remote host", "", []string{"FELHOM_CONVERGE_PROXMOX_ENDPOINT", "http://pve.example.org:8006"}, false,
			[]string{"proxmox.endpoint", "loopback"}},
		{"bad fingerprint in file", "proxmox {\n  tls {\n    fingerprint = \"AB:CD\"\n  }\n}\n", nil, false,
			[]string{"proxmox.tls.fingerprint (from ", "config.hcl:3)", "SHA-256"}},
		{"unknown attribute", "proxmox {\n  endpont = \"https://x\"\n}\n", nil, false,
			[]string{"config.hcl:2", "Unsupported argument", `Did you mean "endpoint"?`}},
		{"duplicate block", "proxmox {}\nproxmox {}\n", nil, false,
			[]string{"only one proxmox block", "config.hcl:2"}},
		{"no TLS choice", "", base, true,
			[]string{"proxmox.tls is not set", "fingerprint", "ca_file"}},
		{"two TLS choices", "", append(base, "FELHOM_CONVERGE_PROXMOX_TLS_FINGERPRINT", testFP, "FELHOM_CONVERGE_PROXMOX_TLS_CA_FILE", "/etc/ssl/ca.pem"), true,
			[]string{"more than one", "fingerprint from env FELHOM_CONVERGE_PROXMOX_TLS_FINGERPRINT"}},
		{"insecure for a remote host", "", append(base, "FELHOM_CONVERGE_PROXMOX_TLS_INSECURE_SKIP_VERIFY", "true"), true,
			[]string{"insecure_skip_verify", "only for a loopback endpoint"}},
		{"bad privileged mode", "privileged {\n  mode = \"root\"\n}\n", nil, false,
			[]string{"privileged.mode", `"sudo" or "direct"`}},
		{"missing token", "", []string{"FELHOM_CONVERGE_PROXMOX_ENDPOINT", "https://x", "FELHOM_CONVERGE_PROXMOX_NODE", "pve"}, true,
			[]string{"proxmox.token is not set", "token_file", "CREDENTIALS_DIRECTORY"}},
		{"unreadable token file", "proxmox {\n  token_file = \"/nonexistent/token\"\n}\n", nil, false,
			[]string{"proxmox.token_file (from ", "cannot read the token"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			src := Sources{Getenv: env(tc.env...)}
			if tc.file != "" {
				src.File = writeFile(t, "config.hcl", tc.file)
			}
			c, err := Load(src)
			if tc.require {
				if err != nil {
					t.Fatalf("Load: %v", err)
				}
				err = c.RequireProxmox()
			}
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}

func TestExplicitConfigMustExist(t *testing.T) {
	_, err := Load(Sources{File: filepath.Join(t.TempDir(), "missing.hcl"), Getenv: env()})
	if err == nil || !strings.Contains(err.Error(), "cannot read the config file") {
		t.Fatalf("err = %v", err)
	}
}

// The token never shows, whichever way the config or an error is printed.
func TestTokenNeverPrinted(t *testing.T) {
	c, err := Load(Sources{Getenv: env("FELHOM_CONVERGE_PROXMOX_TOKEN", testToken)})
	if err != nil {
		t.Fatal(err)
	}
	js, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	outputs := []string{
		fmt.Sprintf("%v", c), fmt.Sprintf("%+v", c), fmt.Sprintf("%#v", c), fmt.Sprintf("%v", c.Proxmox),
		fmt.Sprintf("%q", c.Proxmox.Token), fmt.Sprintf("%x", c.Proxmox.Token), fmt.Sprint(c.Proxmox.Token), string(js),
	}
	// A malformed token is refused without echoing it.
	_, err = Load(Sources{Getenv: env("FELHOM_CONVERGE_PROXMOX_TOKEN", "felhom@pve="+testSecret)})
	if err == nil {
		t.Fatal("malformed token accepted")
	}
	outputs = append(outputs, err.Error())
	for _, out := range outputs {
		if strings.Contains(out, testSecret) || strings.Contains(out, fmt.Sprintf("%x", testSecret)) {
			t.Errorf("secret leaked in %q", out)
		}
	}
}

func TestSimDefaults(t *testing.T) {
	dir := t.TempDir()
	c, err := Load(Sources{SimDir: dir, DesiredHost: "pve-demo", Getenv: env("FELHOM_CONVERGE_STATE_DIR", "/tmp/explicit")})
	if err != nil {
		t.Fatal(err)
	}
	if c.Host != "pve-demo" || c.AllowedSigners != filepath.Join(dir, "allowed_signers") {
		t.Errorf("host %q allowed_signers %q", c.Host, c.AllowedSigners)
	}
	if c, err := Load(Sources{SimDir: dir, Getenv: env()}); err != nil || c.Host != SimHost {
		t.Errorf("without a desired file, --sim's host defaults to %q; got %v, %v", SimHost, c, err)
	}
	if c.StateDir != "/tmp/explicit" {
		t.Errorf("an explicit environment value must win over --sim defaults; state_dir = %q", c.StateDir)
	}
	if err := c.UseSimulator("https://127.0.0.1:40001", "pve", testToken, testFP); err != nil {
		t.Fatal(err)
	}
	if err := c.RequireProxmox(); err != nil {
		t.Fatal(err)
	}
	if c.Origin("proxmox.endpoint") != "--sim" {
		t.Errorf("origin = %q", c.Origin("proxmox.endpoint"))
	}
}

func TestSecretFormatting(t *testing.T) {
	s := NewSecret("hunter2")
	for _, got := range []string{fmt.Sprint(s), fmt.Sprintf("%d", s), fmt.Sprintf("%#v", s), s.String()} {
		if strings.Contains(got, "hunter2") {
			t.Errorf("leak: %q", got)
		}
	}
	var e *Error
	if !errors.As(&Error{Key: "k"}, &e) {
		t.Fatal("Error is not an *Error")
	}
}

func TestSafetySettings(t *testing.T) {
	c, err := Load(Sources{Getenv: env()})
	if err != nil {
		t.Fatal(err)
	}
	if !c.Safety.Enabled || c.Safety.BackupStorage != "local" || c.Safety.Keep != DefaultSafetyKeep {
		t.Fatalf("defaults %+v", c.Safety)
	}
	path := writeFile(t, "config.hcl", "safety {\n  enabled = false\n  backup_storage = \"usb-backup\"\n  keep = \"30d\"\n}\n")
	c, err = Load(Sources{File: path, Getenv: env("FELHOM_CONVERGE_SAFETY_KEEP", "36h")})
	if err != nil {
		t.Fatal(err)
	}
	if c.Safety.Enabled || c.Safety.BackupStorage != "usb-backup" || c.Safety.Keep != 36*60*60*1e9 {
		t.Fatalf("from file and env %+v", c.Safety)
	}
	_, err = Load(Sources{Getenv: env("FELHOM_CONVERGE_SAFETY_BACKUP_STORAGE", "no such/storage")})
	if err == nil || !strings.Contains(err.Error(), "safety.backup_storage (from env FELHOM_CONVERGE_SAFETY_BACKUP_STORAGE)") {
		t.Fatalf("bad storage: %v", err)
	}
	path = writeFile(t, "golden.hcl", "safety {\n  golden_vmids = [9000, \"9001\"]\n}\n")
	if c, err = Load(Sources{File: path, Getenv: env()}); err != nil || !slices.Equal(c.Safety.GoldenVMIDs, []int{9000, 9001}) {
		t.Fatalf("golden images from the file: %v %v", c.Safety.GoldenVMIDs, err)
	}
	if c, err = Load(Sources{Getenv: env("FELHOM_CONVERGE_SAFETY_GOLDEN_VMIDS", "9000,9002")}); err != nil || !slices.Equal(c.Safety.GoldenVMIDs, []int{9000, 9002}) {
		t.Fatalf("golden images from the environment: %v %v", c.Safety.GoldenVMIDs, err)
	}
	path = writeFile(t, "bad-golden.hcl", "safety {\n  golden_vmids = [\"web\"]\n}\n")
	if _, err = Load(Sources{File: path, Getenv: env()}); err == nil || !strings.Contains(err.Error(), "safety.golden_vmids") {
		t.Fatalf("a golden image that is no guest id: %v", err)
	}
}

func TestGatePolicy(t *testing.T) {
	path := writeFile(t, "gate.hcl", "gate {\n  sign = [\"guest.stop\", \"memory.shrink\"]\n}\n")
	c, err := Load(Sources{File: path, Getenv: env()})
	if err != nil || !slices.Equal(c.Gate.Sign, []string{"guest.stop", "memory.shrink"}) {
		t.Fatalf("gate.sign from the file: %v %v", c.Gate.Sign, err)
	}
	for entry, want := range map[string]string{
		"guest.destroy": "needs a signature anyway",
		"guest.stpo":    `did you mean "guest.stop"`,
		"reboot":        "neither an op nor a change kind",
	} {
		_, err := Load(Sources{Getenv: env("FELHOM_CONVERGE_GATE_SIGN", entry)})
		if err == nil || !strings.Contains(err.Error(), "gate.sign") || !strings.Contains(err.Error(), want) {
			t.Errorf("gate.sign %q: %v, want %q", entry, err, want)
		}
	}
}

func TestRecoverWait(t *testing.T) {
	c, err := Load(Sources{Getenv: env()})
	if err != nil || c.Apply.RecoverWait != DefaultRecoverWait {
		t.Fatalf("default %v %v", c.Apply.RecoverWait, err)
	}
	path := writeFile(t, "config.hcl", "apply {\n  recover_wait = \"20m\"\n}\n")
	if c, err = Load(Sources{File: path, Getenv: env()}); err != nil || c.Apply.RecoverWait != 20*time.Minute {
		t.Fatalf("from the file: %v %v", c.Apply.RecoverWait, err)
	}
	for _, v := range []string{"1s", "7h", "soon"} {
		_, err := Load(Sources{Getenv: env("FELHOM_CONVERGE_APPLY_RECOVER_WAIT", v)})
		if err == nil || !strings.Contains(err.Error(), "apply.recover_wait") {
			t.Errorf("%q: %v, want it refused naming apply.recover_wait", v, err)
		}
	}
}

// KeepToken answers the token's environment name with the token loaded,
// so a config loaded again through it keeps the token.
func TestKeepToken(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, CredentialName), []byte(testToken), 0o400); err != nil {
		t.Fatal(err)
	}
	c, err := Load(Sources{Getenv: env("CREDENTIALS_DIRECTORY", dir)})
	if err != nil {
		t.Fatal(err)
	}
	getenv := c.KeepToken(env("FELHOM_CONVERGE_HOST", "pve-demo"))
	if getenv("FELHOM_CONVERGE_PROXMOX_TOKEN") != testToken || getenv("FELHOM_CONVERGE_HOST") != "pve-demo" {
		t.Fatal("KeepToken does not answer the token's name with the token, or hides the rest")
	}
	again, err := Load(Sources{Getenv: getenv})
	if err != nil {
		t.Fatal(err)
	}
	if again.Proxmox.Token.Reveal() != testToken {
		t.Fatal("a config loaded again lost the token")
	}
}
