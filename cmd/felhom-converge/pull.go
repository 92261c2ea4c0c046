package main

// pull: fetch this host's desired state from the hub (ExecStartPre= of the
// service), keeping the last good file whenever the hub gives nothing valid.

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/felhom/felhom-converge/config"
	"github.com/felhom/felhom-converge/hub"
	"github.com/felhom/felhom-converge/trust"
)

type PullCmd struct {
	URL         string        `arg:"" optional:"" env:"FELHOM_CONVERGE_HUB_URL" help:"The hub URL of this host's desired-state file (https://, or http:// on loopback); the service reads it from /etc/felhom-converge/hub.env." placeholder:"URL"`
	To          string        `required:"" type:"path" placeholder:"FILE" help:"The local desired-state file to replace; FILE.pull.json beside it keeps the ETag and the pull history."`
	CAFile      string        `name:"ca-file" type:"path" env:"FELHOM_CONVERGE_HUB_CA_FILE" placeholder:"FILE" help:"Verify the hub's certificate against this CA bundle."`
	Fingerprint string        `env:"FELHOM_CONVERGE_HUB_FINGERPRINT" placeholder:"SHA256" help:"Pin the SHA-256 fingerprint of the hub's certificate instead (AB:CD:..., any case, colons optional)."`
	TokenFile   string        `name:"token-file" type:"path" env:"FELHOM_CONVERGE_HUB_TOKEN_FILE" placeholder:"FILE" help:"Read the hub's bearer token from FILE; without it from FELHOM_CONVERGE_HUB_TOKEN, else $CREDENTIALS_DIRECTORY/hub-token."`
	Timeout     time.Duration `default:"30s" env:"FELHOM_CONVERGE_HUB_TIMEOUT" help:"Give up on the hub after this long."`
	Signatures  string        `name:"signatures" env:"FELHOM_CONVERGE_HUB_SIGNATURES_URL" placeholder:"SIGURL" help:"Also fetch the signed bundle at SIGURL (same TLS, token and bounds) and install the signed requests that verify for this host."`
}

// pullFailedError is a pull that got no valid new desired state from the
// hub: the last good file is kept and the exit code is exitPullFailed.
type pullFailedError struct{ err error }

func (e pullFailedError) Error() string { return e.err.Error() }
func (e pullFailedError) Unwrap() error { return e.err }

// Run pulls once. Success prints one line on stdout; a hub that gives
// nothing usable is a pullFailedError naming the file that stays in place.
func (c *PullCmd) Run(ctx context.Context, g *globals) error {
	if c.URL == "" {
		return hub.NoURLError{}
	}
	cfg, err := g.loadConfig("", "")
	if err != nil {
		return err
	}
	if err := cfg.RequireHost(); err != nil {
		return withHint(err, "pull accepts only a desired state for this host")
	}
	token, err := hub.Token(g.getenv, c.TokenFile)
	if err != nil {
		return err
	}
	targets := []string{c.To}
	if c.Signatures != "" {
		targets = append(targets, cfg.StateDir) // the signatures it installs
	}
	if err := g.asStateOwner(cfg, targets...); err != nil {
		return err
	}
	o := hub.Options{
		URL:         c.URL,
		Host:        cfg.Host,
		CAFile:      c.CAFile,
		Fingerprint: c.Fingerprint,
		Token:       token,
		Secrets:     []config.Secret{cfg.Proxmox.Token},
		Timeout:     c.Timeout,
	}
	perr := c.pullDesired(ctx, g, o)
	if ctx.Err() != nil || c.Signatures == "" {
		return perr
	}
	serr := c.pullSignatures(ctx, g, o)
	if perr != nil {
		if serr != nil {
			errorf(g.stderr, "%v", serr)
		}
		return perr
	}
	return serr
}

// pullDesired pulls the desired file and prints one line.
func (c *PullCmd) pullDesired(ctx context.Context, g *globals, o hub.Options) error {
	res, err := hub.Pull(ctx, o, c.To)
	var fe *hub.FetchError
	switch {
	case err != nil && ctx.Err() != nil:
		return err // interrupted, not a hub failure
	case errors.As(err, &fe):
		return pullFailedError{fmt.Errorf("%w; %s", err, hub.Kept(c.To))}
	case err != nil:
		return err
	}
	for _, w := range res.Warnings {
		warnf(g.stderr, "%s", w)
	}
	fmt.Fprintln(g.stdout, res.Line(c.To))
	return nil
}

// pullSignatures fetches the signature bundle and installs what verifies
// for this host (hub.InstallPulled), as 'signatures install' does.
func (c *PullCmd) pullSignatures(ctx context.Context, g *globals, o hub.Options) error {
	cfg, v, hostID, err := g.loadVerifier(ctx, "")
	if err != nil {
		return err
	}
	o.URL = c.Signatures
	line, err := hub.InstallPulled(ctx, o, c.To, trust.NewRequestDir(cfg.StateDir, v.Nonces), v, cfg.Host, hostID, g.report())
	var fe *hub.FetchError
	switch {
	case err != nil && ctx.Err() != nil:
		return err
	case errors.As(err, &fe):
		return pullFailedError{fmt.Errorf("%w; installed no signature from it", err)}
	case errors.As(err, new(*trust.SweepError)):
		return withHint(err, "nothing was installed")
	case err != nil:
		return err
	}
	fmt.Fprintln(g.stdout, line)
	return nil
}
