package pvesim

// 'felhom-converge sim serve': a simulator on its own, until interrupted.

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/felhom/felhom-converge/atomicfile"
)

// ServeOptions are the settings of 'sim serve'. Unlike in Options, a zero
// TaskDuration or ResourcesLag means none.
type ServeOptions struct {
	Listen       string // a loopback address; port 0 picks a free port
	State        string // the state file; "" keeps the state in memory
	PlainHTTP    bool
	Latency      time.Duration
	Workers      int
	TaskDuration time.Duration
	Guests       int // extra guests seeded into a new state
	ResourcesLag time.Duration
	Admin        bool   // serve the fault-injection endpoints
	Token        string // the seeded token printed: converge or readonly
	EnvFile      string // also write the settings there (0600) once serving
	PVEVersion   string // the release to play (Options.PVEVersion)
}

// ListenError is an address Serve could not listen on (ErrNotLoopback
// among them).
type ListenError struct{ Err error }

func (e *ListenError) Error() string { return e.Err.Error() }
func (e *ListenError) Unwrap() error { return e.Err }

// Serve starts a simulator as o says, prints the settings a shell can
// source to point the tool at it (Env) on out, and serves until ctx ends.
func Serve(ctx context.Context, o ServeOptions, out io.Writer) error {
	if o.State != "" {
		if err := os.MkdirAll(filepath.Dir(o.State), 0o700); err != nil {
			return fmt.Errorf("sim serve: state directory: %w", err)
		}
	}
	sim, err := New(Options{
		StatePath:    o.State,
		Latency:      o.Latency,
		Workers:      o.Workers,
		TaskDuration: noneIfZero(o.TaskDuration),
		ExtraGuests:  o.Guests,
		EnableAdmin:  o.Admin,
		ResourcesLag: noneIfZero(o.ResourcesLag),
		PVEVersion:   o.PVEVersion,
	})
	if err != nil {
		return fmt.Errorf("sim serve: %w", err)
	}
	useTLS := !o.PlainHTTP
	endpoint, err := sim.Start(o.Listen, useTLS)
	if err != nil {
		sim.Close()
		return fmt.Errorf("sim serve: %w", &ListenError{err})
	}
	env := Env(endpoint, sim.Node(), sim.Token(o.Token), sim.Fingerprint(), useTLS)
	fmt.Fprint(out, env)
	if o.EnvFile != "" {
		// Atomic, so a script waiting for the file never reads half of it.
		if err := atomicfile.WriteFile(o.EnvFile, []byte(env), 0o600); err != nil {
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

// Env renders the settings a shell can source to point the tool at the
// simulator.
func Env(endpoint, node, token, fingerprint string, useTLS bool) string {
	var b strings.Builder
	fmt.Fprintf(&b, "FELHOM_CONVERGE_PROXMOX_ENDPOINT=%s\n", endpoint)
	fmt.Fprintf(&b, "FELHOM_CONVERGE_PROXMOX_NODE=%s\n", node)
	fmt.Fprintf(&b, "FELHOM_CONVERGE_PROXMOX_TOKEN=%s\n", token)
	if useTLS {
		fmt.Fprintf(&b, "FELHOM_CONVERGE_PROXMOX_TLS_FINGERPRINT=%s\n", fingerprint)
	}
	return b.String()
}
