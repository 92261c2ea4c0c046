package plan

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"slices"
	"sort"
	"strings"

	"github.com/felhom/felhom-converge/ops"
	"github.com/felhom/felhom-converge/trust"
)

// RenderOptions configure the human rendering.
type RenderOptions struct {
	Color bool // ANSI colour (only on a terminal, never with NO_COLOR)
}

// Symbol is the one-character mark of a step: + create, ~ change,
// - remove (benign), ! destructive (needs a signature).
func (s Step) Symbol() string {
	if s.Destructive() {
		return "!"
	}
	switch s.Op {
	case ops.GuestCreate, ops.SnapshotCreate, ops.MountAdd, ops.BackupCreate, ops.StorageMount:
		return "+"
	case ops.GuestDestroy, ops.MountDetach, ops.SnapshotDelete, ops.VolumeFree, ops.BackupPrune:
		return "-"
	}
	return "~"
}

// Counts tallies the steps by symbol.
func (p *Plan) Counts() Counts {
	var c Counts
	for _, s := range p.Steps {
		switch s.Symbol() {
		case "+":
			c.Create++
		case "~":
			c.Change++
		case "-":
			c.Remove++
		case "!":
			c.Destructive++
		}
	}
	return c
}

// Empty reports whether the plan has nothing to do, nothing wrong and no
// change waiting for a restart.
func (p *Plan) Empty() bool {
	return len(p.Steps) == 0 && len(p.Errors) == 0 && len(p.Outstanding) == 0
}

