package pvesim

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// The simulator behind every command's --sim DIR: started in the
// command's own process, with test hooks read from the environment.

// Embedded is a simulator running in this process for a command's --sim
// DIR.
type Embedded struct {
	Endpoint    string // https://127.0.0.1:PORT
	Node        string
	Token       string // USER@REALM!TOKENID=SECRET of the full-privilege token
	Fingerprint string // SHA-256 of the leaf certificate, colon-separated hex
	Close       func() error
	Sim         *Sim // plays the host's root commands too (RootHost)
}

// Defaults of the in-process simulator: quick tasks, no latency, so the
// demo is snappy; /cluster/resources lags for new guests as on Proxmox.
// FELHOM_CONVERGE_SIM_TASK_DURATION, FELHOM_CONVERGE_SIM_LATENCY and
// FELHOM_CONVERGE_SIM_RESOURCES_LAG (Go durations; 0 turns the task
// duration or the lag off) override them; FELHOM_CONVERGE_SIM_PVE_VERSION
// (8.4 or 9.1) picks the Proxmox VE release, as sim serve's --pve-version.
const EmbeddedTaskDuration = 50 * time.Millisecond

// StartEmbedded starts the simulator with its state in dir/host.json, on
// a free loopback port over HTTPS.
func StartEmbedded(ctx context.Context, dir string) (*Embedded, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	opts := Options{StatePath: filepath.Join(dir, "host.json"), TaskDuration: EmbeddedTaskDuration,
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
		if _, err := ResolvePVEVersion(opts.PVEVersion); err != nil {
			return nil, fmt.Errorf("FELHOM_CONVERGE_SIM_PVE_VERSION: %w", err)
		}
	}
	sim, err := New(opts)
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
	return &Embedded{
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
func holdFromEnv(sim *Sim) error {
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
func failAfterFromEnv(sim *Sim) error {
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
