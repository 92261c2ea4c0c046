// Command felhom-converge keeps one Proxmox VE host as its desired-state HCL
// file declares it, and holds back every destructive step until an operator
// has signed exactly that step with an OpenSSH key.
//
// This package is wiring only: flags, configuration, connecting the
// packages, rendering and exit codes. The work lives in the packages it
// imports.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"slices"

	"github.com/alecthomas/kong"
	"github.com/felhom/felhom-converge/interrupt"
	"github.com/felhom/felhom-converge/journal"
	"github.com/felhom/felhom-converge/progress"
)

// Exit codes. They are part of the interface (the systemd unit and scripts
// rely on them) and are listed in the README and docs/reference.md.
const (
	exitOK      = 0 // success; for apply: the host is converged
	exitError   = 1 // any error, including bad usage and bad input
	exitPending = 2 // plan --detailed-exitcode: changes present; apply: steps wait for a signature
	exitLocked  = 3 // another run holds the state directory's lock
	exitPulled  = 4 // pull: the hub gave no valid new desired state; the last good file is kept

	exitInterrupted = 130 // stopped by SIGINT or SIGTERM (128 + SIGINT, as shells report it)
)

// CLI is the whole command line. Each command lives in its own file with a
// Run method; shared things reach it through kong bindings.
type CLI struct {
	Config  string `help:"Local host config file (default /etc/felhom-converge/config.hcl)." env:"FELHOM_CONVERGE_CONFIG" type:"path" placeholder:"FILE"`
	NoColor bool   `name:"no-color" help:"Never color the output (as NO_COLOR does; color is used only on a terminal)."`
	LogFlags

	Validate   ValidateCmd   `cmd:"" help:"Check desired-state HCL files: schema, types, units and references. Needs no host, network or config."`
	Fmt        FmtCmd        `cmd:"" help:"Rewrite desired-state HCL files in canonical form."`
	Plan       PlanCmd       `cmd:"" help:"Show the steps that would bring the host to its desired state."`
	Apply      ApplyCmd      `cmd:"" help:"Apply the safe steps; hold back destructive ones until they are signed."`
	Signatures SignaturesCmd `cmd:"" help:"Write signature requests and check operator signatures."`
	Journal    JournalCmd    `cmd:"" help:"Inspect the crash-safe journal of past runs."`
	Recover    RecoverCmd    `cmd:"" help:"Finish or roll back steps left in flight by a crashed run."`
	Status     StatusCmd     `cmd:"" help:"Show the last run, steps waiting for a signature or a reboot, failed steps and journal health, from the state directory alone."`
	Pull       PullCmd       `cmd:"" help:"Fetch this host's desired state from the hub; keep the last good file unless the new one is valid."`
	Selftest   SelftestCmd   `cmd:"" help:"Read-only health check of the config, the API token and the host."`
	Sim        SimCmd        `cmd:"" help:"The bundled Proxmox VE API simulator."`
	Version    VersionCmd    `cmd:"" help:"Print the version."`
}

// SimFlag is embedded by every command that talks to a host: with --sim the
// command runs against an in-process simulator instead of a real Proxmox.
type SimFlag struct {
	Sim string `help:"Run against the bundled Proxmox simulator, keeping its state in DIR (no Proxmox needed)." type:"path" placeholder:"DIR"`
}

