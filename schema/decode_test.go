package schema

import (
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
)

// testKey is a real ed25519 public key (its private half was discarded).
const testKey = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAICnCf9xaygmDwGKpfiDKxwfm9y2Mqi9y7injkfwPXbi8 anna@office-it"

func mustLoad(t *testing.T, src string) (*Host, hcl.Diagnostics) {
	t.Helper()
	h, diags := Load([]byte(src), "test.hcl")
	if diags.HasErrors() {
		t.Fatalf("unexpected errors:\n%s", describe(diags))
	}
	return h, diags
}

// TestMemoryCanonical checks every accepted spelling of a memory size and
// that a value that is not MiB-aligned rounds up once, with a warning that
// names the result.
func TestMemoryCanonical(t *testing.T) {
	tests := []struct {
		expr     string
		wantMiB  int64
		wantWarn bool
		reason   string
	}{
		{`2048`, 2048, false, "a number is MiB, Proxmox's unit"},
		{`"2048"`, 0, false, "a bare string is refused (no unit)"},
		{`"2G"`, 2048, false, "Proxmox's G is GiB"},
		{`"2GiB"`, 2048, false, "explicit binary unit"},
		{`"512MiB"`, 512, false, "MiB"},
		{`"512M"`, 512, false, "Proxmox's M"},
		{`"2147483648B"`, 2048, false, "bytes"},
		{`"1.5G"`, 1536, false, "decimal fraction of GiB is exact"},
		{`"17825793B"`, 18, true, "one byte over 17 MiB rounds up to 18 MiB"},
		{`"16777217B"`, 17, true, "rounds up, never down"},
		{`1024.5`, 1025, true, "fractional MiB rounds up"},
		{`"1T"`, 1 << 20, false, "TiB"},
		{`2 * 1024`, 2048, false, "expressions are evaluated"},
	}
	for _, tt := range tests {
		t.Run(tt.expr, func(t *testing.T) {
			src := hostBlock + "guest \"a\" {\n  vmid = 100\n  memory = " + tt.expr + "\n}\n"
			h, diags := Load([]byte(src), "test.hcl")
			if tt.wantMiB == 0 {
				if !diags.HasErrors() {
					t.Fatalf("%s: want an error, got memory %d", tt.reason, h.Guests[0].Memory)
				}
				return
			}
			if diags.HasErrors() {
				t.Fatalf("%s: %s", tt.reason, describe(diags))
			}
			if got := h.Guests[0].Memory; got != tt.wantMiB {
				t.Errorf("%s: memory = %d MiB, want %d", tt.reason, got, tt.wantMiB)
			}
			if gotWarn := len(diags) > 0; gotWarn != tt.wantWarn {
				t.Fatalf("%s: warnings = %s, want warning %v", tt.reason, describe(diags), tt.wantWarn)
			}
			if !tt.wantWarn {
				return
			}
			w := diags[0]
			if w.Severity != hcl.DiagWarning || w.Subject == nil || w.Subject.Start.Line != 6 {
				t.Errorf("warning should point at line 6: %+v", w)
			}
			want := itoa(tt.wantMiB) + " MiB"
			if !strings.Contains(w.Detail, want) {
				t.Errorf("warning %q does not name the rounded value %q", w.Detail, want)
			}
			// Writing the rounded value converges: no warning the second time.
			src = hostBlock + "guest \"a\" {\n  vmid = 100\n  memory = " + itoa(h.Guests[0].Memory) + "\n}\n"
			h2, diags := mustLoad(t, src)
			if len(diags) != 0 || h2.Guests[0].Memory != tt.wantMiB {
				t.Errorf("reloading the rounded value: memory %d, diags %s", h2.Guests[0].Memory, describe(diags))
			}
		})
	}
}

func itoa(n int64) string { return fmt.Sprint(n) }

