package config

import (
	"fmt"
	"os"
	"strings"
	"testing"
)

// The root password of guests created from a template comes only from a
// local file that neither group nor others may read; no error shows it.
func TestRootPassword(t *testing.T) {
	const pw = "correct-horse-battery"
	load := func(t *testing.T, file string) *Config {
		t.Helper()
		cfg := writeFile(t, "config.hcl", fmt.Sprintf("host = \"pve-demo\"\ncreate {\n  root_password_file = %q\n}\n", file))
		c, err := Load(Sources{File: cfg, Getenv: env()})
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	c, err := Load(Sources{Getenv: env("FELHOM_CONVERGE_HOST", "pve-demo")})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok, err := c.RootPassword(); ok || err != nil {
		t.Fatalf("no file configured: ok %v, err %v", ok, err)
	}

	good := writeFile(t, "root-password", pw+"\nignored second line\n")
	got, ok, err := load(t, good).RootPassword()
	if !ok || err != nil || got.Reveal() != pw {
		t.Fatalf("RootPassword() = %v %v %v", got, ok, err)
	}
	if s := fmt.Sprintf("%v %+v %#v %s", got, got, got, got); strings.Contains(s, pw) {
		t.Fatalf("the password is printed: %s", s)
	}

	readable := writeFile(t, "readable", pw+"\n")
	if err := os.Chmod(readable, 0o640); err != nil {
		t.Fatal(err)
	}
	short := writeFile(t, "short", "1234\n")
	for name, tc := range map[string]struct{ file, want string }{
		"readable by the group": {readable, "chmod 0600"},
		"shorter than 5":        {short, "shorter than 5 characters"},
		"missing":               {good + ".gone", "no such file"},
	} {
		t.Run(name, func(t *testing.T) {
			_, ok, err := load(t, tc.file).RootPassword()
			if !ok || err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "create.root_password_file") {
				t.Fatalf("err = %v, want one naming the setting and %q", err, tc.want)
			}
			if strings.Contains(err.Error(), pw) || strings.Contains(err.Error(), "1234") {
				t.Fatalf("the error shows the password: %v", err)
			}
		})
	}
}

// The host directories guests may bind-mount are the local config's, and
// never the host's own system or Proxmox's configuration.
func TestBindMountDirs(t *testing.T) {
	c, err := Load(Sources{Getenv: env("FELHOM_CONVERGE_HOST", "pve-demo", "FELHOM_CONVERGE_PRIVILEGED_BIND_MOUNT_DIRS", "/srv/shared,/mnt/media")})
	if err != nil || strings.Join(c.Privileged.BindMountDirs, " ") != "/srv/shared /mnt/media" {
		t.Fatalf("Load: %v %v", c, err)
	}
	for dir, want := range map[string]string{
		"/etc/pve":     "can never be bind-mounted",
		"/root":        "can never be bind-mounted",
		"/var":         "it holds /var/lib",
		"/srv/../etc":  "not a clean absolute path",
		"srv/shared":   "not a clean absolute path",
		"/srv/a b":     "not a clean absolute path",
		"/srv/x,mp=/y": "not a clean absolute path",
	} {
		cfg := writeFile(t, "config.hcl", fmt.Sprintf("host = \"pve-demo\"\nprivileged {\n  bind_mount_dirs = [%q]\n}\n", dir))
		if _, err := Load(Sources{File: cfg, Getenv: env()}); err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "privileged.bind_mount_dirs") {
			t.Errorf("%s: %v, want %q", dir, err, want)
		}
	}
}
