package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/felhom/felhom-converge/config"
	"github.com/felhom/felhom-converge/humanize"
	"github.com/felhom/felhom-converge/journal"
	"github.com/felhom/felhom-converge/progress"
	"github.com/felhom/felhom-converge/proxmox"
	"github.com/felhom/felhom-converge/status"
	"github.com/felhom/felhom-converge/trust"
)

type SelftestCmd struct {
	SimFlag
	Task         bool `help:"Also exercise a reversible task on guest --vmid: take a snapshot, roll back to it, delete it. The rollback discards whatever the guest wrote since the snapshot."`
	VMID         int  `help:"Guest for --task." placeholder:"N"`
	AllowRestart bool `name:"allow-restart" help:"Let --task roll back a running guest: Proxmox stops it for the rollback and starts it again."`
	JSON         bool `help:"Print the report as one JSON document."`
}

// check is one line of the health report.
type check struct {
	name string
	run  func(ctx context.Context) (string, error)
	// cleanup checks run even after an earlier check failed (they undo what
	// the earlier ones did); the others are skipped then.
	cleanup bool
	// gate checks stop the report when they fail: nothing after them can
	// succeed (no connection, the token refused, the wrong node).
	gate bool
}

// errSkipped is returned by a check that had nothing to do.
var errSkipped = errors.New("skipped")

// finding is a check failure about what the host answered.
type finding string

func (f finding) Error() string { return string(f) }

// warning is a check that passed with a reservation: it is reported and
// counted, but does not fail the selftest.
type warning string

func (w warning) Error() string { return string(w) }

// unauthorized reports whether Proxmox refused the token itself (401).
func unauthorized(err error) bool {
	var apiErr *proxmox.APIError
	return errors.As(err, &apiErr) && apiErr.Status == 401
}

// answered reports whether err came from a host that answered (a refusal,
// a failed task, a finding) rather than from not reaching it at all.
func answered(err error) bool {
	var apiErr *proxmox.APIError
	var taskErr *proxmox.TaskError
	var f finding
	return errors.As(err, &apiErr) || errors.As(err, &taskErr) || errors.As(err, &f)
}

// selftestReport collects the check lines; it prints each as it comes
// unless the report is rendered as JSON at the end.
type selftestReport struct {
	FormatVersion string      `json:"format_version"`
	Time          time.Time   `json:"time"`
	TaskGuest     int         `json:"task_guest,omitempty"`
	Checks        []checkLine `json:"checks"`
	Failed        int         `json:"failed"`
	Warnings      int         `json:"warnings"`
	Passed        bool        `json:"passed"`
	w             io.Writer   // nil: JSON at the end
}

// checkLine is one check's outcome: result is ok, warn, fail or skip.
type checkLine struct {
	Section string `json:"section"` // local, host or task
	Name    string `json:"name"`
	Result  string `json:"result"`
	Detail  string `json:"detail"`
}

func (r *selftestReport) add(section, name, result, detail string) {
	r.Checks = append(r.Checks, checkLine{Section: section, Name: name, Result: result, Detail: detail})
	switch result {
	case "fail":
		r.Failed++
	case "warn":
		r.Warnings++
	}
	if r.w != nil {
		shown := result
		if result == "fail" {
			shown = "FAIL"
		}
		fmt.Fprintf(r.w, "  %-4s  %-12s %s\n", shown, name, detail)
	}
}

