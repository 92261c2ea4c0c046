package selftest

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/felhom/felhom-converge/config"
	"github.com/felhom/felhom-converge/proxmox"
)

// HostChecks read the host through the API: the config it is reached
// with (a local check), the version, the node, the guests, the storage
// and the token's privileges.
func HostChecks(cfg *config.Config, client *proxmox.Client) []Check {
	node := cfg.Proxmox.Node
	return []Check{
		{Name: "config", Run: func(context.Context) (string, error) {
			// plan and apply need the host's name too: a config that
			// reaches the API without it is not ready for the timer, which
			// the warning says (the API side can still be checked).
			if err := cfg.RequireHost(); err != nil {
				return "", Warning(err.Error() + "; plan and apply refuse until it is set")
			}
			token, _ := proxmox.ParseToken(cfg.Proxmox.Token.Reveal())
			return fmt.Sprintf("%s node %s, token %s, TLS %s", cfg.Proxmox.Endpoint, node, token.ID(), tlsMode(cfg)), nil
		}},
		{Name: "version", Run: func(ctx context.Context) (string, error) {
			v, err := client.Version(ctx)
			if err != nil {
				return "", err
			}
			line, ok := v.Support()
			if !ok {
				return "", Warning(line)
			}
			return line, nil
		}},
		{Name: "node", Gate: true, Run: func(ctx context.Context) (string, error) {
			nodes, err := client.Nodes(ctx)
			if err != nil {
				return "", err
			}
			for _, n := range nodes {
				if n.Node == node {
					if n.Status != "online" {
						return "", Finding(fmt.Sprintf("node %s is %s", node, n.Status))
					}
					return fmt.Sprintf("%s is online", node), nil
				}
			}
			return "", Finding(fmt.Sprintf("node %s is not among the API's nodes (check proxmox.node)", node))
		}},
		{Name: "node status", Run: func(ctx context.Context) (string, error) {
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
		{Name: "guests", Run: func(ctx context.Context) (string, error) {
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
		{Name: "storage", Run: func(ctx context.Context) (string, error) {
			stores, err := client.NodeStorage(ctx)
			if err != nil {
				return "", err
			}
			if len(stores) == 0 {
				return "", Finding("no storage visible (the token needs Datastore.Audit)")
			}
			parts := make([]string, len(stores))
			for i, s := range stores {
				parts[i] = fmt.Sprintf("%s (%s, %s free)", s.Storage, s.Type, gib(int64(s.Avail)))
			}
			return strings.Join(parts, ", "), nil
		}},
		{Name: "privileges", Run: func(ctx context.Context) (string, error) {
			return checkPrivileges(ctx, client, node)
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
			return fmt.Sprintf("cannot read the token's permissions: %v", err), ErrSkipped
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
		return "", Finding("the token lacks " + strings.Join(missing, "; ") + " (the role in docs/operating.md lists them all)")
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

func uptime(seconds int64) string {
	d := time.Duration(seconds) * time.Second
	return fmt.Sprintf("%dd %dh", int(d.Hours())/24, int(d.Hours())%24)
}

func gib(b int64) string { return fmt.Sprintf("%.1f GiB", float64(b)/(1<<30)) }
