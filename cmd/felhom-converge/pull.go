package main

// pull: fetch this host's desired state from the hub (ExecStartPre= of the
// service), keeping the last good file whenever the hub gives nothing valid.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/felhom/felhom-converge/config"
	"github.com/felhom/felhom-converge/hub"
)

type PullCmd struct {
	URL         string        `arg:"" env:"FELHOM_CONVERGE_HUB_URL" help:"The hub URL of this host's desired-state file (https://, or http:// on loopback)." placeholder:"URL"`
	To          string        `required:"" type:"path" placeholder:"FILE" help:"The local desired-state file to replace; FILE.pull.json beside it keeps the ETag and the pull history."`
	CAFile      string        `name:"ca-file" type:"path" env:"FELHOM_CONVERGE_HUB_CA_FILE" placeholder:"FILE" help:"Verify the hub's certificate against this CA bundle."`
	Fingerprint string        `env:"FELHOM_CONVERGE_HUB_FINGERPRINT" placeholder:"SHA256" help:"Pin the SHA-256 fingerprint of the hub's certificate instead (AB:CD:..., any case, colons optional)."`
	TokenFile   string        `name:"token-file" type:"path" env:"FELHOM_CONVERGE_HUB_TOKEN_FILE" placeholder:"FILE" help:"Read the hub's bearer token from FILE (else FELHOM_CONVERGE_HUB_TOKEN, else $CREDENTIALS_DIRECTORY/hub-token)."`
	Timeout     time.Duration `default:"30s" env:"FELHOM_CONVERGE_HUB_TIMEOUT" help:"Give up on the hub after this long."`
}

// pullFailedError is a pull that got no valid new desired state from the
// hub: the last good file is kept and the exit code is exitPullFailed.
type pullFailedError struct{ err error }

func (e pullFailedError) Error() string { return e.err.Error() }
func (e pullFailedError) Unwrap() error { return e.err }

// Run pulls once. Success prints one line on stdout; a hub that gives
// nothing usable is a pullFailedError naming the file that stays in place.
func (c *PullCmd) Run(ctx context.Context, g *globals) error {
	cfg, err := g.loadConfig("", "")
	if err != nil {
		return err
	}
	if err := cfg.RequireHost(); err != nil {
		return withHint(err, "pull accepts only a desired state for this host")
	}
	token, err := hubToken(g.getenv, c.TokenFile)
	if err != nil {
		return err
	}
	res, err := hub.Pull(ctx, hub.Options{
		URL:         c.URL,
		Host:        cfg.Host,
		CAFile:      c.CAFile,
		Fingerprint: c.Fingerprint,
		Token:       token,
		Timeout:     c.Timeout,
	}, c.To)
	var fe *hub.FetchError
	switch {
	case err != nil && ctx.Err() != nil:
		return err // interrupted, not a hub failure
	case errors.As(err, &fe):
		return pullFailedError{fmt.Errorf("%w; %s", err, kept(c.To))}
	case err != nil:
		return err
	}
	for _, w := range res.Warnings {
		warnf(g.stderr, "%s", w)
	}
	etag := ""
	if res.ETag != "" {
		etag = ", ETag " + res.ETag
	}
	switch res.Outcome {
	case hub.NotModified:
		fmt.Fprintf(g.stdout, "pull: %s is up to date (304 Not Modified%s)\n", c.To, etag)
	case hub.Unchanged:
		fmt.Fprintf(g.stdout, "pull: %s is up to date (same %d bytes%s)\n", c.To, res.Bytes, etag)
	default:
		fmt.Fprintf(g.stdout, "pull: updated %s (%d bytes, sha256 %s%s)\n", c.To, res.Bytes, res.SHA256[:12], etag)
	}
	return nil
}

// kept says which file stays in place after a failed pull.
func kept(dest string) string {
	if _, err := os.Stat(dest); errors.Is(err, fs.ErrNotExist) {
		return "no desired state yet at " + dest
	}
	return "kept the last good " + dest
}

// hubToken reads the optional bearer token like the Proxmox token: the
// environment, a file, or the systemd credential; first found wins. It is
// never printed, and errors never quote it.
func hubToken(getenv func(string) string, file string) (config.Secret, error) {
	if v := strings.TrimSpace(getenv("FELHOM_CONVERGE_HUB_TOKEN")); v != "" {
		return config.NewSecret(v), nil
	}
	origin := "--token-file"
	if file == "" {
		dir := getenv("CREDENTIALS_DIRECTORY")
		if dir == "" {
			return config.Secret{}, nil
		}
		file, origin = filepath.Join(dir, hub.CredentialName), "$CREDENTIALS_DIRECTORY/"+hub.CredentialName
		if _, err := os.Stat(file); errors.Is(err, fs.ErrNotExist) {
			return config.Secret{}, nil
		}
	}
	b, err := readTokenFile(file)
	if err != nil {
		return config.Secret{}, fmt.Errorf("hub token (%s): %w", origin, err)
	}
	v := strings.TrimSpace(string(b))
	if v == "" {
		return config.Secret{}, fmt.Errorf("hub token (%s): %s is empty", origin, file)
	}
	return config.NewSecret(v), nil
}

// readTokenFile reads a small regular file.
func readTokenFile(name string) ([]byte, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if st, err := f.Stat(); err != nil || !st.Mode().IsRegular() {
		return nil, fmt.Errorf("%s is not a regular file", name)
	}
	b, err := io.ReadAll(io.LimitReader(f, 4097))
	if err == nil && len(b) > 4096 {
		err = fmt.Errorf("%s is larger than 4096 bytes", name)
	}
	return b, err
}
