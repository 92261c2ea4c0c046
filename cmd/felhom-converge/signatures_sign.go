package main

// signatures sign: the operator's end of the fleet signing loop. It shows
// each request of a bundle as the request itself says it, asks, and signs
// with the stock ssh-keygen -Y sign; it needs no host config.

import (
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/felhom/felhom-converge/humanize"
	"github.com/felhom/felhom-converge/progress"
	"github.com/felhom/felhom-converge/proxmox/hostexec"
	"github.com/felhom/felhom-converge/trust"
)

type SignaturesSignCmd struct {
	Bundle   string `arg:"" help:"The bundle 'signatures pending' wrote (several concatenated are one bundle); '-': stdin." placeholder:"BUNDLE"`
	Key      string `short:"f" required:"" help:"The key to sign with, as ssh-keygen -Y sign -f takes it: a private key, or a public key whose private key is in ssh-agent." placeholder:"KEY" type:"path"`
	Out      string `short:"o" help:"Write the signed bundle to OUT (default BUNDLE.signed; stdout when BUNDLE is '-'); '-': stdout." placeholder:"OUT"`
	Yes      bool   `help:"Sign every request without asking (for a bundle reviewed already, e.g. in a Git diff)."`
	Recovery bool   `help:"KEY is a recovery key: sign in the felhom-recovery namespace, which approves only signers.rotate (other requests are skipped)."`
}

func (c *SignaturesSignCmd) Run(g *globals) error {
	b, _, err := readBundle(c.Bundle, "sign takes the bundle 'felhom-converge signatures pending' wrote")
	if err != nil {
		return err
	}
	out := c.Out
	if out == "" {
		out = c.Bundle + ".signed"
		if c.Bundle == "-" {
			out = "-"
		}
	}
	show := g.stdout
	if out == "-" {
		show = g.stderr // the bundle goes to stdout
	}
	var ask trust.Prompter = trust.PromptFunc(func(string) (bool, error) { return true, nil })
	if !c.Yes {
		switch {
		case c.Bundle == "-":
			return withHint(errors.New("sign: the bundle comes from stdin, so sign cannot ask, and --yes was not given: nothing was signed"),
				"give the bundle as a file to be asked per request, or review it and pass --yes to sign every request in it")
		case !progress.IsTerminal(os.Stdin):
			return withHint(errors.New("sign: not on a terminal, and --yes was not given: nothing was signed"),
				"review the bundle (it is plain text), then run again with --yes to sign every request in it, or run sign on a terminal to be asked per request")
		}
		ask = trust.LinePrompter(os.Stdin, show)
	}
	res, err := trust.SignBundle(b, trust.SignOptions{Show: show, Ask: ask, Now: time.Now(), Role: c.role(), Keygen: hostexec.SSHKeygen{Key: c.Key, Stdin: os.Stdin, Stderr: g.stderr}})
	if err != nil {
		return err
	}
	where := out
	if out == "-" {
		out, where = "", "stdout"
	}
	if err := b.Write(out, g.stdout); err != nil {
		return err
	}
	fmt.Fprintf(show, "signed %d of %s; wrote %s\n", res.Signed, humanize.Plural(len(b.Entries), "request"), where)
	if res.Failed > 0 {
		errorf(g.stderr, "%s could not be signed", humanize.Plural(res.Failed, "request"))
		return silentError{code: exitError}
	}
	return nil
}

// role is the namespace sign signs in.
func (c *SignaturesSignCmd) role() string {
	if c.Recovery {
		return trust.RoleRecovery
	}
	return trust.RoleOperational
}