func (c *SelftestCmd) Run(ctx context.Context, g *globals) error {
	if c.Task && c.VMID == 0 {
		return withHint(errors.New("selftest --task needs --vmid N"), "name a guest whose snapshot may be taken and rolled back, e.g. --task --vmid 100")
	}
	if c.VMID != 0 && !c.Task {
		return withHint(errors.New("selftest --vmid is only used with --task"), "add --task to run the snapshot, rollback and delete check on that guest")
	}
	if c.AllowRestart && !c.Task {
		return withHint(errors.New("selftest --allow-restart is only used with --task"), "add --task --vmid N to run the task check")
	}
	cfg, err := g.loadConfig(c.Sim, "")
	if err != nil {
		return err
	}
	if c.Task || os.Geteuid() == 0 { // root checks what the service sees; --task takes the lock
		if err := g.asStateOwner(cfg); err != nil {
			return err
		}
	}
	client, release, err := g.connect(ctx, cfg, c.Sim)
	if err != nil {
		return err
	}
	defer release()

	now := time.Now()
	rep := &selftestReport{FormatVersion: "1", Time: now.UTC().Truncate(time.Second), TaskGuest: c.VMID}
	if !c.JSON {
		rep.w = g.stdout
		if c.Task {
			fmt.Fprintf(rep.w, "felhom-converge selftest: read-only checks, then the task check on guest %d\n", c.VMID)
			fmt.Fprintf(rep.w, "  the rollback discards whatever guest %d writes between the snapshot and the rollback (milliseconds, but it is the guest's data)\n", c.VMID)
		} else {
			fmt.Fprintln(rep.w, "felhom-converge selftest: read-only, nothing on the host is changed")
		}
	}
	host := readChecks(cfg, client) // its first check, config, is local
	failed := runChecks(ctx, rep, "local", append(host[:1:1], localChecks(cfg, now)...), false)
	failed += runChecks(ctx, rep, "host", host[1:], false)
	if c.Task && failed == 0 {
		// The task check mutates the guest: it runs under the run lock,
		// and not while a crashed run's calls wait for recovery (its
		// rollback could be taken for theirs).
		unlock, err := taskLock(ctx, cfg.StateDir)
		if err != nil {
			return err
		}
		defer unlock()
		runChecks(ctx, rep, "task", taskChecks(client, c.VMID, c.AllowRestart, now.UTC(), g.stderr), true)
	} else if c.Task {
		rep.add("task", "task check", "skip", "the read-only checks failed")
	}
	rep.Passed = rep.Failed == 0
	if c.JSON {
		b, err := json.MarshalIndent(rep, "", "  ")
		if err != nil {
			return err
		}
		fmt.Fprintf(g.stdout, "%s\n", b)
	} else {
		warned := ""
		if rep.Warnings > 0 {
			warned = ", " + humanize.Plural(rep.Warnings, "warning")
		}
		if rep.Failed > 0 {
			fmt.Fprintf(g.stdout, "%d check(s) failed%s\n", rep.Failed, warned)
		} else {
			fmt.Fprintf(g.stdout, "all checks passed%s\n", warned)
		}
	}
	if rep.Failed > 0 {
		return silentError{exitError}
	}
	return nil
}

// runChecks runs the checks in order, reports one line per check and
// returns how many failed. With stopOnFailure, only cleanup checks run
// after a failure; without it, the rest are still skipped after a failed
// gate check, or once the host cannot be reached or refuses the token
// (every check would fail the same way).
func runChecks(ctx context.Context, rep *selftestReport, section string, checks []check, stopOnFailure bool) int {
	failed, stop := 0, false
	for _, ck := range checks {
		if (stop || stopOnFailure && failed > 0) && !ck.cleanup {
			rep.add(section, ck.name, "skip", "an earlier check failed")
			continue
		}
		detail, err := ck.run(ctx)
		var warn warning
		switch {
		case errors.Is(err, errSkipped):
			rep.add(section, ck.name, "skip", detail)
		case errors.As(err, &warn):
			rep.add(section, ck.name, "warn", string(warn))
		case err != nil:
			failed++
			stop = ck.gate || !answered(err) || unauthorized(err)
			rep.add(section, ck.name, "fail", explain(err))
		default:
			rep.add(section, ck.name, "ok", detail)
		}
	}
	return failed
}

// localChecks look at this machine only: the clock, the trust root, the
// state directory and the token file. They need no API.
func localChecks(cfg *config.Config, now time.Time) []check {
	return []check{
		{name: "clock", run: func(context.Context) (string, error) {
			zone, offset := now.Zone()
			local := ""
			if offset != 0 {
				local = fmt.Sprintf(" (local %s %s)", now.Format("15:04:05"), zone)
			}
			return fmt.Sprintf("%s%s; a request written now is valid until %s (the default --request-ttl of 24h) by this clock: compare it with yours",
				now.UTC().Format(time.RFC3339), local, now.UTC().Add(24*time.Hour).Format(time.RFC3339)), nil
		}},
		{name: "trust root", run: func(context.Context) (string, error) { return checkTrustRoot(cfg.AllowedSigners, now) }},
		{name: "state dir", run: func(context.Context) (string, error) { return checkStateDir(cfg.StateDir, now) }},
		{name: "token file", run: func(context.Context) (string, error) { return checkTokenFile(cfg) }},
	}
}