// Summary is the plan's last line.
func (p *Plan) Summary() string {
	if p.Empty() {
		return "No changes. The host matches its desired state."
	}
	if len(p.Steps) == 0 && len(p.Errors) == 0 {
		return fmt.Sprintf("No changes to make; %d %s for a restart to take effect.",
			len(p.Outstanding), plural(len(p.Outstanding), "guest waits", "guests wait"))
	}
	c := p.Counts()
	parts := []string{fmt.Sprintf("%d to create", c.Create), fmt.Sprintf("%d to change", c.Change)}
	if c.Remove > 0 {
		parts = append(parts, fmt.Sprintf("%d to remove", c.Remove))
	}
	parts = append(parts, fmt.Sprintf("%d destructive waiting for a signature", c.Destructive))
	line := "Plan: " + strings.Join(parts, ", ") + "."
	if len(p.Errors) > 0 {
		line += fmt.Sprintf(" %d %s kept out of the plan.", len(p.Errors), plural(len(p.Errors), "problem", "problems"))
	}
	return line
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

const (
	ansiReset  = "\x1b[0m"
	ansiGreen  = "\x1b[32m"
	ansiYellow = "\x1b[33m"
	ansiRed    = "\x1b[31m"
	ansiBold   = "\x1b[1m"
)

// Render writes the plan for people: a header, one block per guest with a
// line per step, the reason and signing command of destructive steps,
// unmanaged guests, outstanding restarts and the summary. The output is
// stable, so it reads well in a Git diff.
func (p *Plan) Render(w io.Writer, o RenderOptions) error {
	var b bytes.Buffer
	paint := func(code, s string) string {
		if !o.Color {
			return s
		}
		return code + s + ansiReset
	}
	digest := p.DesiredDigest
	if len(digest) > 12 {
		digest = digest[:12]
	}
	fmt.Fprintf(&b, "Host %s (node %s), desired state %s (sha256 %s)\n", clean(p.Host), clean(p.Node), clean(p.DesiredFile), clean(digest))

	for _, e := range p.Errors {
		fmt.Fprintf(&b, "\n%s %s\n", paint(ansiRed+ansiBold, "Error:"), clean(e.String()))
	}
	for _, w := range p.Warnings {
		fmt.Fprintf(&b, "\n%s %s\n", paint(ansiYellow, "Warning:"), clean(w.String()))
	}
	for _, d := range p.Drift {
		fmt.Fprintf(&b, "\n%s %s\n", paint(ansiYellow, "Note:"), d)
	}
	lastGroup := ""
	for _, s := range p.Steps {
		group := "host"
		if s.Guest != nil {
			group = fmt.Sprintf("guest %d", *s.Guest)
			if s.GuestName != "" {
				group += " (" + clean(s.GuestName) + ")"
			}
		}
		if group != lastGroup {
			fmt.Fprintf(&b, "\n%s\n", paint(ansiBold, group))
			lastGroup = group
		}
		sym := s.Symbol()
		color := map[string]string{"+": ansiGreen, "~": ansiYellow, "-": ansiRed, "!": ansiRed + ansiBold}[sym]
		line := fmt.Sprintf("  %s %-18s %s", paint(color, sym), clean(s.Op), clean(s.headline()))
		fmt.Fprintf(&b, "%s\n", strings.TrimRight(line, " "))
		for _, c := range s.Changes {
			fmt.Fprintf(&b, "      %s\n", clean(c.line()))
		}
		if s.Destructive() {
			fmt.Fprintf(&b, "      why:    %s\n", clean(s.Reason))
			if s.Safety != "" {
				fmt.Fprintf(&b, "      safety: %s\n", clean(s.Safety))
			}
			if s.Request != "" {
				fmt.Fprintf(&b, "      sign:   %s\n", trust.SignCommand(trust.RoleOperational, clean(s.Request)))
				if s.Op == ops.SignersRotate {
					fmt.Fprintf(&b, "      or with a recovery key: %s\n", trust.SignCommand(trust.RoleRecovery, clean(s.Request)))
				}
				fmt.Fprintf(&b, "      until:  %s\n", s.NotAfter.UTC().Format("2006-01-02T15:04:05Z"))
			}
		} else if s.Provenance != "" {
			fmt.Fprintf(&b, "      benign: %s\n", clean(s.Provenance))
		}
		if s.RestartNeeded {
			fmt.Fprintf(&b, "      takes effect at next restart\n")
		}
	}
	for _, out := range p.Outstanding {
		fmt.Fprintf(&b, "\n%s guest %d waits for a restart to apply %s; reboot %s\n",
			paint(ansiYellow, "Restart:"), out.Guest, clean(strings.Join(out.Keys, ", ")), out.Reboot)
	}
	if len(p.Unmanaged) > 0 {
		ids := make([]string, len(p.Unmanaged))
		for i, v := range p.Unmanaged {
			ids[i] = fmt.Sprint(v)
		}
		fmt.Fprintf(&b, "\nUnmanaged (not in the file, left alone): %s\n", strings.Join(ids, ", "))
	}
	for _, n := range p.Notes {
		fmt.Fprintf(&b, "\nNote: %s\n", clean(n))
	}
	fmt.Fprintf(&b, "\n%s\n", paint(ansiBold, p.Summary()))
	_, err := w.Write(b.Bytes())
	return err
}

// headline is the step's one-line summary.
func (s Step) headline() string {
	var p map[string]json.RawMessage
	_ = json.Unmarshal(s.Params, &p)
	str := func(k string) string {
		var v string
		_ = json.Unmarshal(p[k], &v)
		return v
	}
	switch s.Op {
	case ops.GuestCreate:
		switch {
		case str("template") != "" && str("golden") != "":
			return "build golden image " + str("golden") + " from " + str("template")
		case str("template") != "":
			return "create from " + str("template")
		case str("golden") != "":
			return "restore from golden image " + str("golden")
		}
		return "restore from " + str("archive")
	case ops.GuestSet:
		fields := make([]string, 0, len(s.Changes))
		for _, c := range s.Changes {
			fields = append(fields, c.Field)
		}
		sort.Strings(fields)
		return strings.Join(fields, ", ")
	case ops.DiskGrow:
		return fmt.Sprintf("%s %s → %s", str("disk"), str("from"), str("to"))
	case ops.MountAdd:
		return str("slot") + " " + str("value")
	case ops.MountDetach:
		return str("slot") + " at " + str("path")
	case ops.VolumeFree:
		return str("volume") + " (" + str("size") + ")"
	case ops.SnapshotCreate, ops.SnapshotDelete, ops.SnapshotRollback:
		return str("snapshot")
	case ops.GuestRestoreOver:
		return "from " + str("archive")
	case ops.BackupCreate, ops.BackupPrune:
		return "to " + str("storage")
	case ops.StorageMount:
		return str("uuid") + " at " + str("mountpoint")
	case ops.SignersRotate:
		return "sha256 " + str("sha256")
	case ops.GuestStop, ops.GuestReboot, ops.GuestStart:
		if s.Reason != "" && !s.Destructive() {
			return s.Reason
		}
	case ops.GuestDestroy:
		if s.Provenance != "" {
			return s.Provenance
		}
		var vols []string
		_ = json.Unmarshal(p["volumes"], &vols)
		return fmt.Sprintf("%d %s", len(vols), plural(len(vols), "volume", "volumes"))
	case ops.GuestRebuild:
		var change map[string]string
		_ = json.Unmarshal(p["change"], &change)
		return "changes " + strings.Join(slices.Sorted(maps.Keys(change)), ", ")
	}
	if s.Destructive() {
		return ""
	}
	return s.Reason
}

func (c Change) line() string {
	switch {
	case c.Old != "" && c.New != "":
		l := fmt.Sprintf("%s: %s → %s", c.Field, c.Old, c.New)
		if c.Note != "" {
			l += " (" + c.Note + ")"
		}
		return l
	case c.New != "":
		l := fmt.Sprintf("%s: %s", c.Field, c.New)
		if c.Note != "" {
			l += " (" + c.Note + ")"
		}
		return l
	default:
		l := c.Field
		if c.Old != "" {
			l += ": " + c.Old
		}
		if c.Note != "" {
			l += " (" + c.Note + ")"
		} else {
			l += " (removed)"
		}
		return l
	}
}

// JSON renders the versioned plan document.
func (p *Plan) JSON() ([]byte, error) {
	b, err := json.MarshalIndent(p, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}

// clean escapes control characters (C0, DEL, C1 and the Unicode line and
// bidirectional controls) in text from the desired file or the host, so a
// value cannot forge plan lines or move the terminal's cursor.
func clean(s string) string {
	if !strings.ContainsFunc(s, isControl) {
		return s
	}
	var b strings.Builder
	for _, r := range s {
		switch {
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\t':
			b.WriteString(`\t`)
		case isControl(r):
			fmt.Fprintf(&b, `\u%04x`, r)
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

func isControl(r rune) bool {
	return r < 0x20 || (r >= 0x7f && r < 0xa0) || r == 0x2028 || r == 0x2029 ||
		(r >= 0x202a && r <= 0x202e) || (r >= 0x2066 && r <= 0x2069) || r == 0xfeff
}
