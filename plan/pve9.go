package plan

// Proxmox VE 9 lets an API token make a privileged container only with
// Sys.Modify on "/" (pve-container 6.0.6): a create from a template asking
// for one is refused at once, a restore that makes one on a new VMID or
// over an unprivileged container fails in its task. The tool's role does
// not hold Sys.Modify, so the plan refuses such a step on a 9.x host
// instead of letting apply fail, and says what a create from a template
// without an unprivileged setting becomes there.

import (
	"context"
	"fmt"

	"github.com/felhom/felhom-converge/schema"
)

// Privileged is what observing learnt about making privileged containers
// on this host; read only when the plan may make one.
type Privileged struct {
	// Release is the host's Proxmox VE release ("9.1"); empty when not read.
	Release string
	// PVE9 is set on Proxmox VE 9 or later.
	PVE9 bool
	// SysModify is set when the token holds Sys.Modify on "/".
	SysModify bool
	// ArchiveUnprivileged says, of the archives read for this, whether
	// the container inside is unprivileged.
	ArchiveUnprivileged map[string]bool
}

// refused reports whether a privileged container cannot be made here.
func (p *Privileged) refused() bool { return p != nil && p.PVE9 && !p.SysModify }

// why is the reason a step that makes a privileged container cannot run.
func (p *Privileged) why() string {
	return fmt.Sprintf("Proxmox VE %s lets an API token make a privileged container only with Sys.Modify on /, which this token lacks", p.Release)
}

// fix is what the operator can do about it.
const privilegedFix = "set unprivileged = true (the container's files are then mapped to unprivileged owners), " +
	"or grant the token Sys.Modify on / (docs/operating.md: Proxmox VE 9)"

// mayMakePrivileged reports whether the desired state may make a
// privileged container: a create or rebuild that asks for one, a create
// or restore over an unprivileged guest whose archive may hold one, and
// the archives to read to tell.
func mayMakePrivileged(desired *schema.Host, live *Live, prov Provenance) (may bool, archives []string) {
	for _, g := range desired.Guests {
		lg := live.Guests[g.VMID]
		askedPrivileged := g.Unprivileged != nil && !*g.Unprivileged
		switch {
		case g.State == schema.StateAbsent:
		case lg == nil && askedPrivileged:
			may = true
		case lg == nil && g.Unprivileged == nil && g.FromBackup != "":
			may = true
			archives = append(archives, g.FromBackup)
		case lg == nil && g.Unprivileged == nil && g.FromTemplate != "":
			may = true // to say what PVE 9's default makes of it
		case lg != nil && lg.Observed && askedPrivileged && liveBool(lg.Effective, "unprivileged", false):
			may = true // a rebuild to privileged
		}
	}
	for _, j := range desired.Jobs {
		lg := live.Guests[j.VMID]
		if j.Op == schema.OpGuestRestoreOver && !prov.JobDone(j.ID) && j.Backup != "" && lg != nil && lg.Observed &&
			liveBool(lg.Effective, "unprivileged", false) {
			may = true
			archives = append(archives, j.Backup)
		}
	}
	return may, archives
}

// observePrivileged reads the release and, on PVE 9, the token's
// Sys.Modify on "/" and the archives that decide, when the plan may make
// a privileged container; nothing otherwise.
func observePrivileged(ctx context.Context, api API, desired *schema.Host, live *Live, prov Provenance) error {
	may, archives := mayMakePrivileged(desired, live, prov)
	if !may {
		return nil
	}
	v, err := api.Version(ctx)
	live.Requests++
	if err != nil {
		return fmt.Errorf("read the Proxmox version (whether it lets the token make a privileged container): %w", err)
	}
	p := &Privileged{Release: v.Release, PVE9: v.AtLeast(9, 0), ArchiveUnprivileged: map[string]bool{}}
	live.Privileged = p
	if !p.PVE9 {
		return nil
	}
	privs, err := api.Permissions(ctx, "/")
	live.Requests++
	if err != nil {
		return fmt.Errorf("read the token's permissions on / (PVE 9 makes a privileged container only with Sys.Modify there): %w", err)
	}
	if p.SysModify = privs["Sys.Modify"]; p.SysModify {
		return nil
	}
	for _, a := range archives {
		if _, read := p.ArchiveUnprivileged[a]; read {
			continue
		}
		if _, exists := live.Archives[a]; live.Archives != nil && !exists {
			continue // the plan reports the missing archive
		}
		conf, err := api.ExtractConfig(ctx, a)
		live.Requests++
		if err != nil {
			return fmt.Errorf("read the config inside %s (whether it holds a privileged container): %w", a, err)
		}
		p.ArchiveUnprivileged[a] = liveBool(conf, "unprivileged", false)
	}
	return nil
}

// privilegedCreate checks a create on PVE 9: a privileged container it
// cannot make is a plan error (false), and a create from a template that
// leaves unprivileged unset is told it makes an unprivileged one there.
func (d *guestDiff) privilegedCreate(changes *[]Change, set func(k, v string)) bool {
	g, p := d.g, d.b.live.Privileged
	if p == nil || !p.PVE9 {
		return true
	}
	if g.Unprivileged == nil && g.FromTemplate != "" {
		set("unprivileged", "1")
		(*changes)[len(*changes)-1].Note = "Proxmox VE 9's default for a create from a template; set unprivileged to choose"
		return true
	}
	privileged := g.Unprivileged != nil && !*g.Unprivileged
	if u, read := p.ArchiveUnprivileged[g.FromBackup]; g.Unprivileged == nil && read && !u {
		privileged = true
	}
	if !privileged || !p.refused() {
		return true
	}
	what := "the file asks for a privileged container (unprivileged = false)"
	if g.Unprivileged == nil {
		what = "the archive " + g.FromBackup + " holds a privileged container"
	}
	d.errorf("unprivileged", "guest %d (%s): %s, and %s; %s", g.VMID, g.Name, what, p.why(), privilegedFix)
	return false
}

// privilegedRebuild checks a rebuild that turns unprivileged off.
func (d *guestDiff) privilegedRebuild(change map[string]string) bool {
	if change["unprivileged"] != "0" || !d.b.live.Privileged.refused() {
		return true
	}
	d.errorf("unprivileged", "guest %d (%s): turning unprivileged off rebuilds it as a privileged container, and %s; keep unprivileged = true, or grant the token Sys.Modify on / (docs/operating.md: Proxmox VE 9)",
		d.g.VMID, d.g.Name, d.b.live.Privileged.why())
	return false
}

// privilegedRestoreOver is why a restore over the unprivileged guest from
// archive cannot run here, or "".
func (d *guestDiff) privilegedRestoreOver(archive string) string {
	p := d.b.live.Privileged
	if !p.refused() || !liveBool(d.lg.Effective, "unprivileged", false) {
		return ""
	}
	if u, read := p.ArchiveUnprivileged[archive]; read && !u {
		return fmt.Sprintf("the archive %s holds a privileged container, guest %d is unprivileged, and %s; restore an unprivileged archive, or grant the token Sys.Modify on / (docs/operating.md: Proxmox VE 9)",
			archive, d.lg.VMID, p.why())
	}
	return ""
}