// checkTrustRoot loads the allowed_signers file as apply does and counts
// the keys each role has now.
func checkTrustRoot(path string, now time.Time) (string, error) {
	signers, err := trust.LoadAllowedSigners(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return "", warning(fmt.Sprintf("%s does not exist: no signer is trusted, so every destructive step stays pending (docs/operating.md: Signing)", path))
	case err != nil:
		return "", finding(err.Error())
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
		return "", warning(detail + "; a wildcard namespace grants both roles, so a recovery key could approve ordinary destructive steps: " +
			strings.Join(wild, ", ") + "; name the role: namespaces=\"felhom-operational\" or \"felhom-recovery\"")
	case operational == 0:
		return "", warning(detail + "; with no operational key no destructive step can be approved")
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
			return "", finding(fmt.Sprintf("%s does not exist and cannot be created: %s is not writable by this user (%v); create it: install -d -m 0700 -o USER %s", dir, parent, err, dir))
		}
		return fmt.Sprintf("%s does not exist yet; the first apply creates it (0700)", dir), nil
	}
	rep, err := status.Read(dir, now)
	if err != nil {
		return "", finding(err.Error())
	}
	fi, err := os.Stat(rep.StateDir)
	if err != nil {
		return "", finding(err.Error())
	}
	var warns []string
	owner := -1
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		owner = int(st.Uid)
	}
	if owner != os.Geteuid() {
		warns = append(warns, fmt.Sprintf("owned by %s, not by the user running selftest (%s): run selftest as the service user", userName(owner), userName(os.Geteuid())))
	}
	if perm := fi.Mode().Perm(); perm != 0o700 {
		warns = append(warns, fmt.Sprintf("mode %04o: others may read the journal and requests; chmod 0700 %s", perm, rep.StateDir))
	}
	h := rep.Journal
	switch {
	case h.Error != "":
		return "", finding("journal unreadable: " + h.Error)
	case h.Corrupt != "":
		return "", finding(h.Corrupt)
	case h.Lost != "":
		return "", finding(h.Lost)
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
	detail := fmt.Sprintf("%s, mode %04o, owner %s; %s", rep.StateDir, fi.Mode().Perm(), userName(owner), journalText)
	if r := rep.LastRun; r != nil {
		detail += fmt.Sprintf("; last run %s %s", humanize.Stamp(r.Finished), r.Result)
	}
	if len(warns) > 0 {
		return "", warning(detail + "; " + strings.Join(warns, "; "))
	}
	return detail, nil
}

// checkTokenFile checks who may read the file the API token came from.
func checkTokenFile(cfg *config.Config) (string, error) {
	origin := cfg.Origin("proxmox.token")
	path, ok := strings.CutPrefix(origin, "token file ")
	if !ok {
		return "the token comes from " + origin + ", not from a file", errSkipped
	}
	fi, err := os.Stat(path)
	if err != nil {
		return "", finding(err.Error())
	}
	owner := -1
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		owner = int(st.Uid)
	}
	detail := fmt.Sprintf("%s, mode %04o, owner %s", path, fi.Mode().Perm(), userName(owner))
	if fi.Mode().Perm()&0o077 != 0 {
		return "", warning(detail + ": readable by others than its owner, who could act as the tool on the host; chmod 0600 " + path)
	}
	return detail, nil
}

func userName(uid int) string {
	if u, err := user.LookupId(strconv.Itoa(uid)); err == nil {
		return u.Username
	}
	return fmt.Sprintf("uid %d", uid)
}

