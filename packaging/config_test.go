package packaging

import (
	"os"
	"path/filepath"
	"regexp"
	"testing"

	"github.com/felhom/felhom-converge/config"
)

// The Debian package's example config sets nothing as shipped (installing
// it changes no behaviour), and its examples, uncommented, are a complete
// and valid config.
func TestExampleConfig(t *testing.T) {
	src, err := os.ReadFile("deb/config.hcl")
	if err != nil {
		t.Fatal(err)
	}
	noEnv := func(string) string { return "" }
	load := func(b []byte, getenv func(string) string) *config.Config {
		t.Helper()
		path := filepath.Join(t.TempDir(), "config.hcl")
		if err := os.WriteFile(path, b, 0o600); err != nil {
			t.Fatal(err)
		}
		c, err := config.Load(config.Sources{File: path, Getenv: getenv})
		if err != nil {
			t.Fatalf("%v\n%s", err, b)
		}
		return c
	}

	shipped := load(src, noEnv)
	for _, key := range []string{"host", "state_dir", "proxmox.endpoint", "proxmox.node", "proxmox.tls.fingerprint", "privileged.mode", "safety.keep"} {
		if origin := shipped.Origin(key); origin != "" && origin != "default" {
			t.Errorf("as shipped, %s comes from %s; the example must set nothing", key, origin)
		}
	}

	// "#setting" and "#block {" lines are the examples; "# text" is prose.
	uncommented := regexp.MustCompile(`(?m)^#(\s*([a-z_]+\s*=|[a-z]+\s*\{|\}))`).ReplaceAll(src, []byte("$1"))
	c := load(uncommented, func(k string) string {
		if k == "FELHOM_CONVERGE_PROXMOX_TOKEN" {
			return "felhom@pve!converge=00000000-0000-0000-0000-000000000000"
		}
		return ""
	})
	if err := c.RequireHost(); err != nil {
		t.Error(err)
	}
	if err := c.RequireProxmox(); err != nil {
		t.Error(err)
	}
	if c.StateDir != config.DefaultStateDir || c.AllowedSigners != config.DefaultAllowedSigners ||
		c.Proxmox.Timeout != config.DefaultTimeout || c.Proxmox.Concurrency != config.DefaultConcurrency ||
		c.Privileged.Mode != config.DefaultPrivilegedMode || c.Safety.Keep != config.DefaultSafetyKeep ||
		c.Safety.BackupStorage != config.DefaultBackupStorage || !c.Safety.Enabled {
		t.Errorf("the examples of settings with a default must show the default: state_dir %s, allowed_signers %s, timeout %s, concurrency %d, privileged.mode %s, safety %t %s %s",
			c.StateDir, c.AllowedSigners, c.Proxmox.Timeout, c.Proxmox.Concurrency, c.Privileged.Mode, c.Safety.Enabled, c.Safety.BackupStorage, c.Safety.Keep)
	}
}