// TestSizeString checks the rendering against pve-common's format_size.
func TestSizeString(t *testing.T) {
	tests := []struct {
		size Size
		want string
	}{
		{8 * Size(GiB), "8G"},
		{8704 * Size(MiB), "8704M"},
		{Size(TiB), "1T"},
		{1536 * Size(KiB), "1536K"},
		{1000, "1000"},
		{1024, "1K"},
		{0, "0"},
	}
	for _, tt := range tests {
		if got := tt.size.String(); got != tt.want {
			t.Errorf("Size(%d).String() = %q, want %q", int64(tt.size), got, tt.want)
		}
	}
}

// TestDiskSizes checks that Proxmox's G and GiB agree, and that sizes are
// canonical bytes.
func TestDiskSizes(t *testing.T) {
	tests := []struct {
		size string
		want Size
		warn bool
	}{
		{"8G", 8 * Size(GiB), false},
		{"8GiB", 8 * Size(GiB), false},
		{"8704M", 8704 * Size(MiB), false},
		{"0.5T", 512 * Size(GiB), false},
		{"1000K", 1 * Size(MiB), true},
	}
	for _, tt := range tests {
		src := hostBlock + "guest \"a\" {\n  vmid = 100\n  rootfs {\n    storage = \"local-lvm\"\n    size = \"" + tt.size + "\"\n  }\n}\n"
		h, diags := mustLoad(t, src)
		if got := h.Guests[0].Rootfs.Size; got != tt.want {
			t.Errorf("%s: size = %d, want %d", tt.size, got, tt.want)
		}
		if (len(diags) > 0) != tt.warn {
			t.Errorf("%s: diags %s, want warning %v", tt.size, describe(diags), tt.warn)
		}
	}
}

// TestLoadCanonical decodes a full guest and checks the typed values: tags
// canonical, MAC upper case, defaults, sorting and reference resolution.
func TestLoadCanonical(t *testing.T) {
	src := hostBlock + `
locals {
  base = 1024
  mem  = local.base * 2
}

guest "zeta" {
  vmid = 300
}

guest "web" {
  vmid        = 100
  hostname    = "web"
  memory      = local.mem
  swap        = 0
  tags        = ["Web", "prod", "web", "a_b"]
  description = "Company website"
  onboot      = true

  features {
    nesting = true
    keyctl  = false
  }

  rootfs {
    storage = "local-lvm"
    size    = "8GiB"
  }

  mount "data" {
    path    = "/srv/data"
    storage = "local-lvm"
    size    = "8704M"
    backup  = true
  }

  mount "media" {
    path      = "/srv/media"
    host_path = "/tank/media"
  }

  network "eth0" {
    bridge = "vmbr0"
    ip     = "192.168.1.20/24"
    gw     = "192.168.1.1"
    ip6    = "auto"
    hwaddr = "bc:24:11:5e:7a:01"
  }

  network "eth1" {
    bridge = "vmbr1"
  }

  snapshot "pre-upgrade" {
    description = "before"
  }

  remove_volumes = ["unused0", "local-lvm:vm-100-disk-3"]
}

job "reboot-web" {
  op    = "guest.reboot"
  guest = "web"
}

job "backup-web" {
  op    = "backup.create"
  guest = "web"
}
`
	h, diags := mustLoad(t, src)
	if len(diags) != 0 {
		t.Fatalf("unexpected warnings: %s", describe(diags))
	}
	if h.Name != "pve-demo" || h.Node != "pve" {
		t.Errorf("host = %q node %q", h.Name, h.Node)
	}
	if len(h.Guests) != 2 || h.Guests[0].Name != "web" || h.Guests[1].Name != "zeta" {
		t.Fatalf("guests not sorted by vmid: %+v", h.Guests)
	}
	g := h.Guests[0]
	if g.State != StateRunning {
		t.Errorf("state defaults to running, got %q", g.State)
	}
	if g.Memory != 2048 || g.Swap == nil || *g.Swap != 0 {
		t.Errorf("memory %d swap %v", g.Memory, g.Swap)
	}
	if want := []string{"a_b", "prod", "web"}; !reflect.DeepEqual(g.Tags, want) {
		t.Errorf("tags = %q, want %q", g.Tags, want)
	}
	if h.Guests[1].Tags != nil || h.Guests[1].Memory != 0 || h.Guests[1].OnBoot != nil {
		t.Errorf("unset fields must stay unset: %+v", h.Guests[1])
	}
	if g.Features.String() != "keyctl=0,nesting=1" {
		t.Errorf("features = %q", g.Features.String())
	}
	if g.Rootfs.Size.String() != "8G" || g.Mounts[0].Size.String() != "8704M" {
		t.Errorf("sizes %s %s", g.Rootfs.Size, g.Mounts[0].Size)
	}
	if g.Mounts[1].HostPath != "/tank/media" || g.Mounts[1].Backup != nil {
		t.Errorf("bind mount %+v", g.Mounts[1])
	}
	if n := g.Networks[0]; n.Hwaddr != "BC:24:11:5E:7A:01" || n.IP != "192.168.1.20/24" || n.Gateway != "192.168.1.1" || n.IP6 != "auto" {
		t.Errorf("network %+v", n)
	}
	if g.Networks[1].Hwaddr != "" {
		t.Errorf("no hwaddr means keep the live MAC; got %q", g.Networks[1].Hwaddr)
	}
	if len(g.Snapshots) != 1 || g.Snapshots[0].Description != "before\n" {
		t.Errorf("snapshots %+v", g.Snapshots)
	}
	if !reflect.DeepEqual(g.RemoveVolumes, []string{"unused0", "local-lvm:vm-100-disk-3"}) {
		t.Errorf("remove_volumes %q", g.RemoveVolumes)
	}
	if r := g.AttrRanges["memory"]; r.Start.Line != 17 {
		t.Errorf("memory range line %d, want 17", r.Start.Line)
	}
	if g.DeclRange.Start.Line != 14 {
		t.Errorf("guest range line %d, want 14", g.DeclRange.Start.Line)
	}
	if len(h.Jobs) != 2 || h.Jobs[0].ID != "reboot-web" || h.Jobs[0].VMID != 100 {
		t.Errorf("jobs %+v", h.Jobs)
	}
	if h.Jobs[1].Prune {
		t.Errorf("backup.create must not prune unless asked")
	}
}

