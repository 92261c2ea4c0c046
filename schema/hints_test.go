package schema

import (
	"strings"
	"testing"
)

// Proxmox's own setting names, written by habit, get a hint naming our
// form; a quoted MiB number suggests the unquoted number first.
func TestProxmoxNamesGetHints(t *testing.T) {
	src := `host "pve-demo" {
  node = "pve"
}
guest "a" {
  vmid       = 100
  memory     = "2048"
  net0       = "name=eth0,bridge=vmbr0"
  mp3        = "local-lvm:8,mp=/x"
  ostemplate = "local:vztmpl/x.tar.zst"
  tag        = "prod"
  startup    = "order=1"
}
`
	_, diags := Load([]byte(src), "h.hcl")
	var b strings.Builder
	for _, d := range diags {
		b.WriteString(d.Summary + ": " + d.Detail + "\n")
	}
	text := b.String()
	for _, want := range []string{
		`Write memory = 2048 (a number is MiB) or "2048M"`,
		`network "eth0" { bridge = "vmbr0"`,
		`mount "data" { path = "/srv/data"`,
		`from_template = "local:vztmpl/`,
		`tags = ["prod", "web"]`,
		`Did you mean "tags"?`,
		`startup { order = 1, up = 30, down = 60 }`,
	} {
		if !strings.Contains(text, want) {
			t.Errorf("diagnostics lack %q:\n%s", want, text)
		}
	}
}
