package main

// 'sim serve' and the in-process simulator behind every command's --sim
// flag. The simulator itself lives in proxmox/pvesim.

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/felhom/felhom-converge/atomicfile"
	"github.com/felhom/felhom-converge/proxmox/pvesim"
)

type SimCmd struct {
	Serve SimServeCmd `cmd:"" help:"Serve the Proxmox VE API simulator on loopback until interrupted."`
}

type SimServeCmd struct {
	Listen       string        `default:"127.0.0.1:8006" help:"Loopback address to listen on; port 0 picks a free port."`
	State        string        `type:"path" help:"JSON file holding the simulated host; created with the default seed if absent (default: in memory only)." placeholder:"FILE"`
	TLS          bool          `name:"tls" xor:"transport" help:"Serve HTTPS with the state's self-signed certificate (the default)."`
	PlainHTTP    bool          `name:"plain-http" xor:"transport" help:"Serve plain HTTP instead of HTTPS."`
	Latency      time.Duration `default:"0s" help:"Delay added to every request."`
	Workers      int           `default:"3" help:"Requests served at once, like pveproxy's worker pool (0: unbounded)."`
	TaskDuration time.Duration `default:"200ms" help:"How long every worker task runs (0: tasks finish at once)."`
	Guests       int           `default:"0" help:"Seed this many extra guests (vmid 1000 up) into a new state."`
	ResourcesLag time.Duration `default:"10s" help:"How long /cluster/resources lags behind new guests, starts and stops, like pvestatd's cache (0: no lag)."`
	EnvFile      string        `type:"path" help:"Also write the connection settings to FILE (mode 0600) once serving." placeholder:"FILE"`
	Admin        bool          `help:"Serve the fault-injection endpoints under /_sim/ (they need a simulator token and a loopback Host)."`
	Token        string        `default:"converge" enum:"converge,readonly" help:"Seeded API token to print: converge (the tool's role) or readonly (VM.Audit, Datastore.Audit, Sys.Audit)."`
	PVEVersion   string        `name:"pve-version" placeholder:"X.Y" env:"FELHOM_CONVERGE_SIM_PVE_VERSION" help:"Proxmox VE release to play: 8.4 or 9.1 (a new state: 8.4; an existing state keeps its own unless this switches it)."`
}

func (c *SimServeCmd) Run(ctx context.Context, g *globals) error {
	if c.State != "" {
		if err := os.MkdirAll(filepath.Dir(c.State), 0o700); err != nil {
			return fmt.Errorf("sim serve: state directory: %w", err)
		}
	}
	sim, err := pvesim.New(pvesim.Options{
		StatePath:    c.State,
		Latency:      c.Latency,
		Workers:      c.Workers,
		TaskDuration: noneIfZero(c.TaskDuration),
		ExtraGuests:  c.Guests,
		EnableAdmin:  c.Admin,
		ResourcesLag: noneIfZero(c.ResourcesLag),
		PVEVersion:   c.PVEVersion,
	})
	if err != nil {
		return fmt.Errorf("sim serve: %w", err)
	}
	useTLS := !c.PlainHTTP
	endpoint, err := sim.Start(c.Listen, useTLS)
	if err != nil {
		sim.Close()
		if errors.Is(err, pvesim.ErrNotLoopback) {
			return withHint(fmt.Errorf("sim serve: %w", err), "the simulator's token is a throwaway secret; it only listens on 127.0.0.1 or [::1]")
		}
		return withHint(fmt.Errorf("sim serve: %w", err), "--listen 127.0.0.1:0 picks a free port")
	}
	env := simEnv(endpoint, sim.Node(), sim.Token(c.Token), sim.Fingerprint(), useTLS)
	fmt.Fprint(g.stdout, env)
	if c.EnvFile != "" {
		// Atomic, so a script waiting for the file never reads half of it.
		if err := atomicfile.WriteFile(c.EnvFile, []byte(env), 0o600); err != nil {
			sim.Close()
			return fmt.Errorf("sim serve: %w", err)
		}
	}
	<-ctx.Done()
	if err := sim.Close(); err != nil {
		return fmt.Errorf("sim serve: shut down: %w", err)
	}
	return nil
}

// noneIfZero maps the CLI's "0: none" to the simulator's negative "none"
// (a zero Options field means "the default").
func noneIfZero(d time.Duration) time.Duration {
	if d == 0 {
		return -1
	}
	return d
}

// simEnv renders the settings a shell can source to point the tool at
// the simulator.
func simEnv(endpoint, node, token, fingerprint string, useTLS bool) string {
	var b strings.Builder
	fmt.Fprintf(&b, "FELHOM_CONVERGE_PROXMOX_ENDPOINT=%s\n", endpoint)
	fmt.Fprintf(&b, "FELHOM_CONVERGE_PROXMOX_NODE=%s\n", node)
	fmt.Fprintf(&b, "FELHOM_CONVERGE_PROXMOX_TOKEN=%s\n", token)
	if useTLS {
		fmt.Fprintf(&b, "FELHOM_CONVERGE_PROXMOX_TLS_FINGERPRINT=%s\n", fingerprint)
	}
	return b.String()
}