func TestAbsentGuest(t *testing.T) {
	h, _ := mustLoad(t, hostBlock+"guest \"old\" {\n  vmid  = 290\n  state = \"absent\"\n}\n")
	if h.Guests[0].State != StateAbsent {
		t.Errorf("state = %q", h.Guests[0].State)
	}
}

func TestCheckHost(t *testing.T) {
	h, _ := mustLoad(t, hostBlock)
	if err := h.CheckHost("pve-demo"); err != nil {
		t.Errorf("same host refused: %v", err)
	}
	err := h.CheckHost("office-pve01")
	var wrong *WrongHostError
	if !asWrongHost(err, &wrong) || wrong.Got != "pve-demo" || wrong.Want != "office-pve01" {
		t.Fatalf("CheckHost = %v", err)
	}
	if want := `test.hcl:1: desired state is for host "pve-demo", but this host is "office-pve01"`; err.Error() != want {
		t.Errorf("error = %q, want %q", err.Error(), want)
	}
}

func asWrongHost(err error, target **WrongHostError) bool {
	w, ok := err.(*WrongHostError)
	*target = w
	return ok
}

func TestSignersAllowedSigners(t *testing.T) {
	src := hostBlock + `
signers {
  signer "anna@office-it" {
    key          = "` + testKey + `"
    roles        = ["recovery", "operational", "recovery"]
    valid_after  = "2026-01-01"
    valid_before = "2027-12-31T18:30:00+01:00"
  }
}
`
	h, diags := mustLoad(t, src)
	if len(diags) != 0 {
		t.Errorf("a recovery signer is present, want no warning: %s", describe(diags))
	}
	s := h.Signers.Signers[0]
	if !reflect.DeepEqual(s.Roles, []string{"operational", "recovery"}) {
		t.Errorf("roles %q", s.Roles)
	}
	if !s.ValidBefore.Equal(time.Date(2027, 12, 31, 17, 30, 0, 0, time.UTC)) {
		t.Errorf("valid_before %v", s.ValidBefore)
	}
	want := `anna@office-it namespaces="felhom-operational,felhom-recovery",valid-after="20260101Z",valid-before="20271231173000Z" ` + testKey + "\n"
	if got := h.Signers.AllowedSigners(); got != want {
		t.Errorf("AllowedSigners =\n%s\nwant\n%s", got, want)
	}
}

