package main

// signatures sign: the operator's end of the fleet signing loop. It shows
// each request of a bundle as the request itself says it, asks, and signs
// with the stock ssh-keygen -Y sign; it needs no host config.

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/felhom/felhom-converge/atomicfile"
	"github.com/felhom/felhom-converge/humanize"
	"github.com/felhom/felhom-converge/ops"
	"github.com/felhom/felhom-converge/printable"
	"github.com/felhom/felhom-converge/progress"
	"github.com/felhom/felhom-converge/trust"
)

type SignaturesSignCmd struct {
	Bundle string `arg:"" help:"The bundle 'signatures pending' wrote (several concatenated are one bundle); '-': stdin." placeholder:"BUNDLE"`
	Key    string `short:"f" required:"" help:"The key to sign with, as ssh-keygen -Y sign -f takes it: a private key, or a public key whose private key is in ssh-agent." placeholder:"KEY" type:"path"`
	Out    string `short:"o" help:"Write the signed bundle to OUT (default BUNDLE.signed; stdout when BUNDLE is '-'); '-': stdout." placeholder:"OUT"`
	Yes    bool   `help:"Sign every request without asking (for a bundle reviewed already, e.g. in a Git diff)."`
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
	ask := func(string) (bool, error) { return true, nil }
	if !c.Yes {
		switch {
		case c.Bundle == "-":
			return withHint(errors.New("sign: the bundle comes from stdin, so sign cannot ask, and --yes was not given: nothing was signed"),
				"give the bundle as a file to be asked per request, or review it and pass --yes to sign every request in it")
		case !progress.IsTerminal(os.Stdin):
			return withHint(errors.New("sign: not on a terminal, and --yes was not given: nothing was signed"),
				"review the bundle (it is plain text), then run again with --yes to sign every request in it, or run sign on a terminal to be asked per request")
		}
		ask = terminalAsk(bufio.NewReader(os.Stdin), show)
	}
	res, err := signBundle(b, signOptions{
		show: show, ask: ask, now: time.Now(),
		keygen: func(namespace string, files []string) error { return sshKeygenSign(c.Key, namespace, files, g.stderr) },
	})
	if err != nil {
		return err
	}
	signed := b.Marshal()
	if out == "-" {
		if _, err := g.stdout.Write(signed); err != nil {
			return err
		}
	} else if err := atomicfile.WriteFile(out, signed, 0o644); err != nil {
		return err
	}
	where := out
	if out == "-" {
		where = "stdout"
	}
	fmt.Fprintf(show, "signed %d of %s; wrote %s\n", res.signed, humanize.Plural(len(b.Entries), "request"), where)
	if res.failed > 0 {
		errorf(g.stderr, "%s could not be signed", humanize.Plural(res.failed, "request"))
		return silentError{code: exitError}
	}
	return nil
}

type signOptions struct {
	show   io.Writer
	ask    func(prompt string) (bool, error)
	keygen func(namespace string, files []string) error // signs each file, writing FILE.sig
	now    time.Time
}

type signResult struct{ signed, failed int }

// signBundle shows each unsigned request of b, asks, and signs the ones
// accepted, grouped by namespace (one ssh-keygen run each, so a key with a
// passphrase asks once per namespace). It fills in the entries' Sig.
func signBundle(b *trust.Bundle, o signOptions) (signResult, error) {
	var res signResult
	chosen := map[string][]int{} // namespace -> entry indexes
	for i, e := range b.Entries {
		name := trust.QuoteName(e.Name)
		r, err := trust.ParseRequest(e.Req)
		switch {
		case err != nil:
			fmt.Fprintf(o.show, "%s: not a request, not signed: %v\n", name, err)
			res.failed++
			continue
		case e.Signed():
			fmt.Fprintf(o.show, "%s: signed already; kept\n", name)
			continue
		case !o.now.Before(r.NotAfter):
			fmt.Fprintf(o.show, "%s: expired %s, not signed (the host writes a new request)\n", name, r.NotAfter.UTC().Format(time.RFC3339))
			continue
		}
		fmt.Fprint(o.show, describeRequest(e, r, o.now))
		ok, err := o.ask(fmt.Sprintf("Sign %s%s on %s? [y/N] ", r.Op, humanize.GuestLabel(r.Guest, ""), r.Host))
		if err != nil {
			return res, err
		}
		if ok {
			ns := trust.RoleFor(r.Op)
			chosen[ns] = append(chosen[ns], i)
		}
	}
	namespaces := make([]string, 0, len(chosen))
	for ns := range chosen {
		namespaces = append(namespaces, ns)
	}
	sort.Strings(namespaces)
	for _, ns := range namespaces {
		sigs, err := signEntries(b, chosen[ns], ns, o.keygen)
		if err != nil {
			return res, err
		}
		for k, i := range chosen[ns] {
			b.Entries[i].Sig = sigs[k]
			res.signed++
		}
	}
	return res, nil
}