func readChecks(cfg *config.Config, client *proxmox.Client) []check {
	node := cfg.Proxmox.Node
	return []check{
		{name: "config", run: func(context.Context) (string, error) {
			token, _ := proxmox.ParseToken(cfg.Proxmox.Token.Reveal())
			return fmt.Sprintf("%s node %s, token %s, TLS %s", cfg.Proxmox.Endpoint, node, token.ID(), tlsMode(cfg)), nil
		}},
		{name: "version", run: func(ctx context.Context) (string, error) {
			v, err := client.Version(ctx)
			if err != nil {
				return "", err
			}
			line, ok := v.Support()
			if !ok {
				return "", warning(line)
			}
			return line, nil
		}},
		{name: "node", gate: true, run: func(ctx context.Context) (string, error) {
			nodes, err := client.Nodes(ctx)
			if err != nil {
				return "", err
			}
			for _, n := range nodes {
				if n.Node == node {
					if n.Status != "online" {
						return "", finding(fmt.Sprintf("node %s is %s", node, n.Status))
					}
					return fmt.Sprintf("%s is online", node), nil
				}
			}
			return "", finding(fmt.Sprintf("node %s is not among the API's nodes (check proxmox.node)", node))
		}},
		{name: "node status", run: func(ctx context.Context) (string, error) {
			st, err := client.NodeStatus(ctx)
			if err != nil {
				return "", err
			}
			load := make([]string, len(st.LoadAvg))
			for i, l := range st.LoadAvg {
				load[i] = fmt.Sprintf("%.2f", float64(l))
			}
			return fmt.Sprintf("up %s, load %s, memory %s of %s used",
				uptime(int64(st.Uptime)), strings.Join(load, " "),
				gib(int64(st.Memory.Used)), gib(int64(st.Memory.Total))), nil
		}},
		{name: "guests", run: func(ctx context.Context) (string, error) {
			guests, err := client.ListLXC(ctx)
			if err != nil {
				return "", err
			}
			running := 0
			for _, gu := range guests {
				if gu.Status == "running" {
					running++
				}
			}
			return fmt.Sprintf("%d containers visible, %d running", len(guests), running), nil
		}},
		{name: "storage", run: func(ctx context.Context) (string, error) {
			stores, err := client.NodeStorage(ctx)
			if err != nil {
				return "", err
			}
			if len(stores) == 0 {
				return "", finding("no storage visible (the token needs Datastore.Audit)")
			}
			parts := make([]string, len(stores))
			for i, s := range stores {
				parts[i] = fmt.Sprintf("%s (%s, %s free)", s.Storage, s.Type, gib(int64(s.Avail)))
			}
			return strings.Join(parts, ", "), nil
		}},
		{name: "privileges", run: func(ctx context.Context) (string, error) {
			return checkPrivileges(ctx, client, node)
		}},
	}
}

// taskChecks exercise WaitTask on a reversible operation: a snapshot of
// the guest, a rollback to it (restarting the guest if it ran, which needs
// allowRestart) and its deletion. The rollback discards what the guest
// wrote since the snapshot. The snapshot is removed again even when the
// rollback fails.
func taskChecks(client *proxmox.Client, vmid int, allowRestart bool, now time.Time, stderr io.Writer) []check {
	snap := "felhom-selftest-" + now.Format("20060102T150405")
	wait := func(ctx context.Context, upid proxmox.UPID, err error) (string, error) {
		if err != nil {
			return "", err
		}
		start := time.Now()
		progress, done := progress.Task(stderr, upid.Type)
		err = client.WaitTask(ctx, upid, proxmox.WaitOptions{
			Timeout:  10 * time.Minute,
			Progress: func(proxmox.TaskStatus) { progress() },
		})
		done()
		if err != nil && !proxmox.IsTaskWarnings(err) {
			return "", err
		}
		return fmt.Sprintf("%s OK after %s", upid.Type, time.Since(start).Round(time.Millisecond)), nil
	}
	var running, taken bool
	return []check{
		{name: "guest", run: func(ctx context.Context) (string, error) {
			st, err := client.GuestStatus(ctx, vmid)
			if err != nil {
				return "", err
			}
			running = st.Status == "running"
			if running && !allowRestart {
				return "", finding(fmt.Sprintf("%d (%s) is running: the rollback stops and restarts it; pass --allow-restart to allow that, or pick a stopped guest", vmid, st.Name))
			}
			return fmt.Sprintf("%d (%s) is %s", vmid, st.Name, st.Status), nil
		}},
		{name: "snapshot", run: func(ctx context.Context) (string, error) {
			upid, err := client.Snapshot(ctx, vmid, snap, "felhom-converge selftest; safe to delete")
			detail, err := wait(ctx, upid, err)
			taken = err == nil
			return snap + ": " + detail, err
		}},
		{name: "rollback", run: func(ctx context.Context) (string, error) {
			upid, err := client.Rollback(ctx, vmid, snap, running)
			return wait(ctx, upid, err)
		}},
		{name: "delete", cleanup: true, run: func(ctx context.Context) (string, error) {
			if !taken {
				return "no snapshot was taken", errSkipped
			}
			upid, err := client.DeleteSnapshot(ctx, vmid, snap)
			return wait(ctx, upid, err)
		}},
	}
}