func TestLoadRefusesLargeInput(t *testing.T) {
	src := hostBlock + "# " + strings.Repeat("x", MaxFileSize) + "\n"
	_, diags := Load([]byte(src), "big.hcl")
	if !diags.HasErrors() || diags[0].Summary != "File too large" || diags[0].Subject.Filename != "big.hcl" {
		t.Fatalf("diags = %s", describe(diags))
	}
}

// TestSignersWithoutRecovery warns (but loads) when no key could sign a
// signer rotation after the operational keys are lost.
func TestSignersWithoutRecovery(t *testing.T) {
	src := hostBlock + "signers {\n  signer \"a@b\" {\n    key   = \"" + testKey + "\"\n    roles = [\"operational\"]\n  }\n}\n"
	h, diags := mustLoad(t, src)
	if len(diags) != 1 || diags[0].Summary != "No recovery signer" || diags[0].Subject.Start.Line != 4 {
		t.Fatalf("diags = %s", describe(diags))
	}
	if len(h.Signers.Signers) != 1 {
		t.Errorf("signers %+v", h.Signers)
	}
}

// TestDescriptionCanonical checks that descriptions take the form Proxmox
// reads back (pve-api.md §3.7: stored as '#' lines, each read back with a
// newline), so "Company website" never drifts from "Company website\n".
func TestDescriptionCanonical(t *testing.T) {
	tests := []struct {
		expr, want, reason string
	}{
		{`"Company website"`, "Company website\n", "read back with a trailing newline"},
		{`"Company website\n"`, "Company website\n", "already canonical"},
		{`"a\n\nb\n\n\n"`, "a\n\nb\n", "inner empty lines stay, trailing ones are lost"},
		{`"\n"`, "", "only newlines: no description at all"},
		{`""`, "", "empty removes the description"},
	}
	for _, tt := range tests {
		src := hostBlock + "guest \"a\" {\n  vmid = 100\n  description = " + tt.expr + "\n  snapshot \"s1\" {\n    description = " + tt.expr + "\n  }\n}\n"
		h, _ := mustLoad(t, src)
		g := h.Guests[0]
		if g.Description == nil || *g.Description != tt.want {
			t.Errorf("%s: description %q, want %q", tt.reason, deref(g.Description), tt.want)
		}
		if got := g.Snapshots[0].Description; got != tt.want {
			t.Errorf("%s: snapshot description %q, want %q", tt.reason, got, tt.want)
		}
	}
}

func deref(s *string) string {
	if s == nil {
		return "<nil>"
	}
	return *s
}

// TestJobGuestByVMID checks the ways a job names its guest: by block name,
// or by vmid (number or digits) linking to the declared guest, or naming
// a guest the file does not manage.
func TestJobGuestByVMID(t *testing.T) {
	tests := []struct {
		ref       string
		wantGuest string
		wantVMID  int
		reason    string
	}{
		{`"web"`, "web", 100, "block name"},
		{`100`, "web", 100, "vmid as a number links to the declared guest"},
		{`"100"`, "web", 100, "vmid as digits, as signature requests write it"},
		{`"110"`, "", 110, "a guest the file does not declare, named by vmid"},
	}
	for _, tt := range tests {
		src := hostBlock + "guest \"web\" {\n  vmid = 100\n}\njob \"r\" {\n  op = \"guest.reboot\"\n  guest = " + tt.ref + "\n}\n"
		h, _ := mustLoad(t, src)
		if j := h.Jobs[0]; j.Guest != tt.wantGuest || j.VMID != tt.wantVMID {
			t.Errorf("%s: guest %q vmid %d, want %q %d", tt.reason, j.Guest, j.VMID, tt.wantGuest, tt.wantVMID)
		}
	}
}