// globals carries what every command may need; bound into Run methods.
type globals struct {
	configPath string // "" when neither --config nor FELHOM_CONVERGE_CONFIG was given
	stdout     io.Writer
	stderr     io.Writer
	getenv     func(string) string
	log        *slog.Logger       // the run's log records on stderr (logging.go)
	progress   *progress.Line     // the progress line on stdout; nil unless stdout is a terminal
	noColor    bool               // --no-color
	args       []string           // the command line, for a hint that names it (owner.go)
	interrupts *interrupt.Handler // nil in tests that call a command directly
}

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run parses args, runs one command and turns its error into an exit code.
// It is the only place that decides exit codes.
func run(args []string, stdout, stderr io.Writer) int {
	var cli CLI
	exitCode := -1
	parser, err := kong.New(&cli,
		kong.Name("felhom-converge"),
		kong.Description("Converge one Proxmox VE host to its desired state; destructive steps need an operator's SSH signature."),
		kong.UsageOnError(),
		kong.Writers(stdout, stderr),
		kong.Exit(func(code int) { exitCode = code }),
		kong.ConfigureHelp(kong.HelpOptions{Compact: true}),
	)
	if err != nil {
		fmt.Fprintf(stderr, "felhom-converge: internal error: %v\n", err)
		return exitError
	}
	kctx, err := parser.Parse(singleDashLongFlags(parser.Model, args))
	if exitCode >= 0 { // --help, or kong reported its own error
		return exitCode
	}
	if err != nil {
		errorf(stderr, "%v", err)
		hintf(stderr, "%s", usageHint(err, args))
		return exitError
	}

	signals := interrupt.Handle(stderr, exitInterrupted)
	defer signals.Stop()
	g := &globals{configPath: cli.Config, stdout: stdout, stderr: stderr, getenv: os.Getenv, args: args, noColor: cli.NoColor, interrupts: signals}
	if err := g.setupOutput(cli.LogFlags); err != nil {
		return exitCodeFor(stderr, err)
	}
	kctx.BindTo(signals.Ctx, (*context.Context)(nil))
	err = kctx.Run(g)
	code := exitCodeFor(stderr, err)
	if code != exitOK && signals.Interrupted() {
		return exitInterrupted // whatever the error says, a signal stopped it
	}
	return code
}

// usageHint points at the usage of the command that failed to parse.
func usageHint(err error, args []string) string {
	if slices.Contains(args, "--version") || slices.Contains(args, "-version") {
		return "run 'felhom-converge version' for the version"
	}
	cmd := "felhom-converge"
	if pe := (*kong.ParseError)(nil); errors.As(err, &pe) && pe.Context != nil {
		for _, p := range pe.Context.Path {
			if p.Command != nil {
				cmd += " " + p.Command.Name
			}
		}
	}
	return fmt.Sprintf("run '%s --help' for usage", cmd)
}

// Errors that map to their own exit codes. Commands return them (wrapped or
// not); exitCodeFor is the single place that turns them into a status.
var (
	errPending = errors.New("steps are waiting for an operator signature")
)

// locked reports another run holding the state directory's lock: exit 3,
// with the holder named.
func locked(err error) bool {
	var busy *journal.LockedError
	return errors.As(err, &busy)
}

// silentError marks an error whose message the command has already printed
// (diagnostics, a report); only the exit code is left to decide.
type silentError struct{ code int }

func (e silentError) Error() string { return fmt.Sprintf("exit status %d", e.code) }

func exitCodeFor(stderr io.Writer, err error) int {
	var silent silentError
	switch {
	case err == nil:
		return exitOK
	case errors.As(err, &silent):
		return silent.code
	case errors.Is(err, errPending):
		return exitPending
	case locked(err):
		errorf(stderr, "%v", err)
		hintf(stderr, "wait for the other run to finish (apply --lock-timeout 5m waits for it); the lock is released when its process exits")
		return exitLocked
	case errors.As(err, new(pullFailedError)):
		errorf(stderr, "%v", err) // one line: what failed and which file stays
		return exitPulled
	case errors.Is(err, context.Canceled):
		errorf(stderr, "interrupted")
		return exitInterrupted
	default:
		errorf(stderr, "%v", err)
		var h hinter
		if errors.As(err, &h) {
			hintf(stderr, "%s", h.Hint())
		}
		return exitError
	}
}

// hinter is an error that knows what the user should do next.
type hinter interface{ Hint() string }

// hintedError pairs an error with the next step for the user.
type hintedError struct {
	err  error
	hint string
}

func (e hintedError) Error() string { return e.err.Error() }
func (e hintedError) Unwrap() error { return e.err }
func (e hintedError) Hint() string  { return e.hint }

func withHint(err error, format string, args ...any) error {
	return hintedError{err: err, hint: fmt.Sprintf(format, args...)}
}