// requiredPrivileges is the tool's minimal role (proxmox.ToolPrivileges,
// the list the install guide's role grants), grouped by the ACL path
// where Proxmox checks each privilege.
func requiredPrivileges(node string) []struct{ path, privs string } {
	paths := []struct{ prefix, path string }{
		{"VM.", "/vms"},
		{"Datastore.", "/storage"},
		{"Sys.", "/nodes/" + node},
		{"SDN.", "/sdn/zones/localnetwork"},
	}
	var out []struct{ path, privs string }
	placed := map[string]bool{}
	for _, p := range paths {
		var privs []string
		for _, priv := range proxmox.ToolPrivileges {
			if strings.HasPrefix(priv, p.prefix) {
				privs = append(privs, priv)
				placed[priv] = true
			}
		}
		if len(privs) > 0 {
			out = append(out, struct{ path, privs string }{p.path, strings.Join(privs, " ")})
		}
	}
	// Anything else is checked where it would propagate from.
	var rest []string
	for _, priv := range proxmox.ToolPrivileges {
		if !placed[priv] {
			rest = append(rest, priv)
		}
	}
	if len(rest) > 0 {
		out = append(out, struct{ path, privs string }{"/", strings.Join(rest, " ")})
	}
	return out
}

// checkPrivileges compares the token's effective privileges with the
// tool's role, so a token that can read but not act fails here rather than
// at the first apply. A host that cannot report permissions is skipped.
func checkPrivileges(ctx context.Context, client *proxmox.Client, node string) (string, error) {
	var missing []string
	for _, req := range requiredPrivileges(node) {
		have, err := client.Permissions(ctx, req.path)
		if err != nil {
			return fmt.Sprintf("cannot read the token's permissions: %v", err), errSkipped
		}
		var lacks []string
		for _, p := range strings.Fields(req.privs) {
			if !have[p] {
				lacks = append(lacks, p)
			}
		}
		if len(lacks) > 0 {
			missing = append(missing, strings.Join(lacks, ", ")+" on "+req.path)
		}
	}
	if len(missing) > 0 {
		return "", finding("the token lacks " + strings.Join(missing, "; ") + " (the role in docs/operating.md lists them all)")
	}
	return "the token holds the tool's role", nil
}

func tlsMode(cfg *config.Config) string {
	switch p := cfg.Proxmox; {
	case strings.HasPrefix(p.Endpoint, "http://"):
		return "none (plain http on loopback)"
	case p.Fingerprint != "":
		return "fingerprint pin"
	case p.CAFile != "":
		return "CA " + p.CAFile
	default:
		return "NOT VERIFIED (insecure_skip_verify)"
	}
}

// explain renders an error for the report, naming a missing privilege when
// Proxmox named one.
func explain(err error) string {
	var apiErr *proxmox.APIError
	var taskErr *proxmox.TaskError
	switch {
	case errors.As(err, &apiErr) && apiErr.Privilege != "":
		return fmt.Sprintf("permission denied: the token lacks %s on %s", apiErr.Privilege, apiErr.ACLPath)
	case errors.As(err, &taskErr) && taskErr.Privilege != "":
		return fmt.Sprintf("task failed, permission denied: the token lacks %s on %s", taskErr.Privilege, taskErr.ACLPath)
	}
	return err.Error()
}

func uptime(seconds int64) string {
	d := time.Duration(seconds) * time.Second
	return fmt.Sprintf("%dd %dh", int(d.Hours())/24, int(d.Hours())%24)
}

func gib(b int64) string { return fmt.Sprintf("%.1f GiB", float64(b)/(1<<30)) }

// taskLock takes the state directory's run lock for selftest --task and
// refuses while the journal has calls in flight.
func taskLock(ctx context.Context, stateDir string) (func(), error) {
	sd, err := journal.OpenStateDir(stateDir)
	if err != nil {
		return nil, withHint(fmt.Errorf("selftest --task: %w", err), "the task check runs under the state directory's lock, like apply")
	}
	lock, err := sd.Lock(ctx, 0)
	var busy *journal.LockedError
	if errors.As(err, &busy) {
		return nil, lockBusy{err}
	}
	if err != nil {
		return nil, err
	}
	j, err := journal.Open(lock, journal.Options{})
	if err != nil {
		lock.Unlock()
		return nil, fmt.Errorf("selftest --task: %w", err)
	}
	inflight := j.InFlight()
	j.Close()
	if len(inflight) > 0 {
		lock.Unlock()
		return nil, withHint(fmt.Errorf("selftest --task: %d calls of a crashed run are still in flight", len(inflight)),
			"run 'felhom-converge recover' first")
	}
	return func() { lock.Unlock() }, nil
}