// describeRequest shows a request as its own statement says it, and the
// host's header only as what the host says.
func describeRequest(e trust.BundleEntry, r trust.Request, now time.Time) string {
	var s strings.Builder
	spec, _ := ops.Lookup(r.Op)
	fmt.Fprintf(&s, "\n%s\n", trust.QuoteName(e.Name))
	fmt.Fprintf(&s, "  host:      %s\n", r.Host)
	fmt.Fprintf(&s, "  op:        %s\n", r.Op)
	fmt.Fprintf(&s, "  guest:     %s\n", humanize.GuestText(r.Guest, ""))
	fmt.Fprintf(&s, "  loses:     %s\n", spec.Loses)
	fmt.Fprintf(&s, "  params:    %s\n", printable.Escape(string(r.Params)))
	fmt.Fprintf(&s, "  valid:     until %s (%s left)\n", r.NotAfter.UTC().Format(time.RFC3339),
		strings.TrimSuffix(r.NotAfter.Sub(now).Round(time.Minute).String(), "0s"))
	fmt.Fprintf(&s, "  namespace: %s\n", trust.RoleFor(r.Op))
	var notes []string
	for _, h := range e.Header {
		// What the request says is shown above, from the request.
		if key, _, _ := strings.Cut(h, ":"); !derivedNote[key] {
			notes = append(notes, "    "+printable.Escape(h)+"\n")
		}
	}
	if len(notes) > 0 {
		fmt.Fprintf(&s, "  the host's notes (not signed):\n%s", strings.Join(notes, ""))
	}
	return s.String()
}

// derivedNote are the header keys 'signatures pending' writes whose
// content sign shows from the request itself.
var derivedNote = map[string]bool{"host": true, "op": true, "loses": true, "sign": true}

// signEntries writes the entries' requests into a private temporary
// directory under their names, signs them in one keygen run, and returns
// the signatures in order, each checked to be an SSHSIG in namespace.
func signEntries(b *trust.Bundle, idx []int, namespace string, keygen func(string, []string) error) ([][]byte, error) {
	dir, err := os.MkdirTemp("", "felhom-sign-")
	if err != nil {
		return nil, fmt.Errorf("sign: %w", err)
	}
	defer os.RemoveAll(dir)
	files := make([]string, len(idx))
	for k, i := range idx {
		files[k] = filepath.Join(dir, b.Entries[i].Name)
		if err := os.WriteFile(files[k], b.Entries[i].Req, 0o600); err != nil {
			return nil, fmt.Errorf("sign: %w", err)
		}
	}
	if err := keygen(namespace, files); err != nil {
		return nil, fmt.Errorf("sign: %w; nothing was written", err)
	}
	sigs := make([][]byte, len(files))
	for k, f := range files {
		sig, err := trust.ReadRegular(f+".sig", trust.MaxSignatureSize)
		if err != nil {
			return nil, fmt.Errorf("sign: ssh-keygen wrote no signature for %s: %w", filepath.Base(f), err)
		}
		parsed, err := trust.ParseSignature(sig)
		if err != nil || parsed.Namespace != namespace {
			return nil, fmt.Errorf("sign: the signature ssh-keygen wrote for %s is not an SSHSIG in namespace %s (%v)", filepath.Base(f), namespace, err)
		}
		sigs[k] = sig
	}
	return sigs, nil
}

// sshKeygenSign runs the stock 'ssh-keygen -Y sign -n NAMESPACE -f KEY
// FILE...', which writes FILE.sig for each. Its prompts (a passphrase, a
// FIDO touch) reach the terminal: stdin is passed on, and its output goes
// to stderr.
func sshKeygenSign(key, namespace string, files []string, stderr io.Writer) error {
	cmd := exec.Command("ssh-keygen", append([]string{"-Y", "sign", "-n", namespace, "-f", key}, files...)...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, stderr, stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("ssh-keygen -Y sign -n %s -f %s: %w", namespace, key, err)
	}
	return nil
}

// terminalAsk asks on the terminal; only "y" or "yes" is a yes.
func terminalAsk(in *bufio.Reader, w io.Writer) func(string) (bool, error) {
	return func(prompt string) (bool, error) {
		fmt.Fprint(w, prompt)
		line, err := in.ReadString('\n')
		if err != nil && line == "" {
			return false, fmt.Errorf("sign: no answer: %w", err)
		}
		a := strings.ToLower(strings.TrimSpace(line))
		return a == "y" || a == "yes", nil
	}
}
