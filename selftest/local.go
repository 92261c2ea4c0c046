package selftest

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/felhom/felhom-converge/config"
	"github.com/felhom/felhom-converge/humanize"
	"github.com/felhom/felhom-converge/status"
	"github.com/felhom/felhom-converge/trust"
)

// LocalChecks look at this machine only: the clock, the trust root, the
// state directory and the token file. They need no API.
func LocalChecks(cfg *config.Config, now time.Time) []Check {
	return []Check{
		{Name: "clock", Run: func(context.Context) (string, error) {
			zone, offset := now.Zone()
			local := ""
			if offset != 0 {
				local = fmt.Sprintf(" (local %s %s)", now.Format("15:04:05"), zone)
			}
			return fmt.Sprintf("%s%s; a request written now is valid until %s (the default --request-ttl of 24h) by this clock: compare it with yours",
				now.UTC().Format(time.RFC3339), local, now.UTC().Add(24*time.Hour).Format(time.RFC3339)), nil
		}},
		{Name: "trust root", Run: func(context.Context) (string, error) { return checkTrustRoot(cfg.AllowedSigners, now) }},
		{Name: "state dir", Run: func(context.Context) (string, error) { return checkStateDir(cfg.StateDir, now) }},
		{Name: "token file", Run: func(context.Context) (string, error) { return checkTokenFile(cfg) }},
	}
}

// checkTrustRoot loads the allowed_signers file as apply does and counts
// the keys each role has now.
func checkTrustRoot(path string, now time.Time) (string, error) {
	signers, err := trust.LoadAllowedSigners(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return "", Warning(fmt.Sprintf("%s does not exist: no signer is trusted, so every destructive step stays pending (docs/operating.md: Signing)", path))
	case err != nil:
		return "", Finding(err.Error())
	}
	var operational, recovery, expired, none int
	var wild []string
	for _, l := range signers.Lines {
		if !l.ValidBefore.IsZero() && !now.Before(l.ValidBefore) || !l.ValidAfter.IsZero() && now.Before(l.ValidAfter) {
			expired++
			continue
		}
		roles := l.Roles()
		if len(roles) == 0 {
			none++
		}
		for _, r := range roles {
			switch r {
			case trust.RoleOperational:
				operational++
			case trust.RoleRecovery:
				recovery++
			}
		}
		if l.HasNamespaces && strings.ContainsAny(l.Namespaces, "*?") {
			wild = append(wild, fmt.Sprintf("line %d (%s)", l.Line, l.Principals))
		}
	}
	detail := fmt.Sprintf("%s: %s, %s", path, humanize.Plural(operational, "operational key"), humanize.Plural(recovery, "recovery key"))
	if expired > 0 {
		detail += fmt.Sprintf(", %d outside their validity", expired)
	}
	if none > 0 {
		detail += fmt.Sprintf(", %d without a felhom namespace (granting nothing)", none)
	}
	switch {
	case len(wild) > 0:
		return "", Warning(detail + "; a wildcard namespace grants both roles, so a recovery key could approve ordinary destructive steps: " +
			strings.Join(wild, ", ") + "; name the role: namespaces=\"felhom-operational\" or \"felhom-recovery\"")
	case operational == 0:
		return "", Warning(detail + "; with no operational key no destructive step can be approved")
	}
	return detail, nil
}

// checkStateDir checks the state directory as apply will (without
// creating it) and the health of its journal.
func checkStateDir(dir string, now time.Time) (string, error) {
	if _, err := os.Lstat(dir); errors.Is(err, fs.ErrNotExist) {
		parent := filepath.Dir(dir)
		for {
			if _, err := os.Stat(parent); err == nil || parent == filepath.Dir(parent) {
				break
			}
			parent = filepath.Dir(parent)
		}
		if err := syscall.Access(parent, 0x2 /* W_OK */); err != nil {
			return "", Finding(fmt.Sprintf("%s does not exist and cannot be created: %s is not writable by this user (%v); create it: install -d -m 0700 -o USER %s", dir, parent, err, dir))
		}
		return fmt.Sprintf("%s does not exist yet; the first apply creates it (0700)", dir), nil
	}
	rep, err := status.Read(dir, now)
	if err != nil {
		return "", Finding(err.Error())
	}
	fi, err := os.Stat(rep.StateDir)
	if err != nil {
		return "", Finding(err.Error())
	}
	var warns []string
	owner := -1
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		owner = int(st.Uid)
	}
	if owner != os.Geteuid() {
		warns = append(warns, fmt.Sprintf("owned by %s, not by the user running selftest (%s): run selftest as the service user", humanize.UserName(owner), humanize.UserName(os.Geteuid())))
	}
	if perm := fi.Mode().Perm(); perm != 0o700 {
		warns = append(warns, fmt.Sprintf("mode %04o: others may read the journal and requests; chmod 0700 %s", perm, rep.StateDir))
	}
	h := rep.Journal
	switch {
	case h.Error != "":
		return "", Finding("journal unreadable: " + h.Error)
	case h.Corrupt != "":
		return "", Finding(h.Corrupt)
	case h.Lost != "":
		return "", Finding(h.Lost)
	}
	journalText := "no journal yet"
	if h.Exists {
		journalText = fmt.Sprintf("journal %s, %s, healthy", humanize.ByteSize(h.Size), humanize.Plural(h.Transactions, "transaction"))
	}
	if h.TornTail != "" {
		warns = append(warns, h.TornTail+" (the next run cuts it off)")
	}
	if h.InFlight > 0 {
		warns = append(warns, humanize.Plural(h.InFlight, "step")+" in flight: the next run recovers them first")
	}
	if rep.LastRunError != "" {
		warns = append(warns, "last-run.json: "+rep.LastRunError)
	}
	detail := fmt.Sprintf("%s, mode %04o, owner %s; %s", rep.StateDir, fi.Mode().Perm(), humanize.UserName(owner), journalText)
	if r := rep.LastRun; r != nil {
		detail += fmt.Sprintf("; last run %s %s", humanize.Stamp(r.Finished), r.Result)
	}
	if len(warns) > 0 {
		return "", Warning(detail + "; " + strings.Join(warns, "; "))
	}
	return detail, nil
}

// checkTokenFile checks who may read the file the API token came from.
func checkTokenFile(cfg *config.Config) (string, error) {
	origin := cfg.Origin("proxmox.token")
	path, ok := strings.CutPrefix(origin, "token file ")
	if !ok {
		return "the token comes from " + origin + ", not from a file", ErrSkipped
	}
	fi, err := os.Stat(path)
	if err != nil {
		return "", Finding(err.Error())
	}
	owner := -1
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		owner = int(st.Uid)
	}
	detail := fmt.Sprintf("%s, mode %04o, owner %s", path, fi.Mode().Perm(), humanize.UserName(owner))
	if fi.Mode().Perm()&0o077 != 0 {
		return "", Warning(detail + ": readable by others than its owner, who could act as the tool on the host; chmod 0600 " + path)
	}
	return detail, nil
}