// TestProxmoxFormsOfTagsAndFeatures checks that tags and features may
// also be written the way Proxmox shows them in a guest config, and mean
// the same as the list and block forms.
func TestProxmoxFormsOfTagsAndFeatures(t *testing.T) {
	tests := []struct {
		attrs, wantTags, wantFeatures, reason string
	}{
		{`tags = "Web;prod,web prod"`, "prod web", "", "tags split on ; , and space, then canonical"},
		{`tags = ["Web", "prod"]`, "prod web", "", "list form"},
		{`features = "nesting=1,keyctl=0"`, "", "keyctl=0,nesting=1", "property string"},
		{`features = "mount=nfs;cifs,fuse=1"`, "", "fuse=1,mount=nfs;cifs", "mount list in the property string"},
	}
	for _, tt := range tests {
		h, _ := mustLoad(t, hostBlock+"guest \"a\" {\n  vmid = 100\n  "+tt.attrs+"\n}\n")
		g := h.Guests[0]
		if tt.wantTags != "" && strings.Join(g.Tags, " ") != tt.wantTags {
			t.Errorf("%s: tags %q, want %q", tt.reason, g.Tags, tt.wantTags)
		}
		if tt.wantFeatures != "" && (g.Features == nil || g.Features.String() != tt.wantFeatures) {
			t.Errorf("%s: features %v, want %q", tt.reason, g.Features, tt.wantFeatures)
		}
	}
	bad := []struct{ attrs, summary, detail string }{
		{`features = "nestin=1"`, "Invalid features", `Did you mean "nesting"?`},
		{`features = "nesting=true"`, "Invalid features", "must be 0 or 1"},
		{`features = "nesting=1,nesting=0"`, "Invalid features", "given twice"},
		{"features = \"nesting=1\"\n  features {\n    nesting = true\n  }", "Conflicting features", "either the features attribute or the features block"},
		{`tags = "prod;-x"`, "Invalid tag", `"-x"`},
	}
	for _, tt := range bad {
		_, diags := Load([]byte(hostBlock+"guest \"a\" {\n  vmid = 100\n  "+tt.attrs+"\n}\n"), "test.hcl")
		if len(diags) == 0 || diags[0].Summary != tt.summary || !strings.Contains(diags[0].Detail, tt.detail) || diags[0].Subject.Start.Line < 6 {
			t.Errorf("%s: diags = %s, want %q (%s)", tt.attrs, describe(diags), tt.summary, tt.detail)
		}
	}
}

// TestLiteralIsTheValue checks that the values decoding takes from
// literals without evaluating them are what evaluating them gives.
func TestLiteralIsTheValue(t *testing.T) {
	for _, src := range []string{`1`, `1.5e3`, `true`, `null`, `"x"`, `""`, `"e\u0301"`, `"a\"b"`, `"$${x}"`, `"tab\there"`} {
		expr, diags := hclsyntax.ParseExpression([]byte(src), "t.hcl", hcl.InitialPos)
		if diags.HasErrors() {
			t.Fatalf("%s: %s", src, describe(diags))
		}
		got, ok := literal(expr)
		if !ok {
			t.Errorf("%s: not taken as a literal", src)
			continue
		}
		want, _ := expr.Value(nil)
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s: literal %#v, evaluated %#v", src, got, want)
		}
	}
	for _, src := range []string{`"${1}"`, `"a${1}"`, `[1]`, `-1`, `local.x`, `"%{if true}a%{endif}"`} {
		expr, _ := hclsyntax.ParseExpression([]byte(src), "t.hcl", hcl.InitialPos)
		if _, ok := literal(expr); ok {
			t.Errorf("%s: taken as a literal", src)
		}
	}
}