// embeddedSim is a simulator running in this process for --sim DIR.
type embeddedSim struct {
	Endpoint    string // https://127.0.0.1:PORT
	Node        string
	Token       string // USER@REALM!TOKENID=SECRET of the full-privilege token
	Fingerprint string // SHA-256 of the leaf certificate, colon-separated hex
	Close       func() error
	Sim         *pvesim.Sim // plays the host's root commands too (pvesim.RootHost)
}

// Defaults of the in-process simulator: quick tasks, no latency, so the
// demo is snappy; /cluster/resources lags for new guests as on Proxmox.
// FELHOM_CONVERGE_SIM_TASK_DURATION, FELHOM_CONVERGE_SIM_LATENCY and
// FELHOM_CONVERGE_SIM_RESOURCES_LAG (Go durations; 0 turns the task
// duration or the lag off) override them; FELHOM_CONVERGE_SIM_PVE_VERSION
// (8.4 or 9.1) picks the Proxmox VE release, as sim serve's --pve-version.
const embeddedTaskDuration = 50 * time.Millisecond

// startEmbeddedSim starts the simulator with its state in dir/host.json.
func startEmbeddedSim(ctx context.Context, dir string) (*embeddedSim, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	opts := pvesim.Options{StatePath: filepath.Join(dir, "host.json"), TaskDuration: embeddedTaskDuration,
		PVEVersion: os.Getenv("FELHOM_CONVERGE_SIM_PVE_VERSION")}
	for env, dst := range map[string]*time.Duration{
		"FELHOM_CONVERGE_SIM_TASK_DURATION": &opts.TaskDuration,
		"FELHOM_CONVERGE_SIM_LATENCY":       &opts.Latency,
		"FELHOM_CONVERGE_SIM_RESOURCES_LAG": &opts.ResourcesLag,
	} {
		if v := os.Getenv(env); v != "" {
			d, err := time.ParseDuration(v)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", env, err)
			}
			if d == 0 && dst != &opts.Latency {
				d = -1 // zero means "none" here, not "use the default"
			}
			*dst = d
		}
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("simulator directory: %w", err)
	}
	if opts.PVEVersion != "" {
		if _, err := pvesim.ResolvePVEVersion(opts.PVEVersion); err != nil {
			return nil, fmt.Errorf("FELHOM_CONVERGE_SIM_PVE_VERSION: %w", err)
		}
	}
	sim, err := pvesim.New(opts)
	if err != nil {
		return nil, err
	}
	if err := failAfterFromEnv(sim); err != nil {
		sim.Close()
		return nil, err
	}
	if err := holdFromEnv(sim); err != nil {
		sim.Close()
		return nil, err
	}
	endpoint, err := sim.Start("127.0.0.1:0", true)
	if err != nil {
		sim.Close()
		return nil, err
	}
	return &embeddedSim{
		Endpoint:    endpoint,
		Node:        sim.Node(),
		Token:       sim.Token("converge"),
		Fingerprint: sim.Fingerprint(),
		Close:       sim.Close,
		Sim:         sim,
	}, nil
}

// holdFromEnv lets crash tests stop a --sim run between the simulator's
// effect and the client seeing the answer: FELHOM_CONVERGE_SIM_HOLD="POST
// /nodes/{node}/lxc" holds the answer to the first matching request until
// the process ends, and FELHOM_CONVERGE_SIM_HOLD_FILE names a file created
// once the request is held (its effect is then saved), so a script knows
// when to kill the process.
func holdFromEnv(sim *pvesim.Sim) error {
	spec := os.Getenv("FELHOM_CONVERGE_SIM_HOLD")
	if spec == "" {
		return nil
	}
	method, tmpl, ok := strings.Cut(spec, " ")
	if !ok {
		return fmt.Errorf("FELHOM_CONVERGE_SIM_HOLD: want \"METHOD /path/{template}\", got %q", spec)
	}
	h, err := sim.Hold(method, tmpl)
	if err != nil {
		return fmt.Errorf("FELHOM_CONVERGE_SIM_HOLD: %w", err)
	}
	if marker := os.Getenv("FELHOM_CONVERGE_SIM_HOLD_FILE"); marker != "" {
		go func() {
			<-h.Reached()
			os.WriteFile(marker, []byte(spec+"\n"), 0o600)
		}()
	}
	return nil
}

// failAfterFromEnv lets tests answer an error after the effect, as a
// proxy in front of pvedaemon may: FELHOM_CONVERGE_SIM_FAIL_AFTER="POST
// /nodes/{node}/lxc/{vmid}/snapshot 500 proxy handler failed: got
// timeout" lets the first matching request take effect and answers it
// 500 with that message; status 0 closes the connection instead.
func failAfterFromEnv(sim *pvesim.Sim) error {
	spec := os.Getenv("FELHOM_CONVERGE_SIM_FAIL_AFTER")
	if spec == "" {
		return nil
	}
	f := strings.SplitN(spec, " ", 4)
	status := -1
	if len(f) >= 3 {
		status, _ = strconv.Atoi(f[2])
	}
	if status < 0 {
		return fmt.Errorf("FELHOM_CONVERGE_SIM_FAIL_AFTER: want \"METHOD /path/{template} STATUS [MESSAGE]\", got %q", spec)
	}
	msg := ""
	if len(f) == 4 {
		msg = f[3]
	}
	if err := sim.FailNthAfter(f[0], f[1], 1, status, msg); err != nil {
		return fmt.Errorf("FELHOM_CONVERGE_SIM_FAIL_AFTER: %w", err)
	}
	return nil
}
