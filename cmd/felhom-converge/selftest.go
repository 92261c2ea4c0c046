package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/felhom/felhom-converge/config"
	"github.com/felhom/felhom-converge/proxmox"
)

type SelftestCmd struct {
	SimFlag
	Task bool `help:"Also exercise a reversible task on guest --vmid: take a snapshot, roll back to it, delete it. The guest is briefly stopped if it runs."`
	VMID int  `help:"Guest for --task." placeholder:"N"`
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

func (c *SelftestCmd) Run(ctx context.Context, g *globals) error {
	if c.Task && c.VMID == 0 {
		return withHint(errors.New("selftest --task needs --vmid N"), "name a guest whose snapshot may be taken and rolled back, e.g. --task --vmid 100")
	}
	if c.VMID != 0 && !c.Task {
		return withHint(errors.New("selftest --vmid is only used with --task"), "add --task to run the snapshot, rollback and delete check on that guest")
	}
	cfg, err := g.loadConfig(c.Sim, "")
	if err != nil {
		return err
	}
	client, release, err := g.connect(ctx, cfg, c.Sim)
	if err != nil {
		return err
	}
	defer release()

	w := g.stdout
	if c.Task {
		fmt.Fprintf(w, "felhom-converge selftest: read-only checks, then the task check on guest %d\n", c.VMID)
	} else {
		fmt.Fprintln(w, "felhom-converge selftest: read-only, nothing on the host is changed")
	}
	failed := runChecks(ctx, w, readChecks(cfg, client), false)
	if c.Task && failed == 0 {
		failed += runChecks(ctx, w, taskChecks(client, c.VMID, time.Now().UTC(), g.stderr), true)
	} else if c.Task {
		fmt.Fprintf(w, "  skip  task check: the read-only checks failed\n")
	}
	if failed > 0 {
		fmt.Fprintf(w, "%d check(s) failed\n", failed)
		return silentError{exitError}
	}
	fmt.Fprintln(w, "all checks passed")
	return nil
}

// runChecks runs the checks in order, prints one line per check and returns
// how many failed. With stopOnFailure, only cleanup checks run after a
// failure; without it, the rest are still skipped after a failed gate
// check, or once the host cannot be reached or refuses the token (every
// check would fail the same way).
func runChecks(ctx context.Context, w io.Writer, checks []check, stopOnFailure bool) int {
	failed, stop := 0, false
	for _, ck := range checks {
		if (stop || stopOnFailure && failed > 0) && !ck.cleanup {
			fmt.Fprintf(w, "  skip  %-12s an earlier check failed\n", ck.name)
			continue
		}
		detail, err := ck.run(ctx)
		if errors.Is(err, errSkipped) {
			fmt.Fprintf(w, "  skip  %-12s %s\n", ck.name, detail)
			continue
		}
		if err != nil {
			failed++
			stop = ck.gate || !answered(err) || unauthorized(err)
			fmt.Fprintf(w, "  FAIL  %-12s %s\n", ck.name, explain(err))
			continue
		}
		fmt.Fprintf(w, "  ok    %-12s %s\n", ck.name, detail)
	}
	return failed
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
			return fmt.Sprintf("Proxmox VE %s (release %s)", v.Version, v.Release), nil
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
// the guest, a rollback to it (restarting the guest if it ran) and its
// deletion. The snapshot is removed again even when the rollback fails.
func taskChecks(client *proxmox.Client, vmid int, now time.Time, stderr io.Writer) []check {
	snap := "felhom-selftest-" + now.Format("20060102T150405")
	wait := func(ctx context.Context, upid proxmox.UPID, err error) (string, error) {
		if err != nil {
			return "", err
		}
		start := time.Now()
		progress, done := taskProgress(stderr, upid.Type)
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
// the list the README's API token section prints), grouped by the ACL path
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
		return "", finding("the token lacks " + strings.Join(missing, "; ") + " (see the README's API token section)")
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
